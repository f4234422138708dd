"""The one error tree of lockgate.

Every failure a client can see is a ``GatewayError``. Each class carries the HTTP
status it maps to, the OpenAI error ``type``, a stable ``code`` and whose fault it is::

    GatewayError
    ├── ClientError                 (fault: client)
    │   ├── BadRequestError             400 invalid_request_error
    │   │   ├── PolicyViolationError        400 blocked by a guardrail
    │   │   └── UnsupportedParamError       400 the provider cannot honour a field
    │   ├── AuthenticationError         401
    │   ├── PermissionDeniedError       403
    │   ├── NotFoundError               404
    │   │   └── ModelNotFoundError          404 model_not_found
    │   ├── PayloadTooLargeError        413
    │   └── RateLimitError              429 (carries retry_after)
    │       └── BudgetExceededError         429 insufficient_quota
    ├── UpstreamError               (fault: upstream)
    │   ├── UpstreamRateLimitedError    429 from the provider (retry_after)
    │   ├── UpstreamOverloadedError     503 / 529
    │   ├── UpstreamTimeoutError        504
    │   ├── ContextWindowExceededError  400 context_length_exceeded
    │   ├── UpstreamClientError         4xx the provider rejected the request
    │   ├── UpstreamConnectionError     502 could not reach the provider
    │   └── UpstreamBadResponseError    502 the provider answered garbage
    └── InternalError               500 (fault: gateway)
        └── ServiceUnavailableError     503 (e.g. storage down, fail-closed)
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ClientError",
    "ConflictError",
    "ContextBudgetError",
    "ContextWindowExceededError",
    "Fault",
    "GatewayError",
    "InternalError",
    "ModelNotFoundError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PolicyViolationError",
    "RateLimitError",
    "ServiceUnavailableError",
    "UnsupportedMediaTypeError",
    "UnsupportedParamError",
    "UpstreamBadResponseError",
    "UpstreamClientError",
    "UpstreamConnectionError",
    "UpstreamError",
    "UpstreamOverloadedError",
    "UpstreamRateLimitedError",
    "UpstreamTimeoutError",
]

Fault = Literal["client", "upstream", "gateway"]


class GatewayError(Exception):
    """Root of every error lockgate reports to a client."""

    status: int = 500
    type: str = "api_error"
    code: str = "internal_error"
    fault: Fault = "gateway"
    #: Anthropic's error ``type`` for the same failure.
    anthropic_type: str = "api_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        #: extra response headers (e.g. the x-ratelimit-* of a 429)
        self.headers = headers
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.param = param
        self.retry_after = retry_after
        #: another caller of the same shared upstream call (a micro-batch) already
        #: reported this failure to the deployment's breaker: count it once
        self.shared = False

    @property
    def retryable(self) -> bool:
        """Whether another attempt (maybe on another deployment) may succeed."""
        return False


class ClientError(GatewayError):
    """The request itself is at fault; retrying it unchanged will not help."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_request"
    fault: Fault = "client"
    anthropic_type = "invalid_request_error"


class BadRequestError(ClientError):
    """Malformed JSON, missing fields, wrong types."""


class PolicyViolationError(BadRequestError):
    """A guardrail refused the request."""

    code = "content_policy_violation"


class UnsupportedParamError(BadRequestError):
    """The deployment's provider cannot honour a request field (and may not drop it)."""

    code = "unsupported_parameter"


class AuthenticationError(ClientError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"
    anthropic_type = "authentication_error"


class PermissionDeniedError(ClientError):
    status = 403
    type = "permission_error"
    code = "permission_denied"
    anthropic_type = "permission_error"


class NotFoundError(ClientError):
    status = 404
    code = "not_found"
    anthropic_type = "not_found_error"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


class ConflictError(ClientError):
    """The request is well formed but the gateway's state refuses it (e.g. no audit key)."""

    status = 409
    code = "conflict"


class PayloadTooLargeError(ClientError):
    status = 413
    code = "request_too_large"
    anthropic_type = "request_too_large"


class UnsupportedMediaTypeError(ClientError):
    """A request body the gateway does not read (e.g. a compressed one)."""

    status = 415
    code = "unsupported_media_type"


class RateLimitError(ClientError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"
    anthropic_type = "rate_limit_error"


class BudgetExceededError(RateLimitError):
    type = "insufficient_quota"
    code = "budget_exceeded"


_TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def _token(value: str | None) -> str | None:
    """``value`` if it is a short identifier (an error code, a field name), else None."""
    return value if value is not None and _TOKEN.fullmatch(value) else None


class UpstreamError(GatewayError):
    """The provider failed; another attempt or deployment may do better.

    What the provider said (its error text, a connection error naming host and port)
    is kept in ``detail`` for the logs, never shown to clients: it may echo the
    gateway's own credentials.  ``message``, what the client sees, is built from the
    class's ``summary``, the upstream's status and its error code.  Messages the
    gateway writes itself pass ``public=True`` to be shown as they are.
    """

    status = 502
    type = "api_error"
    code = "upstream_error"
    fault: Fault = "upstream"
    anthropic_type = "api_error"
    summary = "The upstream provider failed"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        upstream_status: int | None = None,
        upstream_code: str | None = None,
        public: bool = False,
    ) -> None:
        super().__init__(
            message, code=code, param=_token(param), status=status, retry_after=retry_after
        )
        #: the upstream's own words, for logs only (mask before writing them anywhere)
        self.detail = message
        self.upstream_status = upstream_status
        self.upstream_code = _token(upstream_code)
        if not public:
            self.message = self._public_message()
        #: the provider's ``x-should-retry`` header, when it sent one
        self.force_retry: bool | None = None

    #: whether another attempt may succeed, unless the provider said otherwise
    default_retryable: bool = True

    @property
    def retryable(self) -> bool:
        if self.force_retry is not None:
            return self.force_retry
        return self.default_retryable

    def _public_message(self) -> str:
        facts = []
        if self.upstream_status is not None:
            facts.append(f"upstream HTTP {self.upstream_status}")
        if self.upstream_code is not None:
            facts.append(f"upstream code {self.upstream_code}")
        if self.param is not None:
            facts.append(f"param {self.param}")
        return f"{self.summary} ({', '.join(facts)})." if facts else f"{self.summary}."


class UpstreamRateLimitedError(UpstreamError):
    status = 429
    type = "rate_limit_error"
    code = "upstream_rate_limited"
    anthropic_type = "rate_limit_error"
    summary = "The upstream provider is rate limiting requests"


class UpstreamOverloadedError(UpstreamError):
    status = 503
    code = "upstream_overloaded"
    anthropic_type = "overloaded_error"
    summary = "The upstream provider is overloaded"


class UpstreamTimeoutError(UpstreamError):
    status = 504
    type = "timeout"
    code = "upstream_timeout"
    anthropic_type = "timeout_error"
    summary = "The upstream provider did not answer in time"


class ContextWindowExceededError(UpstreamError):
    status = 400
    type = "invalid_request_error"
    code = "context_length_exceeded"
    anthropic_type = "invalid_request_error"
    default_retryable = False
    summary = "The request is longer than the model's context window"


class UpstreamClientError(UpstreamError):
    """The provider rejected the request (4xx other than 408/409/429)."""

    summary = "The upstream provider rejected the request"

    status = 400
    type = "invalid_request_error"
    code = "upstream_rejected"
    anthropic_type = "invalid_request_error"
    default_retryable = False


class UpstreamConnectionError(UpstreamError):
    code = "upstream_unreachable"
    summary = "The upstream provider could not be reached"


class UpstreamBadResponseError(UpstreamError):
    code = "upstream_bad_response"
    summary = "The upstream provider sent an invalid response"


class InternalError(GatewayError):
    """A bug or failure inside lockgate itself."""


class ServiceUnavailableError(InternalError):
    status = 503
    code = "service_unavailable"
    anthropic_type = "overloaded_error"


class ContextBudgetError(BadRequestError):
    """The prompt is longer than the alias's context budget, and the budget says
    ``strategy: error`` (or nothing may be cut without editing the cached prefix)."""

    code = "context_length_exceeded"
