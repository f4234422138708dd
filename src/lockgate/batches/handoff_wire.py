"""Batch lines to and from the providers' batch APIs (pure: no I/O).

A line keeps its lockgate endpoint's shape for the client: a /v1/chat/completions line
sent to Anthropic goes as a Messages request and comes back as a chat completion; a
/v1/messages line sent to OpenAI goes as a chat request and comes back as a message.
Remote custom ids are ``<batch id>-<line no>`` (Anthropic allows ``[A-Za-z0-9_-]{1,64}``;
the client's own custom_id stays in lockgate's rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lockgate.chat import ChatResponse, Usage, usage_from_openai
from lockgate.providers.defaults import apply_defaults
from lockgate.settings import Deployment
from lockgate.wire.anthropic_params import RESPONSE_FORMAT_TOOL, response_format_tool
from lockgate.wire.anthropic_request import anthropic_to_openai_request, openai_to_anthropic_request
from lockgate.wire.anthropic_response import (
    anthropic_to_openai_response,
    openai_to_anthropic_response,
    usage_from_anthropic,
)

__all__ = [
    "HANDOFF_PROVIDERS",
    "LineAnswer",
    "RemoteResult",
    "can_hand_off",
    "custom_id",
    "line_no_of",
    "remote_url",
    "to_answer",
    "to_remote",
]

#: providers whose own batch API lockgate hands batches to
HANDOFF_PROVIDERS = ("openai", "anthropic")


@dataclass(frozen=True, slots=True)
class RemoteResult:
    """One line of a provider's batch results, in the provider's shape.

    ``kind``: succeeded | errored | canceled | expired.  ``body``: the provider's
    answer (OpenAI's response body, Anthropic's message) or its error object."""

    custom_id: str
    kind: str
    status_code: int
    body: dict[str, Any]
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class LineAnswer:
    """What a line stores: its answer in its endpoint's shape, and the usage to price."""

    line_no: int
    ok: bool
    status_code: int
    body: dict[str, Any]
    request_id: str | None
    usage: Usage | None


def can_hand_off(endpoint: str, dep: Deployment) -> bool:
    if dep.provider == "anthropic":
        return endpoint in ("/v1/chat/completions", "/v1/messages")
    return dep.provider == "openai"


def custom_id(batch_id: str, line_no: int) -> str:
    return f"{batch_id}-{line_no}"


def line_no_of(batch_id: str, remote_id: str) -> int | None:
    prefix = batch_id + "-"
    if not remote_id.startswith(prefix) or not remote_id[len(prefix) :].isdigit():
        return None
    return int(remote_id[len(prefix) :])


def remote_url(endpoint: str) -> str:
    """The OpenAI batch endpoint a lockgate endpoint's lines go to."""
    return "/v1/embeddings" if endpoint == "/v1/embeddings" else "/v1/chat/completions"


def _plain(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("stream", "stream_options")}


def to_remote(endpoint: str, dep: Deployment, body: dict[str, Any]) -> dict[str, Any]:
    """A line's body as the provider's batch API takes it (the upstream model named)."""
    params = dep.params
    model = params.upstream_model
    if dep.provider == "anthropic":
        if endpoint == "/v1/messages":
            return {**_plain(apply_defaults(body, params)), "model": model}
        return openai_to_anthropic_request(
            apply_defaults(_plain(body), params), model, drop_params=params.drop_params
        )
    source = anthropic_to_openai_request(body) if endpoint == "/v1/messages" else body
    return {**_plain(apply_defaults(source, params)), "model": model}


def _error_answer(line_no: int, result: RemoteResult, endpoint: str) -> LineAnswer:
    body = result.body
    if endpoint == "/v1/messages" and body.get("type") != "error":
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        body = {"type": "error", "error": inner}
    elif endpoint != "/v1/messages" and body.get("type") == "error":
        inner = body.get("error") or {}
        body = {"error": {"message": inner.get("message", ""), "type": inner.get("type")}}
    return LineAnswer(line_no, False, result.status_code, body, result.request_id, None)


def to_answer(
    line_no: int, result: RemoteResult, endpoint: str, dep: Deployment, alias: str, line_body: Any
) -> LineAnswer:
    """A provider's result as the line's answer in its lockgate endpoint's shape."""
    if result.kind != "succeeded":
        return _error_answer(line_no, result, endpoint)
    data = result.body
    rid = result.request_id
    if dep.provider == "anthropic":
        usage = usage_from_anthropic(data.get("usage"))
        if endpoint == "/v1/messages":
            return LineAnswer(line_no, True, 200, {**data, "model": alias}, rid, usage)
        fmt = line_body.get("response_format") if isinstance(line_body, dict) else None
        tool = RESPONSE_FORMAT_TOOL if response_format_tool(fmt) is not None else None
        chat = anthropic_to_openai_response(data, alias, tool)
        return LineAnswer(line_no, True, 200, chat.body, rid, chat.usage)
    usage = usage_from_openai(data.get("usage"))
    if endpoint == "/v1/messages":
        message = openai_to_anthropic_response(ChatResponse(body=data, usage=usage), alias)
        return LineAnswer(line_no, True, 200, message, rid, usage)
    return LineAnswer(line_no, True, 200, {**data, "model": alias}, rid, usage)
