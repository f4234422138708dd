"""Cost of the prompt stage for a cached template, and label propagation across replicas.

    .venv/bin/python bench/bench_prompts.py render [--n 20000]
    .venv/bin/python bench/bench_prompts.py propagation [--replicas 3] [--moves 20]

``render``: a realistic template (system + few-shot + user turn, 3 variables, a JSON
Schema) resolved by label through the registry and rendered, as the stage does per
request (no database: the version is compiled and the label known).  Reports the
median and P99 of per-call timings over ``--n`` calls, and the mean of a tight loop.

``propagation``: ``--replicas`` gateways (in-process apps, one SQLite file, the default
1 s poll) ; the label is moved through replica 0's admin API and the others are asked
to render every 10 ms until they serve the new version.  Reports the time each took.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from lockgate.app import create_app
from lockgate.auth.keys import Principal
from lockgate.chat import parse_chat_request
from lockgate.context import RequestContext
from lockgate.prompts.registry import PromptRegistry
from lockgate.prompts.spec import parse_spec
from lockgate.prompts.stage import PromptStage
from lockgate.prompts.template import PromptVersion, compile_version
from lockgate.settings import settings_from_mapping

MASTER = "sk-bench-master-0001"
SPEC: dict[str, Any] = {
    "name": "support",
    "model": "mock",
    "params": {"temperature": 0.2, "max_tokens": 300},
    "messages": [
        {
            "role": "system",
            "content": "You are the support assistant of {{ company }}. Answer in {{ language }}."
            " Be brief, polite and precise. Never promise refunds; link the policy instead."
            "{% if tier == 'gold' %} The customer is a gold member.{% endif %}",
        },
        {"role": "user", "content": "Where is my parcel?"},
        {"role": "assistant", "content": "Could you give me the order number?"},
        {"role": "user", "content": "{{ question }}"},
    ],
    "variables": {
        "type": "object",
        "properties": {
            "company": {"type": "string"},
            "language": {"type": "string"},
            "question": {"type": "string", "maxLength": 4000},
            "tier": {"enum": ["basic", "gold"]},
        },
        "required": ["company", "language", "question"],
    },
}
VARS = {"company": "ACME", "language": "English", "question": "It is order 1234.", "tier": "gold"}


async def bench_render(n: int) -> None:
    spec = parse_spec(SPEC)
    version = PromptVersion("support", 1, spec.content())
    registry = PromptRegistry(None, None)  # type: ignore[arg-type]  (no database needed)
    registry._compiled[("support", 1)] = compile_version(version)
    registry.labels[("support", "production")] = 1
    stage = PromptStage(registry)
    ctx = RequestContext(request_id="req_1", principal=Principal(kind="master"), api="openai")
    body = {
        "prompt": {"name": "support", "label": "production", "variables": VARS},
        "messages": [{"role": "user", "content": "thanks"}],
    }
    chat = parse_chat_request(body)
    compiled = registry._compiled[("support", 1)]
    for name, call in (
        ("render only (check + Jinja)", lambda: compiled.render(VARS)),
        ("stage.apply (resolve + render + rebuild request)", None),
    ):
        samples = []
        if call is not None:
            for _ in range(n):
                t = time.perf_counter_ns()
                call()
                samples.append(time.perf_counter_ns() - t)
        else:
            for _ in range(n):
                ctx.headers.clear()
                t = time.perf_counter_ns()
                await stage.apply(ctx, chat)
                samples.append(time.perf_counter_ns() - t)
        # The machine is shared: a block's mean shows the cost without others' bursts.
        blocks = [statistics.fmean(samples[i : i + 1000]) for i in range(0, n, 1000)]
        samples.sort()
        print(
            f"{name}: median {samples[n // 2] / 1000:.1f} µs,"
            f" P99 {samples[int(n * 0.99)] / 1000:.1f} µs,"
            f" mean {statistics.fmean(samples) / 1000:.1f} µs,"
            f" best 1000-call block mean {min(blocks) / 1000:.1f} µs (n={n})"
        )


async def bench_propagation(replicas: int, moves: int, poll: float) -> None:
    folder = tempfile.mkdtemp(prefix="lockgate-prop-")
    settings = settings_from_mapping(
        {
            "model_list": [{"model_name": "mock", "params": {"model": "mock/mock-1"}}],
            "general_settings": {
                "master_key": MASTER,
                "database_url": f"sqlite+aiosqlite:///{folder}/gw.db",
            },
            "prompts": {"poll_interval_seconds": poll},
        },
        env={},
    )
    headers = {"authorization": f"Bearer {MASTER}"}
    managers = [LifespanManager(create_app(settings)) for _ in range(replicas)]
    for m in managers:
        await m.__aenter__()
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(m.app), base_url="http://gw", headers=headers
        )
        for m in managers
    ]
    try:
        await clients[0].post("/admin/prompts", json={**SPEC, "labels": ["production"]})
        await clients[0].post("/admin/prompts", json={**SPEC, "params": {"temperature": 0.9}})
        lags: list[float] = []
        for i in range(moves):
            target = 2 if i % 2 == 0 else 1
            await asyncio.sleep(0.37)  # de-phase the move from the replicas' poll
            start = time.perf_counter()
            r = await clients[0].post(
                "/admin/prompts/support/labels", json={"label": "production", "version": target}
            )
            r.raise_for_status()

            async def wait(
                client: httpx.AsyncClient, target: int = target, start: float = start
            ) -> float:
                while True:
                    got = await client.post("/v1/prompts/support/render", json={"variables": VARS})
                    if got.json()["version"] == target:
                        return time.perf_counter() - start
                    await asyncio.sleep(0.01)

            lags.extend(await asyncio.gather(*(wait(c) for c in clients[1:])))
        lags.sort()
        print(
            f"label propagation to {replicas - 1} other replicas, {moves} moves, poll {poll}s:"
            f" median {statistics.median(lags):.3f} s, P95 {lags[int(len(lags) * 0.95)]:.3f} s,"
            f" max {lags[-1]:.3f} s (n={len(lags)})"
        )
    finally:
        for c in clients:
            await c.aclose()
        for m in managers:
            await m.__aexit__(None, None, None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["render", "propagation"])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--moves", type=int, default=20)
    ap.add_argument("--poll", type=float, default=1.0)
    args = ap.parse_args()
    if args.what == "render":
        asyncio.run(bench_render(args.n))
    else:
        asyncio.run(bench_propagation(args.replicas, args.moves, args.poll))


if __name__ == "__main__":
    main()
