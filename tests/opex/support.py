"""Run the ``lockgate`` command as a subprocess, in a directory of the test's choosing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LOCKGATE = [sys.executable, "-m", "lockgate"]


def cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``lockgate ARGS`` in ``cwd`` with a clean lockgate environment plus ``env``.

    XDG_DATA_HOME points into ``cwd`` so the embedded default database never lands in
    the real home directory; LOCKGATE_* and provider keys of the outer environment are
    dropped so a test sees only what it sets.
    """
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LOCKGATE_", "OPENAI_", "ANTHROPIC_"))
    }
    base["XDG_DATA_HOME"] = str(cwd / "xdg")
    base.update(env or {})
    return subprocess.run(
        [*LOCKGATE, *args], cwd=cwd, env=base, capture_output=True, text=True, timeout=timeout
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def mock_config(tmp: Path) -> Path:
    """A config with one mock model on a SQLite file in ``tmp`` (no drain on stop)."""
    return write(
        tmp / "lockgate.yaml",
        "model_list:\n  - model_name: mock\n    params: {model: mock/mock-1}\n"
        f"general_settings: {{database_url: 'sqlite:///{tmp / 'gw.db'}'}}\n"
        "server: {drain_seconds: 0}\n",
    )


def run_probe(
    setup: str, record: str, out: Path, config: Path, port: int, *extra: str, log: Path
) -> subprocess.Popen[bytes]:
    """``lockgate serve -c CONFIG --port PORT EXTRA`` entered as ``python -m lockgate``
    does, after the code ``setup``; at exit the expression ``record`` is written as JSON
    to ``out`` (``sys``, ``json`` and ``out`` are in scope).  Output goes to ``log``."""
    program = (
        "import atexit, json, sys\nout = sys.argv[1]\n"
        f"{setup}\n"
        f"atexit.register(lambda: open(out, 'w').write(json.dumps({record})))\n"
        "sys.argv = ['lockgate', 'serve', '-c', sys.argv[2], '--port', sys.argv[3],"
        " *sys.argv[4:]]\n"
        "import runpy\nrunpy.run_module('lockgate', run_name='__main__')\n"
    )
    argv = [sys.executable, "-c", program, str(out), str(config), str(port), *extra]
    with log.open("ab") as output:
        return subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)


def ask_mock(port: int) -> int:
    """The status of one chat request for the mock model on ``port``."""
    import httpx

    r = httpx.post(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        json={"model": "mock", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    return r.status_code
