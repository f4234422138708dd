"""``/v1/files`` and ``/v1/batches`` in OpenAI's wire format (the openai SDK drives them).

Files and batches belong to the key that created them: another virtual key gets 404;
the master key sees everything. Validation happens when the batch is created: a
malformed line makes the batch ``failed`` with the line number in ``errors``, before
anything runs.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from starlette.types import Message

from lockgate.api.common import json_response, read_json, with_errors
from lockgate.api.flow import start_context
from lockgate.auth.keys import Principal
from lockgate.batches.handoff import handoff_target
from lockgate.batches.lines import ENDPOINTS, LineError, parse_input
from lockgate.batches.paging import page_query
from lockgate.batches.service import BatchService
from lockgate.errors import BadRequestError, NotFoundError, PayloadTooLargeError
from lockgate.services import Services, services

__all__ = ["batch_object", "file_object", "routes"]

_WINDOWS = {"24h": 24 * 3600.0}
_PURPOSES = ("batch", "batch_output", "user_data", "evals", "fine-tune", "assistants", "vision")
_TIMES = (
    "created_at",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expires_at",
    "cancelling_at",
    "cancelled_at",
)


def _int(v: float | None) -> int | None:
    return int(v) if v is not None else None


def file_object(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "file",
        "bytes": row["bytes"],
        "created_at": int(row["created_at"]),
        "filename": row["filename"],
        "purpose": row["purpose"],
        "status": "processed",
        "expires_at": None,
        "status_details": None,
    }


def batch_object(row: dict[str, Any]) -> dict[str, Any]:
    counts = row.get("counts") or {}
    completed = counts.get("done", 0)
    failed = counts.get("failed", 0)
    out: dict[str, Any] = {
        "id": row["id"],
        "object": "batch",
        "endpoint": row["endpoint"],
        "errors": {"object": "list", "data": row["errors"]} if row["errors"] else None,
        "input_file_id": row["input_file_id"],
        "completion_window": row["completion_window"],
        "status": row["status"],
        "output_file_id": row["output_file_id"],
        "error_file_id": row["error_file_id"],
        "expired_at": _int(row.get("expired_at")) if row["status"] == "expired" else None,
        "request_counts": {"total": row["total"], "completed": completed, "failed": failed},
        "metadata": row["metadata"],
        # lockgate's own: lines sent again after a replica died or stopped unanswered
        # (each with the same Idempotency-Key as before)
        "lockgate": {
            "resent_requests": int(row.get("resent") or 0),
            # set when the batch went to the provider's own batch API
            "handoff": {
                "provider": row["handoff"],
                "remote_batch_id": row.get("remote_batch_id"),
                "remote_status": row.get("remote_status"),
            }
            if row.get("handoff")
            else None,
        },
    }
    for name in _TIMES:
        out[name] = _int(row[name])
    return out


async def _open(request: Request) -> tuple[Services, BatchService, Principal]:
    svc = services(request)
    ctx = await start_context(request, svc, "openai")
    if svc.batches is None:
        raise NotFoundError("Batches are turned off on this gateway (batches.enabled).")
    return svc, svc.batches, ctx.principal


def _owned(
    row: dict[str, Any] | None, principal: Principal, what: str, ident: str
) -> dict[str, Any]:
    if row is None or not (principal.is_admin or row["key_id"] == principal.key_id):
        raise NotFoundError(f"No such {what}: {ident}")
    return row


#: room for the multipart framing and the form's other fields around a file of the limit
_FORM_SLACK = 64 * 1024


def _capped(request: Request, limit: int) -> Request:
    """``request`` whose body ends in a 413 once more than ``limit`` bytes of file (plus
    the form's slack) arrived.

    A chunked upload declares no length, and Starlette's form parser spools a file part
    to disk without a bound: without the count one caller could fill the disk the
    database shares with every tenant before the size check after parsing.
    """
    seen = 0
    most = limit + _FORM_SLACK
    receive = request.receive

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > most:  # the parser closes (deletes) what it spooled
                raise PayloadTooLargeError(f"Files are limited to {limit} bytes.")
        return message

    return Request(request.scope, counted)


def _over_storage(bs: BatchService) -> BadRequestError:
    s = bs.settings
    return BadRequestError(
        f"This key keeps at most {s.max_files_per_key} files and {s.max_stored_bytes_per_key}"
        " bytes of files; delete some (DELETE /v1/files/{file_id}) to upload more.",
        code="storage_limit_exceeded",
        param="file",
    )


async def _room(bs: BatchService, principal: Principal) -> int:
    """Bytes the caller may still store (refused at once when it has no room): one key
    could otherwise fill the disk every tenant's files and the database live on."""
    if principal.is_admin:
        return bs.settings.max_file_bytes  # the master key: only one file's limit
    held, count = await bs.store.stored(principal.key_id)
    room = bs.settings.max_stored_bytes_per_key - held
    if count >= bs.settings.max_files_per_key or room <= 0:
        raise _over_storage(bs)
    return room


@with_errors("openai")
async def upload_file(request: Request) -> Response:
    _, bs, principal = await _open(request)
    limit = bs.settings.max_file_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _FORM_SLACK:
        raise PayloadTooLargeError(f"Files are limited to {limit} bytes.")
    room = await _room(bs, principal)
    form = await _capped(request, limit).form(max_files=1, max_fields=8)
    try:
        upload = form.get("file")
        purpose = form.get("purpose")
        if upload is None or isinstance(upload, str):
            raise BadRequestError("'file' is required (multipart/form-data).", param="file")
        if not isinstance(purpose, str) or purpose not in _PURPOSES:
            raise BadRequestError(f"'purpose' must be one of {_PURPOSES}.", param="purpose")
        name = upload.filename or "upload.jsonl"
        row = await bs.store.copy_file(
            principal.key_id, purpose, name, upload.file, time.time(), min(limit, room)
        )
        if row is None:
            if room < limit:
                raise _over_storage(bs)
            raise PayloadTooLargeError(f"Files are limited to {limit} bytes.")
    finally:
        await form.close()
    return json_response(file_object(row))


@with_errors("openai")
async def list_files(request: Request) -> Response:
    _, bs, principal = await _open(request)
    q = request.query_params
    page = page_query(q, default_limit=10_000, max_limit=10_000, ordered=True)
    rows = await bs.store.list_files(principal.key_id, principal.is_admin, page, q.get("purpose"))
    return _list([file_object(r) for r in rows[: page.limit]], len(rows) > page.limit)


def _list(data: list[dict[str, Any]], more: bool) -> Response:
    return json_response(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": more,
        }
    )


@with_errors("openai")
async def get_file(request: Request) -> Response:
    _, bs, principal = await _open(request)
    fid = request.path_params["file_id"]
    return json_response(file_object(_owned(await bs.store.get_file(fid), principal, "file", fid)))


@with_errors("openai")
async def file_content(request: Request) -> Response:
    _, bs, principal = await _open(request)
    fid = request.path_params["file_id"]
    row = _owned(await bs.store.get_file(fid), principal, "file", fid)
    # streamed from the disk in pieces (a thread reads them), not read whole on the loop
    return FileResponse(bs.store.root / row["id"], media_type="application/jsonl")


@with_errors("openai")
async def delete_file(request: Request) -> Response:
    _, bs, principal = await _open(request)
    fid = request.path_params["file_id"]
    _owned(await bs.store.get_file(fid), principal, "file", fid)
    await bs.store.delete_file(fid)
    return json_response({"id": fid, "object": "file", "deleted": True})


@with_errors("openai")
async def create_batch(request: Request) -> Response:
    svc, bs, principal = await _open(request)
    body = await read_json(request, 64 * 1024)
    if not isinstance(body, dict):
        raise BadRequestError("Request body must be a JSON object.")
    endpoint = body.get("endpoint")
    if endpoint not in ENDPOINTS:
        raise BadRequestError(f"'endpoint' must be one of {ENDPOINTS}.", param="endpoint")
    window = body.get("completion_window", "24h")
    if not isinstance(window, str) or window not in _WINDOWS:
        raise BadRequestError("'completion_window' must be '24h'.", param="completion_window")
    metadata = body.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and len(metadata) <= 16
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise BadRequestError("'metadata' must map up to 16 strings to strings.", param="metadata")
    fid = body.get("input_file_id")
    if not isinstance(fid, str):
        raise BadRequestError("'input_file_id' is required.", param="input_file_id")
    row = _owned(await bs.store.get_file(fid), principal, "file", fid)
    if row["purpose"] != "batch":
        raise BadRequestError("The input file's purpose must be 'batch'.", param="input_file_id")
    data = (bs.store.root / row["id"]).read_bytes()
    lines, errors = parse_input(data, endpoint, max_lines=bs.settings.max_lines)
    if not errors:
        for ln in lines:
            if ln.body["model"] not in svc.router.aliases:
                message = f"The model '{ln.body['model']}' does not exist."
                errors.append(LineError(ln.line_no, "model_not_found", message, "body.model"))
                break
    handoff = None
    if not errors:
        models = {ln.body["model"] for ln in lines}
        handoff = handoff_target(svc.router, bs.settings, endpoint, models, metadata)
    now = time.time()
    batch = await bs.store.create_batch(
        key_id=principal.key_id,
        endpoint=endpoint,
        input_file_id=fid,
        completion_window=window,
        metadata=metadata,
        lines=lines,
        errors=errors,
        now=now,
        expires_at=now + _WINDOWS[window],
        handoff=handoff,
    )
    if handoff is not None and bs.handoff is not None:
        bs.handoff.wake()
    return json_response(batch_object(batch))


@with_errors("openai")
async def get_batch(request: Request) -> Response:
    _, bs, principal = await _open(request)
    bid = request.path_params["batch_id"]
    return json_response(
        batch_object(_owned(await bs.store.get_batch(bid), principal, "batch", bid))
    )


@with_errors("openai")
async def cancel_batch(request: Request) -> Response:
    _, bs, principal = await _open(request)
    bid = request.path_params["batch_id"]
    _owned(await bs.store.get_batch(bid), principal, "batch", bid)
    await bs.store.cancel(bid, time.time())
    if bs.runner is not None:
        bs.runner.wake(stopped=bid)
    if bs.handoff is not None:
        bs.handoff.wake()
    return json_response(batch_object(await bs.store.get_batch(bid) or {}))


@with_errors("openai")
async def list_batches(request: Request) -> Response:
    _, bs, principal = await _open(request)
    page = page_query(request.query_params, default_limit=20, max_limit=100, ordered=False)
    rows = await bs.store.list_batches(principal.key_id, principal.is_admin, page)
    return _list([batch_object(r) for r in rows[: page.limit]], len(rows) > page.limit)


routes = [
    Route("/v1/files", upload_file, methods=["POST"]),
    Route("/v1/files", list_files, methods=["GET"]),
    Route("/v1/files/{file_id}", get_file, methods=["GET"]),
    Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
    Route("/v1/batches", create_batch, methods=["POST"]),
    Route("/v1/batches", list_batches, methods=["GET"]),
    Route("/v1/batches/{batch_id}", get_batch, methods=["GET"]),
    Route("/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
]
