"""GC pauses of a live ``lockgate serve``, by generation (CPU time of each collection).

Put this folder first on the server's path and name an output file; the counts start
again at the lifespan's ``gc.freeze()`` (start-up collections left out) and are written
every 2 s as JSON:

    GCMON_OUT=/tmp/gc.json PYTHONPATH=bench/gcmon .venv/bin/lockgate serve -c ...

``GCMON_TH=700,10,10`` sets other thresholds right after the freeze (the same code with
CPython's defaults, for an A/B run of one build); the app's own
``gc.set_threshold`` calls are then ignored.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from typing import Any

_OUT = os.environ.get("GCMON_OUT")


def _install(out: str) -> None:
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]
    thresholds = os.environ.get("GCMON_TH")
    freeze, set_threshold = gc.freeze, gc.set_threshold

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.thread_time()
        else:
            pauses[info["generation"]].append(round((time.thread_time() - started[0]) * 1e3, 3))

    def frozen() -> None:
        freeze()
        if thresholds:
            a, b, c = (int(x) for x in thresholds.split(","))
            set_threshold(a, b, c)
            gc.set_threshold = lambda *_: None  # the app's own setting is left out
        for p in pauses.values():
            p.clear()

    def dump() -> None:
        while True:
            time.sleep(2)
            snapshot = {f"gen{g}": list(p) for g, p in pauses.items()}
            with open(out, "w") as f:
                json.dump({"threshold": gc.get_threshold(), **snapshot}, f)

    gc.callbacks.append(on_gc)
    gc.freeze = frozen
    threading.Thread(target=dump, name="gcmon", daemon=True).start()


if _OUT:
    _install(_OUT)
