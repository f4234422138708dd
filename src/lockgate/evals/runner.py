"""Running a suite: every (target, case, repeat) answered concurrently, then graded.

Two phases, each with its own progress count: first the answers (so a pairwise
assertion has both targets' answers to hand), then the verdicts.  Every call goes
through one semaphore (the suite's ``concurrency``) and counts against the cost cap;
once the cap is spent, calls not yet started become ERRORs, never FAILs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lockgate.evals.answer import Answer, ChatClient, EvalCallError
from lockgate.evals.checks import DETERMINISTIC, check
from lockgate.evals.estimate import (
    DEFAULT_ANSWER_TOKENS,
    JUDGE_PROMPT_OVERHEAD,
    JUDGE_REPLY_TOKENS,
    CostEstimate,
    PriceLookup,
    price_call,
)
from lockgate.evals.judge import JudgeError, judge_pairwise, judge_rubric, rubric_criteria
from lockgate.evals.similarity import TextEmbedder, cosine
from lockgate.evals.store import ResultCache, content_key
from lockgate.evals.suite import (
    AssertionSpec,
    Case,
    LoadedSuite,
    SuiteError,
    Target,
    parse_prompt_ref,
)
from lockgate.evals.templates import render_messages, render_value
from lockgate.evals.verdict import CaseResult, Status, Verdict, case_status

__all__ = ["CostCapError", "ProgressSink", "RunOptions", "RunResult", "SuiteRunner"]

DEFAULT_THRESHOLDS = {"similar": 0.8, "rubric": 0.7, "pairwise": 0.5}


class CostCapError(Exception):
    """The estimate of a run is above its cost cap: nothing was started."""


class ProgressSink(Protocol):
    def start(self, phase: str, total: int) -> None: ...

    def advance(self) -> None: ...


class _NoProgress:
    def start(self, phase: str, total: int) -> None:
        return None

    def advance(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class RunOptions:
    repeat: int = 1
    #: overrides the suite's
    concurrency: int | None = None
    cost_cap_usd: float | None = None
    #: run only these targets (names), in this order
    targets: tuple[str, ...] | None = None
    #: identifies the gateway (URL or config hash) in cache keys
    namespace: str = ""


@dataclass(slots=True)
class RunResult:
    targets: list[str]
    results: list[CaseResult]
    estimate: CostEstimate
    cost_usd: float = 0.0
    cache_hits: int = 0
    stopped_by_cap: bool = False
    elapsed_s: float = 0.0
    repeat: int = 1

    def for_target(self, name: str) -> list[CaseResult]:
        return [r for r in self.results if r.target == name]


@dataclass(slots=True)
class _Item:
    target: Target
    case: Case
    repeat: int
    result: CaseResult
    messages: list[dict[str, Any]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    model: str | None = None


class SuiteRunner:
    def __init__(
        self,
        suite: LoadedSuite,
        client: ChatClient,
        *,
        options: RunOptions | None = None,
        cache: ResultCache | None = None,
        prices: PriceLookup | None = None,
        embedder: Callable[[], TextEmbedder] | None = None,
        progress: ProgressSink | None = None,
    ) -> None:
        self.suite = suite
        self.client = client
        self.options = options or RunOptions()
        self.cache = cache or ResultCache(None)
        self.prices = prices
        self._embedder_factory = embedder
        self._embedder: TextEmbedder | None = None
        self._embed_lock = asyncio.Lock()
        self.progress: ProgressSink = progress or _NoProgress()
        opts = self.options
        self.cap = opts.cost_cap_usd if opts.cost_cap_usd is not None else suite.cost_cap_usd
        self._sem = asyncio.Semaphore(opts.concurrency or suite.concurrency)
        self.spent = 0.0
        self.stopped_by_cap = False
        self._answers: dict[tuple[str, str, int], Answer] = {}
        #: repeats measure variation, so they skip the gateway's response cache
        self._fresh = opts.repeat > 1

    # -- the plan ---------------------------------------------------------------------

    def _targets(self) -> list[Target]:
        names = self.options.targets
        if names is None:
            return list(self.suite.targets)
        return [self.suite.target(n) for n in names]

    async def _resolve(self, item: _Item) -> None:
        """Fill the item's messages (template or registry prompt), model and parameters."""
        t, c = item.target, item.case
        prompt = t.prompt if t.prompt is not None else c.prompt
        item.params = {**c.params, **t.params}
        item.model = t.model
        try:
            if isinstance(prompt, str):
                ref = parse_prompt_ref(prompt)
                rendered = await self.client.render_prompt(ref.name, ref.label, ref.version, c.vars)
                item.messages = rendered.messages
                item.params = {**rendered.params, **item.params}
                item.model = t.model or rendered.model
                if item.model is None:
                    raise SuiteError(f"prompt {prompt} names no model; give the target one")
            else:
                item.messages = render_messages(prompt or [], c.vars)
        except (SuiteError, EvalCallError) as exc:
            item.result.error = f"prompt: {exc}"
            item.messages = None
        if item.messages is not None:
            item.result.messages = item.messages

    def _answer_key(self, item: _Item) -> str:
        return content_key(
            "answer",
            self.options.namespace,
            item.model,
            item.messages,
            item.params,
            item.repeat,
        )

    def estimate(self, items: list[_Item]) -> CostEstimate:
        est = CostEstimate()
        for item in items:
            if item.messages is None or item.model is None:
                continue
            answer_tokens = int(item.params.get("max_tokens") or DEFAULT_ANSWER_TOKENS)
            if self._answer_key(item) in self.cache:
                est.cached += 1
            else:
                est.add(
                    price_call(self.prices, item.model, item.messages, answer_tokens),
                    item.model,
                )
            for a in item.case.asserts:
                if a.type not in ("rubric", "pairwise"):
                    continue
                judge = a.judge or self.suite.judge or ""
                calls = 2 if a.type == "pairwise" else 1
                for _ in range(calls):
                    usd = price_call(
                        self.prices,
                        judge,
                        item.messages,
                        JUDGE_REPLY_TOKENS,
                        extra_prompt_tokens=JUDGE_PROMPT_OVERHEAD + answer_tokens * calls,
                    )
                    est.add(usd, judge, judge=True)
        return est

    # -- calls ------------------------------------------------------------------------

    def _charge(self, usd: float) -> None:
        self.spent += usd

    def _over_cap(self) -> bool:
        if self.cap is not None and self.spent >= self.cap:
            self.stopped_by_cap = True
            return True
        return False

    async def _answer(self, item: _Item) -> None:
        try:
            if item.messages is None or item.model is None:
                return
            key = self._answer_key(item)
            hit = self.cache.get(key)
            if hit is not None:
                item.result.answer = Answer.from_json({**hit, "cached": True})
                return
            async with self._sem:
                if self._over_cap():
                    item.result.error = f"cost cap ${self.cap} reached; not run"
                    return
                try:
                    answer = await self.client.chat(
                        item.model, item.messages, item.params, fresh=self._fresh
                    )
                except EvalCallError as exc:
                    item.result.error = str(exc)
                    return
            self._charge(answer.cost_usd)
            item.result.answer = answer
            self.cache.put(key, answer.to_json())
        finally:
            self.progress.advance()

    # -- grading ----------------------------------------------------------------------

    async def _embed(self, texts: list[str]) -> Any:
        async with self._embed_lock:
            if self._embedder is None:
                if self._embedder_factory is None:
                    raise JudgeError("no embedder configured for 'similar'")
                self._embedder = await asyncio.to_thread(self._embedder_factory)
        return await self._embedder.embed(texts)

    async def _judged(self, key: str, call: Callable[[], Any]) -> Any:
        """A cached verdict, or ``call()`` under the semaphore and the cost cap."""
        hit = self.cache.get(key)
        if hit is not None:
            return hit, 0.0
        async with self._sem:
            if self._over_cap():
                raise JudgeError(f"cost cap ${self.cap} reached; judge not asked")
            value, cost = await call()
        self._charge(cost)
        self.cache.put(key, value)
        return value, cost

    async def _similar(
        self, answer: Answer, spec: AssertionSpec, value: Any, threshold: float
    ) -> Verdict:
        if not isinstance(value, str):
            return Verdict("similar", "error", "similar needs a reference text as value")
        key = content_key("similar", value, answer.text)

        async def call() -> tuple[float, float]:
            vecs = await self._embed([answer.text, value])
            return cosine(vecs[0], vecs[1]), 0.0

        sim, _ = await self._judged(key, call)
        passed = sim >= threshold
        return Verdict(
            "similar",
            "pass" if passed else "fail",
            f"cosine {sim:.3f} (threshold {threshold})",
            score=max(0.0, min(1.0, sim)),
        )

    async def _rubric(
        self, item: _Item, spec: AssertionSpec, value: Any, threshold: float
    ) -> Verdict:
        judge = spec.judge or self.suite.judge
        assert judge is not None and item.messages is not None and item.result.answer is not None
        rubric = rubric_criteria(value)
        text = item.result.answer.text
        messages = item.messages
        key = content_key(
            "rubric", self.options.namespace, judge, messages, text, rubric, item.repeat
        )

        async def call() -> tuple[dict[str, Any], float]:
            r = await judge_rubric(self.client, judge, messages, text, rubric, fresh=self._fresh)
            return {"score": r.score, "reason": r.reason}, r.cost_usd

        data, cost = await self._judged(key, call)
        score = float(data["score"])
        status: Status = "pass" if score >= threshold else "fail"
        return Verdict(
            "rubric",
            status,
            f"{score:.2f} (threshold {threshold}): {data['reason']}",
            score=score,
            cost_usd=cost,
        )

    async def _pairwise(self, item: _Item, spec: AssertionSpec, threshold: float) -> Verdict:
        judge = spec.judge or self.suite.judge
        assert judge is not None and item.messages is not None and item.result.answer is not None
        opponent = str(spec.value) if spec.value else self.suite.targets[0].name
        if opponent == item.target.name:
            return Verdict("pairwise", "pass", "reference target of the comparison")
        other = self._answers.get((opponent, item.case.id, item.repeat))
        if other is None:
            return Verdict("pairwise", "error", f"no answer from {opponent!r} to compare with")
        question = "\n".join(
            str(m.get("content") or "") for m in item.messages if m.get("role") != "assistant"
        )
        x, y = item.result.answer.text, other.text
        key = content_key("pairwise", self.options.namespace, judge, question, x, y, item.repeat)

        async def call() -> tuple[dict[str, Any], float]:
            out = await judge_pairwise(self.client, judge, question, x, y, fresh=self._fresh)
            return {
                "score": out.score,
                "winner": out.winner,
                "forward": out.forward,
                "backward": out.backward,
                "reason": out.reason,
            }, out.cost_usd

        data, cost = await self._judged(key, call)
        score = float(data["score"])
        label = {"x": "wins", "y": "loses", "tie": "ties"}[data["winner"]]
        orders = f"{data['forward']}/{data['backward']}"
        reason = f"{label} against {opponent} (orders {orders}): {data['reason']}"
        return Verdict(
            "pairwise", "pass" if score >= threshold else "fail", reason, score=score, cost_usd=cost
        )

    async def _verdict(self, item: _Item, spec: AssertionSpec) -> Verdict:
        answer = item.result.answer
        assert answer is not None
        try:
            value = render_value(spec.value, item.case.vars)
        except SuiteError as exc:
            return Verdict(spec.type, "error", str(exc))
        threshold = (
            spec.threshold if spec.threshold is not None else DEFAULT_THRESHOLDS.get(spec.type, 0.0)
        )
        try:
            if spec.type in DETERMINISTIC:
                return check(spec.type, answer, value)
            if spec.type == "similar":
                return await self._similar(answer, spec, value, threshold)
            if spec.type == "rubric":
                return await self._rubric(item, spec, value, threshold)
            return await self._pairwise(item, spec, threshold)
        except JudgeError as exc:
            return Verdict(spec.type, "error", str(exc))

    async def _grade(self, item: _Item) -> None:
        try:
            r = item.result
            if r.answer is not None and r.error is None:
                r.verdicts = list(
                    await asyncio.gather(*(self._verdict(item, a) for a in item.case.asserts))
                )
            r.status = case_status(r.verdicts, r.error)
        finally:
            self.progress.advance()

    # -- the run ----------------------------------------------------------------------

    def plan(self) -> list[_Item]:
        return [
            _Item(t, c, r, CaseResult(case_id=c.id, target=t.name, repeat=r, status="error"))
            for t in self._targets()
            for c in self.suite.cases
            for r in range(self.options.repeat)
        ]

    async def prepare(self) -> tuple[list[_Item], CostEstimate]:
        """Resolve every prompt and estimate the cost; raises CostCapError above the cap."""
        items = self.plan()
        await asyncio.gather(*(self._resolve(i) for i in items))
        est = self.estimate(items)
        if self.cap is not None and est.usd > self.cap:
            raise CostCapError(f"estimated cost ${est.usd:.4f} is above the cap ${self.cap:.4f}")
        return items, est

    async def execute(self, items: list[_Item], est: CostEstimate) -> RunResult:
        started = time.perf_counter()
        self.progress.start("answers", len(items))
        await asyncio.gather(*(self._answer(i) for i in items))
        for i in items:
            if i.result.answer is not None:
                self._answers[(i.target.name, i.case.id, i.repeat)] = i.result.answer
        self.progress.start("verdicts", len(items))
        await asyncio.gather(*(self._grade(i) for i in items))
        await asyncio.to_thread(self.cache.save)
        return RunResult(
            targets=[t.name for t in self._targets()],
            results=[i.result for i in items],
            estimate=est,
            cost_usd=self.spent,
            cache_hits=self.cache.hits,
            stopped_by_cap=self.stopped_by_cap,
            elapsed_s=time.perf_counter() - started,
            repeat=self.options.repeat,
        )

    async def run(self) -> RunResult:
        items, est = await self.prepare()
        return await self.execute(items, est)
