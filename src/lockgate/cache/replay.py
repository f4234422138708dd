"""Turn a stored ``chat.completion`` back into ``chat.completion.chunk`` dicts.

A streaming request answered from the cache gets, per choice: one chunk with
the role and the whole content (plus refusal, annotations... and logprobs),
one chunk per tool call (complete id, name and arguments), a closing chunk with
an empty delta and the finish_reason, and, when the client asked for
``stream_options.include_usage``, a final ``choices: []`` chunk with the usage.
The content is not re-split into small pieces: clients concatenate deltas, and
fewer chunks are cheaper to send.  ``aggregate_chunks(replay_chunks(c, True))``
equals ``c`` for every OpenAI-shaped completion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockgate.chat import ChatStream, Chunk

__all__ = ["replay_chunks", "replay_stream"]

_HEAD_EXTRAS = ("system_fingerprint", "service_tier")
_NOT_IN_FIRST_DELTA = frozenset({"tool_calls", "function_call"})


def _head(completion: Mapping[str, Any], include_usage: bool) -> dict[str, Any]:
    head: dict[str, Any] = {
        "id": completion.get("id"),
        "object": "chat.completion.chunk",
        "created": completion.get("created"),
        "model": completion.get("model"),
    }
    for name in _HEAD_EXTRAS:
        if name in completion:
            head[name] = completion[name]
    if include_usage:
        head["usage"] = None
    return head


def _choice_chunks(head: dict[str, Any], choice: Mapping[str, Any]) -> list[Chunk]:
    index = choice.get("index", 0)
    message = choice.get("message") or {}
    first = {k: v for k, v in message.items() if k not in _NOT_IN_FIRST_DELTA}
    first.setdefault("role", "assistant")
    first.setdefault("content", None)
    out: list[Chunk] = [
        {
            **head,
            "choices": [
                {
                    "index": index,
                    "delta": first,
                    "logprobs": choice.get("logprobs"),
                    "finish_reason": None,
                }
            ],
        }
    ]
    for i, call in enumerate(message.get("tool_calls") or ()):
        delta = {"tool_calls": [{"index": i, **call}]}
        out.append(
            {
                **head,
                "choices": [
                    {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}
                ],
            }
        )
    if message.get("function_call") is not None:
        delta = {"function_call": message["function_call"]}
        out.append(
            {
                **head,
                "choices": [
                    {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}
                ],
            }
        )
    out.append(
        {
            **head,
            "choices": [
                {
                    "index": index,
                    "delta": {},
                    "logprobs": None,
                    "finish_reason": choice.get("finish_reason"),
                }
            ],
        }
    )
    return out


def replay_chunks(completion: Mapping[str, Any], include_usage: bool = False) -> list[Chunk]:
    """The chunk sequence that streams ``completion``."""
    head = _head(completion, include_usage)
    chunks: list[Chunk] = []
    for choice in completion.get("choices") or ():
        chunks.extend(_choice_chunks(head, choice))
    if include_usage and completion.get("usage") is not None:
        chunks.append({**head, "choices": [], "usage": completion["usage"]})
    return chunks


async def replay_stream(completion: Mapping[str, Any], include_usage: bool = False) -> ChatStream:
    """``replay_chunks`` as a ``ChatStream``."""
    for chunk in replay_chunks(completion, include_usage):
        yield chunk
