"""Run lockgate evaluation suites inside a project's own pytest suite.

As a helper::

    from lockgate.testing import run_suite

    def test_support_bot():
        report = run_suite("evals/support.yaml", config="lockgate.yaml")
        report.assert_passed(min_pass_rate=0.95)

As a plugin (``pytest_plugins = ["lockgate.testing"]`` in ``conftest.py``): every file named
``*.suite.yaml`` becomes one test per target and case, run through the gateway of
``--lockgate-config`` (in-process) or ``--lockgate-url``; a FAIL is a test failure and an
ERROR (judge or upstream trouble) is a test error.  The ``lockgate_eval`` fixture is
``run_suite`` with those options filled in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["SuiteError", "SuiteReport", "arun_suite", "run_suite"]


class SuiteError(Exception):
    """A case of a collected suite errored (judge or upstream trouble, bad template)."""


@dataclass(slots=True)
class SuiteReport:
    run: Any  # lockgate.evals.runner.RunResult
    summaries: list[Any] = field(default_factory=list)

    @property
    def failures(self) -> list[Any]:
        return [r for r in self.run.results if r.status == "fail"]

    @property
    def errors(self) -> list[Any]:
        return [r for r in self.run.results if r.status == "error"]

    def assert_passed(self, min_pass_rate: float = 1.0) -> None:
        """AssertionError naming the failing cases unless every target passes often enough."""
        lines = []
        for r in self.errors:
            lines.append(f"ERROR {r.target}/{r.case_id}: {r.error or _why(r, 'error')}")
        for s in self.summaries:
            n = s.passed + s.failed
            if n and s.passed / n < min_pass_rate:
                lines.append(f"{s.target}: pass rate {s.passed}/{n} below {min_pass_rate:.0%}")
                lines.extend(
                    f"FAIL {r.target}/{r.case_id}: {_why(r, 'fail')}"
                    for r in self.failures
                    if r.target == s.target
                )
        if lines:
            raise AssertionError("lockgate suite did not pass:\n  " + "\n  ".join(lines))


def _why(result: Any, status: str) -> str:
    return "; ".join(f"{v.type}: {v.reason}" for v in result.verdicts if v.status == status)


async def arun_suite(
    suite: str | Path | dict[str, Any],
    *,
    config: str | Path | None = None,
    settings: Any = None,
    url: str | None = None,
    api_key: str | None = None,
    repeat: int = 1,
    cache_dir: str | Path | None = None,
) -> SuiteReport:
    """Run a suite (file or mapping) through the gateway; never raises for FAIL or ERROR."""
    from lockgate.evals.runner import RunOptions, SuiteRunner
    from lockgate.evals.session import connect
    from lockgate.evals.similarity import local_embedder
    from lockgate.evals.store import ResultCache
    from lockgate.evals.suite import load_suite, suite_from_mapping
    from lockgate.evals.summary import summarize
    from lockgate.settings import load_settings

    loaded = suite_from_mapping(suite) if isinstance(suite, dict) else load_suite(suite)
    if settings is None:
        settings = load_settings(str(config) if config is not None else None)
    path = str(config) if config is not None else None
    async with connect(settings, path, url, api_key) as conn:
        runner = SuiteRunner(
            loaded,
            conn.client,
            options=RunOptions(repeat=repeat, namespace=conn.namespace),
            cache=ResultCache(cache_dir),
            prices=conn.prices,
            embedder=local_embedder,
        )
        run = await runner.run()
    return SuiteReport(run, summarize(run))


def run_suite(suite: str | Path | dict[str, Any], **kwargs: Any) -> SuiteReport:
    """``arun_suite`` for synchronous tests."""
    return asyncio.run(arun_suite(suite, **kwargs))


# -- the pytest plugin -------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lockgate")
    group.addoption(
        "--lockgate-config", default=None, help="Gateway config for *.suite.yaml files."
    )
    group.addoption(
        "--lockgate-url", default=None, help="A running gateway for *.suite.yaml files."
    )


def _options(config: pytest.Config) -> dict[str, Any]:
    return {
        "config": config.getoption("--lockgate-config"),
        "url": config.getoption("--lockgate-url"),
    }


@pytest.fixture()
def lockgate_eval(request: pytest.FixtureRequest) -> Callable[..., SuiteReport]:
    """``run_suite`` with ``--lockgate-config`` / ``--lockgate-url`` as defaults."""
    defaults = _options(request.config)

    def run(suite: str | Path | dict[str, Any], **kwargs: Any) -> SuiteReport:
        return run_suite(suite, **{**defaults, **kwargs})

    return run


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.name.endswith(".suite.yaml"):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


class SuiteFile(pytest.File):
    """A ``*.suite.yaml`` file: one item per target and case, run together on first use."""

    _report: SuiteReport | None = None

    def collect(self) -> Iterator[pytest.Item]:
        from lockgate.evals.suite import load_suite

        suite = load_suite(self.path)
        for target in suite.targets:
            for case in suite.cases:
                yield SuiteCase.from_parent(
                    self, name=f"{target.name}::{case.id}", target=target.name, case_id=case.id
                )

    def report(self) -> SuiteReport:
        if self._report is None:
            self._report = run_suite(self.path, **_options(self.config))
        return self._report


class SuiteCase(pytest.Item):
    def __init__(self, *, target: str, case_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.case_id = case_id

    def _rows(self) -> list[Any]:
        parent = self.parent
        assert isinstance(parent, SuiteFile)
        results = parent.report().run.results
        return [r for r in results if r.target == self.target and r.case_id == self.case_id]

    def setup(self) -> None:
        # An ERROR (judge or upstream trouble) says nothing about the answer: report it as
        # a test error, raised in setup, never as a failure.
        for r in self._rows():
            if r.status == "error":
                raise SuiteError(r.error or _why(r, "error"))

    def runtest(self) -> None:
        failed = [r for r in self._rows() if r.status == "fail"]
        if failed:
            raise AssertionError(_why(failed[0], "fail"))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return f"{self.target} / {self.case_id}: {excinfo.value}"

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"lockgate suite: {self.name}"
