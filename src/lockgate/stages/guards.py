"""The guard stage: screen and redact the input, filter the output (streams included).

On the way in: a size limit, prompt-injection screening (block, flag or log), and
PII/secret redaction (or refusal) before anything leaves the gateway.  On the way
out: entities the model writes are redacted, and the caller's own redacted values
are put back.  Verdicts go to ``ctx.notes["guards"]`` (audit, logs, metrics).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import structlog

from lockgate.audit.capture import capture_bodies
from lockgate.cache.aggregate import StreamAggregator
from lockgate.chat import ChatRequest, ChatResponse, ChatStream, close_stream
from lockgate.context import RequestContext
from lockgate.errors import PolicyViolationError, ServiceUnavailableError
from lockgate.guards.config import (
    GuardPolicy,
    GuardrailSettings,
    IndirectInjectionSettings,
    PolicyOverride,
    key_override,
)
from lockgate.guards.injection import InjectionDetector, InjectionVerdict, primary_reason
from lockgate.guards.pii import (
    Finding,
    PiiScanner,
    Redactor,
    StreamRedactor,
    StreamRestorer,
    Vault,
    rewrite_chunks,
)
from lockgate.pipeline import Handler, Result
from lockgate.tokens import content_text

__all__ = ["GuardStage"]

log = structlog.get_logger("lockgate.guards")

GUARD_HEADER = "x-lockgate-guard"
_MAX_CACHED_KEYS = 10_000
#: inputs longer than this are screened for injection in a thread, off the event loop
_SCREEN_IN_THREAD_CHARS = 32_768
#: detectors kept, one per injection threshold in use (each holds two verdict memos)
_MAX_DETECTORS = 32


class GuardStage:
    def __init__(
        self,
        settings: GuardrailSettings,
        detector_factory: Callable[[float], InjectionDetector] = InjectionDetector,
        *,
        capture: bool = False,
    ) -> None:
        self._make_detector = detector_factory
        #: keep the request and answer, as they are after redaction, for the audit log
        self._capture = capture
        self._base = GuardPolicy(settings.max_input_chars, settings.injection, settings.pii)
        self._aliases = {a: self._base.merged(o) for a, o in settings.aliases.items()}
        self._detectors: dict[float, InjectionDetector] = {}
        self._redactors: dict[tuple[str, ...], Redactor] = {}
        self._key_overrides: dict[str, PolicyOverride | None] = {}
        # Build what the configured policies need now, not on the first request.
        for policy in (self._base, *self._aliases.values()):
            self._prepare(policy)

    def memory_sizes(self) -> list[tuple[str, int, int]]:
        """Per-key policy overrides and each detector's verdict memos, for metrics."""
        out = [("guard_key_overrides", len(self._key_overrides), 0)]
        totals: dict[str, list[int]] = {}
        for det in self._detectors.values():
            for name, n, size in det.memory_sizes():
                t = totals.setdefault(name, [0, 0])
                t[0] += n
                t[1] += size
        out.extend((name, n, size) for name, (n, size) in totals.items())
        return out

    def _prepare(self, policy: GuardPolicy) -> None:
        if policy.injection.mode != "off":
            self._detector(policy.injection.threshold)
        if policy.pii.input != "off" or policy.pii.output != "off":
            self._redactor(policy.pii.types)

    def _detector(self, threshold: float) -> InjectionDetector:
        det = self._detectors.get(threshold)
        if det is None:
            if len(self._detectors) >= _MAX_DETECTORS:  # thresholds from per-key overrides
                self._detectors.clear()
            det = self._detectors[threshold] = self._make_detector(threshold)
        return det

    def _redactor(self, types: list[str]) -> Redactor:
        key = tuple(sorted(types))
        red = self._redactors.get(key)
        if red is None:
            red = self._redactors[key] = Redactor(PiiScanner(key))
        return red

    def policy_for(self, ctx: RequestContext, request: ChatRequest) -> GuardPolicy:
        policy = self._aliases.get(request.model, self._base)
        p = ctx.principal
        if p.key_id is not None and p.metadata.get("guardrails") is not None:
            if p.key_id not in self._key_overrides:
                if len(self._key_overrides) >= _MAX_CACHED_KEYS:
                    self._key_overrides.clear()
                self._key_overrides[p.key_id] = key_override(p.metadata)
            merged = policy.merged(self._key_overrides[p.key_id])
            self._prepare(merged)
            return merged
        return policy

    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: Handler
    ) -> Result:
        policy = self.policy_for(ctx, request)
        notes: dict[str, Any] = {}
        size = self._check_size(request, policy)
        if policy.injection.mode != "off":
            detector = self._detector(policy.injection.threshold)
            if size > _SCREEN_IN_THREAD_CHARS:
                # A long input takes the screen ~0.6 us a character (0.24 s at the default
                # 400,000): on the loop, every other tenant's requests would wait for it.
                # In a thread the loop keeps running (it takes the GIL back every few ms);
                # the verdict memos are not used there (they are not locked).
                request = await asyncio.to_thread(
                    self._screen, ctx, request, policy, notes, detector, False
                )
            else:
                request = self._screen(ctx, request, policy, notes, detector)
        vault: Vault | None = None
        redactor: Redactor | None = None
        if policy.pii.input != "off" or policy.pii.output != "off":
            redactor = self._redactor(policy.pii.types)
        if redactor is not None and policy.pii.input != "off":
            new_messages, findings = redactor.redact_messages(request.messages, None)
            if findings:
                kinds = sorted({f.type for f in findings})
                notes["pii_input"] = {
                    "action": policy.pii.input,
                    "types": kinds,
                    "count": len(findings),
                    **_finding_reasons(findings),
                }
                if policy.pii.input == "block":
                    ctx.notes["guards"] = notes
                    raise PolicyViolationError(
                        "The request contains data this gateway may not send on: "
                        f"{', '.join(kinds)}.",
                        code="sensitive_data_detected",
                    )
                vault = Vault()
                new_messages, _ = redactor.redact_messages(request.messages, vault)
                request = ChatRequest(
                    request.model,
                    {**request.body, "messages": new_messages},
                    request.stream,
                    request.include_usage,
                )
        if notes:
            ctx.notes["guards"] = notes
        result = await self._filtered(ctx, request, policy, redactor, vault, call_next)
        if not self._capture:
            return result
        if isinstance(result, ChatResponse):
            capture_bodies(ctx, request.body, result.body)
            return result
        return _captured(ctx, request.body, result)

    async def _filtered(
        self,
        ctx: RequestContext,
        request: ChatRequest,
        policy: GuardPolicy,
        redactor: Redactor | None,
        vault: Vault | None,
        call_next: Handler,
    ) -> Result:
        result = await call_next(ctx, request)
        if redactor is None:
            return result
        redact_out = policy.pii.output == "redact"
        restore = vault is not None and policy.pii.restore_output and bool(vault)
        if not redact_out and not restore:
            return result
        if isinstance(result, ChatResponse):
            return _rewrite_response(result, redactor, vault if restore else None, redact_out, ctx)
        stream: ChatStream = result
        if redact_out:
            red = redactor
            stream = rewrite_chunks(stream, lambda: StreamRedactor(red))
        if restore and vault is not None:
            red, v = redactor, vault
            stream = rewrite_chunks(stream, lambda: StreamRestorer(red, v))
        return stream

    def _check_size(self, request: ChatRequest, policy: GuardPolicy) -> int:
        """The characters of the messages' text; a 400 past ``max_input_chars``."""
        size = 0
        for msg in request.messages:
            size += len(content_text(msg.get("content")))
        if size > policy.max_input_chars:
            raise PolicyViolationError(
                f"The messages hold {size} characters, more than the"
                f" {policy.max_input_chars} allowed.",
                code="input_too_long",
                param="messages",
            )
        return size

    def _screen(
        self,
        ctx: RequestContext,
        request: ChatRequest,
        policy: GuardPolicy,
        notes: dict[str, Any],
        detector: InjectionDetector,
        memo: bool = True,
    ) -> ChatRequest:
        """Screen the user's turn and, separately, the data (tool results, documents)."""
        settings = policy.injection
        indirect = settings.indirect
        try:
            verdict: InjectionVerdict = detector.scan_messages(request.messages, memo)
            data: InjectionVerdict | None = (
                detector.scan_data(request.messages, memo) if indirect.mode != "off" else None
            )
        except Exception:
            log.exception("injection detector failed", request_id=ctx.request_id)
            notes["injection"] = {"error": True, "action": settings.on_error}
            if settings.on_error == "fail_closed":
                ctx.notes["guards"] = notes
                raise ServiceUnavailableError(
                    "The input screen is unavailable and this gateway fails closed."
                ) from None
            return request
        mode = settings.mode
        action = mode if verdict.flagged else "pass"
        notes["injection"] = _note(verdict, verdict.flagged, action)
        flags: list[str] = []
        if verdict.flagged:
            if mode == "block":
                ctx.notes["guards"] = notes
                raise PolicyViolationError(
                    "The request looks like a prompt-injection attempt and was refused"
                    f" (score {verdict.score:.2f}, {primary_reason(verdict.reasons)}).",
                    code="prompt_injection_detected",
                )
            if mode == "flag":
                flags.append(f"injection-flagged; score={verdict.score:.2f}")
        if data is not None:
            request = self._screen_data(ctx, request, detector, data, indirect, notes, flags)
        if flags:
            ctx.headers[GUARD_HEADER] = ", ".join(flags)
        return request

    def _screen_data(
        self,
        ctx: RequestContext,
        request: ChatRequest,
        detector: InjectionDetector,
        verdict: InjectionVerdict,
        settings: IndirectInjectionSettings,
        notes: dict[str, Any],
        flags: list[str],
    ) -> ChatRequest:
        flagged = verdict.score >= settings.threshold
        mode = settings.mode
        action = mode if flagged else "pass"
        notes["indirect_injection"] = note = _note(verdict, flagged, action)
        if not flagged:
            return request
        if mode == "block":
            ctx.notes["guards"] = notes
            raise PolicyViolationError(
                "A tool result or document in the request carries what looks like an injected"
                f" instruction; the request was refused (score {verdict.score:.2f},"
                f" {primary_reason(verdict.reasons)}).",
                code="indirect_prompt_injection_detected",
            )
        if mode == "strip":
            messages, stripped = _strip_messages(detector, request.messages, settings.threshold)
            note["stripped"] = stripped
            flags.append(f"indirect-injection-stripped; count={stripped}")
            return ChatRequest(
                request.model,
                {**request.body, "messages": messages},
                request.stream,
                request.include_usage,
            )
        if mode == "flag":
            flags.append(f"indirect-injection-flagged; score={verdict.score:.2f}")
        return request


def _finding_reasons(findings: list[Finding]) -> dict[str, Any]:
    """What found the redacted entities (``gitleaks:slack-bot-token``, ``lockgate:bearer``,
    ``EMAIL``): the most frequent one names the verdict in the metric (a bounded set)."""
    counts = Counter(f.reason for f in findings)
    top = min(counts, key=lambda r: (-counts[r], r))
    return {"reason": top, "reasons": sorted(counts)}


def _note(verdict: InjectionVerdict, flagged: bool, action: str) -> dict[str, Any]:
    """The audit note of one screen: score, action, and the reasons (rule:..., model:0.91)."""
    return {
        "score": round(verdict.score, 4),
        "flagged": flagged,
        "action": action,
        "reason": primary_reason(verdict.reasons),
        "reasons": list(verdict.reasons),
    }


def _strip_messages(
    detector: InjectionDetector, messages: list[dict[str, Any]], threshold: float
) -> tuple[list[dict[str, Any]], int]:
    """Tool/function messages with their suspected instructions replaced by a marker."""
    out: list[dict[str, Any]] = []
    total = 0
    for message in messages:
        if message.get("role") not in ("tool", "function"):
            out.append(message)
            continue
        content = message.get("content")
        if isinstance(content, str):
            content, n = detector.strip_data(content, threshold)
            total += n
        elif isinstance(content, list):
            parts = []
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    text, n = detector.strip_data(part["text"], threshold)
                    total += n
                    part = {**part, "text": text}
                parts.append(part)
            content = parts
        out.append({**message, "content": content})
    return out, total


async def _captured(ctx: RequestContext, request_body: Any, stream: ChatStream) -> ChatStream:
    """Pass the stream through, keeping the assembled answer for the audit log."""
    agg = StreamAggregator()
    try:
        async for chunk in stream:
            agg.add(chunk)
            yield chunk
    finally:
        capture_bodies(ctx, request_body, agg.result() if agg.finished else None)
        await close_stream(stream)


def _rewrite_response(
    resp: ChatResponse,
    redactor: Redactor,
    vault: Vault | None,
    redact_out: bool,
    ctx: RequestContext,
) -> ChatResponse:
    """A copy of ``resp`` with its message texts filtered (cached bodies are shared)."""

    def rewrite(text: str) -> str:
        if redact_out:
            text, found = redactor.redact(text)
            if found:
                out = ctx.notes.setdefault("guards", {})
                out["pii_output"] = {
                    "action": "redact",
                    "count": len(found),
                    **_finding_reasons(found),
                }
        if vault is not None:
            text = redactor.restore(text, vault)
        return text

    choices = []
    for choice in resp.body.get("choices") or ():
        message = choice.get("message") or {}
        content = message.get("content")
        if isinstance(content, str):
            choice = {**choice, "message": {**message, "content": rewrite(content)}}
        choices.append(choice)
    return ChatResponse(body={**resp.body, "choices": choices}, usage=resp.usage)
