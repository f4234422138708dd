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
import operator
from typing import Any

import orjson

from lockgate.audit.crypto import BodyCipher
from lockgate.records import FIELDS, RequestRecord, fields_of

__all__ = [
    "BODY_FIELDS",
    "body_aad",
    "decrypt_body",
    "entry_from_fields",
    "entry_from_record",
]

BODY_FIELDS = ("request_body", "response_body")
_FACT_FIELDS = tuple(f.name for f in dataclasses.fields(RequestRecord) if f.name not in BODY_FIELDS)
_JSON_OPTS = orjson.OPT_NON_STR_KEYS


def body_aad(request_id: str, field: str) -> bytes:
    """Associated data binding a body token to its row and column."""
    return f"{request_id}:{field}".encode()


_FACTS = tuple(FIELDS.index(name) for name in _FACT_FIELDS)
_facts = operator.itemgetter(*_FACTS)
_REQUEST_ID, _KEY_ID = FIELDS.index("request_id"), FIELDS.index("key_id")
_BODIES = tuple((name, FIELDS.index(name)) for name in BODY_FIELDS)


def _text(value: Any) -> str:
    # default=str: a note holding an odd value is kept as its text, never an error.
    return orjson.dumps(value, default=str, option=_JSON_OPTS).decode()


def entry_from_record(
    record: RequestRecord, *, created_at: float, cipher: BodyCipher | None
) -> dict[str, Any]:
    """The row to append (before linking).  Bodies are kept only when ``cipher`` is given."""
    return entry_from_fields(fields_of(record), created_at=created_at, cipher=cipher)


def entry_from_fields(
    values: tuple[Any, ...], *, created_at: float, cipher: BodyCipher | None
) -> dict[str, Any]:
    """:func:`entry_from_record` from a record's values in ``FIELDS`` order (the writer's
    jobs have these: :func:`lockgate.records.unpack_fields`).

    The facts are the JSON object of every field but the bodies, in the record's field
    order (what orjson writes for the dataclass itself).
    """
    request_id = values[_REQUEST_ID]
    entry: dict[str, Any] = {
        "request_id": request_id,
        "created_at": created_at,
        "key_id": values[_KEY_ID],
        "record": _text(dict(zip(_FACT_FIELDS, _facts(values), strict=True))),
        "body_key_id": None,
        "request_body": None,
        "response_body": None,
    }
    if cipher is not None:
        for name, at in _BODIES:
            value = values[at]
            if value is not None:
                plaintext = _text(value).encode()
                entry[name] = cipher.encrypt(plaintext, body_aad(request_id, name))
                entry["body_key_id"] = cipher.key_id
    return entry


def decrypt_body(cipher: BodyCipher, row: dict[str, Any], field: str) -> Any:
    """The JSON body stored in ``row[field]`` (None when none was stored)."""
    token = row.get(field)
    if token is None:
        return None
    return orjson.loads(cipher.decrypt(token, body_aad(row["request_id"], field)))
