"""Cost of a routing decision: the linear score and the share policy (what the router adds
after the embedding), and the embedding of the prompt with the local MiniLM.

    .venv/bin/python bench/bench_routing.py
"""

from __future__ import annotations

import asyncio
import statistics
import time

from lockgate.cache.semantic.embedder import LocalEmbedder
from lockgate.routing.model import RouterModel
from lockgate.routing.policy import SharePolicy

PROMPTS = [
    "What is the capital of France?",
    "A train leaves at 3:15 pm travelling 62 km/h; a second leaves at 4:05 pm at 81 km/h. "
    "When does the second catch up with the first?",
    "Which of these is a noble gas?\nA. Oxygen\nB. Argon\nC. Nitrogen\nD. Carbon\nAnswer:",
]


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


async def main() -> None:
    model = RouterModel.load()
    policy = SharePolicy(prior=0.0, target_share=0.4, window=2000)
    emb = LocalEmbedder()
    vecs = await emb.embed(PROMPTS)
    decide: list[float] = []
    for i in range(20_000):
        t = time.perf_counter()
        policy.decide(model.score(vecs[i % 3], PROMPTS[i % 3]))
        decide.append((time.perf_counter() - t) * 1e6)
    embed: list[float] = []
    for i in range(200):
        t = time.perf_counter()
        await emb.embed([PROMPTS[i % 3] + f" #{i}"])
        embed.append((time.perf_counter() - t) * 1e3)
    print(
        f"score + policy: median {statistics.median(decide):.1f} µs,"
        f" P99 {pct(decide, 0.99):.1f} µs (n=20,000)"
    )
    print(
        f"embedding:      median {statistics.median(embed):.2f} ms,"
        f" P99 {pct(embed, 0.99):.2f} ms (n=200)"
    )
    print(f"weights: {model.coef.nbytes + model.prior_scores.nbytes} bytes in memory")


if __name__ == "__main__":
    asyncio.run(main())
