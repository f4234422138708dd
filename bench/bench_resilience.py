"""Cost per request of the resilience cores (µs), on the hot path of every call.

Run: PYTHONPATH=src .venv/bin/python bench/bench_resilience.py [--n 100000]

Measures, per request: choosing a deployment and recording the outcome (with and
without breakers), the retry-plan set-up every request pays, and (off the hot path)
classifying a failed upstream answer.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from lockgate.resilience import (
    Balancer,
    Candidate,
    CircuitBreaker,
    Deadline,
    RetryBudget,
    RetryPlan,
    RetryPolicy,
    Timeouts,
    classify_upstream_failure,
)


def per_call_us(fn: Callable[[int], None], n: int) -> float:
    """Best of three runs of ``n`` calls, in microseconds per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter_ns()
        fn(n)
        best = min(best, (time.perf_counter_ns() - start) / n / 1000.0)
    return best


def bench_choose_record(strategy: str, deployments: int, breakers: bool, n: int) -> float:
    cands = [
        Candidate(f"d{i}", float(i + 1), CircuitBreaker(f"d{i}") if breakers else None)
        for i in range(deployments)
    ]
    bal = Balancer(strategy, rng=random.Random(0))  # type: ignore[arg-type]

    def run(count: int) -> None:
        now = 0.0
        for _ in range(count):
            now += 0.001
            lease = bal.acquire(cands, now=now)
            assert lease is not None
            lease.succeeded(now + 0.2)

    return per_call_us(run, n)


def bench_plan(n: int) -> float:
    policy = RetryPolicy()
    budget = RetryBudget()
    timeouts = Timeouts()
    rng = random.Random(0)

    def run(count: int) -> None:
        now = 0.0
        for _ in range(count):
            now += 0.001
            deadline = Deadline.for_request(now, default_s=600.0, header_value=None)
            plan = RetryPlan(
                "gpt", policy=policy, deadline=deadline, rng=rng, now=now, budget=budget
            )
            plan.begin_attempt("d0")
            timeouts.for_attempt(deadline, now)

    return per_call_us(run, n)


def bench_classify(n: int) -> float:
    body = (
        b'{"error": {"message": "This model\'s maximum context length is 8192 tokens.",'
        b' "type": "invalid_request_error", "param": "messages",'
        b' "code": "context_length_exceeded"}}'
    )
    headers = {"content-type": "application/json", "retry-after": "3"}

    def run(count: int) -> None:
        for _ in range(count):
            classify_upstream_failure(400, headers, body, "openai", now=0.0)

    return per_call_us(run, n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    n: int = args.n
    print(f"{'case':58} {'µs/request':>10}")
    for strategy in ("weighted_random", "least_inflight", "latency"):
        for breakers in (False, True):
            for deployments in (1, 3, 8):
                label = f"acquire+succeeded {strategy} x{deployments}" + (
                    " +breakers" if breakers else ""
                )
                us = bench_choose_record(strategy, deployments, breakers, n)
                print(f"{label:58} {us:10.2f}")
    print(f"{'deadline+plan+budget+begin_attempt+timeouts':58} {bench_plan(n):10.2f}")
    print(f"{'classify_upstream_failure (failure path only)':58} {bench_classify(n // 5):10.2f}")


if __name__ == "__main__":
    main()
