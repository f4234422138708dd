"""Canonical cache keys: what changes them and what does not."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.cache import KEY_VERSION, cache_key


def base() -> dict[str, Any]:
    """A representative request body."""
    return {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
        ],
        "temperature": 0,
    }


def key(body: dict[str, Any], **kw: Any) -> str:
    """The key with default alias and namespace."""
    kw.setdefault("model", "fast")
    kw.setdefault("namespace", "tenant-a")
    return cache_key(body, **kw)


ANSWER_CHANGING: list[tuple[str, Any]] = [
    ("temperature", 0.5),
    ("top_p", 0.9),
    ("max_tokens", 10),
    ("max_completion_tokens", 10),
    ("stop", ["\n"]),
    ("seed", 42),
    ("n", 2),
    ("presence_penalty", 0.5),
    ("frequency_penalty", 0.5),
    ("logit_bias", {"50256": -100}),
    ("logprobs", True),
    ("top_logprobs", 3),
    ("response_format", {"type": "json_object"}),
    ("reasoning_effort", "high"),
    ("parallel_tool_calls", False),
    ("tools", [{"type": "function", "function": {"name": "f", "parameters": {}}}]),
    ("tool_choice", "required"),
    ("functions", [{"name": "f", "parameters": {}}]),
    ("function_call", "auto"),
    ("modalities", ["text"]),
    ("some_future_parameter", 1),
]


@pytest.mark.parametrize(("field", "value"), ANSWER_CHANGING, ids=[f for f, _ in ANSWER_CHANGING])
def test_every_generation_parameter_changes_the_key(field: str, value: Any) -> None:
    """Adding any answer-changing parameter gives a different key."""
    body = base()
    changed = {**body, field: value}
    assert key(changed) != key(body)


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "What is 2+3?"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "what is 2+2?"}],
        [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
        ],
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?", "name": "alice"},
        ],
        [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is 2+2?"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                ],
            },
        ],
        [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
    ],
)
def test_message_changes_change_the_key(messages: list[dict[str, Any]]) -> None:
    """Content, roles, names, multimodal parts and tool turns all count."""
    assert key({**base(), "messages": messages}) != key(base())


def test_tool_call_id_changes_the_key() -> None:
    """Two tool results for different calls are different requests."""

    def convo(call_id: str) -> dict[str, Any]:
        return {
            **base(),
            "messages": [{"role": "tool", "tool_call_id": call_id, "content": "sunny"}],
        }

    assert key(convo("c1")) != key(convo("c2"))


def test_alias_and_namespace_change_the_key() -> None:
    """The resolved model group and the tenant namespace are part of the key."""
    body = base()
    assert key(body, model="fast") != key(body, model="smart")
    assert key(body, namespace="tenant-a") != key(body, namespace="tenant-b")


def test_body_model_is_ignored_in_favour_of_alias() -> None:
    """The alias is passed explicitly; body["model"] does not count twice."""
    assert key({**base(), "model": "other"}) == key(base())


def test_reordered_keys_give_the_same_key() -> None:
    """Dict key order, at every depth, does not matter."""
    body = base()
    body["response_format"] = {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}}
    reordered = dict(reversed(list(body.items())))
    reordered["messages"] = [dict(reversed(list(m.items()))) for m in body["messages"]]
    reordered["response_format"] = {
        "json_schema": {"schema": {}, "name": "a"},
        "type": "json_schema",
    }
    assert key(reordered) == key(body)


@pytest.mark.parametrize(
    "extra",
    [
        {"stream": True},
        {"stream": True, "stream_options": {"include_usage": True}},
        {"metadata": {"trace": "x"}},
        {"user": "alice"},
        {"cache": {"no_store": True}},
        {"store": True},
        {"top_p": None},
    ],
)
def test_delivery_fields_do_not_change_the_key(extra: dict[str, Any]) -> None:
    """stream, stream_options, metadata, user, cache, store and null values are ignored."""
    assert key({**base(), **extra}) == key(base())


def test_user_counts_when_configured() -> None:
    """With include_user the end-user id separates entries."""
    a = key({**base(), "user": "alice"}, include_user=True)
    b = key({**base(), "user": "bob"}, include_user=True)
    assert a != b


def test_null_message_fields_are_ignored() -> None:
    """An explicit null name equals no name (SDKs serialise absent optionals as null)."""
    body = base()
    with_nulls = {
        **body,
        "messages": [{**m, "name": None, "tool_calls": None} for m in body["messages"]],
    }
    assert key(with_nulls) == key(body)


def test_integral_float_equals_int() -> None:
    """temperature 0.0 and 0 are the same request."""
    assert key({**base(), "temperature": 0.0}) == key(base())


def test_key_carries_its_version() -> None:
    """Keys are prefixed with the format version so a format change invalidates them."""
    k = key(base())
    assert k.startswith(f"c{KEY_VERSION}:")
    assert len(k) == len(f"c{KEY_VERSION}:") + 64
