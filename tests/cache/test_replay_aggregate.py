"""Completion -> chunks -> completion round trips, and aggregation of real-looking streams."""

from __future__ import annotations

from typing import Any

import pytest
from tests.cache.cache_samples import text_completion, tool_completion

from lockgate.cache import StreamAggregator, aggregate_chunks, replay_chunks, replay_stream


def two_choices() -> dict[str, Any]:
    """An n=2 completion."""
    c = text_completion("first")
    second = {**c["choices"][0], "index": 1, "message": {"role": "assistant", "content": "two"}}
    return {**c, "choices": [c["choices"][0], second]}


def with_logprobs() -> dict[str, Any]:
    """A completion with logprobs and annotations."""
    c = text_completion("hi")
    choice = {
        **c["choices"][0],
        "message": {**c["choices"][0]["message"], "annotations": []},
        "logprobs": {
            "content": [{"token": "hi", "logprob": -0.1, "top_logprobs": []}],
            "refusal": None,
        },
    }
    return {**c, "choices": [choice], "service_tier": "default"}


@pytest.mark.parametrize(
    "completion",
    [
        text_completion(),
        text_completion("", finish="length"),
        tool_completion(),
        two_choices(),
        with_logprobs(),
    ],
    ids=["text", "empty-length", "tools", "n2", "logprobs"],
)
def test_round_trip(completion: dict[str, Any]) -> None:
    """Replaying a completion and aggregating the chunks gives the same completion."""
    chunks = replay_chunks(completion, include_usage=True)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert aggregate_chunks(chunks) == completion


def test_replay_without_usage_has_no_usage_chunk() -> None:
    """Clients that did not ask for usage get no usage chunk."""
    chunks = replay_chunks(text_completion(), include_usage=False)
    assert all(c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks)
    assert "usage" not in aggregate_chunks(chunks)


def test_replay_usage_chunk_is_last() -> None:
    """With include_usage the final chunk has no choices and carries the usage."""
    chunks = replay_chunks(text_completion(), include_usage=True)
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 12
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_replay_tool_call_deltas_carry_index() -> None:
    """Each tool call is replayed as a delta with its index, id and full arguments."""
    chunks = replay_chunks(tool_completion())
    deltas = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if "tool_calls" in c["choices"][0]["delta"]
    ]
    assert [(d["index"], d["id"], d["function"]["arguments"]) for d in deltas] == [
        (0, "call_1", '{"city":"Oslo"}'),
        (1, "call_2", '{"tz":"CET"}'),
    ]


async def test_replay_stream_yields_the_chunks() -> None:
    """The async replay yields exactly replay_chunks."""
    got = [c async for c in replay_stream(tool_completion(), include_usage=True)]
    assert got == replay_chunks(tool_completion(), include_usage=True)


def openai_like_stream() -> list[dict[str, Any]]:
    """Chunks shaped like OpenAI's: content split in pieces, tool call args in fragments."""
    head = {
        "id": "chatcmpl-x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "system_fingerprint": "fp",
        "usage": None,
    }

    def ch(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            **head,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    return [
        ch({"role": "assistant", "content": "", "refusal": None}),
        ch({"content": "Let me "}),
        ch({"content": "check."}),
        ch(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": ""},
                    }
                ]
            }
        ),
        ch({"tool_calls": [{"index": 0, "function": {"arguments": '{"q":'}}]}),
        ch(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "other", "arguments": "{}"},
                    }
                ]
            }
        ),
        ch({"tool_calls": [{"index": 0, "function": {"arguments": '"x"}'}}]}),
        ch({}, "tool_calls"),
        {
            **head,
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        },
    ]


def test_aggregate_interleaved_tool_call_fragments() -> None:
    """Content pieces concatenate and tool-call arguments join by index."""
    agg = StreamAggregator()
    for chunk in openai_like_stream():
        agg.add(chunk)
    done = agg.result()
    message = done["choices"][0]["message"]
    assert message["content"] == "Let me check."
    assert message["tool_calls"] == [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q":"x"}'},
        },
        {"id": "call_b", "type": "function", "function": {"name": "other", "arguments": "{}"}},
    ]
    assert done["choices"][0]["finish_reason"] == "tool_calls"
    assert done["usage"]["completion_tokens"] == 7
    assert done["system_fingerprint"] == "fp"
    assert agg.finished
    assert agg.chunks == 9


def test_aggregate_of_truncated_stream_is_not_finished() -> None:
    """A stream cut before its finish_reason is reported as unfinished."""
    agg = StreamAggregator()
    for chunk in openai_like_stream()[:5]:
        agg.add(chunk)
    assert not agg.finished
    assert agg.finish_reasons == [None]


def test_aggregate_legacy_function_call() -> None:
    """The legacy function_call delta concatenates its arguments."""
    head = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    chunks = [
        {
            **head,
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "role": "assistant",
                        "content": None,
                        "function_call": {"name": "f", "arguments": ""},
                    },
                    "finish_reason": None,
                }
            ],
        },
        {
            **head,
            "choices": [
                {
                    "index": 0,
                    "delta": {"function_call": {"arguments": '{"a":'}},
                    "finish_reason": None,
                }
            ],
        },
        {
            **head,
            "choices": [
                {
                    "index": 0,
                    "delta": {"function_call": {"arguments": "1}"}},
                    "finish_reason": "function_call",
                }
            ],
        },
    ]
    message = aggregate_chunks(chunks)["choices"][0]["message"]
    assert message["function_call"] == {"name": "f", "arguments": '{"a":1}'}
    assert message["content"] is None
