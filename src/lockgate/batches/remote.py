"""Clients of the providers' batch APIs: OpenAI's Files + Batches, Anthropic's Message Batches.

Each does what the hand-off needs and nothing more: put the requests up (OpenAI: upload
a JSONL file, then create the batch), find a batch created before a crash again
(``find``), read its status, cancel it, read its results.  Any non-2xx answer raises
``UpstreamError`` (the hand-off tries again at its next poll).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import aiohttp
import orjson

from lockgate.batches.handoff_wire import RemoteResult, remote_url
from lockgate.errors import UpstreamError
from lockgate.settings import Deployment

__all__ = ["AnthropicBatches", "OpenAIBatches", "RemoteBatches", "remote_for"]

_OPENAI_BASE = "https://api.openai.com/v1"
_ANTHROPIC_BASE = "https://api.anthropic.com"
_ANTHROPIC_VERSION = "2023-06-01"
#: how far back ``find`` looks for a batch this replica may have created before a crash
_FIND_SLACK = 120.0


class RemoteBatches(Protocol):
    async def upload(self, batch_id: str, data: bytes) -> str | None:
        """Put the requests file up (or find it from before a crash); None: no file."""

    async def find(self, batch_id: str, marked_at: float, total: int) -> str | None:
        """The remote batch created for ``batch_id`` at or after ``marked_at``, if any."""

    async def create(
        self, batch_id: str, file_id: str | None, requests: Sequence[dict[str, Any]]
    ) -> str: ...

    async def status(self, remote_id: str) -> tuple[str, bool]:
        """The remote status and whether the batch has ended."""

    async def cancel(self, remote_id: str) -> None: ...

    async def results(self, remote_id: str) -> list[RemoteResult]: ...


async def _json(resp: aiohttp.ClientResponse, what: str) -> Any:
    raw = await resp.read()
    if resp.status >= 300:
        raise UpstreamError(
            f"{what}: HTTP {resp.status}: {raw[:300].decode('utf-8', 'replace')}",
            upstream_status=resp.status,
        )
    return orjson.loads(raw) if raw else None


def _jsonl(raw: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in raw.splitlines() if x.strip()]


class OpenAIBatches:
    def __init__(self, dep: Deployment, session: aiohttp.ClientSession, endpoint: str) -> None:
        p = dep.params
        self._base = (p.api_base or _OPENAI_BASE).rstrip("/")
        self._headers = {**p.extra_headers}
        if p.api_key is not None:
            self._headers["authorization"] = "Bearer " + p.api_key.get_secret_value()
        self._session = session
        self._url = remote_url(endpoint)

    @staticmethod
    def filename(batch_id: str) -> str:
        return f"lockgate-{batch_id}.jsonl"

    async def upload(self, batch_id: str, data: bytes) -> str | None:
        name = self.filename(batch_id)
        async with self._session.get(
            f"{self._base}/files", params={"purpose": "batch"}, headers=self._headers
        ) as resp:
            listed = await _json(resp, "openai files list")
        for f in listed.get("data") or []:
            if f.get("filename") == name and f.get("bytes") == len(data):
                return str(f["id"])  # uploaded before a crash
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", data, filename=name, content_type="application/jsonl")
        async with self._session.post(
            f"{self._base}/files", data=form, headers=self._headers
        ) as resp:
            return str((await _json(resp, "openai file upload"))["id"])

    async def find(self, batch_id: str, marked_at: float, total: int) -> str | None:
        after: str | None = None
        for _ in range(20):  # newest first; ours is recent
            params = {"limit": "100", **({"after": after} if after else {})}
            async with self._session.get(
                f"{self._base}/batches", params=params, headers=self._headers
            ) as resp:
                page = await _json(resp, "openai batches list")
            for b in page.get("data") or []:
                if (b.get("metadata") or {}).get("lockgate_batch_id") == batch_id:
                    return str(b["id"])
                if b.get("created_at", 0) < marked_at - _FIND_SLACK:
                    return None
            if not page.get("has_more") or not page.get("data"):
                return None
            after = page["data"][-1]["id"]
        return None

    async def create(
        self, batch_id: str, file_id: str | None, requests: Sequence[dict[str, Any]]
    ) -> str:
        body = {
            "input_file_id": file_id,
            "endpoint": self._url,
            "completion_window": "24h",
            "metadata": {"lockgate_batch_id": batch_id},
        }
        async with self._session.post(
            f"{self._base}/batches", json=body, headers=self._headers
        ) as resp:
            return str((await _json(resp, "openai batch create"))["id"])

    async def status(self, remote_id: str) -> tuple[str, bool]:
        async with self._session.get(
            f"{self._base}/batches/{remote_id}", headers=self._headers
        ) as resp:
            b = await _json(resp, "openai batch")
        status = str(b.get("status"))
        return status, status in ("completed", "failed", "expired", "cancelled")

    async def cancel(self, remote_id: str) -> None:
        async with self._session.post(
            f"{self._base}/batches/{remote_id}/cancel", headers=self._headers
        ) as resp:
            await _json(resp, "openai batch cancel")

    async def _content(self, file_id: str) -> list[dict[str, Any]]:
        async with self._session.get(
            f"{self._base}/files/{file_id}/content", headers=self._headers
        ) as resp:
            raw = await resp.read()
            if resp.status >= 300:
                raise UpstreamError(f"openai file content: HTTP {resp.status}")
        return _jsonl(raw)

    async def results(self, remote_id: str) -> list[RemoteResult]:
        async with self._session.get(
            f"{self._base}/batches/{remote_id}", headers=self._headers
        ) as resp:
            b = await _json(resp, "openai batch")
        out: list[RemoteResult] = []
        for fid in (b.get("output_file_id"), b.get("error_file_id")):
            if not fid:
                continue
            for row in await self._content(fid):
                response = row.get("response")
                if response is not None:
                    code = int(response.get("status_code") or 500)
                    out.append(
                        RemoteResult(
                            row["custom_id"],
                            "succeeded" if code < 300 else "errored",
                            code,
                            response.get("body") or {},
                            response.get("request_id"),
                        )
                    )
                else:
                    err = row.get("error") or {}
                    kind = "expired" if err.get("code") == "batch_expired" else "errored"
                    out.append(RemoteResult(row["custom_id"], kind, 500, {"error": err}))
        return out


def _ts(value: Any) -> float:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class AnthropicBatches:
    def __init__(self, dep: Deployment, session: aiohttp.ClientSession) -> None:
        p = dep.params
        base = (p.api_base or _ANTHROPIC_BASE).rstrip("/")
        self._url = base + ("/messages/batches" if base.endswith("/v1") else "/v1/messages/batches")
        self._headers = {"anthropic-version": _ANTHROPIC_VERSION, **p.extra_headers}
        if p.api_key is not None:
            self._headers["x-api-key"] = p.api_key.get_secret_value()
        self._session = session

    async def upload(self, batch_id: str, data: bytes) -> str | None:
        return None  # requests go inline with the create call

    async def find(self, batch_id: str, marked_at: float, total: int) -> str | None:
        # Message batches carry no metadata: a batch created since the mark with as
        # many requests is ours (results are checked against our custom ids later).
        async with self._session.get(
            self._url, params={"limit": "100"}, headers=self._headers
        ) as resp:
            page = await _json(resp, "anthropic batches list")
        found = [
            b
            for b in page.get("data") or []
            if _ts(b.get("created_at")) >= marked_at - 5.0
            and sum(int(v) for v in (b.get("request_counts") or {}).values()) == total
        ]
        return str(min(found, key=lambda b: _ts(b.get("created_at")))["id"]) if found else None

    async def create(
        self, batch_id: str, file_id: str | None, requests: Sequence[dict[str, Any]]
    ) -> str:
        body = {"requests": list(requests)}
        async with self._session.post(self._url, json=body, headers=self._headers) as resp:
            return str((await _json(resp, "anthropic batch create"))["id"])

    async def status(self, remote_id: str) -> tuple[str, bool]:
        async with self._session.get(f"{self._url}/{remote_id}", headers=self._headers) as resp:
            b = await _json(resp, "anthropic batch")
        status = str(b.get("processing_status"))
        return status, status == "ended"

    async def cancel(self, remote_id: str) -> None:
        async with self._session.post(
            f"{self._url}/{remote_id}/cancel", headers=self._headers
        ) as resp:
            await _json(resp, "anthropic batch cancel")

    async def results(self, remote_id: str) -> list[RemoteResult]:
        async with self._session.get(
            f"{self._url}/{remote_id}/results", headers=self._headers
        ) as resp:
            raw = await resp.read()
            if resp.status >= 300:
                raise UpstreamError(f"anthropic batch results: HTTP {resp.status}")
        out: list[RemoteResult] = []
        for row in _jsonl(raw):
            result = row.get("result") or {}
            kind = str(result.get("type"))
            if kind == "succeeded":
                out.append(RemoteResult(row["custom_id"], kind, 200, result.get("message") or {}))
            else:
                err = result.get("error") or {"type": "error", "error": {"type": kind}}
                status = 400 if kind == "errored" else 500
                out.append(RemoteResult(row["custom_id"], kind, status, err))
        return out


def remote_for(dep: Deployment, session: aiohttp.ClientSession, endpoint: str) -> RemoteBatches:
    if dep.provider == "anthropic":
        return AnthropicBatches(dep, session)
    return OpenAIBatches(dep, session, endpoint)
