"""What goes into the partition key and which text is embedded."""

from __future__ import annotations

from typing import Any

from lockgate.cache.semantic.partition import semantic_query
from lockgate.chat import ChatRequest


def request(messages: list[dict[str, Any]], **params: Any) -> ChatRequest:
    """A chat request for alias ``fast`` with these messages and parameters."""
    return ChatRequest(model="fast", body={"model": "fast", "messages": messages, **params})


SYSTEM = {"role": "system", "content": "You are terse."}


def partition(tenant: str, req: ChatRequest) -> str:
    """The partition key of a request that must be cacheable."""
    query = semantic_query(tenant, req)
    assert query is not None
    return query.partition


def test_only_the_last_user_turn_is_embedded() -> None:
    """The text is the last user message, stripped; the rest goes into the key."""
    query = semantic_query("t", request([SYSTEM, {"role": "user", "content": "  Hi there  "}]))
    assert query is not None
    assert query.text == "Hi there"


def test_same_prompt_in_other_words_shares_a_partition() -> None:
    """The wording of the last turn does not change the partition."""
    a = request([SYSTEM, {"role": "user", "content": "Reset my password"}])
    b = request([SYSTEM, {"role": "user", "content": "How do I change my password?"}])
    assert partition("t", a) == partition("t", b)


def test_tenant_model_system_tools_context_and_params_split_partitions() -> None:
    """Each of tenant, model, system prompt, tools, earlier turns and sampling params matters."""
    user = {"role": "user", "content": "Hello"}
    base = request([SYSTEM, user])
    variants = [
        partition("other-tenant", base),
        partition("t", ChatRequest(model="smart", body={"model": "smart", "messages": [user]})),
        partition("t", request([{"role": "system", "content": "Be verbose."}, user])),
        partition("t", request([SYSTEM, user], tools=[{"type": "function", "function": {}}])),
        partition("t", request([SYSTEM, {"role": "user", "content": "Hi"}, user])),
        partition("t", request([SYSTEM, user], temperature=1.5)),
        partition("t", request([SYSTEM, {**user, "name": "alice"}])),
    ]
    assert len({partition("t", base), *variants}) == len(variants) + 1


def test_transport_fields_do_not_split_partitions() -> None:
    """stream, stream_options and user do not change which answers are shared."""
    user = {"role": "user", "content": "Hello"}
    streamed = request([user], stream=True, stream_options={"include_usage": True}, user="u1")
    assert partition("t", request([user])) == partition("t", streamed)


def test_uncacheable_requests() -> None:
    """Tool results, images, empty and over-long questions are not cached semantically."""
    image = {"type": "image_url", "image_url": {"url": "data:,"}}
    assert semantic_query("t", request([{"role": "tool", "content": "42"}])) is None
    assert semantic_query("t", request([{"role": "user", "content": [image]}])) is None
    assert semantic_query("t", request([{"role": "user", "content": "   "}])) is None
    long = request([{"role": "user", "content": "x" * 50}])
    assert semantic_query("t", long, max_chars=49) is None


def test_text_parts_are_joined() -> None:
    """A content array of text parts is embedded as one text."""
    parts = [{"type": "text", "text": "Hello"}, {"type": "text", "text": "world"}]
    query = semantic_query("t", request([{"role": "user", "content": parts}]))
    assert query is not None
    assert query.text == "Hello\nworld"
