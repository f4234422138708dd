"""One contract for the usage repository, run against SQLite and a real PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy.exc
from tests.observability.records import DAY, DAY1, record

from lockgate.storage.database import Database
from lockgate.usage.reports import ReportQuery
from lockgate.usage.repository import FeedbackEntry, UsageRepository

_names = itertools.count()


async def _fresh_postgres(url: str) -> str:
    """A new empty database on the session's server (tests never share tables)."""
    name = f"usage_{next(_names)}"
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgres"])
async def repo(request, tmp_path: Path) -> AsyncIterator[UsageRepository]:
    """A migrated database of each backend, and its usage repository."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/usage.db"
    else:
        url = await _fresh_postgres(request.getfixturevalue("postgres_url"))
    db = Database(url)
    await db.migrate()
    try:
        yield UsageRepository(db)
    finally:
        await db.aclose()


def _key(row) -> tuple:
    return tuple(sorted(row.group.items(), key=lambda kv: kv[0]))


async def test_insert_and_get_roundtrip(repo):
    """A written record reads back field for field (the day derived in UTC)."""
    await repo.insert([record(1, user="u1", ttft_ms=12.5, stream=True, cached_tokens=3)])
    row = await repo.get("req_000001")
    assert row is not None
    assert row["day"] == "2026-01-01" and row["user"] == "u1" and row["stream"] is True
    assert row["ttft_ms"] == 12.5 and row["cached_tokens"] == 3 and row["attempts"] == 1
    assert await repo.get("req_missing") is None


async def test_duplicate_request_id_rejects_the_batch(repo):
    """Request ids are unique; a batch with a duplicate is not half-written."""
    await repo.insert([record(1)])
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        await repo.insert([record(2), record(1)])
    assert await repo.get("req_000002") is None


async def test_report_groups_and_sums(repo):
    """Totals per key and day add up to the rows inserted."""
    rows = [
        record(1, key_id="k1", key_name="one", prompt_tokens=10, completion_tokens=1, cost_usd=0.5),
        record(
            2, key_id="k1", key_name="one", prompt_tokens=20, completion_tokens=2, cost_usd=0.25
        ),
        record(3, key_id="k2", key_name="two", status=500, cost_usd=0.0, cache=None),
        record(4, key_id="k1", key_name="one", started_at=DAY1 + DAY + 5, cache="hit"),
    ]
    await repo.insert(rows)
    report = await repo.report(ReportQuery(group_by=("key", "day")))
    got = {(r.group["key_id"], r.group["day"]): r for r in report}
    assert set(got) == {("k1", "2026-01-01"), ("k2", "2026-01-01"), ("k1", "2026-01-02")}
    first = got[("k1", "2026-01-01")]
    assert (first.requests, first.prompt_tokens, first.completion_tokens) == (2, 30, 3)
    assert first.cost_usd == pytest.approx(0.75)
    assert first.group["key_name"] == "one"
    assert got[("k2", "2026-01-01")].errors == 1
    assert got[("k1", "2026-01-02")].cache_hits == 1
    assert sum(r.requests for r in report) == 4


async def test_report_filters_and_day_range(repo):
    """since is inclusive, until exclusive; filters narrow by key, team, user and model."""
    await repo.insert(
        [
            record(1, team="red", user="ann", model="a"),
            record(2, team="blue", user="bob", model="b", started_at=DAY1 + DAY),
            record(3, team="red", user="bob", model="b", started_at=DAY1 + 2 * DAY),
        ]
    )

    async def count(**kw) -> int:
        rows = await repo.report(ReportQuery(group_by=(), **kw))
        return sum(r.requests for r in rows)

    assert await count() == 3
    assert await count(since="2026-01-02") == 2
    assert await count(until="2026-01-02") == 1
    assert await count(since="2026-01-02", until="2026-01-03") == 1
    assert await count(team="red") == 2
    assert await count(user="bob") == 2
    assert await count(model="b", team="red") == 1
    assert await count(key_id="nobody") == 0


async def test_report_by_user_team_model_provider(repo):
    """Every dimension groups; missing values group as None."""
    await repo.insert(
        [record(1, user="ann", provider="openai"), record(2, user=None, provider="anthropic")]
    )
    for dim in ("user", "team", "model", "provider"):
        rows = await repo.report(ReportQuery(group_by=(dim,)))
        assert sum(r.requests for r in rows) == 2
    users = {r.group["user"] for r in await repo.report(ReportQuery(group_by=("user",)))}
    assert users == {"ann", None}


async def test_feedback_summary_per_model_and_prompt_version(repo):
    """Scores average, thumbs and task flags count, per (model, prompt_version)."""
    entries = [
        FeedbackEntry(
            "r1", 1.0, score=1.0, thumbs="up", task_completed=True, model="m", prompt_version="v1"
        ),
        FeedbackEntry(
            "r2",
            2.0,
            score=0.0,
            thumbs="down",
            task_completed=False,
            model="m",
            prompt_version="v1",
        ),
        FeedbackEntry("r3", 3.0, thumbs="up", model="m", prompt_version="v2"),
        FeedbackEntry("r4", 4.0, task_completed=True, model="n"),
    ]
    ids = [await repo.add_feedback(e) for e in entries]
    assert len(set(ids)) == 4
    got = {(s.model, s.prompt_version): s for s in await repo.feedback_summary()}
    v1 = got[("m", "v1")]
    assert (v1.count, v1.avg_score, v1.thumbs_up, v1.thumbs_down) == (2, 0.5, 1, 1)
    assert (v1.task_completed, v1.task_failed) == (1, 1)
    assert got[("m", "v2")].avg_score is None and got[("m", "v2")].thumbs_up == 1
    assert got[("n", None)].task_completed == 1
    assert [s.model for s in await repo.feedback_summary(model="n")] == ["n"]


async def test_rollups_follow_every_batch(repo):
    """Two batches into the same hourly bucket add up; the console reads the sums."""
    from lockgate.console.queries import by_model

    await repo.insert([record(1, ttft_ms=10.0), record(2, status=500), record(3, model="m2")])
    await repo.insert([record(4, ttft_ms=30.0, cost_usd=0.5), record(5, key_id="key_b")])
    rows = {r.model: r for r in await by_model(repo._engine, since_hour=0)}
    gpt = rows["gpt-4o-mini"]
    assert (gpt.requests, gpt.errors, gpt.prompt_tokens) == (4, 1, 40)
    assert gpt.avg_ttft_ms == 20.0 and abs(gpt.cost_usd - 0.503) < 1e-9
    assert rows["m2"].requests == 1
    only_b = await by_model(repo._engine, since_hour=0, key_id="key_b")
    assert [(r.model, r.requests) for r in only_b] == [("gpt-4o-mini", 1)]
    assert await by_model(repo._engine, since_hour=int(DAY1) + 7200) == []


def _random_records(seed: int, n: int = 300):
    import random

    rng = random.Random(seed)
    return [
        record(
            i,
            started_at=DAY1 + rng.uniform(0, 3 * DAY),
            key_id=rng.choice(["key_a", "key_b", None]),
            team=rng.choice(["red", "blue", None, ""]),
            user=rng.choice(["ann", "bob", None]),
            model=rng.choice(["m1", "m2"]),
            status=rng.choice([200, 200, 200, 429, 500]),
            cache=rng.choice(["hit", "semantic-hit", "miss", None]),
            prompt_tokens=rng.randint(1, 100),
            cost_usd=rng.random(),
            ttft_ms=rng.choice([None, rng.uniform(0.5, 50)]),
            latency_ms=rng.lognormvariate(5, 1.5),
            saved_usd=rng.choice([0.0, rng.random()]),
        )
        for i in range(n)
    ]


async def _assert_rollups_match_rows(engine, records) -> None:
    """Every console grouping read from the rollups equals a GROUP BY of usage_records."""
    import sqlalchemy as sa

    from lockgate.console.queries import usage_by
    from lockgate.usage.tables import usage_records

    r = usage_records.c
    columns = {"key": r.key_id, "team": r.team, "user": r.user, "model": r.model}
    async with engine.connect() as conn:
        for group, column in columns.items():
            truth = {
                row[0]: row[1:]
                for row in await conn.execute(
                    sa.select(
                        column,
                        sa.func.count(),
                        sa.func.sum(sa.case((r.status >= 400, 1), else_=0)),
                        sa.func.sum(sa.case((r.cache.in_(["hit", "semantic-hit"]), 1), else_=0)),
                        sa.func.sum(r.prompt_tokens),
                        sa.func.sum(r.cost_usd),
                        sa.func.sum(r.saved_usd),
                    )
                    .where(column.is_not(None), column != "")
                    .group_by(column)
                )
            }
            got = {
                u.label: (
                    u.requests,
                    u.errors,
                    u.cache_hits,
                    u.prompt_tokens,
                    u.cost_usd,
                    u.saved_usd,
                )
                for u in await usage_by(engine, group, 0)
            }
            assert got.keys() == truth.keys(), group
            for label, (n, errors, hits, tokens, cost, saved) in got.items():
                assert (n, errors, hits, tokens) == tuple(truth[label][:4]), (group, label)
                assert abs(cost - truth[label][4]) < 1e-9
                assert abs(saved - truth[label][5]) < 1e-9
    from lockgate.console.histogram import bucket_of
    from lockgate.console.rollups import usage_latency

    async with engine.connect() as conn:
        hist = {
            (metric, int(b)): int(n)
            for metric, b, n in await conn.execute(
                sa.select(
                    usage_latency.c.metric,
                    usage_latency.c.bucket,
                    sa.func.sum(usage_latency.c.count),
                ).group_by(usage_latency.c.metric, usage_latency.c.bucket)
            )
        }
    expected: dict[tuple[str, int], int] = {}
    for x in records:
        for metric, value in (("latency", x.latency_ms), ("ttft", x.ttft_ms)):
            if value is not None:
                key = (metric, bucket_of(value))
                expected[key] = expected.get(key, 0) + 1
    assert hist == expected
    by_day = await usage_by(engine, "day", 0)
    assert [int(d.label) for d in by_day] == [int(DAY1 + i * DAY) for i in range(3)]
    assert sum(d.requests for d in by_day) == len(records)
    one_key = await usage_by(engine, "day", 0, key_id="key_a")
    assert sum(d.requests for d in one_key) == sum(1 for x in records if x.key_id == "key_a")


async def test_rollups_equal_a_scan_of_the_raw_rows(repo):
    """Random traffic in uneven batches: every console grouping equals a GROUP BY of the rows."""
    records = _random_records(3)
    lo = 0
    for size in (1, 7, 50, 2, 240):
        await repo.insert(records[lo : lo + size])
        lo += size
    await _assert_rollups_match_rows(repo._engine, records)


async def test_migration_0017_folds_existing_rows_into_the_rollups(repo):
    """Down to 0014, rows written without rollups, up to head (0017 backfills, 0018 adds the
    savings column): rollups = rows."""
    from alembic import command

    from lockgate.storage.database import _alembic_config
    from lockgate.usage.repository import row_of
    from lockgate.usage.tables import usage_records

    def migrate(target: str):
        def run(conn) -> None:
            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            if target == "head":
                command.upgrade(cfg, target)
            else:
                command.downgrade(cfg, target)

        return run

    engine = repo._engine
    records = _random_records(5, n=200)
    async with engine.begin() as conn:
        await conn.run_sync(migrate("0014"))
        # rows as 0014 had them: no saved_usd yet (0018 adds it, 0 for old rows)
        rows = [{k: v for k, v in row_of(x).items() if k != "saved_usd"} for x in records]
        await conn.execute(usage_records.insert(), rows)
    async with engine.begin() as conn:
        await conn.run_sync(migrate("head"))
    await _assert_rollups_match_rows(engine, records)
