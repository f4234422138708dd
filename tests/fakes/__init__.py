"""A fake LLM provider: a real aiohttp server on 127.0.0.1 speaking OpenAI and Anthropic.

Routes
    POST /v1/chat/completions   OpenAI chat; JSON or SSE (``stream: true``, honours
                                ``stream_options.include_usage``), tool calls
    POST /v1/completions        legacy text completions (echo of the prompt), JSON or SSE
    POST /v1/embeddings         deterministic unit vectors (float list or base64)
    GET  /v1/models             the ``models`` list
    POST /v1/files              a multipart upload, answered like OpenAI's Files API
    /v1/files, /v1/batches, /v1/messages/batches   OpenAI's Files + Batches API and
                                Anthropic's Message Batches (``fake.batches``; see
                                provider_batches.py: a batch ends after N polls)
    POST /azure/openai/deployments/{name}/chat/completions (and /embeddings), and
         /groq/openai/v1, /mistral/v1, /nousage/v1 + /chat/completions: OpenAI-compatible
                                servers with their real quirks (see variants.py)
    POST /v1beta/models/{model}:generateContent, :streamGenerateContent?alt=sse
                                Gemini; needs x-goog-api-key; function calls, usageMetadata
    POST /bedrock/model/{id}/converse, /converse-stream
                                Bedrock Converse; the SigV4 signature is verified with
                                botocore; streams in AWS event-stream frames
    POST /v1/messages/count_tokens  Anthropic token count (the fake's estimate)
    POST /v1/messages           Anthropic Messages; needs ``x-api-key`` (or a Bearer
                                ``authorization``, as anthropic SDK 2.x sends) and
                                ``anthropic-version``, else 401; JSON or SSE events
    POST /_control/faults       push faults: one object or {"faults": [...]}, each with
                                "kind", fields of Fault, optional "times" (null = always),
                                "retry_after", "retry_after_ms"
    DELETE /_control/faults     clear; GET /_control/faults lists pending faults
    GET  /_control/requests     recorded requests as JSON
    GET  /_control/stats        counts per path, cancellations, completed streams
    POST /_control/reset        forget requests, counters and faults

Behaviour (deterministic, so tests can assert exact content)
    The answer is ``"echo: " + <last user message text>``, one token per word; with
    ``max_tokens`` (or ``max_completion_tokens``) smaller than that, the words are cut and
    finish_reason is "length" / stop_reason "max_tokens". Prompt tokens are
    ``ceil(len(all message text) / 4)``. If the request has ``tools`` and the last user
    message contains "CALL_TOOL", the answer is a call to the first tool with an argument
    per schema property (string "test", integer 1, number 1.5, boolean true, enum[0]).
    Streams send one word per chunk. Errors are in the route's provider shape.

Recording (read from the test; safe across threads)
    fake.requests: list[RecordedRequest]  method, path, headers (lower-case), body (parsed
                                          JSON), raw_body, time, fault (kind applied or None)
    fake.counts: Counter[path]; fake.completed_streams: int
    fake.replays: Counter[path]  requests answered from an earlier one with the same
        ``Idempotency-Key`` (chat and messages, non-streamed 2xx answers are remembered);
    fake.executions: Counter[key]  answers built per ``Idempotency-Key``
    fake.cancelled: int; fake.cancel_events: list[CancelEvent]  (path, stage
        "before_headers"/"mid_body", chunks_sent, time): the client left before the end

Faults: ``fake.push_fault(fault, times=1)`` (times=None: every matching request until
``fake.clear_faults()``), ``fake.script(f1, None, f3)`` (one per coming request, None =
normal). The first pending fault whose ``path`` prefix matches the request fires.
``Fault`` classmethods, all taking ``path=`` to scope to a route prefix:
    Fault.error(status, body=None, retry_after=None, retry_after_ms=None, headers=None,
                delay=0.0)                  retry_after: seconds or an HTTP-date string
    Fault.slow_headers(seconds)             sleep, then answer normally
    Fault.slow_first_chunk(seconds)         headers now, body after ``seconds``
    Fault.stall(after_chunks, seconds)      K pieces, silence, then the rest
    Fault.reset_before_headers()            TCP RST, no response at all
    Fault.reset_mid_body(after_chunks=1)    headers + K pieces, then RST
    Fault.drop_mid_stream(after_chunks=1)   headers + K pieces, then FIN (no [DONE])
    Fault.end_early(after_chunks=1)         K pieces, then a proper HTTP end (no [DONE])
    Fault.truncated_json() / Fault.malformed_json()   200 with a broken JSON body
    A "piece" is an SSE event when streaming, or half of the JSON body otherwise; a cut
    always lands before the last piece.

Example::

    from tests.fakes import FakeUpstream, Fault, start_in_thread

    async def test_sdk_retries_a_503_burst() -> None:
        async with FakeUpstream() as fake:
            fake.push_fault(Fault.error(503, retry_after_ms=10), times=2)  # a burst
            client = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="k")
            reply = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "echo: hi"
            assert [r.fault for r in fake.requests] == ["status", "status", None]
            # Anthropic: anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="k")

    def test_sync():
        with start_in_thread() as fake:          # fake.url, fake.openai_base_url
            fake.script(Fault.reset_before_headers(), None)  # 1st resets, 2nd is normal
            ...
            assert fake.cancelled == 0

Another process: ``python -m tests.fakes --port 0`` prints
``fake upstream listening on http://127.0.0.1:PORT`` and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

from .faults import Fault, FaultKind, FaultQueue
from .judges import FakeJudge, JudgeKind
from .recording import CancelEvent, RecordedRequest
from .replies import TOOL_TRIGGER
from .runner import ThreadedFake, start_in_thread, start_server_in_thread
from .server import FakeUpstream

__all__ = [
    "TOOL_TRIGGER",
    "CancelEvent",
    "FakeJudge",
    "FakeUpstream",
    "Fault",
    "FaultKind",
    "FaultQueue",
    "JudgeKind",
    "RecordedRequest",
    "ThreadedFake",
    "start_in_thread",
    "start_server_in_thread",
]
