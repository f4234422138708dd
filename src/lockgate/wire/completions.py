"""Legacy text completions (/v1/completions) <-> the canonical chat form.

The pipeline (guards, limits, cache, records) sees a completion request as one
user message holding the prompt.  An OpenAI-compatible upstream that has legacy
completions gets the client's own completions body (see ``NativeRequest``) at
``/completions``; its answers are read back into chat shape for the pipeline
and handed to the client as they came.  Every other upstream (Anthropic,
Gemini, Bedrock, Groq, Mistral...) is sent the chat form, the prompt as one
user message, as LiteLLM's ``text_completion`` does for chat models; fields a
chat API has no place for (``suffix``, ``echo``, ``logprobs``, ``best_of``) are
refused by name unless the deployment says ``drop_params``.  Answers that did
not come from a completions endpoint are rebuilt as ``text_completion`` objects.
"""

from __future__ import annotations

from typing import Any

from lockgate.chat import ChatRequest, ChatResponse, Chunk
from lockgate.errors import BadRequestError, UnsupportedParamError

__all__ = [
    "WIRE",
    "chat_chunk_to_completion",
    "chat_to_completion",
    "check_chat_served",
    "completion_chunk_to_chat",
    "completion_to_chat",
    "completions_to_chat_body",
]

#: ``NativeRequest.wire`` of a /v1/completions request
WIRE = "openai-completions"

_SHARED = ("max_tokens", "temperature", "top_p", "stop", "n", "seed", "user", "stream")


def completions_to_chat_body(body: Any) -> dict[str, Any]:
    """The canonical chat body standing for a completions request."""
    if not isinstance(body, dict):
        raise BadRequestError("Request body must be a JSON object.")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt) and prompt:
        text = "\n".join(prompt)
    elif isinstance(prompt, str):
        text = prompt
    else:
        # Token-id prompts cannot be screened by the guards.
        raise BadRequestError(
            "'prompt' must be a string or an array of strings (token arrays are not accepted).",
            param="prompt",
        )
    chat: dict[str, Any] = {
        "model": body.get("model"),
        "messages": [{"role": "user", "content": text}],
        # keeps completions apart from chat requests with the same text in the cache
        "lockgate": {"wire": WIRE, "suffix": body.get("suffix"), "echo": body.get("echo")},
    }
    for key in _SHARED:
        if key in body:
            chat[key] = body[key]
    if body.get("stream"):
        chat["stream_options"] = {"include_usage": True}
    return chat


def check_chat_served(request: ChatRequest, provider: str, drop_params: bool) -> None:
    """Refuse a /v1/completions request whose fields a chat API cannot honour."""
    native = request.native
    if native is None or native.wire != WIRE:
        return
    body = native.body
    present = [
        key
        for key in ("suffix", "echo", "logprobs", "best_of")
        if body.get(key) not in (None, False) and not (key == "best_of" and body[key] == 1)
    ]
    if present and not drop_params:
        raise UnsupportedParamError(
            f"This model is served by {provider} through its chat API, which has no place for"
            f" the text-completion field(s): {', '.join(present)}. Remove them or set"
            " drop_params: true on the deployment.",
            param=present[0],
        )


def completion_to_chat(data: dict[str, Any]) -> dict[str, Any]:
    """A ``text_completion`` in ``chat.completion`` shape."""
    return {
        **data,
        "object": "chat.completion",
        "choices": [
            {
                "index": c.get("index", 0),
                "message": {"role": "assistant", "content": c.get("text", "")},
                "finish_reason": c.get("finish_reason"),
                "logprobs": None,
            }
            for c in data.get("choices") or ()
        ],
    }


def completion_chunk_to_chat(data: dict[str, Any]) -> Chunk:
    return {
        **data,
        "object": "chat.completion.chunk",
        "choices": [
            {
                "index": c.get("index", 0),
                "delta": {"content": c.get("text", "")},
                "finish_reason": c.get("finish_reason"),
            }
            for c in data.get("choices") or ()
        ],
    }


def chat_to_completion(resp: ChatResponse) -> dict[str, Any]:
    """A canonical answer as a ``text_completion`` (cache replays, other providers)."""
    body = resp.body
    return {
        "id": str(body.get("id", "")).replace("chatcmpl-", "cmpl-", 1),
        "object": "text_completion",
        "created": body.get("created"),
        "model": body.get("model"),
        "choices": [
            {
                "index": c.get("index", 0),
                "text": (c.get("message") or {}).get("content") or "",
                "finish_reason": c.get("finish_reason"),
                "logprobs": None,
            }
            for c in body.get("choices") or ()
        ],
        "usage": resp.usage.to_openai(),
    }


def chat_chunk_to_completion(chunk: Chunk) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(chunk.get("id", "")).replace("chatcmpl-", "cmpl-", 1),
        "object": "text_completion",
        "created": chunk.get("created"),
        "model": chunk.get("model"),
        "choices": [
            {
                "index": c.get("index", 0),
                "text": (c.get("delta") or {}).get("content") or "",
                "finish_reason": c.get("finish_reason"),
                "logprobs": None,
            }
            for c in chunk.get("choices") or ()
        ],
    }
    if chunk.get("usage"):
        out["usage"] = chunk["usage"]
    return out
