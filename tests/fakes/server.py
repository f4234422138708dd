"""FakeUpstream: an aiohttp server on 127.0.0.1 speaking the OpenAI and Anthropic wire formats."""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import anthropic_wire, bedrock_wire, gemini_wire, openai_wire, variants
from .delivery import Delivered, abort_connection, deliver
from .faults import Fault, FaultQueue
from .prompt_cache import AnthropicCacheSim
from .provider_batches import ProviderBatches
from .recording import CancelEvent, RecordedRequest
from .replies import last_user_text

__all__ = ["FakeUpstream"]


DEFAULT_MODELS = ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]
_JSON = "application/json"


class FakeUpstream:
    """A fake LLM provider on a real loopback port; see the package docstring."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: list[str] | None = None,
        embedding_dimensions: int = 8,
        clock: Callable[[], float] = time.monotonic,
        prompt_cache: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        #: with a server context the fake speaks HTTPS (``base_url`` says https)
        self.ssl_context = ssl_context
        #: with ``prompt_cache`` the Anthropic route reports cache reads and writes
        self.prompt_cache = AnthropicCacheSim() if prompt_cache else None
        self._port = port
        self.models = list(models or DEFAULT_MODELS)
        self.embedding_dimensions = embedding_dimensions
        self.clock = clock
        self.faults = FaultQueue()
        self.requests: list[RecordedRequest] = []
        self.counts: Counter[str] = Counter()  # path -> requests received
        self.cancel_events: list[CancelEvent] = []
        self.completed_streams = 0
        #: canned answers by last user text (non-streamed chat only); others are echoed
        self.answers: dict[str, str] = {}
        #: Google OAuth: service accounts' public keys (client_email -> PEM) the token
        #: endpoint verifies assertions with, and the access tokens it issued
        self.google_keys: dict[str, str] = {}
        self.google_tokens: set[str] = set()
        #: requests answered from an earlier one with the same Idempotency-Key (per path)
        self.replays: Counter[str] = Counter()
        self._by_key: dict[str, tuple[int, list[bytes], bool]] = {}
        #: answers produced per Idempotency-Key (a request the client abandoned before
        #: its answer was built is not counted: it is in ``cancel_events``)
        self.executions: Counter[str] = Counter()
        self._ids = itertools.count(1)
        #: OpenAI Files + Batches and Anthropic Message Batches (provider_batches.py)
        self.batches = ProviderBatches(dimensions=embedding_dimensions)
        self._runner: web.AppRunner | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)  # inline images, PDFs
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/azure/openai/deployments/{name}/chat/completions", self._variant)
        app.router.add_post("/azure/openai/deployments/{name}/embeddings", self._variant)
        for root in ("/groq/openai/v1", "/mistral/v1", "/nousage/v1"):
            app.router.add_post(root + "/chat/completions", self._variant)
        # Legacy text completions: Azure and Ollama/vLLM serve them; Groq and Mistral do not.
        app.router.add_post("/azure/openai/deployments/{name}/completions", self._variant)
        app.router.add_post("/nousage/v1/completions", self._variant)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/files", self._files)
        self.batches.add_routes(app)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1beta/models/{spec}", self._gemini)
        app.router.add_post("/oauth2/token", self._google_token)
        app.router.add_post(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{spec}",
            self._vertex,
        )
        app.router.add_post("/bedrock/model/{model}/{action}", self._bedrock)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_post("/_control/faults", self._control_push)
        app.router.add_delete("/_control/faults", self._control_clear)
        app.router.add_get("/_control/faults", self._control_list)
        app.router.add_get("/_control/requests", self._control_requests)
        app.router.add_get("/_control/stats", self._control_stats)
        app.router.add_post("/_control/reset", self._control_reset)
        # handler_cancellation: a client leaving during a sleep cancels the handler, so
        # disconnects are seen even while stalled, not only at the next write.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port, ssl_context=self.ssl_context)
        await site.start()
        self._port = int(self._runner.addresses[0][1])  # the real one when port was 0

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeUpstream:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT`` (the Anthropic SDK's base_url)."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self._port}"

    @property
    def openai_base_url(self) -> str:
        """``base_url + "/v1"``, what the OpenAI SDK wants as base_url."""
        return self.base_url + "/v1"

    # -- test-facing API -----------------------------------------------------------------

    def push_fault(self, fault: Fault, times: int | None = 1) -> None:
        """Apply ``fault`` to the next ``times`` matching requests (None = always)."""
        self.faults.push(fault, times)

    def script(self, *faults: Fault | None) -> None:
        """One fault per coming request, in order; None means "answer normally" for that one.

        Only unscoped faults keep a strict order; scoped ones wait for their route.
        """
        for fault in faults:
            self.faults.push(fault if fault is not None else Fault.none(), 1)

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset(self) -> None:
        """Forget requests, counters, cancellations and faults."""
        self.faults.clear()
        self.requests.clear()
        self.counts.clear()
        self.cancel_events.clear()
        self.completed_streams = 0
        self.replays.clear()
        self._by_key.clear()
        self.executions.clear()
        self.batches.reset()

    @property
    def cancelled(self) -> int:
        """How many responses the client abandoned before their end."""
        return len(self.cancel_events)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def stats(self) -> dict[str, Any]:
        return {
            "requests": len(self.requests),
            "counts": dict(self.counts),
            "cancelled": self.cancelled,
            "cancel_events": [e.to_dict() for e in self.cancel_events],
            "completed_streams": self.completed_streams,
            "replays": dict(self.replays),
        }

    # -- request plumbing ----------------------------------------------------------------

    async def _record(self, request: web.Request) -> tuple[RecordedRequest, Fault | None]:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        fault = self.faults.take(request.path)
        if fault is not None and fault.kind == "none":
            fault = None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            raw_body=raw,
            time=self.clock(),
            fault=fault.kind if fault else None,
        )
        self.requests.append(record)
        self.counts[request.path] += 1
        return record, fault

    async def _serve(
        self,
        request: web.Request,
        fault: Fault | None,
        error_shape: Callable[[int, str], dict[str, Any]],
        build: Callable[[], tuple[int, list[bytes], bool]],
        stream_type: str = "text/event-stream",
    ) -> web.StreamResponse:
        """Apply the header-side faults, then deliver what ``build`` returns."""
        progress = Delivered()
        try:
            if fault is not None and fault.kind in ("slow_headers", "status") and fault.seconds:
                await asyncio.sleep(fault.seconds)
            if fault is not None and fault.kind == "reset_before_headers":
                abort_connection(request)
                return web.Response(status=499)  # never reaches the client
            if fault is not None and fault.kind == "status":
                body = (
                    fault.body
                    if fault.body is not None
                    else error_shape(fault.status, f"fake fault: HTTP {fault.status}")
                )
                raw = body if isinstance(body, bytes | str) else json.dumps(body)
                return web.Response(
                    status=fault.status, body=raw, headers=fault.headers, content_type=_JSON
                )
            status, pieces, streaming = build()
            if fault is not None and fault.kind in ("truncated_json", "malformed_json"):
                whole = b"".join(pieces)
                bad = whole[: len(whole) // 2] if fault.kind == "truncated_json" else b"{not json"
                return web.Response(status=200, body=bad, content_type=_JSON)
            if not streaming and len(pieces) == 1 and fault is not None:
                half = len(pieces[0]) // 2
                pieces = [pieces[0][:half], pieces[0][half:]]
                if fault.kind == "end_early":  # a complete HTTP body that is short
                    pieces = [pieces[0]]
            content_type = stream_type if streaming else _JSON
            response = await deliver(
                request,
                pieces,
                fault,
                progress,
                content_type=content_type,
                streaming=streaming,
                status=status,
            )
            if streaming and progress.chunks_sent == len(pieces):
                self.completed_streams += 1
            return response
        except (asyncio.CancelledError, ConnectionResetError):
            stage = "mid_body" if progress.headers_sent else "before_headers"
            self.cancel_events.append(
                CancelEvent(request.path, stage, progress.chunks_sent, self.clock())
            )
            raise

    def _idempotent(
        self, record: RecordedRequest, build: Callable[[], tuple[int, list[bytes], bool]]
    ) -> Callable[[], tuple[int, list[bytes], bool]]:
        """Honour ``Idempotency-Key`` like Stripe-style APIs: a key seen before with a
        2xx non-streamed answer gets that answer again, without running the request."""
        key = record.headers.get("idempotency-key")
        if key is None:
            return build

        def once() -> tuple[int, list[bytes], bool]:
            hit = self._by_key.get(key)
            if hit is not None:
                self.replays[record.path] += 1
                return hit
            out = build()
            self.executions[key] += 1
            if out[0] < 300 and not out[2]:
                self._by_key[key] = out
            return out

        return once

    def _error(self, status: int, body: dict[str, Any]) -> web.Response:
        return web.Response(status=status, text=json.dumps(body), content_type=_JSON)

    def _next_id(self) -> int:
        return next(self._ids)

    # -- OpenAI routes -------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        record, fault = await self._record(request)
        body = record.body
        problem = openai_wire.validate_chat(body)
        if problem is not None and (fault is None or fault.kind != "status"):
            return self._error(400, openai_wire.error_body(400, problem))
        n = self._next_id()

        def build() -> tuple[int, list[bytes], bool]:
            cid, created = f"chatcmpl-fake{n:08d}", int(time.time())
            if body.get("stream"):
                return 200, openai_wire.chat_completion_chunks(body, cid, created), True
            payload = openai_wire.chat_completion(body, cid, created)
            canned = self.answers.get(last_user_text(body.get("messages") or []))
            if canned is not None and payload["choices"][0]["message"]["content"] is not None:
                payload["choices"][0]["message"]["content"] = canned
            return 200, [json.dumps(payload).encode()], False

        return await self._serve(
            request, fault, openai_wire.error_body, self._idempotent(record, build)
        )

    async def _variant(self, request: web.Request) -> web.StreamResponse:
        """An OpenAI-compatible server with its own quirks (see variants.py)."""
        variant = request.path.split("/")[1]
        record, fault = await self._record(request)
        body = record.body
        problem = variants.check_request(variant, record.headers, dict(request.query), body)
        if problem is not None:
            status = 401 if "header" in problem else 422 if variant == "mistral" else 400
            return self._error(status, openai_wire.error_body(status, problem))
        if request.path.endswith("/embeddings"):
            payload = openai_wire.embeddings(body, self.embedding_dimensions)
            return web.json_response(payload)
        if not request.path.endswith("/chat/completions"):
            return await self._text_completion(request, record.body, fault, variant)
        problem = openai_wire.validate_chat(body)
        if problem is not None:
            return self._error(400, openai_wire.error_body(400, problem))
        n = self._next_id()

        def build() -> tuple[int, list[bytes], bool]:
            cid, created = f"chatcmpl-fake{n:08d}", int(time.time())
            if body.get("stream"):
                full = {**body, "stream_options": {"include_usage": True}}
                events = openai_wire.chat_completion_chunks(full, cid, created)
                return 200, variants.adapt_events(variant, events), True
            payload = openai_wire.chat_completion(body, cid, created)
            return 200, [json.dumps(payload).encode()], False

        return await self._serve(request, fault, openai_wire.error_body, build)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        record, fault = await self._record(request)
        return await self._text_completion(request, record.body, fault, None)

    async def _text_completion(
        self, request: web.Request, body: Any, fault: Fault | None, variant: str | None
    ) -> web.StreamResponse:
        if not isinstance(body, dict) or "prompt" not in body or "model" not in body:
            return self._error(
                400, openai_wire.error_body(400, "'model' and 'prompt' are required")
            )
        n = self._next_id()

        def build() -> tuple[int, list[bytes], bool]:
            cid, created = f"cmpl-fake{n:08d}", int(time.time())
            if body.get("stream"):
                events = openai_wire.text_completion_chunks(body, cid, created)
                if variant is not None:
                    full = openai_wire.text_completion_chunks(
                        {**body, "stream_options": {"include_usage": True}}, cid, created
                    )
                    events = variants.adapt_events(variant, full)
                return 200, events, True
            payload = openai_wire.text_completion(body, cid, created)
            return 200, [json.dumps(payload).encode()], False

        return await self._serve(request, fault, openai_wire.error_body, build)

    async def _files(self, request: web.Request) -> web.StreamResponse:
        """A file upload (multipart), answered like OpenAI's Files API (kept for batches)."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(
            RecordedRequest(request.method, request.path, headers, None, b"", self.clock())
        )
        self.counts[request.path] += 1
        return await self.batches.upload(request)

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        record, fault = await self._record(request)
        body = record.body
        if not isinstance(body, dict) or "input" not in body:
            return self._error(400, openai_wire.error_body(400, "'input' is required"))

        def build() -> tuple[int, list[bytes], bool]:
            payload = openai_wire.embeddings(body, self.embedding_dimensions)
            return 200, [json.dumps(payload).encode()], False

        return await self._serve(request, fault, openai_wire.error_body, build)

    async def _models(self, request: web.Request) -> web.StreamResponse:
        _, fault = await self._record(request)

        def build() -> tuple[int, list[bytes], bool]:
            return 200, [json.dumps(openai_wire.models(self.models)).encode()], False

        return await self._serve(request, fault, openai_wire.error_body, build)

    # -- Anthropic route -----------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        record, fault = await self._record(request)
        body = record.body
        if fault is None or fault.kind != "status":
            problem = anthropic_wire.validate_headers(record.headers)
            if problem is not None:
                return self._error(401, anthropic_wire.error_body(401, problem))
            problem = anthropic_wire.validate_message(body)
            if problem is not None:
                return self._error(400, anthropic_wire.error_body(400, problem))
        n = self._next_id()

        def build() -> tuple[int, list[bytes], bool]:
            mid = f"msg_fake{n:016d}"
            cache = self.prompt_cache.usage(body) if self.prompt_cache is not None else None
            if body.get("stream"):
                return 200, anthropic_wire.message_events(body, mid, cache), True
            payload = anthropic_wire.message(body, mid)
            if cache is not None:
                payload["usage"] = {**cache, "output_tokens": payload["usage"]["output_tokens"]}
            return 200, [json.dumps(payload).encode()], False

        return await self._serve(
            request, fault, anthropic_wire.error_body, self._idempotent(record, build)
        )

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        record, fault = await self._record(request)
        body = record.body
        if not isinstance(body, dict) or "max_tokens" in body or "stream" in body:
            return self._error(400, anthropic_wire.error_body(400, "unexpected count fields"))

        def build() -> tuple[int, list[bytes], bool]:
            counted = {"max_tokens": 1, **body}
            payload = {"input_tokens": anthropic_wire.input_tokens(counted)}
            return 200, [json.dumps(payload).encode()], False

        return await self._serve(request, fault, anthropic_wire.error_body, build)

    # -- Gemini route ----------------------------------------------------------------------

    async def _google_token(self, request: web.Request) -> web.Response:
        """Google's OAuth token endpoint: a JWT-bearer grant signed by a known key."""
        form = await request.post()
        self.counts[request.path] += 1
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        assertion = str(form.get("assertion", ""))
        verified = gemini_wire.verify_assertion(assertion, self.google_keys)
        if verified is None:
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                status=400,
            )
        token = f"ya29.fake-{self._next_id()}"
        self.google_tokens.add(token)
        return web.json_response(
            {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
        )

    async def _vertex(self, request: web.Request) -> web.StreamResponse:
        """Vertex AI's generateContent: Gemini's wire behind an OAuth bearer token."""
        auth = request.headers.get("authorization", "")
        if auth.removeprefix("Bearer ") not in self.google_tokens:
            await self._record(request)
            body = gemini_wire.error_body(401, "Request had invalid authentication credentials.")
            return self._error(401, body)
        return await self._gemini(request, vertex=True)

    async def _gemini(self, request: web.Request, *, vertex: bool = False) -> web.StreamResponse:
        record, fault = await self._record(request)
        model, _, method = request.match_info["spec"].partition(":")
        if method not in ("generateContent", "streamGenerateContent"):
            return self._error(404, gemini_wire.error_body(404, f"unknown method {method!r}"))
        if fault is None or fault.kind != "status":
            problem = gemini_wire.validate(record.headers, record.body, keyless=vertex)
            if problem is not None:
                return self._error(problem[0], gemini_wire.error_body(*problem))
        body = record.body
        n = self._next_id()

        def build() -> tuple[int, list[bytes], bool]:
            rid = f"gem{n:08d}"
            if method == "streamGenerateContent":
                if request.query.get("alt") != "sse":
                    raise web.HTTPBadRequest(text="the fake streams with alt=sse only")
                return 200, gemini_wire.stream_events(body, model, rid), True
            return 200, [json.dumps(gemini_wire.generate(body, model, rid)).encode()], False

        return await self._serve(request, fault, gemini_wire.error_body, build)

    # -- Bedrock route ---------------------------------------------------------------------

    async def _bedrock(self, request: web.Request) -> web.StreamResponse:
        record, fault = await self._record(request)
        action = request.match_info["action"]
        if fault is None or fault.kind != "status":
            url = f"http://{request.host}{request.raw_path}"
            problem = bedrock_wire.check_signature("POST", url, record.headers, record.raw_body)
            if problem is not None:
                return self._error(403, {"message": problem})
            if not isinstance(record.body, dict) or not record.body.get("messages"):
                return self._error(400, {"message": "messages is required"})
        body = record.body

        def build() -> tuple[int, list[bytes], bool]:
            if action == "converse-stream":
                return 200, bedrock_wire.stream_frames(body), True
            return 200, [json.dumps(bedrock_wire.converse(body)).encode()], False

        def error_shape(status: int, message: str) -> dict[str, Any]:
            return {"message": message}

        return await self._serve(
            request, fault, error_shape, build, stream_type="application/vnd.amazon.eventstream"
        )

    # -- control routes (for tests in another process) -----------------------------------

    async def _control_push(self, request: web.Request) -> web.Response:
        """Body: one fault or ``{"faults": [...]}``; each may carry ``times`` (null = always)."""
        data = await request.json()
        items = data.get("faults", [data]) if isinstance(data, dict) else data
        try:
            for item in items:
                times = item.get("times", 1)
                self.faults.push(Fault.from_dict(item), times)
        except (TypeError, ValueError) as exc:
            return self._error(400, openai_wire.error_body(400, f"bad fault: {exc}"))
        return web.json_response({"pending": len(self.faults.pending())})

    async def _control_clear(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response({"pending": 0})

    async def _control_list(self, request: web.Request) -> web.Response:
        pending = [{**f.to_dict(), "times": t} for f, t in self.faults.pending()]
        return web.json_response({"faults": pending})

    async def _control_requests(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": [r.to_dict() for r in self.requests]})

    async def _control_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _control_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})
