"""A batch line whose lease lapses between two attempts (the first failed with a
retryable 503) is not sent again by the dispatcher's retry: the journal's check before
each attempt stops it, and the line is handed back to the runner as ``LeaseLost`` (the
fake OpenAI upstream answers; the gateway's services run in-process on a temp SQLite
file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.e2e.conftest import model_list
from tests.fakes import Fault, ThreadedFake
from tests.support import MASTER

from lockgate.batches.execute import execute_line
from lockgate.batches.journal import LeaseLost
from lockgate.batches.store import Claimed
from lockgate.services import build_services
from lockgate.settings import Settings, settings_from_mapping


def _settings(tmp_path: Path, fake: ThreadedFake) -> Settings:
    """Two retries on the fake, batches on, services on a temp SQLite file."""
    return settings_from_mapping(
        {
            "model_list": model_list(fake),
            "general_settings": {
                "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
                "master_key": MASTER,
            },
            "router_settings": {"num_retries": 2, "retry_backoff_base": 0.01},
            "batches": {"storage_dir": str(tmp_path / "files")},
        },
        env={},
    )


def _held_once(checks: list[bool]) -> Callable[[], bool]:
    """The runner's answer: held for the first attempt only (each answer kept)."""

    def holds() -> bool:
        checks.append(len(checks) == 0)
        return checks[-1]

    return holds


async def test_a_retry_is_not_sent_once_the_lines_lease_may_have_lapsed(
    tmp_path: Path, fake: ThreadedFake
) -> None:
    settings = _settings(tmp_path, fake)
    fake.push_fault(Fault.error(503, retry_after=0))
    checks: list[bool] = []
    holds = _held_once(checks)

    svc = await build_services(settings)
    try:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        line = Claimed("batch_t", 1, "c1", body, 1, None, "/v1/chat/completions")
        with pytest.raises(LeaseLost):
            await execute_line(svc, line, holds)
        assert checks == [True, False]  # asked before each attempt
        assert len(fake.requests_to("/v1/chat/completions")) == 1  # the retry never left
        assert svc.batches is not None
        assert svc.batches.journal.answer("batch_t", 1) is None
        # the same line, still held: its retry goes out and it is answered
        fake.push_fault(Fault.error(503, retry_after=0))
        ok = await execute_line(svc, line, lambda: True)
        assert ok.status == 200, ok.body
        assert len(fake.requests_to("/v1/chat/completions")) == 3
    finally:
        await svc.aclose()


async def test_an_embeddings_line_is_not_sent_again_once_its_lease_may_have_lapsed(
    tmp_path: Path, fake: ThreadedFake
) -> None:
    """The same check for a ``/v1/embeddings`` line (micro-batched path included)."""
    settings = _settings(tmp_path, fake)
    fake.push_fault(Fault.error(503, retry_after=0, path="/v1/embeddings"))
    checks: list[bool] = []
    holds = _held_once(checks)

    svc = await build_services(settings)
    try:
        body = {"model": "gpt-4o-mini", "input": "hello"}
        line = Claimed("batch_e", 1, "e1", body, 1, None, "/v1/embeddings")
        with pytest.raises(LeaseLost):
            await execute_line(svc, line, holds)
        assert checks == [True, False]  # asked before each attempt
        assert len(fake.requests_to("/v1/embeddings")) == 1  # the retry never left
        # still held: its retry goes out and it is answered
        fake.push_fault(Fault.error(503, retry_after=0, path="/v1/embeddings"))
        ok = await execute_line(svc, line, lambda: True)
        assert ok.status == 200, ok.body
        assert ok.body["data"] and len(fake.requests_to("/v1/embeddings")) == 3
    finally:
        await svc.aclose()
