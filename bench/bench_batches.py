"""Batch throughput and crash safety against a fake OpenAI upstream on 127.0.0.1.

1. direct: N chat requests straight to the fake at concurrency C (aiohttp);
2. via gateway: the same N requests sent interactively through the gateway process;
   batch: the same N lines as one batch through that gateway with batches.concurrency C,
   timed from create to completed (--upstream-ms: every fake answer takes that long);
3. kills: the same batch with the gateway SIGKILLed twice mid-run and restarted;
   counts output lines, distinct lines seen upstream and lines sent twice.
4. --handoff: the batch handed to the fake's OpenAI Batches API (batches.handoff: auto),
   the gateway SIGKILLed during the create call (the remote batch exists, its id never
   came back) and again while the remote batch runs; counts what the provider received.

    PYTHONPATH=. .venv/bin/python bench/bench_batches.py --lines 10000 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import httpx
import yaml
from tests.conftest import free_port
from tests.fakes import Fault, start_in_thread

MASTER = "sk-bench-master-0001"
#: two-sided 95% Student t quantiles for 1..10 degrees of freedom
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def lines(n: int) -> bytes:
    rows = (
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": f"line {i}"}]},
        }
        for i in range(n)
    )
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


async def direct(base: str, n: int, c: int, model: str = "gpt-4o-mini", key: str = "") -> float:
    sem = asyncio.Semaphore(c)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with aiohttp.ClientSession(headers=headers) as s:

        async def one(i: int) -> None:
            async with sem:
                body = {"model": model, "messages": [{"role": "user", "content": f"d{i}"}]}
                async with s.post(base + "/chat/completions", json=body) as r:
                    await r.read()
                    assert r.status == 200, r.status

        t = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - t


def client_process(base: str, n: int, c: int, model: str = "gpt-4o-mini", key: str = "") -> float:
    """``direct`` in a process of its own: the clients do not share the fake's GIL (the
    fake runs in a thread of this process), as the gateway does not."""
    out = subprocess.run(
        [sys.executable, __file__, "--client", base, str(n), str(c), model, key],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    return float(out.stdout.split()[-1])


def serve(config: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "-c", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("gateway did not start")


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU seconds a process (all its threads), or one thread of it
    (``tid``; the pid is the event loop's thread), has used so far."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_batch(
    fake,
    n: int,
    c: int,
    kills: int,
    tmp: Path,
    upstream_ms: float = 0,
    after_crash: str = "resend",
    profile: str = "",
    batch_first: bool = False,
) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """One gateway process: the batch, and (without kills) the same requests sent by
    ``c`` interactive clients before it, or after it with ``batch_first``."""
    fake.reset()
    slow(fake, upstream_ms)
    tmp.mkdir(parents=True, exist_ok=True)
    db = tmp / f"gw{kills}.db"
    config = tmp / f"gw{kills}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "m",
                        "params": {
                            "model": "openai/gpt-4o-mini",
                            "api_base": fake.openai_base_url,
                            "api_key": "k",
                        },
                    }
                ],
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{db}",
                },
                "batches": {
                    "concurrency": c,
                    "lease_seconds": 3,
                    "poll_seconds": 0.05,
                    "after_crash": after_crash,
                },
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = serve(config, port)
    h = {"authorization": f"Bearer {MASTER}"}
    through = through_cpu = 0.0

    def interactive() -> None:  # the same requests sent interactively through this gateway
        nonlocal through, through_cpu
        fake.reset()
        slow(fake, upstream_ms)
        cpu0 = cpu_seconds(proc.pid)
        through = client_process(url + "/v1", n, c, "m", MASTER)
        through_cpu = cpu_seconds(proc.pid) - cpu0
        fake.reset()
        slow(fake, upstream_ms)

    try:
        wait_up(url)
        if not kills and not batch_first:
            interactive()
        f = httpx.post(
            url + "/v1/files",
            headers=h,
            files={"file": ("in.jsonl", lines(n))},
            data={"purpose": "batch"},
            timeout=120,
        ).json()
        t = time.perf_counter()
        cpu0 = cpu_seconds(proc.pid)
        loop0 = cpu_seconds(proc.pid, proc.pid)
        b = httpx.post(
            url + "/v1/batches",
            headers=h,
            json={
                "input_file_id": f["id"],
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            },
            timeout=120,
        ).json()
        spy_cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(proc.pid)]
        spy_cmd += ["--format", "raw", "-o", profile, "--rate", "250", "--nonblocking", "--gil"]
        spy = (
            subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if profile
            else None
        )
        for k in range(kills):
            target = n * (k + 1) // (kills + 2)
            while fake.counts["/v1/chat/completions"] < target:
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = serve(config, port)
            wait_up(url)
        # The gateway is asked only once every line has reached the fake (asking every
        # 50 ms meanwhile would bill the gateway for counting 10,000 rows 20 times a second);
        # after kills a line may never reach it (after_crash fail: failed before it left)
        while fake.counts["/v1/chat/completions"] < n and not kills:
            time.sleep(0.01)
        while True:
            st = httpx.get(url + f"/v1/batches/{b['id']}", headers=h, timeout=30).json()
            if st["status"] in ("completed", "failed", "cancelled", "expired"):
                break
            time.sleep(0.2 if kills else 0.02)
        elapsed = time.perf_counter() - t
        batch_cpu = cpu_seconds(proc.pid) - cpu0
        loop_cpu = cpu_seconds(proc.pid, proc.pid) - loop0
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        out = httpx.get(
            url + f"/v1/files/{st['output_file_id']}/content", headers=h, timeout=120
        ).text.splitlines()
        sent = Counter(
            r.body["messages"][0]["content"] for r in fake.requests_to("/v1/chat/completions")
        )
        replays = fake.replays["/v1/chat/completions"]
        executions = list(fake.executions.values())
        aborted = sum(1 for e in fake.cancel_events if e.path == "/v1/chat/completions")
        if not kills and batch_first:
            interactive()
    finally:
        proc.terminate()
        proc.wait()
    ids = Counter(json.loads(x)["custom_id"] for x in out)
    return {
        "seconds": elapsed,
        "interactive_seconds": through,
        # CPU seconds the gateway process used (all threads) per 1,000 lines / requests
        "gateway_cpu_ms_per_line": 1000 * batch_cpu / n,
        # of which the event loop's thread (the rest: database and log writer threads)
        "gateway_loop_cpu_ms_per_line": 1000 * loop_cpu / n,
        "gateway_cpu_ms_per_interactive": 1000 * through_cpu / n,
        "output_lines": len(out),
        "distinct_output": len(ids),
        "upstream_requests": sum(sent.values()),
        "distinct_upstream": len(sent),
        "sent_twice": sum(v - 1 for v in sent.values()),
        # answered by the fake from the line's Idempotency-Key instead of run again
        "replayed_by_key": replays,
        # answers the fake built per line key: a request the kill abandoned before its
        # answer was built is counted in aborted_by_kill instead
        "executed_upstream": sum(executions),
        "executed_twice": sum(v - 1 for v in executions),
        "aborted_by_kill": aborted,
        "resent_reported": st["lockgate"]["resent_requests"],
        "failed_interrupted": st["request_counts"]["failed"],
        # lines failed as interrupted that never reached the fake (inside the gateway's
        # pipeline at the kill: after_crash fail cannot tell them from lines upstream)
        "interrupted_never_sent": n - len(sent),
    }


def run_handoff(fake, n: int, tmp: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    fake.reset()
    fake.batches.create_delay = 30.0  # the create call's answer never arrives
    fake.batches.polls_to_end = 40
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "handoff.yaml"
    batches = {"handoff": "auto", "handoff_poll_seconds": 0.1, "lease_seconds": 2}
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "m",
                        "params": {
                            "model": "openai/gpt-4o-mini",
                            "api_base": fake.openai_base_url,
                            "api_key": "k",
                        },
                    }
                ],
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{tmp / 'handoff.db'}",
                },
                "batches": {**batches, "poll_seconds": 0.05},
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    h = {"authorization": f"Bearer {MASTER}"}
    proc = serve(config, port)
    try:
        wait_up(url)
        f = httpx.post(
            url + "/v1/files",
            headers=h,
            files={"file": ("in.jsonl", lines(n))},
            data={"purpose": "batch"},
            timeout=120,
        ).json()
        t = time.perf_counter()
        b = httpx.post(
            url + "/v1/batches",
            headers=h,
            json={
                "input_file_id": f["id"],
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            },
            timeout=120,
        ).json()
        while not fake.batches.batches_created:  # kill 1: inside the create call
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        fake.batches.create_delay = 0.0
        proc = serve(config, port)
        wait_up(url)
        remote = fake.batches.batches[fake.batches.batches_created[0]]
        while remote.polls < 5:  # kill 2: while the remote batch runs
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = serve(config, port)
        wait_up(url)
        while True:
            st = httpx.get(url + f"/v1/batches/{b['id']}", headers=h, timeout=30).json()
            if st["status"] in ("completed", "failed", "cancelled", "expired"):
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - t
        out = httpx.get(
            url + f"/v1/files/{st['output_file_id']}/content", headers=h, timeout=120
        ).text.splitlines()
    finally:
        proc.terminate()
        proc.wait()
    ids = Counter(json.loads(x)["custom_id"] for x in out)
    got = fake.batches.lines_received
    return {
        "seconds": elapsed,
        "status": st["status"],
        "output_lines": len(out),
        "distinct_output": len(ids),
        "files_uploaded": len(fake.batches.files_uploaded),
        "remote_batches_created": len(fake.batches.batches_created),
        "lines_received_upstream": sum(got.values()),
        "distinct_lines_upstream": len(got),
        "duplicates_upstream": sum(v - 1 for v in got.values()),
        "interactive_requests_upstream": len(fake.requests_to("/v1/chat/completions")),
    }


def timed_direct(fake, n: int, c: int, ms: float) -> float:  # type: ignore[no-untyped-def]
    fake.reset()
    slow(fake, ms)
    d = client_process(fake.openai_base_url, n, c)
    fake.reset()
    return d


def slow(fake, upstream_ms: float) -> None:  # type: ignore[no-untyped-def]
    """Every chat answer takes ``upstream_ms`` (an LLM is never instant)."""
    if upstream_ms > 0:
        fake.push_fault(
            Fault.slow_headers(upstream_ms / 1000, path="/v1/chat/completions"), times=None
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=1, help="runs of direct vs batch")
    ap.add_argument("--only-kills", action="store_true", help="only the SIGKILL run")
    ap.add_argument("--no-kills", action="store_true", help="skip the SIGKILL run")
    ap.add_argument(
        "--upstream-ms", default="0", help="the fake's answer time (ms; a comma list: each)"
    )
    ap.add_argument("--handoff", action="store_true", help="only the hand-off + 2 kills run")
    ap.add_argument("--profile", default="", help="py-spy raw profile of the gateway's batch")
    ap.add_argument(
        "--after-crash", default="resend", choices=["resend", "fail"], help="batches.after_crash"
    )
    args = ap.parse_args()
    n, c = args.lines, args.concurrency
    latencies = [float(x) for x in args.upstream_ms.split(",")]
    with start_in_thread() as fake, tempfile.TemporaryDirectory() as tmp:
        if args.handoff:
            print(f"hand-off+2 kills: {run_handoff(fake, n, Path(tmp))}")
            return
        table: dict[float, dict[str, list[float]]] = {}
        for rep in range(0 if args.only_kills else args.repeat):
            for ms in latencies:
                # odd repeats run the other way round (batch, via gateway, direct):
                # drift in the machine's load does not favour one side
                first = rep % 2 == 1
                d = 0.0 if first else timed_direct(fake, n, c, ms)
                r = run_batch(
                    fake,
                    n,
                    c,
                    0,
                    Path(tmp) / f"{rep}-{ms}",
                    ms,
                    profile=args.profile,
                    batch_first=first,
                )
                if first:
                    d = timed_direct(fake, n, c, ms)
                g, b = r["interactive_seconds"], r["seconds"]
                print(
                    f"[{rep}] upstream {ms:g} ms, {n} requests at c={c}: direct {d:.2f} s"
                    f" ({n / d:.0f}/s); via gateway {g:.2f} s ({n / g:.0f}/s);"
                    f" batch {b:.2f} s ({n / b:.0f}/s); batch/direct {b / d:.3f},"
                    f" batch/via gateway {b / g:.3f}; gateway CPU ms per line"
                    f" {r['gateway_cpu_ms_per_line']:.3f} (batch)"
                    f" vs {r['gateway_cpu_ms_per_interactive']:.3f} (interactive);"
                    f" output {r['output_lines']}/{r['distinct_output']} distinct;"
                    f" load {os.getloadavg()[0]:.1f}"
                )
                row = table.setdefault(ms, {})
                for name, x in (
                    ("batch / direct time", b / d),
                    ("batch / via gateway time", b / g),
                    ("via gateway / direct time", g / d),
                    (
                        "batch / interactive gateway CPU per request",
                        r["gateway_cpu_ms_per_line"] / r["gateway_cpu_ms_per_interactive"],
                    ),
                ):
                    row.setdefault(name, []).append(x)
        for ms, row in table.items():
            for name, xs in row.items():
                if len(xs) > 1:
                    m, sd = statistics.mean(xs), statistics.stdev(xs)
                    half = _T95[min(len(xs) - 1, len(_T95)) - 1] * sd / len(xs) ** 0.5
                    print(
                        f"upstream {ms:g} ms: {name}: mean {m:.3f},"
                        f" 95% CI [{m - half:.3f}, {m + half:.3f}], n={len(xs)}"
                    )
        if not args.no_kills:
            r = run_batch(fake, n, c, 2, Path(tmp), latencies[0], args.after_crash)
            print(f"batch+2 kills (after_crash {args.after_crash}): {r}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if sys.argv[1:2] == ["--client"]:
        base, count, conc, model, key = sys.argv[2:7]
        print(asyncio.run(direct(base, int(count), int(conc), model, key)))
    else:
        main()
