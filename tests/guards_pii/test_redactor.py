"""Redaction with placeholders, restoring, and chat messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lockgate.guards.pii import PiiScanner, Redactor, Vault


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    """One redactor (and scanner) for the module."""
    return Redactor(PiiScanner())


def test_redact_numbers_placeholders_per_type(redactor: Redactor) -> None:
    """Each distinct value gets its own numbered placeholder; repeats reuse it."""
    text = "a@x.io wrote to b@y.io, then a@x.io called 555-123-4567"
    out, findings = redactor.redact(text)
    assert out == "[EMAIL_1] wrote to [EMAIL_2], then [EMAIL_1] called [PHONE_1]"
    assert [f.type for f in findings] == ["EMAIL", "EMAIL", "EMAIL", "PHONE"]


def test_redact_without_findings_returns_same_text(redactor: Redactor) -> None:
    """Clean text comes back unchanged with no findings."""
    assert redactor.redact("nothing to see") == ("nothing to see", [])


def test_restore_round_trip(redactor: Redactor) -> None:
    """What was redacted with a vault can be put back from the model's answer."""
    vault = Vault()
    text = "Email a@x.io, card 4111 1111 1111 1111, key sk-ant-api03-" + "Ab1" * 31 + "AA"
    redacted, _ = redactor.redact(text, vault)
    assert "a@x.io" not in redacted and "4111" not in redacted
    assert redactor.restore(redacted, vault) == text
    answer = "I will email [EMAIL_1] and never show [API_KEY_1]; [EMAIL_9] is unknown."
    restored = redactor.restore(answer, vault)
    assert restored == (
        "I will email a@x.io and never show sk-ant-api03-"
        + "Ab1" * 31
        + "AA; [EMAIL_9] is unknown."
    )


def test_vault_numbering_spans_calls(redactor: Redactor) -> None:
    """A shared vault keeps numbering (and identity) across several texts."""
    vault = Vault()
    first, _ = redactor.redact("from a@x.io", vault)
    second, _ = redactor.redact("to b@y.io and a@x.io", vault)
    assert (first, second) == ("from [EMAIL_1]", "to [EMAIL_2] and [EMAIL_1]")
    assert len(vault) == 2
    assert "a@x.io" not in repr(vault)


def test_redact_messages_does_not_mutate(redactor: Redactor) -> None:
    """The input messages are untouched; new dicts carry the redacted text."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "My SSN is 123-45-6788", "name": "u1"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "mail a@x.io"},
                {"type": "image_url", "image_url": {"url": "https://x/a@b.io.png"}},
            ],
        },
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
    ]
    before = copy.deepcopy(messages)
    vault = Vault()
    out, findings = redactor.redact_messages(messages, vault)
    assert messages == before
    assert all(o is not m for o, m in zip(out, messages, strict=True))
    assert out[1] == {"role": "user", "content": "My SSN is [SSN_1]", "name": "u1"}
    assert out[2]["content"][0] == {"type": "text", "text": "mail [EMAIL_1]"}
    assert out[2]["content"][1] is messages[2]["content"][1]  # non-text parts pass through
    assert out[2]["content"] is not messages[2]["content"]
    assert out[3] == messages[3]
    assert [f.type for f in findings] == ["SSN", "EMAIL"]
    assert redactor.restore(out[1]["content"], vault) == messages[1]["content"]


def test_redact_messages_without_vault(redactor: Redactor) -> None:
    """Without a vault, numbering still runs across the messages of one call."""
    out, _ = redactor.redact_messages(
        [{"role": "user", "content": "a@x.io"}, {"role": "user", "content": "b@x.io a@x.io"}],
        None,
    )
    assert [m["content"] for m in out] == ["[EMAIL_1]", "[EMAIL_2] [EMAIL_1]"]
