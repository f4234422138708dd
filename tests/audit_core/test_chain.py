"""The audit hash chain: links verify, and every kind of tampering is caught."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.audit import GENESIS_HASH, AuditChain, record_hash, verify_chain
from lockgate.audit.chain import canonical_json


def make_chain(n: int = 5) -> list[dict[str, Any]]:
    chain = AuditChain()
    return [
        chain.append({"event": "request", "n": i, "meta": {"b": 1, "a": [i, "é"]}})
        for i in range(n)
    ]


def test_valid_chain_verifies() -> None:
    """An untouched chain verifies in full."""
    result = verify_chain(make_chain())
    assert (result.ok, result.checked, result.first_bad_index, result.reason) == (
        True,
        5,
        None,
        None,
    )


def test_empty_chain_verifies() -> None:
    """No records is a valid (empty) chain."""
    assert verify_chain([]).ok


def test_first_record_links_to_genesis() -> None:
    """The first record's prev_hash is the genesis hash and its hash covers it."""
    first = make_chain(1)[0]
    assert first["prev_hash"] == GENESIS_HASH
    assert first["hash"] == record_hash(GENESIS_HASH, first)


def test_canonical_json_is_key_order_independent() -> None:
    """Key order and the link fields do not change the hashed bytes."""
    a = {"b": 1, "a": {"y": 2, "x": 1}}
    b = {"a": {"x": 1, "y": 2}, "b": 1, "hash": "zz", "prev_hash": "yy"}
    assert canonical_json(a) == canonical_json(b) == b'{"a":{"x":1,"y":2},"b":1}'


def test_append_does_not_mutate_input() -> None:
    """The writer returns a new dict and leaves the caller's record alone."""
    record = {"event": "x"}
    linked = AuditChain().append(record)
    assert record == {"event": "x"}
    assert set(linked) == {"event", "seq", "prev_hash", "hash"}


def test_changed_field_is_detected() -> None:
    """Editing any field of a record breaks its hash."""
    records = make_chain()
    records[2] = {**records[2], "event": "nothing to see"}
    result = verify_chain(records)
    assert (result.ok, result.first_bad_index, result.checked) == (False, 2, 2)
    assert result.reason is not None and "hash" in result.reason


def test_changed_nested_field_is_detected() -> None:
    """Edits deep inside a nested value are caught too."""
    records = make_chain()
    records[1] = {**records[1], "meta": {"b": 1, "a": [1, "e"]}}
    assert verify_chain(records).first_bad_index == 1


def test_deleted_record_is_detected() -> None:
    """Removing a record from the middle shows as a sequence gap."""
    records = make_chain()
    del records[3]
    result = verify_chain(records)
    assert (result.ok, result.first_bad_index) == (False, 3)
    assert result.reason is not None and "seq" in result.reason


def test_deleted_record_with_renumbering_is_detected() -> None:
    """Deleting and renumbering still breaks the prev_hash link."""
    records = make_chain()
    del records[3]
    records[3] = {**records[3], "seq": 3}
    result = verify_chain(records)
    assert (result.ok, result.first_bad_index) == (False, 3)


def test_reordered_records_are_detected() -> None:
    """Swapping two records is caught at the first one out of place."""
    records = make_chain()
    records[1], records[2] = records[2], records[1]
    assert verify_chain(records).first_bad_index == 1


def test_altered_hash_is_detected() -> None:
    """A forged hash fails, and so does the next record that linked to the real one."""
    records = make_chain()
    records[4] = {**records[4], "hash": "f" * 64}
    assert verify_chain(records).first_bad_index == 4
    records = make_chain()
    forged = {**records[1], "event": "forged"}
    forged["hash"] = record_hash(forged["prev_hash"], forged)  # recomputed by the forger
    records[1] = forged
    result = verify_chain(records)
    assert (result.first_bad_index, result.reason) == (2, "prev_hash does not match previous hash")


def test_missing_field_is_reported() -> None:
    """A record without its link fields is a clear failure, not a crash."""
    records = make_chain()
    del records[0]["hash"]
    result = verify_chain(records)
    assert (result.ok, result.first_bad_index, result.reason) == (False, 0, "missing field 'hash'")


def test_truncated_tail_needs_expected_head() -> None:
    """Cutting the newest records is only visible against a head kept elsewhere."""
    records = make_chain()
    head = (records[-1]["seq"], records[-1]["hash"])
    assert verify_chain(records, expected_head=head).ok
    result = verify_chain(records[:-2], expected_head=head)
    assert (result.ok, result.checked, result.first_bad_index) == (False, 3, 3)


def test_verify_from_checkpoint() -> None:
    """Verification can start mid-log from a trusted (seq, prev_hash)."""
    records = make_chain(6)
    tail = records[3:]
    assert verify_chain(tail, prev_hash=records[2]["hash"], start_seq=3).ok
    assert not verify_chain(tail).ok
    resumed = AuditChain(next_seq=6, head=records[-1]["hash"])
    assert verify_chain([*records, resumed.append({"event": "later"})]).ok


@pytest.mark.parametrize("bad_seq", [1, -1, "0"])
def test_first_seq_must_match(bad_seq: object) -> None:
    """A chain that does not start at the expected seq fails at index 0."""
    records = make_chain(2)
    records[0] = {**records[0], "seq": bad_seq}
    assert verify_chain(records).first_bad_index == 0
