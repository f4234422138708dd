"""Every cyclic-GC collection of a live process, with wall-clock start and end.

For bench/p99_tail.sh (issue 18's c=8 tail): put this folder first on the path and name a
folder; each process (the gateway and its writer child) appends JSON lines
``{"gen", "start", "end", "cpu_ms", "collected"}`` (``time.monotonic()``, the clock of
``perf record -k mono``) to ``TAILPROBE_DIR/gc-PID.jsonl`` once a second:

    TAILPROBE_DIR=/tmp/x PYTHONPATH=bench/tailprobe .venv/bin/lockgate serve -c ...

``TAILPROBE_TH=a,b,c`` sets other thresholds after the lifespan's ``gc.freeze()`` (and the
app's own ``gc.set_threshold`` is then ignored), for A/B runs of one build.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import Any

_DIR = os.environ.get("TAILPROBE_DIR")


def _install(folder: str) -> None:
    done: list[str] = []
    started = [0.0, 0.0]
    path = os.path.join(folder, f"gc-{os.getpid()}.jsonl")
    thresholds = os.environ.get("TAILPROBE_TH")
    freeze, set_threshold = gc.freeze, gc.set_threshold

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0], started[1] = time.monotonic(), time.thread_time()
        else:
            cpu_ms = (time.thread_time() - started[1]) * 1e3
            done.append(
                f'{{"gen":{info["generation"]},"start":{started[0]:.6f},"end":{time.monotonic():.6f},'
                f'"cpu_ms":{cpu_ms:.3f},"collected":{info["collected"]}}}'
            )

    def frozen() -> None:
        freeze()
        if thresholds:
            a, b, c = (int(x) for x in thresholds.split(","))
            set_threshold(a, b, c)
            gc.set_threshold = lambda *_: None

    def dump() -> None:
        while True:
            time.sleep(1.0)
            if done:
                lines = done[:]
                del done[: len(lines)]
                with open(path, "a") as f:
                    f.write("\n".join(lines) + "\n")

    gc.callbacks.append(on_gc)
    gc.freeze = frozen
    threading.Thread(target=dump, name="tailprobe", daemon=True).start()


if _DIR:
    _install(_DIR)
