"""A long input is screened for prompt injection off the event loop.

The injection screen costs ~0.6 us a character; at the default ``max_input_chars``
(400,000) that is ~0.24 s of CPU a request. On the event loop, one caller sending such
requests stalled every other tenant's requests by as much (measured: another key's
``GET /v1/models`` waited up to 0.22 s, was 0.02). The measure here is where the CPU
went, not how long anything took: the event loop's own thread must not be the one that
spent the screening time (/proc's per-thread CPU counters, read around the requests).
"""

from __future__ import annotations

import os
import random
import resource
import threading
from pathlib import Path

import httpx
from tests.e2e.conftest import GatewayFactory, model_list
from tests.fakes import ThreadedFake
from tests.support import bearer

_TICK = os.sysconf("SC_CLK_TCK")


def _thread_cpu(tid: int) -> float:
    """CPU seconds (user + system) of thread ``tid`` of this process."""
    stat = Path(f"/proc/self/task/{tid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def test_the_injection_screen_of_a_long_input_runs_off_the_loop(
    fake: ThreadedFake, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(model_list(fake))
    assert gw.loop is not None
    found: list[int] = []
    ready = threading.Event()

    def note() -> None:
        found.append(threading.get_native_id())
        ready.set()

    gw.loop.call_soon_threadsafe(note)
    assert ready.wait(30)
    loop_tid = found[0]
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "note", "report", "the", "system", "plan"]
    text = " ".join(f"{rng.choice(words)}{rng.randint(0, 99_999)}" for _ in range(60_000))
    text = text[:390_000]
    with httpx.Client(base_url=gw.v1, headers=bearer(), timeout=120) as client:
        warm = {"model": "gpt-4o-mini", "max_tokens": 5}
        client.post(
            "/chat/completions", json={**warm, "messages": [{"role": "user", "content": "hi"}]}
        )
        loop_before, all_before = _thread_cpu(loop_tid), _process_cpu()
        for i in range(6):
            r = client.post(
                "/chat/completions",
                json={**warm, "messages": [{"role": "user", "content": f"{i} {text}"}]},
            )
            assert r.status_code == 200, r.text
        loop_spent = _thread_cpu(loop_tid) - loop_before
        all_spent = _process_cpu() - all_before
    # screening is most of the work: on the loop it was ~90% of the process's CPU
    assert all_spent > 0.2, all_spent  # the screens ran (6 x ~0.1 s here)
    assert loop_spent < 0.5 * all_spent, (loop_spent, all_spent)
