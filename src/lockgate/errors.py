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

from typing import Literal

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ClientError",
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


class PayloadTooLargeError(ClientError):
    status = 413
    code = "request_too_large"
    anthropic_type = "request_too_large"


class RateLimitError(ClientError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"
    anthropic_type = "rate_limit_error"


class BudgetExceededError(RateLimitError):
    type = "insufficient_quota"
    code = "budget_exceeded"


class UpstreamError(GatewayError):
    """The provider failed; another attempt or deployment may do better."""

    status = 502
    type = "api_error"
    code = "upstream_error"
    fault: Fault = "upstream"
    anthropic_type = "api_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, param=param, status=status, retry_after=retry_after)
        self.upstream_status = upstream_status
        #: the provider's ``x-should-retry`` header, when it sent one
        self.force_retry: bool | None = None

    #: whether another attempt may succeed, unless the provider said otherwise
    default_retryable: bool = True

    @property
    def retryable(self) -> bool:
        if self.force_retry is not None:
            return self.force_retry
        return self.default_retryable


class UpstreamRateLimitedError(UpstreamError):
    status = 429
    type = "rate_limit_error"
    code = "upstream_rate_limited"
    anthropic_type = "rate_limit_error"


class UpstreamOverloadedError(UpstreamError):
    status = 503
    code = "upstream_overloaded"
    anthropic_type = "overloaded_error"


class UpstreamTimeoutError(UpstreamError):
    status = 504
    type = "timeout"
    code = "upstream_timeout"
    anthropic_type = "timeout_error"


class ContextWindowExceededError(UpstreamError):
    status = 400
    type = "invalid_request_error"
    code = "context_length_exceeded"
    anthropic_type = "invalid_request_error"
    default_retryable = False


class UpstreamClientError(UpstreamError):
    """The provider rejected the request (4xx other than 408/409/429)."""

    status = 400
    type = "invalid_request_error"
    code = "upstream_rejected"
    anthropic_type = "invalid_request_error"
    default_retryable = False


class UpstreamConnectionError(UpstreamError):
    code = "upstream_unreachable"


class UpstreamBadResponseError(UpstreamError):
    code = "upstream_bad_response"


class InternalError(GatewayError):
    """A bug or failure inside lockgate itself."""


class ServiceUnavailableError(InternalError):
    status = 503
    code = "service_unavailable"
    anthropic_type = "overloaded_error"
