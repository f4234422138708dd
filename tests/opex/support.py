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
