"""lockgate.testing: suites inside a project's own pytest run (helper, fixture, collector)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lockgate.settings import Settings
from lockgate.testing import arun_suite

CONFIG = {
    "model_list": [{"model_name": "mock", "params": {"model": "mock/mock-1"}}],
    "general_settings": {"database_url": "sqlite+aiosqlite:///./gw.db"},
}


def _suite(expected: str) -> dict[str, object]:
    return {
        "targets": ["mock"],
        "cases": [
            {
                "id": "hello",
                "prompt": [{"role": "user", "content": "hello"}],
                "assert": [{"type": "contains", "value": "You said: hello"}],
            },
            {
                "id": "city",
                "vars": {"c": "Oslo"},
                "prompt": [{"role": "user", "content": "{{ c }}"}],
                "assert": [{"type": "contains", "value": expected}],
            },
        ],
    }


async def test_helper_reports_and_asserts(settings: Settings) -> None:
    """arun_suite returns a report whose assert_passed names the failing case."""
    ok = await arun_suite(_suite("Oslo"), settings=settings)
    ok.assert_passed()
    bad = await arun_suite(_suite("Bergen"), settings=settings)
    assert [r.case_id for r in bad.failures] == ["city"]
    with pytest.raises(AssertionError, match="FAIL mock/city: contains: missing"):
        bad.assert_passed()
    bad.assert_passed(min_pass_rate=0.5)


def test_plugin_collects_suite_files(tmp_path: Path) -> None:
    """*.suite.yaml files become one pytest item per target and case; a FAIL fails the run."""
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    (tmp_path / "lockgate.yaml").write_text(yaml.safe_dump(CONFIG))
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["lockgate.testing"]\n')
    (tmp_path / "bot.suite.yaml").write_text(yaml.safe_dump(_suite("Bergen")))
    (tmp_path / "test_fixture.py").write_text(
        "def test_fixture(lockgate_eval):\n"
        "    lockgate_eval('bot.suite.yaml').assert_passed(min_pass_rate=0.5)\n"
    )
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-rA",
        "--lockgate-config",
        "lockgate.yaml",
        "-W",
        "error",
    ]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "PASSED bot.suite.yaml::mock::hello" in out.stdout
    assert "FAILED bot.suite.yaml::mock::city" in out.stdout
    assert "PASSED test_fixture.py::test_fixture" in out.stdout
    assert "contains: missing ['Bergen']" in out.stdout
