"""Which imports make up `lockgate serve`'s resident memory, package by package.

Runs `lockgate serve` on embedded defaults (a fresh data dir) with a hook on
``importlib._bootstrap._find_and_load`` that reads ``/proc/self/statm`` around every
first import: a module's own RSS is the growth while it loaded minus its imports'.
After the first answered request the server is asked (SIGUSR1) for the table and ended.
Figures are page-granular and include what a module body allocates (pydantic schemas,
compiled regexes); the sum is below the idle RSS by the interpreter's base and runtime
state (tracemalloc shows the latter: the injection model, the event loop, caches).

    .venv/bin/python bench/import_rss.py --top 40
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _serve_hooked(out: str) -> None:
    """In the child: hook imports, then run `lockgate serve` (argv already set)."""
    import importlib._bootstrap as bootstrap

    original = bootstrap._find_and_load
    stack: list[int] = []
    own: dict[str, int] = {}

    def hooked(name: str, import_: object) -> object:
        if name in sys.modules:
            return original(name, import_)
        stack.append(0)
        before = _rss()
        try:
            return original(name, import_)
        finally:
            grown = _rss() - before
            own[name] = grown - stack.pop()
            if stack:
                stack[-1] += grown

    bootstrap._find_and_load = hooked  # type: ignore[assignment]

    def dump(*_: object) -> None:
        packages: Counter[str] = Counter()
        for name, size in own.items():
            packages[name.split(".")[0]] += size
        lockgate: Counter[str] = Counter()
        for name, size in own.items():
            if name.startswith("lockgate."):
                lockgate[".".join(name.split(".")[:2])] += size
        with open(out, "w") as f:
            f.write(f"RSS now {_rss() / 2**20:.1f} MiB, {len(own)} modules imported\n")
            f.write("\n## by top-level package (MiB)\n")
            for name, size in packages.most_common():
                f.write(f"{size / 2**20:7.2f}  {name}\n")
            f.write("\n## lockgate by subpackage (MiB)\n")
            for name, size in lockgate.most_common():
                f.write(f"{size / 2**20:7.2f}  {name}\n")
            f.write("\n## largest single modules, own growth (MiB)\n")
            for name, size in Counter(own).most_common(40):
                f.write(f"{size / 2**20:7.2f}  {name}\n")
        if os.environ.get("IMPORT_RSS_MODULES"):  # every loaded module, one a line
            with open(os.environ["IMPORT_RSS_MODULES"], "w") as f:
                f.write("\n".join(sorted(sys.modules)) + "\n")
        os._exit(0)

    signal.signal(signal.SIGUSR1, dump)
    from lockgate.cli import main

    main()


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        out = sys.argv[2]
        sys.argv = ["lockgate", *sys.argv[3:]]
        _serve_hooked(out)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LOCKGATE_", "OPENAI_", "ANTHROPIC_"))
            and k != "PYTHONDONTWRITEBYTECODE"
        }
        env.update(XDG_DATA_HOME=tmp, HOME=tmp)
        out = str(Path(tmp) / "rss.txt")
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", out, "serve", "--port", str(port)],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            body = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
            while True:
                try:
                    r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body)
                    if r.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not answer")
                time.sleep(0.05)
            time.sleep(2)
            proc.send_signal(signal.SIGUSR1)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        lines = Path(out).read_text().splitlines()
    shown, section = [], 0
    for line in lines:
        section = 0 if line.startswith("##") else section + 1
        if section <= args.top:
            shown.append(line)
    print("\n".join(shown))


if __name__ == "__main__":
    main()
