"""The built-in ``mock`` provider: deterministic answers with no network and no keys.

It lets the gateway run, and be tried, on a fresh machine.  Answers depend only
on the request, usage is counted like a real tokenizer would roughly count, and
streams arrive word by word.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from lockgate.chat import ChatRequest, ChatResponse, ChatStream, Chunk, Usage
from lockgate.providers.base import StreamHandle, Timeouts
from lockgate.settings import Deployment
from lockgate.tokens import content_text, estimate_message_tokens, estimate_tokens

__all__ = ["MockProvider", "mock_answer"]


def mock_answer(request: ChatRequest) -> tuple[str, str]:
    """(text, finish_reason) of the mock's answer to ``request``."""
    last = ""
    for msg in reversed(request.messages):
        if msg.get("role") == "user":
            last = content_text(msg.get("content"))
            break
    digest = hashlib.sha256(last.encode()).hexdigest()[:8]
    text = f"Mock answer {digest} from lockgate. You said: {last[:200]}"
    limit = request.max_tokens
    words = text.split(" ")
    if limit is not None and len(words) > limit:
        return " ".join(words[:limit]), "length"
    return text, "stop"


class MockProvider:
    name = "mock"

    async def aclose(self) -> None:
        return None

    def _usage(self, request: ChatRequest, text: str) -> Usage:
        return Usage(
            prompt_tokens=estimate_message_tokens(request.messages),
            completion_tokens=estimate_tokens(text),
        )

    async def chat(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> ChatResponse:
        text, finish = mock_answer(request)
        usage = self._usage(request, text)
        body = {
            "id": "chatcmpl-mock-" + hashlib.sha256(text.encode()).hexdigest()[:12],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": deployment.params.upstream_model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": usage.to_openai(),
        }
        return ChatResponse(body=body, usage=usage)

    async def stream(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> StreamHandle:
        return StreamHandle(self._chunks(request, deployment))

    async def _chunks(self, request: ChatRequest, deployment: Deployment) -> ChatStream:
        text, finish = mock_answer(request)
        ident = "chatcmpl-mock-" + hashlib.sha256(text.encode()).hexdigest()[:12]
        created = int(time.time())
        model = deployment.params.upstream_model

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> Chunk:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }

        yield chunk({"role": "assistant", "content": ""})
        words = text.split(" ")
        for i, word in enumerate(words):
            yield chunk({"content": word if i == 0 else " " + word})
        yield chunk({}, finish)
        yield {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": self._usage(request, text).to_openai(),
        }

    async def embed(
        self, body: dict[str, Any], deployment: Deployment, timeouts: Timeouts
    ) -> dict[str, Any]:
        inputs = body.get("input")
        items = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = []
        tokens = 0
        for i, item in enumerate(items):
            text = item if isinstance(item, str) else str(item)
            tokens += estimate_tokens(text)
            seed = hashlib.sha256(text.encode()).digest()
            vec = [(b - 127.5) / 127.5 for b in seed[:16]]
            norm = sum(v * v for v in vec) ** 0.5 or 1.0
            data.append({"object": "embedding", "index": i, "embedding": [v / norm for v in vec]})
        return {
            "object": "list",
            "data": data,
            "model": deployment.params.upstream_model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
