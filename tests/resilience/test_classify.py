"""Mapping upstream failures to the error tree, and the retry verdict."""

from __future__ import annotations

import json

import pytest

from lockgate.errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    GatewayError,
    RateLimitError,
    UpstreamBadResponseError,
    UpstreamClientError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamOverloadedError,
    UpstreamRateLimitedError,
    UpstreamTimeoutError,
)
from lockgate.resilience import classify_upstream_failure, retry_hint, should_retry

NOW = 1_800_000_000.0


def openai_body(
    message: str, code: str | None = None, etype: str = "invalid_request_error"
) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": etype, "param": "messages", "code": code}}
    ).encode()


def anthropic_body(etype: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": etype, "message": message}}).encode()


CASES: list[tuple[str, int, bytes, str, type[UpstreamError], bool]] = [
    ("openai 408", 408, b"", "openai", UpstreamTimeoutError, True),
    ("openai 409", 409, openai_body("conflict"), "openai", UpstreamError, True),
    (
        "openai 429",
        429,
        openai_body("Rate limit reached", "rate_limit_exceeded", "requests"),
        "openai",
        UpstreamRateLimitedError,
        True,
    ),
    (
        "openai 500",
        500,
        openai_body("server had an error", None, "server_error"),
        "openai",
        UpstreamError,
        True,
    ),
    ("openai 502 html", 502, b"<html>Bad Gateway</html>", "openai", UpstreamError, True),
    (
        "openai 503",
        503,
        openai_body("overloaded", None, "server_error"),
        "openai",
        UpstreamOverloadedError,
        True,
    ),
    ("openai 504", 504, b"", "openai", UpstreamTimeoutError, True),
    (
        "openai 400",
        400,
        openai_body("Invalid value for 'temperature'"),
        "openai",
        UpstreamClientError,
        False,
    ),
    (
        "openai 401",
        401,
        openai_body("Incorrect API key provided", "invalid_api_key"),
        "openai",
        UpstreamClientError,
        False,
    ),
    (
        "openai 404",
        404,
        openai_body("The model `x` does not exist", "model_not_found"),
        "openai",
        UpstreamClientError,
        False,
    ),
    ("openai 422", 422, b'{"detail": "unprocessable"}', "openai", UpstreamClientError, False),
    (
        "openai context code",
        400,
        openai_body(
            "This model's maximum context length is 8192 tokens.", "context_length_exceeded"
        ),
        "openai",
        ContextWindowExceededError,
        False,
    ),
    (
        "vllm context text",
        400,
        b'{"object":"error","message":"This model\'s maximum context length is 4096 tokens. '
        b'However, you requested 5000 tokens.","type":"BadRequestError","code":400}',
        "openai",
        ContextWindowExceededError,
        False,
    ),
    (
        "anthropic 529",
        529,
        anthropic_body("overloaded_error", "Overloaded"),
        "anthropic",
        UpstreamOverloadedError,
        True,
    ),
    (
        "anthropic 429",
        429,
        anthropic_body("rate_limit_error", "Number of requests exceeded"),
        "anthropic",
        UpstreamRateLimitedError,
        True,
    ),
    (
        "anthropic 500",
        500,
        anthropic_body("api_error", "Internal server error"),
        "anthropic",
        UpstreamError,
        True,
    ),
    (
        "anthropic 400",
        400,
        anthropic_body("invalid_request_error", "max_tokens: field required"),
        "anthropic",
        UpstreamClientError,
        False,
    ),
    (
        "anthropic prompt too long",
        400,
        anthropic_body(
            "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"
        ),
        "anthropic",
        ContextWindowExceededError,
        False,
    ),
    (
        "anthropic input + max_tokens",
        400,
        anthropic_body(
            "invalid_request_error",
            "input length and `max_tokens` exceed context limit: 195000 + 8192 > 200000",
        ),
        "anthropic",
        ContextWindowExceededError,
        False,
    ),
    (
        "anthropic 413",
        413,
        anthropic_body("request_too_large", "Request exceeds the maximum size"),
        "anthropic",
        UpstreamClientError,
        False,
    ),
    (
        "anthropic overloaded in a 200 stream event",
        200,
        anthropic_body("overloaded_error", "Overloaded"),
        "anthropic",
        UpstreamOverloadedError,
        True,
    ),
    ("garbage 200", 200, b"not json", "openai", UpstreamBadResponseError, True),
]


@pytest.mark.parametrize(
    ("status", "body", "provider", "cls", "retry"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_status_and_body_map_to_the_error_tree(
    status: int, body: bytes, provider: str, cls: type[UpstreamError], retry: bool
) -> None:
    """Each upstream answer becomes exactly the expected class with the right retry verdict."""
    err = classify_upstream_failure(status, {}, body, provider, now=NOW)  # type: ignore[arg-type]
    assert type(err) is cls
    assert err.upstream_status == status
    assert should_retry(err) is retry


def test_openai_message_is_carried() -> None:
    """The JSON error.message is kept as the detail for logs; the client message is clean."""
    err = classify_upstream_failure(
        400, {}, openai_body("Invalid value for 'temperature'"), "openai", now=NOW
    )
    assert err.detail == "Invalid value for 'temperature'"
    assert err.param == "messages"
    assert err.message == (
        "The upstream provider rejected the request"
        " (upstream HTTP 400, upstream code invalid_request_error, param messages)."
    )


def test_upstream_text_never_reaches_the_client_message() -> None:
    """An upstream message echoing a key or a host:port stays in the detail only."""
    body = openai_body("Incorrect API key provided: sk-live-abcdefgh1234 at 10.0.0.7:8443")
    err = classify_upstream_failure(401, {}, body, "openai", now=NOW)
    assert "sk-live" in err.detail
    assert "sk-live" not in err.message and "10.0.0.7" not in err.message
    assert "401" in err.message


def test_anthropic_message_is_carried() -> None:
    """Anthropic's nested error.message is used."""
    err = classify_upstream_failure(
        529, {}, anthropic_body("overloaded_error", "Overloaded"), "anthropic", now=NOW
    )
    assert err.detail == "Overloaded"
    assert err.anthropic_type == "overloaded_error"


def test_text_body_is_truncated() -> None:
    """A long non-JSON body is cut to a bounded excerpt."""
    err = classify_upstream_failure(500, {}, b"x" * 10_000, "openai", now=NOW)
    assert 0 < len(err.detail) <= 513
    assert err.detail.endswith("…")


def test_empty_body_gets_a_generic_message() -> None:
    """An empty body still yields a readable message naming the status."""
    err = classify_upstream_failure(503, {}, b"", "anthropic", now=NOW)
    assert err.detail == "anthropic returned HTTP 503"


def test_retry_after_is_attached() -> None:
    """retry-after and retry-after-ms reach error.retry_after."""
    err = classify_upstream_failure(429, {"retry-after": "12"}, b"", "openai", now=NOW)
    assert err.retry_after == 12.0
    err = classify_upstream_failure(429, {"retry-after-ms": "800"}, b"", "openai", now=NOW)
    assert err.retry_after == 0.8


def test_insufficient_quota_is_a_distinct_rate_limit() -> None:
    """OpenAI's 429 insufficient_quota keeps its own code."""
    body = openai_body(
        "You exceeded your current quota", "insufficient_quota", "insufficient_quota"
    )
    err = classify_upstream_failure(429, {}, body, "openai", now=NOW)
    assert isinstance(err, UpstreamRateLimitedError)
    assert err.code == "upstream_insufficient_quota"


def test_upstream_auth_failure_is_not_the_clients_fault() -> None:
    """A 401 from the provider (our key) is reported as 502, not as the client's 401."""
    err = classify_upstream_failure(401, {}, openai_body("bad key"), "openai", now=NOW)
    assert err.status == 502
    assert err.code == "upstream_auth_failed"
    assert err.fault == "upstream"


def test_context_window_error_renders_as_400() -> None:
    """The client sees context_length_exceeded with status 400."""
    err = classify_upstream_failure(
        400,
        {},
        openai_body("maximum context length is 10", "context_length_exceeded"),
        "openai",
        now=NOW,
    )
    assert (err.status, err.code) == (400, "context_length_exceeded")


def test_x_should_retry_false_overrides_a_5xx() -> None:
    """x-should-retry: false stops retries the status would allow."""
    err = classify_upstream_failure(500, {"x-should-retry": "false"}, b"", "openai", now=NOW)
    assert retry_hint(err) is False
    assert should_retry(err) is False


def test_x_should_retry_true_overrides_a_4xx() -> None:
    """x-should-retry: true allows retrying a status that would not be retried."""
    err = classify_upstream_failure(400, {"X-Should-Retry": "True"}, b"", "openai", now=NOW)
    assert isinstance(err, UpstreamClientError)
    assert should_retry(err) is True


def test_x_should_retry_other_values_are_ignored() -> None:
    """Anything but true/false leaves the error tree in charge."""
    err = classify_upstream_failure(503, {"x-should-retry": "maybe"}, b"", "openai", now=NOW)
    assert retry_hint(err) is None
    assert should_retry(err) is True


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (UpstreamConnectionError("refused"), True),
        (UpstreamTimeoutError("slow"), True),
        (UpstreamRateLimitedError("429"), True),
        (UpstreamOverloadedError("529"), True),
        (ContextWindowExceededError("too long"), False),
        (UpstreamClientError("bad"), False),
        (BadRequestError("bad json"), False),
        (AuthenticationError("who are you"), False),
        (RateLimitError("slow down"), False),
        (GatewayError("bug"), False),
    ],
)
def test_should_retry_follows_the_error_tree(error: GatewayError, retry: bool) -> None:
    """Gateway-raised errors are retried exactly when the tree says they are retryable."""
    assert should_retry(error) is retry
