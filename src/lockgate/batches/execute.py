"""Run one batch line through the gateway's own walk, as the key that created the batch.

Chat and Messages lines go through ``run_chat`` (limits, budgets, guards, caches, the
dispatcher's retries and fallbacks, and one usage row each, like any request);
embeddings lines through the embeddings path. Raises only ``LeaseLost`` (the line was
not sent: the runner gives it back); any other error is the line's answer, with its
status and OpenAI-shaped body.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lockgate.api.common import error_body
from lockgate.api.flow import run_chat
from lockgate.auth.keys import Principal
from lockgate.batches.journal import LeaseLost, LineAnswers
from lockgate.batches.outcome import Outcome
from lockgate.batches.store import Claimed
from lockgate.chat import ChatResponse, close_stream, parse_chat_request
from lockgate.context import ALREADY_CHARGED, ApiFlavor, RequestContext
from lockgate.dispatcher import IDEMPOTENCY_HEADER, UPSTREAM_JOURNAL
from lockgate.embeddings import run_embeddings
from lockgate.errors import AuthenticationError, GatewayError, InternalError
from lockgate.services import Services
from lockgate.usage.repository import UsageRepository
from lockgate.wire.anthropic_request import anthropic_to_openai_request
from lockgate.wire.anthropic_response import openai_to_anthropic_response

__all__ = ["batch_principal", "execute_line"]


#: how long a batch key's principal is reused across its lines (a revoked key stops
#: its batch's lines within this long, as interactive requests within key_sync_seconds)
_PRINCIPAL_TTL = 1.0


async def batch_principal(
    svc: Services, key_id: str | None, *, allow_revoked: bool = False
) -> Principal:
    """The principal of the key that created a batch (``allow_revoked``: also when it
    was revoked since, to account for work the provider already did)."""
    if key_id is None:
        return Principal(kind="master")
    now = time.time()
    cache = svc.batches.principals if svc.batches is not None else {}
    hit = cache.get(key_id)
    if hit is not None and now - hit[0] < _PRINCIPAL_TTL:
        return hit[1]
    key = await svc.keys.get(key_id)
    gone = key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now)
    if gone and allow_revoked:
        return Principal.from_key(key)
    if gone:
        cache.pop(key_id, None)
        raise AuthenticationError("The key that created this batch is revoked or expired.")
    principal = Principal.from_key(key)
    cache[key_id] = (now, principal)
    return principal


async def execute_line(
    svc: Services, line: Claimed, holds: Callable[[], bool] | None = None
) -> Outcome:
    """Run ``line``; ``holds`` (the runner's) is asked before each attempt leaves."""
    request_id = svc.request_ids.new()
    flavor: ApiFlavor = "anthropic" if line.endpoint == "/v1/messages" else "openai"
    try:
        principal = await batch_principal(svc, line.key_id)
        # One key per line, the same on every attempt and after a restart: an upstream
        # that honours Idempotency-Key runs a line re-sent after a crash only once.
        idem = {IDEMPOTENCY_HEADER: f"batch-{line.batch_id}-{line.line_no}"}
        ctx = RequestContext(
            request_id=request_id, principal=principal, api=flavor, client_headers=idem
        )
        ctx.notes["batch"] = {"batch_id": line.batch_id, "custom_id": line.custom_id}
        if svc.batches is not None:  # the upstream's answer is written down on arrival
            journal = svc.batches.journal
            ctx.stage_data[UPSTREAM_JOURNAL] = LineAnswers(
                journal, line.batch_id, line.line_no, line.attempts > 1, request_id, holds
            )
            first = journal.request_id(line.batch_id, line.line_no) if line.attempts > 1 else None
            if first is not None and await UsageRepository(svc.db).get(first) is not None:
                ctx.notes[ALREADY_CHARGED] = first  # replayed, and charged when it ran
        body = {**line.body, "stream": False}
        if line.endpoint == "/v1/embeddings":
            return Outcome(200, await run_embeddings(svc, ctx, body), request_id)
        raw = anthropic_to_openai_request(body) if flavor == "anthropic" else body
        chat = parse_chat_request(raw)
        ctx.user = chat.user
        result = await run_chat(svc, ctx, chat)
        if not isinstance(result, ChatResponse):  # pragma: no cover - stream is forced off
            await close_stream(result)
            raise InternalError("A batch line produced a stream.")
        out = (
            openai_to_anthropic_response(result, chat.model)
            if flavor == "anthropic"
            else result.body
        )
        return Outcome(200, out, request_id, "replayed_from_journal" in ctx.notes)
    except LeaseLost:
        raise
    except GatewayError as err:
        return Outcome(err.status, error_body(err, flavor), request_id)
    except Exception:
        internal = InternalError("Internal gateway error while running the line.")
        return Outcome(internal.status, error_body(internal, flavor), request_id)
