"""Fake LLM judges: real aiohttp servers on 127.0.0.1 speaking OpenAI chat completions.

They read lockgate's judge prompts (``lockgate.evals.judge``) and answer like judges with
known flaws, so the calibration statistics can be shown to catch each one:

    oracle          picks the gold output (looked up in the gold pairs it was given);
                    outside the gold set it prefers an output without the word WRONG
    always_first    always "A"
    random          a fair coin (seeded)
    position_biased "A" with probability ``bias``, else the oracle's pick
    broken          answers prose with no verdict (the runner must report ERROR)
    down            HTTP 500 on every request

Rubric prompts get ``{"score": 0.0}`` when the answer under review contains WRONG, else 1.0
(``random``: 0 or 1 by coin; ``broken``: prose; ``down``: 500).  Requests are counted in ``calls``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from typing import Any, Literal

from aiohttp import web

JudgeKind = Literal["oracle", "always_first", "random", "position_biased", "broken", "down"]

__all__ = ["FakeJudge", "JudgeKind", "split_pairwise"]

_INSTR, _A, _B, _END = "[Instruction]\n", "\n\n[Output A]\n", "\n\n[Output B]\n", "\n\nWhich output"


def split_pairwise(text: str) -> tuple[str, str, str] | None:
    """(instruction, A, B) of a lockgate pairwise prompt, or None for another prompt."""
    if not text.startswith(_INSTR) or _A not in text or _B not in text:
        return None
    body = text[len(_INSTR) : text.rindex(_END)]
    instruction, _, rest = body.partition(_A)
    a, _, b = rest.rpartition(_B)
    return instruction, a, b


def _answer_under_review(text: str) -> str:
    start = text.find("[Answer to evaluate]\n")
    end = text.rfind("\n\n[Rubric]")
    return text[start:end] if start >= 0 else text


class FakeJudge:
    def __init__(
        self,
        kind: JudgeKind,
        *,
        gold: Iterable[dict[str, Any]] = (),
        bias: float = 0.7,
        seed: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.kind = kind
        self.bias = bias
        self._rng = random.Random(seed)
        self._gold: dict[tuple[str, str, str], str] = {}
        for row in gold:
            better = row["output_1"] if int(row["label"]) == 1 else row["output_2"]
            for a, b in ((row["output_1"], row["output_2"]), (row["output_2"], row["output_1"])):
                self._gold[(row["input"], a, b)] = better
        self.host = host
        self._port = 0
        self.calls = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0).start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    def _oracle(self, instruction: str, a: str, b: str) -> str:
        better = self._gold.get((instruction, a, b))
        if better is not None:
            return "A" if better == a else "B"
        if "WRONG" in a and "WRONG" not in b:
            return "B"
        if "WRONG" in b and "WRONG" not in a:
            return "A"
        return "tie"

    def _pairwise(self, instruction: str, a: str, b: str) -> str:
        if self.kind == "always_first":
            return "A"
        if self.kind == "random":
            return self._rng.choice("AB")
        if self.kind == "position_biased" and self._rng.random() < self.bias:
            return "A"
        return self._oracle(instruction, a, b)

    def _reply(self, prompt: str) -> str:
        if self.kind == "broken":
            return "Both answers have their merits; I would rather not choose."
        parts = split_pairwise(prompt)
        if parts is not None:
            return json.dumps({"winner": self._pairwise(*parts), "reason": f"{self.kind} judge"})
        if self.kind == "random":
            score = self._rng.choice((0.0, 1.0))
        else:
            score = 0.0 if "WRONG" in _answer_under_review(prompt) else 1.0
        return json.dumps({"score": score, "reason": f"{self.kind} judge: score {score}"})

    async def _chat(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.kind == "down":
            body = {"error": {"message": "judge down", "type": "server_error", "code": None}}
            return web.json_response(body, status=500)
        data = await request.json()
        prompt = str(data["messages"][-1]["content"])
        text = self._reply(prompt)
        return web.json_response(
            {
                "id": f"chatcmpl-judge-{self.calls}",
                "object": "chat.completion",
                "created": 0,
                "model": data.get("model", "judge"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": len(prompt) // 4,
                    "completion_tokens": len(text) // 4,
                    "total_tokens": len(prompt) // 4 + len(text) // 4,
                },
            }
        )
