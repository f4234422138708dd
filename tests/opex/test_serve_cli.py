"""``lockgate serve`` starts without typer (lockgate.serve_cli) for a plain command line,
and any other line still gets the typer app's parsing, help and complaints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lockgate.cli import app
from lockgate.serve_cli import parse_serve

DEFAULTS = {"config": None, "host": None, "port": None, "workers": 1}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["serve"], {}),
        (["serve", "-c", "a.yaml"], {"config": "a.yaml"}),
        (["serve", "--config=a.yaml", "--port", "4000"], {"config": "a.yaml", "port": 4000}),
        (["serve", "--host", "0.0.0.0", "--workers=2"], {"host": "0.0.0.0", "workers": 2}),
        (["serve", "--port", "1", "--port", "2"], {"port": 2}),  # the last one, as click
    ],
)
def test_a_plain_serve_line_is_parsed_here(args: list[str], expected: dict[str, object]) -> None:
    assert parse_serve(args) == {**DEFAULTS, **expected}


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["keys", "list"],
        ["serve", "--help"],
        ["serve", "--port", "abc"],
        ["serve", "--port"],
        ["serve", "--port", "-1"],
        ["serve", "-ca.yaml"],
        ["serve", "-c=a.yaml"],
        ["serve", "--reload"],
        ["serve", "extra"],
        ["serve", "--host", "--port"],
        ["--version"],
    ],
)
def test_anything_else_goes_to_the_typer_app(args: list[str]) -> None:
    assert parse_serve(args) is None


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    probe = (
        "import runpy, sys\n"
        "try:\n"
        "    runpy.run_module('lockgate', run_name='__main__')\n"
        "finally:\n"
        "    sys.stderr.write('typer loaded: %s\\n' % ('typer' in sys.modules))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_a_config_error_reads_and_exits_as_through_typer(tmp_path: Path) -> None:
    """The same message and exit code either way; the plain line never loads typer."""
    missing = str(tmp_path / "missing.yaml")
    plain = run_module("serve", "-c", missing, cwd=tmp_path)
    typed = CliRunner().invoke(app, ["serve", "-c", missing])
    assert plain.returncode == typed.exit_code == 2
    assert plain.stderr.splitlines()[0] == typed.output.splitlines()[0]
    assert plain.stderr.splitlines()[0].startswith(f"error: cannot read config file {missing}")
    assert plain.stderr.splitlines()[-1] == "typer loaded: False"


def test_a_bad_option_still_gets_typers_complaint(tmp_path: Path) -> None:
    bad = run_module("serve", "--port", "abc", cwd=tmp_path)
    assert bad.returncode == 2
    assert "Invalid value for '--port'" in bad.stderr
    assert bad.stderr.splitlines()[-1] == "typer loaded: True"
    helped = run_module("serve", "--help", cwd=tmp_path)
    assert helped.returncode == 0
    assert "Start the gateway." in helped.stdout and "--workers" in helped.stdout
