"""Per-request CPU of each capability of the second wave, on top of every default.

    .venv/bin/python bench/bench_capabilities.py [--n 2000] [--pairs 5] [--only routing,...]

One in-process gateway (the ASGI app driven directly, mock provider, every default on:
guards, limits, cache, usage and audit records) serves, in alternating blocks of ``--n``
requests, a plain request (the baseline) and a request that uses one capability:

* ``prompt``: a registry prompt resolved by label and rendered (system + few-shot + user
  turn, 3 variables, a JSON Schema; bench_prompts.py's template);
* ``experiment``: the same prompt under a running 50/50 experiment (assignment by user,
  two versions);
* ``routing-fresh``: an alias routed by the two-model router (features, linear score,
  policy; the local MiniLM embedding of a prompt never seen before included);
  ``routing-repeat``: the same with 4 prompts over and over (embeddings memoised);
* ``verifier-miss``: an alias with the semantic cache and its learned verifier, fresh
  questions that miss (embedding, index search, the verifier on the candidates, the
  fill after the answer); ``verifier-hit``: 4 questions over and over (the verifier
  accepts, no upstream call). The semantic alias's requests by cache status are printed
  at the end, so "hit" and "miss" are what they say (a semantic miss shows as the exact
  cache's "bypass").

Each capability's cost is the paired difference of CPU per request against the
baseline block next to it: the mean of ``--pairs`` pairs with a 95% t interval.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from asgi_lifespan import LifespanManager

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import KEY, MESSAGE, one
from bench_prompts import SPEC, VARS

from lockgate.app import create_app
from lockgate.settings import settings_from_mapping

T95 = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36, 9: 2.31, 10: 2.26}
QUESTIONS = [
    "What is the capital of France?",
    "How do I reset my password if I no longer have access to my email?",
    "A train leaves at 3:15 pm at 62 km/h; a second at 4:05 pm at 81 km/h. When does it catch up?",
    "Write a haiku about the sea in winter.",
]


def config(folder: str) -> dict[str, Any]:
    mock = {"model": "mock/mock-1"}
    return {
        "model_list": [
            {"model_name": "mock", "params": mock},
            {"model_name": "mock-weak", "params": mock},
            {"model_name": "mock-semantic", "params": mock},
        ],
        "general_settings": {
            "master_key": KEY,
            "database_url": f"sqlite+aiosqlite:///{folder}/b.db",
        },
        "routing": {
            "aliases": {"mock-routed": {"strong": "mock", "weak": "mock-weak", "threshold": 0.5}}
        },
        "semantic_cache": {"aliases": {"mock-semantic": {}}},
    }


WORDS = [
    "river",
    "mountain",
    "ledger",
    "quantum",
    "violin",
    "harbor",
    "pepper",
    "galaxy",
    "tractor",
    "sonnet",
    "lantern",
    "glacier",
    "copper",
    "meadow",
    "falcon",
    "cipher",
    "orchard",
    "velvet",
    "canyon",
    "biscuit",
    "thunder",
    "marble",
    "compass",
    "saffron",
    "beacon",
    "walnut",
    "tundra",
    "puzzle",
    "anchor",
    "nebula",
    "kettle",
    "prairie",
    "whistle",
    "cobalt",
    "lagoon",
    "ember",
    "fossil",
    "juniper",
    "magnet",
    "oyster",
    "parcel",
    "quarry",
    "ribbon",
    "spindle",
]


def bodies() -> dict[str, list[bytes]]:
    rng = random.Random(7)

    def chat(model: str, content: str, **extra: Any) -> bytes:
        msg = {**MESSAGE, "model": model, "messages": [{"role": "user", "content": content}]}
        return orjson.dumps({**msg, **extra})

    prompt = {"name": "support", "label": "production", "variables": VARS}
    return {
        "baseline": [orjson.dumps(MESSAGE)],
        "prompt": [chat("mock", "thanks", prompt=prompt)],
        "experiment": [
            chat("mock", "thanks", prompt={**prompt, "label": "beta"}, user=f"user-{i}")
            for i in range(64)
        ],
        "routing-repeat": [chat("mock-routed", q) for q in QUESTIONS],
        "routing-fresh": [
            chat("mock-routed", " ".join(rng.sample(WORDS, 12))) for _ in range(20000)
        ],
        # distinct questions: every one misses (and is stored); then the same ones hit
        "verifier-miss": [
            chat("mock-semantic", " ".join(rng.sample(WORDS, 12))) for _ in range(20000)
        ],
        "verifier-hit": [chat("mock-semantic", q) for q in QUESTIONS],
    }


async def block(app: Any, state: dict[str, Any], items: list[bytes], n: int, start: int) -> float:
    """CPU seconds per request over ``n`` requests cycling through ``items``."""
    cpu = time.process_time()
    for i in range(n):
        body = items[(start + i) % len(items)]
        status = await one(app, {**state, "__body": body}, body)
        if status != 200:
            raise SystemExit(f"status {status} for {body[:120]!r}")
    return (time.process_time() - cpu) / n


async def setup(app: Any) -> None:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://gw",
        headers={"authorization": f"Bearer {KEY}"},
    )
    async with client:
        for path, body in setup_posts():
            (await client.post(path, json=body)).raise_for_status()


def setup_posts(model: str = "mock") -> list[tuple[str, dict[str, Any]]]:
    """The admin API calls that store the prompt (two versions, labels ``production`` and
    ``beta``) and a 50/50 experiment on ``beta`` by user."""
    spec = {**SPEC, "model": model}
    experiment = {
        "name": "tone",
        "prompt": "support",
        "label": "beta",
        "unit": "user",
        "variants": [
            {"name": "control", "weight": 50},
            {"name": "warm", "version": 2, "weight": 50},
        ],
    }
    return [
        ("/admin/prompts", {**spec, "labels": ["production", "beta"]}),
        ("/admin/prompts", {**spec, "params": {"temperature": 0.9}}),
        ("/admin/experiments", experiment),
    ]


async def run(n: int, pairs: int, only: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(settings_from_mapping(config(tmp), env={}))
        async with LifespanManager(app, startup_timeout=300, shutdown_timeout=120) as manager:
            state = dict(manager._state)
            await setup(manager.app)
            all_bodies = bodies()
            for name in ["baseline", *only]:  # warm every path (models load, caches fill)
                await block(app, state, all_bodies[name], 200, 0)
            offsets = dict.fromkeys(all_bodies, 0)
            for name in only:
                diffs, costs, bases = [], [], []
                for p in range(pairs):
                    order = ["baseline", name] if p % 2 == 0 else [name, "baseline"]
                    got = {}
                    for label in order:
                        items = all_bodies[label]
                        got[label] = await block(app, state, items, n, offsets[label])
                        offsets[label] += n
                    costs.append(got[name] * 1e6)
                    bases.append(got["baseline"] * 1e6)
                    diffs.append(costs[-1] - bases[-1])
                mean = statistics.fmean(diffs)
                half = T95.get(pairs, 2.0) * statistics.stdev(diffs) / pairs**0.5
                print(
                    f"{name:14s} {statistics.median(costs):7.1f} µs/req vs baseline"
                    f" {statistics.median(bases):6.1f}: +{mean:6.1f} µs"
                    f" (95% CI {mean - half:+.1f}..{mean + half:+.1f}, {pairs} pairs of"
                    f" {n} requests)",
                    flush=True,
                )
        await report_cache(manager.app)


async def report_cache(app: Any) -> None:
    """How the semantic alias's requests were served (so "hit" and "miss" are what they say)."""
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://gw",
        headers={"authorization": f"Bearer {KEY}"},
    )
    async with client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("lockgate_requests_total{") and "mock-semantic" in line:
            print(line)


def main() -> None:
    names = [
        "prompt",
        "experiment",
        "routing-repeat",
        "routing-fresh",
        "verifier-miss",
        "verifier-hit",
    ]
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--only", default=",".join(names))
    a = ap.parse_args()
    asyncio.run(run(a.n, a.pairs, [x for x in a.only.split(",") if x]))


if __name__ == "__main__":
    main()
