"""Turning a ``RequestRecord`` into the audit row that gets chained (pure).

A row holds the record's facts as JSON text (``record``: every ``RequestRecord``
field but the bodies), a few copies of them for indexing
(``request_id``, ``key_id``), the write time, and the bodies as AES-256-GCM tokens
whose associated data is ``"{request_id}:{field}"``.  Everything but
``hash``/``prev_hash`` is covered by the chain hash, index copies and tokens included,
so no column can change unnoticed.  The record is hashed as the very text stored,
so no JSON round trip through the database can change what verifies.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from lockgate.audit.crypto import BodyCipher
from lockgate.records import RequestRecord

__all__ = ["BODY_FIELDS", "body_aad", "decrypt_body", "entry_from_record"]

BODY_FIELDS = ("request_body", "response_body")
_FACT_FIELDS = tuple(f.name for f in dataclasses.fields(RequestRecord) if f.name not in BODY_FIELDS)
_JSON_OPTS = orjson.OPT_NON_STR_KEYS


def body_aad(request_id: str, field: str) -> bytes:
    """Associated data binding a body token to its row and column."""
    return f"{request_id}:{field}".encode()


#: how a body-less RequestRecord's JSON ends (orjson writes dataclass fields in order)
_NO_BODIES = b',"request_body":null,"response_body":null}'


def _text(value: Any) -> str:
    # default=str: a note holding an odd value is kept as its text, never an error.
    return orjson.dumps(value, default=str, option=_JSON_OPTS).decode()


def _facts_text(record: RequestRecord, has_body: bool) -> str:
    """The record without its bodies as JSON text (serialised straight from the dataclass)."""
    bare = (
        dataclasses.replace(record, request_body=None, response_body=None) if has_body else record
    )
    raw = orjson.dumps(bare, default=str, option=_JSON_OPTS)
    if raw.endswith(_NO_BODIES):
        return raw[: -len(_NO_BODIES)].decode() + "}"
    # Field order changed: take the slow road rather than store the wrong thing.
    facts = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    for name in BODY_FIELDS:
        del facts[name]
    return _text(facts)


def entry_from_record(
    record: RequestRecord, *, created_at: float, cipher: BodyCipher | None
) -> dict[str, Any]:
    """The row to append (before linking).  Bodies are kept only when ``cipher`` is given."""
    has_body = record.request_body is not None or record.response_body is not None
    entry: dict[str, Any] = {
        "request_id": record.request_id,
        "created_at": created_at,
        "key_id": record.key_id,
        "record": _facts_text(record, has_body),
        "body_key_id": None,
        "request_body": None,
        "response_body": None,
    }
    if cipher is not None and has_body:
        for name in BODY_FIELDS:
            value = getattr(record, name)
            if value is not None:
                plaintext = _text(value).encode()
                entry[name] = cipher.encrypt(plaintext, body_aad(record.request_id, name))
                entry["body_key_id"] = cipher.key_id
    return entry


def decrypt_body(cipher: BodyCipher, row: dict[str, Any], field: str) -> Any:
    """The JSON body stored in ``row[field]`` (None when none was stored)."""
    token = row.get(field)
    if token is None:
        return None
    return orjson.loads(cipher.decrypt(token, body_aad(row["request_id"], field)))
