"""Faults fire on command, on the right requests, and look like the real failure."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from tests.fakes import FakeUpstream, Fault

CHAT = {"model": "m", "messages": [{"role": "user", "content": "a b c d e"}]}
STREAM = {**CHAT, "stream": True}


def chat_url(fake: FakeUpstream) -> str:
    return fake.openai_base_url + "/chat/completions"


async def wait_for(predicate: object, seconds: float = 5.0) -> None:
    """Poll a condition the server sets asynchronously, at most ``seconds`` long."""
    assert callable(predicate)
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_burst_then_success(fake: FakeUpstream) -> None:
    """A 503 burst of two hits exactly the next two requests."""
    fake.push_fault(Fault.error(503), times=2)
    async with httpx.AsyncClient() as http:
        codes = [(await http.post(chat_url(fake), json=CHAT)).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    assert [r.fault for r in fake.requests] == ["status", "status", None]


async def test_always_until_cleared(fake: FakeUpstream) -> None:
    """times=None keeps failing until the faults are cleared."""
    fake.push_fault(Fault.error(500, body={"custom": True}), times=None)
    async with httpx.AsyncClient() as http:
        first = await http.post(chat_url(fake), json=CHAT)
        second = await http.post(chat_url(fake), json=CHAT)
        fake.clear_faults()
        third = await http.post(chat_url(fake), json=CHAT)
    assert (first.status_code, second.status_code, third.status_code) == (500, 500, 200)
    assert first.json() == {"custom": True}


async def test_script_orders_faults(fake: FakeUpstream) -> None:
    """script() gives one fault per request, None meaning a normal answer."""
    fake.script(
        Fault.error(429, retry_after="Wed, 21 Oct 2026 07:28:00 GMT"), None, Fault.error(502)
    )
    async with httpx.AsyncClient() as http:
        responses = [await http.post(chat_url(fake), json=CHAT) for _ in range(4)]
    assert [r.status_code for r in responses] == [429, 200, 502, 200]
    assert responses[0].headers["retry-after"] == "Wed, 21 Oct 2026 07:28:00 GMT"


async def test_path_scoping(fake: FakeUpstream) -> None:
    """A fault scoped to the Anthropic route leaves OpenAI requests alone."""
    fake.push_fault(Fault.error(529, path="/v1/messages"))
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    async with httpx.AsyncClient() as http:
        openai_resp = await http.post(chat_url(fake), json=CHAT)
        anthropic_resp = await http.post(fake.base_url + "/v1/messages", json=body, headers=headers)
    assert (openai_resp.status_code, anthropic_resp.status_code) == (200, 529)


async def test_slow_headers_trips_a_client_timeout(fake: FakeUpstream) -> None:
    """Slow headers make a short read timeout fire before any response."""
    fake.push_fault(Fault.slow_headers(5))
    async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.2)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(chat_url(fake), json=CHAT)
    await wait_for(lambda: fake.cancelled == 1)
    assert fake.cancel_events[0].stage == "before_headers"


async def test_slow_error(fake: FakeUpstream) -> None:
    """An error with a delay holds its status line back like slow_headers does."""
    fake.push_fault(Fault.error(503, delay=5))
    async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.2)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(chat_url(fake), json=CHAT)


async def test_slow_first_chunk_sends_headers_first(fake: FakeUpstream) -> None:
    """Headers arrive at once; the body read then times out."""
    fake.push_fault(Fault.slow_first_chunk(5))
    timeout = httpx.Timeout(5, read=0.3)
    async with (
        httpx.AsyncClient(timeout=timeout) as http,
        http.stream("POST", chat_url(fake), json=STREAM) as resp,
    ):
        assert resp.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            await resp.aread()


async def test_stall_mid_stream_and_cancel_is_recorded(fake: FakeUpstream) -> None:
    """After K chunks the stream stalls; a client walking away is recorded as cancelled."""
    fake.push_fault(Fault.stall(after_chunks=2, seconds=30))
    received = []
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.3)) as http,
        http.stream("POST", chat_url(fake), json=STREAM) as resp,
    ):
        with pytest.raises(httpx.ReadTimeout):
            async for line in resp.aiter_lines():
                if line:
                    received.append(line)
    assert len(received) == 2
    await wait_for(lambda: fake.cancelled == 1)
    event = fake.cancel_events[0]
    assert (event.stage, event.chunks_sent, event.path) == ("mid_body", 2, "/v1/chat/completions")
    assert fake.completed_streams == 0


async def test_stall_then_finishes(fake: FakeUpstream) -> None:
    """A short stall delays the rest of the stream but it still ends with [DONE]."""
    fake.push_fault(Fault.stall(after_chunks=1, seconds=0.1))
    async with httpx.AsyncClient() as http:
        resp = await http.post(chat_url(fake), json=STREAM)
    events = [e for e in resp.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert len(events) == 9  # role chunk, 6 words, finish chunk, [DONE]


async def test_completed_stream_is_not_cancelled(fake: FakeUpstream) -> None:
    """A stream read to the end counts as completed, not cancelled."""
    async with httpx.AsyncClient() as http:
        await http.post(chat_url(fake), json=STREAM)
    await wait_for(lambda: fake.completed_streams == 1)
    assert fake.cancelled == 0


async def test_reset_before_headers(fake: FakeUpstream) -> None:
    """The connection is reset before a status line; the next request is served."""
    fake.push_fault(Fault.reset_before_headers())
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ReadError):
            await http.post(chat_url(fake), json=CHAT)
        assert (await http.post(chat_url(fake), json=CHAT)).status_code == 200


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.reset_mid_body(3), httpx.ReadError),
        (Fault.drop_mid_stream(3), httpx.RemoteProtocolError),
    ],
)
async def test_cut_stream_never_sends_done(
    fake: FakeUpstream, fault: Fault, error: type[Exception]
) -> None:
    """A reset (RST: read error) or drop (FIN: protocol error) after K events: no [DONE]."""
    fake.push_fault(fault)
    received: list[str] = []
    async with httpx.AsyncClient() as http:
        with pytest.raises(error):
            async with http.stream("POST", chat_url(fake), json=STREAM) as resp:
                async for line in resp.aiter_lines():
                    if line:
                        received.append(line)
    assert len(received) == 3
    assert "data: [DONE]" not in received


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.reset_mid_body(), httpx.ReadError),
        (Fault.drop_mid_stream(), httpx.RemoteProtocolError),
    ],
)
async def test_cut_plain_body(fake: FakeUpstream, fault: Fault, error: type[Exception]) -> None:
    """A non-streamed body cut halfway is an incomplete response for the client."""
    fake.push_fault(fault)
    async with httpx.AsyncClient() as http:
        with pytest.raises(error):
            await http.post(chat_url(fake), json=CHAT)


async def test_end_early_is_valid_http_without_terminator(fake: FakeUpstream) -> None:
    """end_early closes the SSE response properly after K events, with no [DONE]."""
    fake.push_fault(Fault.end_early(2))
    async with httpx.AsyncClient() as http:
        resp = await http.post(chat_url(fake), json=STREAM)
    events = [e for e in resp.text.split("\n\n") if e]
    assert resp.status_code == 200 and len(events) == 2
    assert "[DONE]" not in resp.text


@pytest.mark.parametrize("fault", [Fault.truncated_json(), Fault.malformed_json()])
async def test_broken_json_bodies(fake: FakeUpstream, fault: Fault) -> None:
    """Truncated and malformed bodies are complete HTTP 200s that do not parse."""
    fake.push_fault(fault)
    async with httpx.AsyncClient() as http:
        resp = await http.post(chat_url(fake), json=CHAT)
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.content)


async def test_control_endpoint(fake: FakeUpstream) -> None:
    """Faults pushed over HTTP fire; recorded requests and stats are readable over HTTP."""
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        pushed = await http.post(
            "/_control/faults",
            json={
                "faults": [
                    {"kind": "status", "status": 503, "times": 2, "retry_after": 1},
                    {"kind": "truncated_json", "path": "/v1/embeddings"},
                ]
            },
        )
        assert pushed.json() == {"pending": 2}
        codes = [(await http.post("/v1/chat/completions", json=CHAT)).status_code for _ in range(3)]
        listing = (await http.get("/_control/faults")).json()["faults"]
        recorded = (await http.get("/_control/requests")).json()["requests"]
        stats = (await http.get("/_control/stats")).json()
        await http.post("/_control/reset")
    assert codes == [503, 503, 200]
    assert [f["kind"] for f in listing] == ["truncated_json"]
    assert [r["path"] for r in recorded] == ["/v1/chat/completions"] * 3
    assert recorded[0]["body"] == CHAT
    assert stats["counts"] == {"/v1/chat/completions": 3}
    assert fake.requests == [] and fake.faults.pending() == []


async def test_two_fakes_are_independent() -> None:
    """Two fakes on different ports keep their own faults and records."""
    async with FakeUpstream() as one, FakeUpstream() as two:
        one.push_fault(Fault.error(500))
        assert one.port != two.port
        async with httpx.AsyncClient() as http:
            a = await http.post(chat_url(one), json=CHAT)
            b = await http.post(chat_url(two), json=CHAT)
    assert (a.status_code, b.status_code) == (500, 200)
    assert len(one.requests) == len(two.requests) == 1
