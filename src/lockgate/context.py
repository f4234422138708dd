"""Per-request state carried through the pipeline."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lockgate.auth.keys import Principal
from lockgate.chat import Usage
from lockgate.errors import GatewayError
from lockgate.pricing import cost_of, price_for
from lockgate.settings import Deployment

__all__ = ["ALREADY_CHARGED", "ApiFlavor", "RequestContext"]

ApiFlavor = Literal["openai", "anthropic", "legacy"]

#: ``ctx.notes`` key: this request was charged and its usage row written under that
#: earlier request id (a batch line answered before a crash, replayed from the answer
#: journal): its limits are not charged again and no second usage row is written
ALREADY_CHARGED = "already_charged"


@dataclass(slots=True)
class RequestContext:
    request_id: str
    principal: Principal
    api: ApiFlavor
    started: float = field(default_factory=time.perf_counter)
    started_wall: float = field(default_factory=time.time)
    #: the end user (OpenAI's `user` field, or the configured user header)
    user: str | None = None
    stream: bool = False
    #: perf_counter time the first streamed chunk went to the client
    first_chunk_at: float | None = None
    #: bodies kept for the audit log when body capture is on (after redaction)
    captured_request: Any = None
    captured_response: Any = None
    #: wall time spent on upstreams (attempts and the backoff between them), excluded
    #: from the gateway's overhead and reported as x-lockgate-upstream-ms
    upstream_seconds: float = 0.0
    deployment: Deployment | None = None
    attempts: int = 0
    #: one entry per upstream attempt (deployment, status, latency_ms, error), for audit
    attempt_log: list[dict[str, Any]] = field(default_factory=list)
    cache_status: str | None = None
    usage: Usage | None = None
    cost: float = 0.0
    #: False when the deployment's price is unknown (the cost above is then 0)
    priced: bool = True
    error: GatewayError | None = None
    #: objects stages hand to later stages (never recorded or logged)
    stage_data: dict[str, Any] = field(default_factory=dict)
    #: extra response headers stages want the client to see
    headers: dict[str, str] = field(default_factory=dict)
    #: stage-specific facts (guard verdicts, limit states...) for logs and audit
    notes: dict[str, Any] = field(default_factory=dict)
    #: the client's request headers (case-insensitive mapping), for stages to read
    client_headers: Mapping[str, str] = field(default_factory=dict)
    client_ip: str | None = None
    #: completes once the request's audit record is committed (audit durability: sync)
    committed: Awaitable[None] | None = None
    #: the client's own x-request-id, kept for correlation (never a key)
    client_request_id: str | None = None
    #: the name metrics and model limits count the request under (a wildcard
    #: alias's pattern rather than the client's model name); None: the model itself
    model_label: str | None = None

    def settle(self, usage: Usage | None) -> None:
        """Note the request's usage and its cost (once; cache hits cost nothing)."""
        if self.usage is not None or usage is None:
            return
        self.usage = usage
        if self.deployment is not None and self.cache_status not in ("hit", "semantic-hit"):
            price = price_for(self.deployment)
            self.priced = price is not None or self.deployment.provider == "mock"
            self.cost = cost_of(price, usage)

    def overhead_ms(self, now: float | None = None) -> float:
        end = time.perf_counter() if now is None else now
        return max(0.0, (end - self.started - self.upstream_seconds) * 1000.0)
