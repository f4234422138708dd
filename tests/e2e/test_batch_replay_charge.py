"""A batch line answered before a crash and replayed from the answer journal is not
charged again: its key's limits and usage rows count it once (the fake OpenAI upstream
answers; the gateway's services run in-process on a temp SQLite file)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import sqlalchemy as sa
from tests.e2e.conftest import model_list
from tests.fakes import ThreadedFake
from tests.support import MASTER

from lockgate.batches.execute import execute_line
from lockgate.batches.store import Claimed
from lockgate.services import build_services
from lockgate.settings import settings_from_mapping
from lockgate.usage.sinks import find_usage_writer
from lockgate.usage.tables import usage_records


async def test_a_replayed_line_whose_usage_row_exists_is_not_charged_again(
    tmp_path: Path, fake: ThreadedFake
) -> None:
    """The key allows 1 request a minute. The line runs (1 upstream call, 1 usage row),
    then runs again as after a crash (attempt 2): it is answered from the journal, not
    refused by the limit it already paid, and no second usage row is written."""
    settings = settings_from_mapping(
        {
            "model_list": model_list(fake),
            "general_settings": {
                "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
                "master_key": MASTER,
            },
            "batches": {"storage_dir": str(tmp_path / "files")},
        },
        env={},
    )
    svc = await build_services(settings)
    try:
        _, key = await svc.keys.create("batch-key", limits={"requests": "1/minute"})
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        line = Claimed("batch_t", 1, "c1", body, 1, key.id, "/v1/chat/completions")
        first = await execute_line(svc, line)
        assert first.status == 200 and not first.replayed
        writer = find_usage_writer(svc.sinks)
        assert writer is not None
        await writer.flush()
        calls = len(fake.requests_to("/v1/chat/completions"))
        again = await execute_line(svc, dataclasses.replace(line, attempts=2))
        assert again.status == 200, again.body
        assert again.replayed and again.body == first.body
        assert len(fake.requests_to("/v1/chat/completions")) == calls  # nothing re-sent
        await writer.flush()
        async with svc.db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(usage_records)
                    .where(usage_records.c.key_id == key.id)
                )
            ).scalar_one()
        assert rows == 1
    finally:
        await svc.aclose()
