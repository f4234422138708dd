"""The output and error files of a batch: one JSONL line per input line, in OpenAI's
batch output format. A stored answer's JSON text is spliced in as it is (not parsed and
re-encoded)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    import sqlalchemy as sa

    from lockgate.batches import tables
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")
    tables = lazy_module("lockgate.batches.tables")


__all__ = ["output_lines"]

#: OpenAI's error for a request its batch's completion window ended before
_EXPIRED = {
    "code": "batch_expired",
    "message": "This request could not be executed before the completion window expired.",
}


async def output_lines(
    conn: Any, batch_id: str, *, expired: bool, pg: bool
) -> tuple[list[bytes], list[bytes]]:
    """The batch's output lines (answered) and error lines (failed; with ``expired``,
    also the lines its window ended before), in line order."""
    out: list[bytes] = []
    err: list[bytes] = []
    shown = ("done", "failed", "expired", "running") if expired else ("done", "failed")
    c = tables.batch_lines.c
    q = (
        # the stored answer's JSON text as it is: spliced in, not parsed and re-encoded
        sa.select(
            c.line_no,
            c.custom_id,
            c.status,
            c.status_code,
            c.request_id,
            (sa.cast(c.response, sa.Text) if pg else sa.type_coerce(c.response, sa.Text)).label(
                "raw"
            ),
        )
        .where(c.batch_id == batch_id, c.status.in_(shown))
        .order_by(c.line_no)
    )
    for r in (await conn.execute(q)).mappings():
        raw = r["raw"]
        entry = {
            "id": f"batch_req_{batch_id[6:]}_{r['line_no']}",
            "custom_id": r["custom_id"],
            "response": {
                "status_code": r["status_code"],
                "request_id": r["request_id"],
                "body": orjson.Fragment(raw if raw is not None else "null"),
            }
            if r["status"] == "done"
            else None,
            "error": None
            if r["status"] == "done"
            else _EXPIRED
            if r["status"] in ("expired", "running")
            else ((orjson.loads(raw) if raw else None) or {}).get("error", {"message": "failed"}),
        }
        (out if r["status"] == "done" else err).append(orjson.dumps(entry))
    return out, err
