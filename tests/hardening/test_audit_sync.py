"""Finding 6: ``audit: {durability: sync}`` releases an answer only once its record is
committed, so a SIGKILL loses no answered request's record; verify notices a cut tail."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from tests.audit.conftest import audit_rows, settings_for
from tests.conftest import free_port
from tests.hardening.conftest import MOCK
from tests.support import MASTER, bearer

from lockgate.audit.repository import AuditRepository
from lockgate.storage.database import Database

HI = [{"role": "user", "content": "hi"}]
PATH = "/v1/chat/completions"
#: writes are never due on their own during a test: only sync durability writes at once
IDLE_WRITER = {"flush_interval_seconds": 600, "batch_size": 10_000}


async def test_sync_answers_only_after_the_record_is_committed(tmp_path, open_gateway):
    """A plain answer, a stream and a 400 each find their record already in the database."""
    url = f"sqlite+aiosqlite:///{tmp_path}/sync.db"
    settings = settings_for(url, MOCK, audit={"durability": "sync", **IDLE_WRITER})
    async with open_gateway(settings) as client:
        plain = await client.post(PATH, json={"model": "mock", "messages": HI}, headers=bearer())
        assert plain.status_code == 200
        assert len(await audit_rows(url)) == 1
        async with client.stream(
            "POST", PATH, json={"model": "mock", "messages": HI, "stream": True}, headers=bearer()
        ) as streamed:
            lines = [line async for line in streamed.aiter_lines() if line]
        assert lines[-1] == "data: [DONE]"
        assert len(await audit_rows(url)) == 2
        bad = await client.post(PATH, json={"model": "mock"}, headers=bearer())
        assert bad.status_code == 400
        ids = [row["request_id"] for row in await audit_rows(url)]
    assert ids == [r.headers["x-request-id"] for r in (plain, streamed, bad)]


async def test_async_durability_still_writes_in_the_background(tmp_path, open_gateway):
    """The default (async) does not wait: the record lands when the writer flushes."""
    url = f"sqlite+aiosqlite:///{tmp_path}/async.db"
    async with open_gateway(settings_for(url, MOCK, audit=IDLE_WRITER)) as client:
        r = await client.post(PATH, json={"model": "mock", "messages": HI}, headers=bearer())
        assert r.status_code == 200 and await audit_rows(url) == []
    assert len(await audit_rows(url)) == 1


def test_sigkill_loses_no_answered_request(tmp_path: Path):
    """Kill -9 a gateway under load: every request answered 200 has its audit record, and
    the chain still verifies (its head kept beside it matches)."""
    url = f"sqlite+aiosqlite:///{tmp_path}/kill.db"
    config = {
        "model_list": MOCK,
        "general_settings": {"master_key": MASTER, "database_url": url},
        "audit": {"durability": "sync", **IDLE_WRITER},
    }
    path = tmp_path / "kill.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "-c", str(path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.1)

        answered: list[str] = []

        async def load() -> None:
            enough = asyncio.Event()
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:

                async def one() -> None:
                    try:
                        r = await client.post(
                            PATH, json={"model": "mock", "messages": HI}, headers=bearer()
                        )
                    except httpx.HTTPError:
                        return
                    if r.status_code == 200:
                        answered.append(r.headers["x-request-id"])
                        if len(answered) >= 150:
                            enough.set()

                async def worker() -> None:
                    for _ in range(40):
                        await one()
                        if proc.poll() is not None:
                            return

                async def killer() -> None:
                    await enough.wait()
                    proc.send_signal(signal.SIGKILL)

                await asyncio.wait_for(
                    asyncio.gather(killer(), *(worker() for _ in range(16))), 120
                )

        asyncio.run(load())
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=20)
    assert proc.returncode == -signal.SIGKILL
    assert len(answered) >= 150
    stored = {row["request_id"] for row in asyncio.run(audit_rows(url))}
    missing = set(answered) - stored
    assert not missing, f"{len(missing)} of {len(answered)} answered requests have no record"

    async def verify() -> bool:
        db = Database(url)
        try:
            return (await AuditRepository(db).verify()).ok
        finally:
            await db.aclose()

    assert asyncio.run(verify())
