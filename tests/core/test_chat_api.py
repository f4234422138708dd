"""The OpenAI and Anthropic routes against the built-in mock provider."""

from __future__ import annotations

import orjson
import pytest
from tests.support import bearer

from lockgate.chat import parse_chat_request
from lockgate.providers.mock import mock_answer

USER = {"role": "user", "content": "What is the capital of France?"}


def sse_payloads(text: str) -> list[bytes]:
    return [
        line[len("data: ") :].encode() for line in text.splitlines() if line.startswith("data: ")
    ]


async def test_chat_completion_returns_mock_answer_and_headers(make_settings, client_for):
    """A plain chat completion answers with the mock's text, usage and gateway headers."""
    client = await client_for(make_settings())
    body = {"model": "mock", "messages": [USER]}
    r = await client.post("/v1/chat/completions", json=body, headers=bearer())
    assert r.status_code == 200
    data = r.json()
    expected, _ = mock_answer(parse_chat_request(body))
    assert data["choices"][0]["message"]["content"] == expected
    assert (
        data["usage"]["total_tokens"]
        == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]
    )
    assert data["usage"]["completion_tokens"] > 0
    assert r.headers["x-request-id"].startswith("req_")
    assert float(r.headers["x-lockgate-overhead-ms"]) >= 0
    assert r.headers["x-lockgate-provider"] == "mock"
    assert r.headers["x-lockgate-model"] == "mock-1"


async def test_client_request_id_is_echoed(make_settings, client_for):
    """A client's x-request-id is echoed as x-client-request-id; x-request-id is the gateway's."""
    client = await client_for(make_settings())
    r = await client.post(
        "/v1/chat/completions",
        json={"model": "mock", "messages": [USER]},
        headers={**bearer(), "x-request-id": "trace-123"},
    )
    assert r.headers["x-client-request-id"] == "trace-123"
    assert r.headers["x-request-id"].startswith("req_")


async def test_stream_with_usage_ends_with_usage_chunk_and_done(make_settings, client_for):
    """stream_options.include_usage adds a final usage chunk before [DONE]."""
    client = await client_for(make_settings())
    body = {
        "model": "mock",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [USER],
    }
    r = await client.post("/v1/chat/completions", json=body, headers=bearer())
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(r.text)
    assert payloads[-1] == b"[DONE]"
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == mock_answer(parse_chat_request(body))[0]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


async def test_stream_without_usage_has_no_usage_chunk(make_settings, client_for):
    """Without include_usage the client sees no usage-only chunk."""
    client = await client_for(make_settings())
    body = {"model": "mock", "stream": True, "messages": [USER]}
    r = await client.post("/v1/chat/completions", json=body, headers=bearer())
    chunks = [orjson.loads(p) for p in sse_payloads(r.text)[:-1]]
    assert all(c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks)


async def test_malformed_json_is_400_openai_shaped(make_settings, client_for):
    """Malformed JSON gives a 400 with an OpenAI-shaped error."""
    client = await client_for(make_settings())
    r = await client.post("/v1/chat/completions", content=b"{not json", headers=bearer())
    assert r.status_code == 400
    err = r.json()["error"]
    assert set(err) == {"message", "type", "code", "param"}
    assert err["type"] == "invalid_request_error" and "Malformed JSON" in err["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [USER]}, "model"),
        ({"model": "mock"}, "messages"),
        ({"model": "mock", "messages": []}, "messages"),
        ({"model": "mock", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "mock", "messages": [USER], "stream": "yes"}, "stream"),
        ([1, 2], None),
    ],
)
async def test_invalid_bodies_name_the_param(make_settings, client_for, body, param):
    """Each shape error is a 400 naming the offending parameter."""
    client = await client_for(make_settings())
    r = await client.post("/v1/chat/completions", json=body, headers=bearer())
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param


async def test_unknown_model_is_404_model_not_found(make_settings, client_for):
    """An alias the gateway does not serve is 404 model_not_found."""
    client = await client_for(make_settings())
    r = await client.post(
        "/v1/chat/completions", json={"model": "gpt-9", "messages": [USER]}, headers=bearer()
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"


async def test_body_over_limit_is_413_before_reading(make_settings, client_for):
    """A declared Content-Length over the limit is refused without reading the body."""
    client = await client_for(make_settings(max_request_body_bytes=1000))
    big = orjson.dumps({"model": "mock", "messages": [{"role": "user", "content": "x" * 5000}]})
    r = await client.post("/v1/chat/completions", content=big, headers=bearer())
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"


async def test_chunked_body_over_limit_is_413(make_settings, client_for):
    """A body without Content-Length is cut off as soon as it passes the limit."""
    client = await client_for(make_settings(max_request_body_bytes=1000))

    async def parts():
        for _ in range(10):
            yield b"x" * 500

    r = await client.post("/v1/chat/completions", content=parts(), headers=bearer())
    assert r.status_code == 413


async def test_models_lists_aliases(make_settings, client_for):
    """GET /v1/models lists every alias in OpenAI's list shape."""
    settings = make_settings(
        models=[
            {"model_name": "mock", "params": {"model": "mock/mock-1"}},
            {"model_name": "mock-b", "params": {"model": "mock/mock-2"}},
        ]
    )
    client = await client_for(settings)
    r = await client.get("/v1/models", headers=bearer())
    assert r.status_code == 200
    assert [m["id"] for m in r.json()["data"]] == ["mock", "mock-b"]


async def test_embeddings_from_mock(make_settings, client_for):
    """POST /v1/embeddings returns one normalised vector per input."""
    client = await client_for(make_settings())
    r = await client.post(
        "/v1/embeddings", json={"model": "mock", "input": ["a", "b"]}, headers=bearer()
    )
    assert r.status_code == 200
    data = r.json()["data"]
    assert [d["index"] for d in data] == [0, 1]
    assert abs(sum(v * v for v in data[0]["embedding"]) - 1.0) < 1e-9


async def test_embeddings_without_input_is_400(make_settings, client_for):
    """Embeddings need an input."""
    client = await client_for(make_settings())
    r = await client.post("/v1/embeddings", json={"model": "mock"}, headers=bearer())
    assert r.status_code == 400 and r.json()["error"]["param"] == "input"


async def test_anthropic_messages_on_mock(make_settings, client_for):
    """POST /v1/messages answers in Anthropic's message shape."""
    client = await client_for(make_settings())
    r = await client.post(
        "/v1/messages",
        json={"model": "mock", "max_tokens": 100, "system": "Be brief.", "messages": [USER]},
        headers={"x-api-key": "sk-master-test-0001", "anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 200
    msg = r.json()
    assert msg["type"] == "message" and msg["role"] == "assistant"
    assert msg["content"][0]["type"] == "text" and "capital of France" in msg["content"][0]["text"]
    assert msg["stop_reason"] == "end_turn"
    assert msg["usage"]["input_tokens"] > 0 and msg["usage"]["output_tokens"] > 0


async def test_anthropic_max_tokens_stop_reason(make_settings, client_for):
    """A cut-off answer maps finish_reason length to stop_reason max_tokens."""
    client = await client_for(make_settings())
    r = await client.post(
        "/v1/messages",
        json={"model": "mock", "max_tokens": 3, "messages": [USER]},
        headers={"x-api-key": "sk-master-test-0001"},
    )
    assert r.json()["stop_reason"] == "max_tokens"


async def test_anthropic_errors_are_anthropic_shaped(make_settings, client_for):
    """Errors on /v1/messages use Anthropic's error envelope."""
    client = await client_for(make_settings())
    r = await client.post(
        "/v1/messages",
        json={"model": "mock", "messages": [USER]},
        headers={"x-api-key": "sk-master-test-0001"},
    )
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]
    r = await client.post(
        "/v1/messages", json={"model": "mock", "max_tokens": 5, "messages": [USER]}
    )
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


async def test_anthropic_stream_event_sequence(make_settings, client_for):
    """A streamed /v1/messages answer follows Anthropic's event order."""
    client = await client_for(make_settings())
    r = await client.post(
        "/v1/messages",
        json={"model": "mock", "max_tokens": 100, "stream": True, "messages": [USER]},
        headers={"x-api-key": "sk-master-test-0001"},
    )
    events = [line[len("event: ") :] for line in r.text.splitlines() if line.startswith("event: ")]
    assert events[:3] == ["message_start", "ping", "content_block_start"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(events[3:-3]) == {"content_block_delta"}


async def test_legacy_api_chat_and_stats(make_settings, client_for):
    """The reference guide's /api/chat answers and /api/stats counts it."""
    client = await client_for(make_settings())
    r = await client.post(
        "/api/chat", json={"user_input": "Hello there", "model": "mock"}, headers=bearer()
    )
    assert r.status_code == 200
    data = r.json()
    assert "Hello there" in data["response"] and data["cached"] is False
    assert data["tokens_used"] > 0
    r = await client.post("/api/chat", params={"user_input": "again"}, headers=bearer())
    assert r.status_code == 200
    stats = (await client.get("/api/stats", headers=bearer())).json()
    assert stats["total_requests"] == 2 and stats["errors"] == 0
    assert stats["models"]["mock"]["requests"] == 2


async def test_health_and_ready_need_no_key(make_settings, client_for):
    """/health and /ready answer without a key; /ready checks the database."""
    client = await client_for(make_settings())
    assert (await client.get("/health")).json()["status"] == "healthy"
    r = await client.get("/ready")
    assert r.status_code == 200 and r.json()["checks"]["database"] is True


async def test_unknown_route_is_openai_shaped_404(make_settings, client_for):
    """Unknown paths get a JSON 404, not an HTML page."""
    client = await client_for(make_settings())
    r = await client.get("/v2/whatever")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
