"""OpenAI's Files + Batches API and Anthropic's Message Batches API, as the fake serves them.

OpenAI
    POST /v1/files (multipart: file, purpose), GET /v1/files, GET /v1/files/{id},
    GET /v1/files/{id}/content
    POST /v1/batches {input_file_id, endpoint, completion_window, metadata},
    GET /v1/batches (limit, after), GET /v1/batches/{id}, POST /v1/batches/{id}/cancel
Anthropic (``x-api-key`` and ``anthropic-version`` required)
    POST /v1/messages/batches {requests: [{custom_id, params}]},
    GET /v1/messages/batches (limit, after_id), GET /v1/messages/batches/{id},
    POST /v1/messages/batches/{id}/cancel, GET /v1/messages/batches/{id}/results

A batch advances one step per GET of it (validating -> in_progress -> completed for
OpenAI; in_progress -> ended for Anthropic), so tests decide when it ends by polling;
``polls_to_end`` sets how many GETs that takes.  When it ends, every request line runs
once through the same builders as the interactive routes (answers: ``"echo: " + text``).
A cancelled batch ends at its next GET with every other line cancelled.
``create_delay``: the create call answers that much later (the batch exists already).

Counting (what the gateway sent, for exactly-once checks)
    ``lines_received``: Counter[custom_id] over every batch created (a line handed over
    twice shows up as 2); ``batches_created``, ``files_uploaded``: lists of ids.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from . import anthropic_wire, openai_wire

__all__ = ["ProviderBatches"]

_DAY = 24 * 3600


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def obj(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


@dataclass
class _Batch:
    id: str
    wire: str  # openai | anthropic
    lines: list[dict[str, Any]]
    created_at: float
    endpoint: str = ""
    input_file_id: str = ""
    metadata: dict[str, str] | None = None
    status: str = "validating"
    polls: int = 0
    cancelling_at: float | None = None
    ended_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


class ProviderBatches:
    def __init__(self, *, dimensions: int = 8) -> None:
        self.dimensions = dimensions
        self.reset()

    def reset(self) -> None:
        #: GETs of a batch until it ends
        self.polls_to_end = 2
        #: seconds the create call waits after the batch exists, before answering (a
        #: client killed meanwhile never learns the id)
        self.create_delay = 0.0
        self.files: dict[str, _File] = {}
        self.batches: dict[str, _Batch] = {}
        self.lines_received: Counter[str] = Counter()
        self.batches_created: list[str] = []
        self.files_uploaded: list[str] = []
        self._ids = itertools.count(1)

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/v1/files", self._list_files)
        r.add_get("/v1/files/{id}", self._get_file)
        r.add_get("/v1/files/{id}/content", self._file_content)
        r.add_post("/v1/batches", self._create_openai)
        r.add_get("/v1/batches", self._list_openai)
        r.add_get("/v1/batches/{id}", self._get_openai)
        r.add_post("/v1/batches/{id}/cancel", self._cancel_openai)
        r.add_post("/v1/messages/batches", self._create_anthropic)
        r.add_get("/v1/messages/batches", self._list_anthropic)
        r.add_get("/v1/messages/batches/{id}", self._get_anthropic)
        r.add_post("/v1/messages/batches/{id}/cancel", self._cancel_anthropic)
        r.add_get("/v1/messages/batches/{id}/results", self._results_anthropic)

    # -- helpers ---------------------------------------------------------------------

    @staticmethod
    def _openai_auth(request: web.Request) -> web.Response | None:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _error(401, openai_wire.error_body(401, "missing key"))
        return None

    @staticmethod
    def _anthropic_auth(request: web.Request) -> web.Response | None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        problem = anthropic_wire.validate_headers(headers)
        return _error(401, anthropic_wire.error_body(401, problem)) if problem else None

    def _new_file(self, filename: str, purpose: str, data: bytes) -> _File:
        f = _File(f"file-fake{next(self._ids)}", filename, purpose, data, int(time.time()))
        self.files[f.id] = f
        return f

    # -- files -----------------------------------------------------------------------

    async def upload(self, request: web.Request) -> web.Response:
        if (bad := self._openai_auth(request)) is not None:
            return bad
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return _error(400, openai_wire.error_body(400, "'file' is required"))
        f = self._new_file(upload.filename, str(form.get("purpose", "")), upload.file.read())
        self.files_uploaded.append(f.id)
        return web.json_response(f.obj())

    async def _list_files(self, request: web.Request) -> web.Response:
        if (bad := self._openai_auth(request)) is not None:
            return bad
        data = [f.obj() for f in reversed(self.files.values())]
        return web.json_response({"object": "list", "data": data, "has_more": False})

    async def _get_file(self, request: web.Request) -> web.Response:
        f = self.files.get(request.match_info["id"])
        if (bad := self._openai_auth(request)) is not None or f is None:
            return bad or _error(404, openai_wire.error_body(404, "No such file"))
        return web.json_response(f.obj())

    async def _file_content(self, request: web.Request) -> web.Response:
        f = self.files.get(request.match_info["id"])
        if (bad := self._openai_auth(request)) is not None or f is None:
            return bad or _error(404, openai_wire.error_body(404, "No such file"))
        return web.Response(body=f.data, content_type="application/octet-stream")

    # -- OpenAI batches --------------------------------------------------------------

    async def _create_openai(self, request: web.Request) -> web.Response:
        if (bad := self._openai_auth(request)) is not None:
            return bad
        body = await request.json()
        f = self.files.get(body.get("input_file_id", ""))
        if f is None or f.purpose != "batch":
            return _error(400, openai_wire.error_body(400, "input_file_id: no such batch file"))
        lines = [json.loads(x) for x in f.data.splitlines() if x.strip()]
        b = _Batch(
            f"batch_fake{next(self._ids)}",
            "openai",
            lines,
            time.time(),
            endpoint=body.get("endpoint", ""),
            input_file_id=f.id,
            metadata=body.get("metadata"),
        )
        created = self._created(b)
        await asyncio.sleep(self.create_delay)
        return web.json_response(created)

    def _created(self, b: _Batch) -> dict[str, Any]:
        self.batches[b.id] = b
        self.batches_created.append(b.id)
        for line in b.lines:
            self.lines_received[line["custom_id"]] += 1
        return self._openai_obj(b) if b.wire == "openai" else self._anthropic_obj(b)

    def _openai_obj(self, b: _Batch) -> dict[str, Any]:
        done = b.status in ("completed", "cancelled", "expired")
        return {
            "id": b.id,
            "object": "batch",
            "endpoint": b.endpoint,
            "errors": None,
            "input_file_id": b.input_file_id,
            "completion_window": "24h",
            "status": b.status,
            "output_file_id": b.output_file_id,
            "error_file_id": b.error_file_id,
            "created_at": int(b.created_at),
            "in_progress_at": int(b.created_at) if b.status != "validating" else None,
            "expires_at": int(b.created_at) + _DAY,
            "finalizing_at": int(b.ended_at) if done else None,
            "completed_at": int(b.ended_at) if b.status == "completed" and b.ended_at else None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": int(b.cancelling_at) if b.cancelling_at else None,
            "cancelled_at": int(b.ended_at) if b.status == "cancelled" and b.ended_at else None,
            "request_counts": {
                "total": len(b.lines),
                "completed": b.counts["succeeded"],
                "failed": b.counts["errored"],
            },
            "metadata": b.metadata,
        }

    def _advance(self, b: _Batch) -> None:
        b.polls += 1
        ending = b.status in ("cancelling", "canceling") or b.polls >= self.polls_to_end
        if b.ended_at is not None:
            return
        if not ending:
            b.status = "in_progress"
            return
        cancelled = b.cancelling_at is not None
        for i, line in enumerate(b.lines):
            if cancelled and i % 2:  # a cancel stops about half of what was left
                b.results.append({"custom_id": line["custom_id"], "canceled": True})
                b.counts["canceled"] += 1
                continue
            b.results.append(self._run(b, line))
        b.ended_at = time.time()
        if b.wire == "openai":
            b.status = "cancelled" if cancelled else "completed"
            ok = [r for r in b.results if r.get("response", {}).get("status_code") == 200]
            bad = [r for r in b.results if r not in ok and not r.get("canceled")]
            if ok:
                b.output_file_id = self._new_file(
                    f"{b.id}_output.jsonl", "batch_output", _jsonl(ok)
                ).id
            if bad:
                b.error_file_id = self._new_file(
                    f"{b.id}_error.jsonl", "batch_output", _jsonl(bad)
                ).id
        else:
            b.status = "ended"

    def _run(self, b: _Batch, line: dict[str, Any]) -> dict[str, Any]:
        n = next(self._ids)
        if b.wire == "anthropic":
            params = line.get("params")
            problem = anthropic_wire.validate_message(params)
            if problem is not None:
                b.counts["errored"] += 1
                return {
                    "custom_id": line["custom_id"],
                    "result": {"type": "errored", "error": anthropic_wire.error_body(400, problem)},
                }
            b.counts["succeeded"] += 1
            message = anthropic_wire.message(params, f"msg_fakebatch{n:012d}")
            return {
                "custom_id": line["custom_id"],
                "result": {"type": "succeeded", "message": message},
            }
        body = line.get("body") or {}
        rid = f"req_fake{n:08d}"
        if line.get("url") == "/v1/embeddings":
            payload: dict[str, Any] = openai_wire.embeddings(body, self.dimensions)
            status = 200
        else:
            problem = openai_wire.validate_chat(body)
            if problem is None:
                payload, status = openai_wire.chat_completion(body, f"chatcmpl-fb{n}", 0), 200
            else:
                payload, status = openai_wire.error_body(400, problem), 400
        b.counts["succeeded" if status == 200 else "errored"] += 1
        return {
            "id": f"batch_req_fake{n}",
            "custom_id": line["custom_id"],
            "response": {"status_code": status, "request_id": rid, "body": payload},
            "error": None,
        }

    def _find(self, request: web.Request, wire: str) -> _Batch | None:
        b = self.batches.get(request.match_info["id"])
        return b if b is not None and b.wire == wire else None

    async def _get_openai(self, request: web.Request) -> web.Response:
        b = self._find(request, "openai")
        if (bad := self._openai_auth(request)) is not None or b is None:
            return bad or _error(404, openai_wire.error_body(404, "No such batch"))
        self._advance(b)
        return web.json_response(self._openai_obj(b))

    async def _list_openai(self, request: web.Request) -> web.Response:
        if (bad := self._openai_auth(request)) is not None:
            return bad
        rows = [b for b in reversed(self.batches.values()) if b.wire == "openai"]
        return _page(rows, request, "after", self._openai_obj)

    async def _cancel_openai(self, request: web.Request) -> web.Response:
        b = self._find(request, "openai")
        if (bad := self._openai_auth(request)) is not None or b is None:
            return bad or _error(404, openai_wire.error_body(404, "No such batch"))
        if b.ended_at is None:
            b.status, b.cancelling_at = "cancelling", time.time()
        return web.json_response(self._openai_obj(b))

    # -- Anthropic message batches ---------------------------------------------------

    def _anthropic_obj(self, b: _Batch) -> dict[str, Any]:
        ended = b.ended_at is not None
        processing = 0 if ended else len(b.lines)
        return {
            "id": b.id,
            "type": "message_batch",
            "processing_status": b.status,
            "request_counts": {
                "processing": processing,
                "succeeded": b.counts["succeeded"],
                "errored": b.counts["errored"],
                "canceled": b.counts["canceled"],
                "expired": 0,
            },
            "ended_at": _iso(b.ended_at),
            "created_at": _iso(b.created_at),
            "expires_at": _iso(b.created_at + _DAY),
            "archived_at": None,
            "cancel_initiated_at": _iso(b.cancelling_at),
            "results_url": f"/v1/messages/batches/{b.id}/results" if ended else None,
        }

    async def _create_anthropic(self, request: web.Request) -> web.Response:
        if (bad := self._anthropic_auth(request)) is not None:
            return bad
        body = await request.json()
        reqs = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(reqs, list) or not reqs:
            return _error(400, anthropic_wire.error_body(400, "requests: field required"))
        ids = [r.get("custom_id") for r in reqs]
        if len(set(ids)) != len(ids):
            return _error(400, anthropic_wire.error_body(400, "custom_id must be unique"))
        b = _Batch(f"msgbatch_fake{next(self._ids)}", "anthropic", reqs, time.time())
        b.status = "in_progress"
        created = self._created(b)
        await asyncio.sleep(self.create_delay)
        return web.json_response(created)

    async def _get_anthropic(self, request: web.Request) -> web.Response:
        b = self._find(request, "anthropic")
        if (bad := self._anthropic_auth(request)) is not None or b is None:
            return bad or _error(404, anthropic_wire.error_body(404, "No such batch"))
        self._advance(b)
        return web.json_response(self._anthropic_obj(b))

    async def _list_anthropic(self, request: web.Request) -> web.Response:
        if (bad := self._anthropic_auth(request)) is not None:
            return bad
        rows = [b for b in reversed(self.batches.values()) if b.wire == "anthropic"]
        return _page(rows, request, "after_id", self._anthropic_obj)

    async def _cancel_anthropic(self, request: web.Request) -> web.Response:
        b = self._find(request, "anthropic")
        if (bad := self._anthropic_auth(request)) is not None or b is None:
            return bad or _error(404, anthropic_wire.error_body(404, "No such batch"))
        if b.ended_at is None:
            b.status, b.cancelling_at = "canceling", time.time()
        return web.json_response(self._anthropic_obj(b))

    async def _results_anthropic(self, request: web.Request) -> web.Response:
        b = self._find(request, "anthropic")
        if (bad := self._anthropic_auth(request)) is not None or b is None:
            return bad or _error(404, anthropic_wire.error_body(404, "No such batch"))
        if b.ended_at is None:
            return _error(400, anthropic_wire.error_body(400, "batch has not ended"))
        out = [
            r
            if not r.get("canceled")
            else {"custom_id": r["custom_id"], "result": {"type": "canceled"}}
            for r in b.results
        ]
        return web.Response(body=_jsonl(out), content_type="application/binary")


def _error(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def _page(rows: list[_Batch], request: web.Request, after_name: str, obj: Any) -> web.Response:
    after = request.query.get(after_name)
    if after is not None:
        ids = [b.id for b in rows]
        rows = rows[ids.index(after) + 1 :] if after in ids else []
    limit = int(request.query.get("limit", "20"))
    page = [obj(b) for b in rows[:limit]]
    return web.json_response(
        {
            "object": "list",
            "data": page,
            "has_more": len(rows) > limit,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
    )
