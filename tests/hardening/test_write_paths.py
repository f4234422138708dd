"""The writer's lean paths give what the record paths gave: usage rows, audit entries and
their chain from a record's values (no ``RequestRecord`` built in the writer), rollups summed
in Python equal to rollups grouped in SQL (SQLite and a real PostgreSQL), and the writer
process's plain binds store every value as the write thread's driver does.
"""

from __future__ import annotations

import dataclasses
import math
import random
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from tests.audit.conftest import make_record
from tests.hardening.conftest import backend_database, migrated

from lockgate.audit.chain import AuditChain, verify_chain
from lockgate.audit.crypto import BodyCipher
from lockgate.audit.entry import BODY_FIELDS, decrypt_body, entry_from_fields
from lockgate.audit.repository import AuditRepository
from lockgate.audit.writer import AuditWriter
from lockgate.console import rollups
from lockgate.records import FIELDS, RequestRecord, fields_of, pack, unpack, unpack_fields
from lockgate.storage import bulk
from lockgate.storage.database import Database
from lockgate.storage.dead_letter import DeadLetter
from lockgate.storage.text import bounded
from lockgate.usage.reports import day_of
from lockgate.usage.repository import UsageRepository, row_of, row_of_fields
from lockgate.usage.tables import usage_records
from lockgate.usage.writer import UsageWriter


def varied_records() -> list[RequestRecord]:
    """Records covering what the row builders branch on."""
    return [
        make_record(0),
        make_record(
            1,
            user="u\x00" + "x" * 300,
            key_name="k\nname",
            stream=True,
            ttft_ms=3.5,
            cache="semantic-hit",
            client_request_id="c" * 200,
            saved_usd=0.25,
            notes={
                "prompt_version": 7,
                "experiment": {"name": "exp", "variant": "b", "unit": "user"},
                "route": {"choice": "strong", "score": 0.8, "threshold": 0.5},
                "guards": {"injection": {"score": 0.9, "reasons": ["a", "b"]}},
            },
            request_headers={"host": "gw", "authorization": "[redacted]"},
            attempt_log=[{"deployment": "mock#0", "status": 500, "latency_ms": 1.0}],
        ),
        make_record(2, notes={"route": {"error": "timeout"}, 3: "int key", "odd": 1 + 2j}),
        make_record(3, notes={}, key_id=None, team="", user=None, status=429, cache=None),
        make_record(
            4,
            request_body={"messages": [{"role": "user", "content": "hi"}]},
            response_body={"choices": [{"message": {"content": "hello"}}]},
            notes={"experiment": {}, "route": {}},
        ),
        make_record(5, response_body="just text", error_type="upstream", error_code="500"),
    ]


# --- the record paths as they were written before the writer read values ---


def row_by_record(record: RequestRecord) -> dict[str, Any]:
    notes = record.notes or {}
    version = notes.get("prompt_version")
    arm = notes.get("experiment") or {}
    route = notes.get("route") or {}
    row: dict[str, Any] = {
        "request_id": record.request_id,
        "started_at": record.started_at,
        "day": day_of(record.started_at),
        "api": record.api,
        "key_id": record.key_id,
        "key_name": record.key_name,
        "team": record.team,
        "user": record.user,
        "model": record.model,
        "provider": record.provider,
        "deployment": record.deployment,
        "upstream_model": record.upstream_model,
        "status": record.status,
        "error_type": record.error_type,
        "error_code": record.error_code,
        "stream": record.stream,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cached_tokens": record.cached_tokens,
        "cost_usd": record.cost_usd,
        "saved_usd": record.saved_usd,
        "latency_ms": record.latency_ms,
        "overhead_ms": record.overhead_ms,
        "ttft_ms": record.ttft_ms,
        "attempts": record.attempts,
        "cache": record.cache,
        "prompt_version": str(version) if version is not None else None,
        "client_request_id": record.client_request_id,
        "experiment": arm.get("name"),
        "variant": arm.get("variant"),
        "unit": arm.get("unit"),
        "route": "error" if route.get("error") else route.get("choice"),
        "route_score": route.get("score"),
        "route_threshold": route.get("threshold"),
    }
    for column in usage_records.c:
        length = getattr(column.type, "length", None)
        value = row[column.name]
        if isinstance(value, str) and length is not None:
            row[column.name] = bounded(value, length)
    return row


def facts_by_record(record: RequestRecord) -> str:
    """The audit facts as orjson writes the record itself, bodies left out."""
    bare = dataclasses.replace(record, request_body=None, response_body=None)
    raw = orjson.dumps(bare, default=str, option=orjson.OPT_NON_STR_KEYS)
    tail = b',"request_body":null,"response_body":null}'
    assert raw.endswith(tail)
    return raw[: -len(tail)].decode() + "}"


def test_values_unpack_as_the_record_packs_them():
    records = varied_records()
    values = unpack_fields(pack(records))
    assert values == [fields_of(r) for r in records]
    assert [RequestRecord(*v) for v in values] == records == unpack(pack(records))
    assert tuple(f.name for f in dataclasses.fields(RequestRecord)) == FIELDS


@pytest.mark.parametrize(
    ("blob", "error"),
    [
        (b"", ValueError),  # a record that could not be pickled
        (pack([make_record(1)])[0][:-8], Exception),  # cut short
        (orjson.dumps(["not", "pickle"]), Exception),
        (__import__("pickle").dumps(("too", "short")), TypeError),
        (__import__("pickle").dumps(["a"] * len(FIELDS)), TypeError),  # a list, not the tuple
    ],
)
def test_values_of_a_bad_blob_are_refused(blob, error):
    """Refused as the records path refused them: the batch then goes row by row and the
    bad record to the dead-letter file."""
    with pytest.raises(error):
        unpack_fields([pack([make_record(0)])[0], blob])


def test_usage_rows_from_values_equal_rows_from_records():
    for record in varied_records():
        expected = row_by_record(record)
        assert row_of_fields(fields_of(record)) == expected
        assert row_of(record) == expected
    long_user = row_of(varied_records()[1])["user"]
    assert long_user == "u" + "x" * 199  # cleaned and bounded, as before


def test_audit_entries_from_values_equal_entries_from_records():
    cipher = BodyCipher(bytes(range(32)))
    for record in varied_records():
        plain = entry_from_fields(fields_of(record), created_at=1.5, cipher=None)
        assert plain == {
            "request_id": record.request_id,
            "created_at": 1.5,
            "key_id": record.key_id,
            "record": facts_by_record(record),
            "body_key_id": None,
            "request_body": None,
            "response_body": None,
        }
        sealed = entry_from_fields(fields_of(record), created_at=1.5, cipher=cipher)
        assert sealed["record"] == plain["record"]
        has_body = any(getattr(record, name) is not None for name in BODY_FIELDS)
        assert sealed["body_key_id"] == (cipher.key_id if has_body else None)
        for name in BODY_FIELDS:
            assert decrypt_body(cipher, sealed, name) == getattr(record, name)
    assert '"odd":"(1+2j)"' in facts_by_record(varied_records()[2])


def test_link_gives_the_rows_append_gives():
    entries = [
        entry_from_fields(fields_of(r), created_at=2.0, cipher=None) for r in varied_records()
    ]
    appended = AuditChain(next_seq=5, head="a" * 64)
    linked = AuditChain(next_seq=5, head="a" * 64)
    by_append = [appended.append(e) for e in entries]
    by_link = [linked.link(dict(e)) for e in entries]
    assert by_link == by_append
    assert (linked.head, linked.next_seq) == (appended.head, appended.next_seq)
    assert verify_chain(by_link, prev_hash="a" * 64, start_seq=5).ok
    # an entry carrying link fields already: they are replaced, as append does
    stale = {**entries[0], "seq": 99, "prev_hash": "b" * 64, "hash": "c" * 64}
    assert AuditChain().link(dict(stale)) == AuditChain().append(stale)


# --- rollups: summed in Python (the writer's) vs grouped in SQL (from the stored rows) ---


def random_rows(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    day1 = 1_767_225_600.0
    records = [
        make_record(
            i,
            request_id=f"r{seed}-{i}",
            started_at=day1 + rng.uniform(0, 3 * 86_400),
            key_id=rng.choice(["key_a", "key_b", None]),
            team=rng.choice(["red", "blue", None, ""]),
            user=rng.choice(["ann", "bob", None, ""]),
            model=rng.choice(["m1", "m2"]),
            status=rng.choice([200, 200, 400, 429, 500, 399]),
            cache=rng.choice(["hit", "semantic-hit", "miss", None]),
            prompt_tokens=rng.randint(0, 100),
            completion_tokens=rng.randint(0, 50),
            cached_tokens=rng.randint(0, 5),
            cost_usd=rng.random(),
            ttft_ms=rng.choice([None, rng.uniform(0.5, 50), 0.0, 1.5]),
            latency_ms=rng.choice([rng.lognormvariate(5, 1.5), 0.2, 1.5, 2.25, 1e9]),
            saved_usd=rng.choice([0.0, rng.random()]),
        )
        for i in range(n)
    ]
    # before the epoch: PostgreSQL floors the hour, SQLite truncates it
    records.append(make_record(n, request_id=f"r{seed}-early", started_at=-5_000.5))
    return [row_of(r) for r in records]


async def rollup_tables(conn: Any) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
    out = {}
    for table in (rollups.usage_hourly, rollups.usage_daily, rollups.usage_latency):
        keys = [c.name for c in table.primary_key]
        rows = (await conn.execute(sa.select(table))).mappings().all()
        out[table.name] = {
            tuple(r[k] for k in keys): tuple(r[c.name] for c in table.c if c.name not in keys)
            for r in rows
        }
    return out


def same_number(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request, tmp_path: Path) -> str:
    return await backend_database(request, tmp_path, "paths")


async def test_rollups_summed_in_python_equal_rollups_grouped_in_sql(backend):
    """Uneven batches into one database: the writer's upserts (add_rollups) leave every
    rollup row equal to what the set-based statements (rollups_in) leave."""
    db = Database(backend)
    rows = random_rows(7, 400)
    sizes = (1, 9, 60, 2, 329)

    async def write(add: Any) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
        async with db.engine.connect() as conn:
            tx = await conn.begin()
            lo = 0
            for size in sizes:
                batch = rows[lo : lo + size]
                lo += size
                await conn.run_sync(bulk.insert_rows, usage_records, batch)
                await conn.run_sync(add, batch)
            assert lo == len(rows)
            tables = await rollup_tables(conn)
            await tx.rollback()
        return tables

    try:
        by_sql = await write(rollups.rollups_in)
        by_python = await write(rollups.add_rollups)
    finally:
        await db.aclose()
    assert sum(n for (n, *_) in by_sql["usage_hourly"].values()) == len(rows)
    assert {k[1] for k in by_sql["usage_daily"]} == {"key", "team", "user"}
    assert {k[2] for k in by_sql["usage_latency"]} == {"latency", "ttft"}
    for name, expected in by_sql.items():
        got = by_python[name]
        assert got.keys() == expected.keys(), name
        for key, values in expected.items():
            assert all(map(same_number, got[key], values)), (name, key, got[key], values)


def test_python_rollups_bucket_hours_as_each_database_does():
    rows = random_rows(1, 0)  # the one row before the epoch
    hourly_pg, _, _ = rollups.rollup_deltas(rows, postgres=True)
    hourly_lite, _, _ = rollups.rollup_deltas(rows, postgres=False)
    assert list(hourly_pg) == [(-7_200, "mock")] and list(hourly_lite) == [(-3_600, "mock")]


def test_a_nan_ttft_counts_as_none_on_sqlite_only():
    row = row_of(make_record(1, ttft_ms=float("nan")))
    lite = rollups.rollup_deltas([row], postgres=False)
    pg = rollups.rollup_deltas([row], postgres=True)
    assert next(iter(lite[0].values()))[9] == 0  # SQLite stores NaN as NULL
    assert next(iter(pg[0].values()))[9] == 1
    assert {k[2] for k in lite[2]} == {"latency"} and {k[2] for k in pg[2]} == {"latency", "ttft"}


# --- the writer process binds as the driver in the gateway's process does ---


def stored(path: str, table: str, order: str) -> list[dict[str, tuple[str, Any]]]:
    """Each row's columns: name -> (SQLite storage class, value)."""
    con = sqlite3.connect(path)
    try:
        names = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
        picks = ", ".join(f'typeof("{n}"), "{n}"' for n in names)
        rows = con.execute(f"SELECT {picks} FROM {table} ORDER BY {order}").fetchall()
    finally:
        con.close()
    return [dict(zip(names, zip(row[::2], row[1::2], strict=True), strict=True)) for row in rows]


async def test_process_and_thread_writers_store_the_same_values(tmp_path):
    """Every column of every usage, rollup and audit row, storage class included, is the
    same whether the batch went through the writer process (its plain binds) or the
    write thread (the driver's own adaptation), and both chains verify."""
    records = varied_records()
    paths = {}
    for kind in ("process", "thread"):
        path = f"{tmp_path}/{kind}.db"
        db = Database(await migrated(f"sqlite+aiosqlite:///{path}"), writer=kind)  # type: ignore[arg-type]
        usage = UsageWriter(
            UsageRepository(db),
            batch_size=4,
            flush_interval=3600,
            dead_letter=DeadLetter(tmp_path / f"{kind}-u.jsonl", "usage"),
        )
        audit = AuditWriter(
            db,
            batch_size=4,
            flush_interval=3600,
            clock=lambda: 1_800_000_000.0,
            dead_letter=DeadLetter(tmp_path / f"{kind}-a.jsonl", "audit"),
        )
        assert (db.write_process is not None) == (kind == "process")
        for record in records:
            usage.submit(record)
            audit.submit(record)
        await usage.aclose()
        await audit.aclose()
        assert usage.stats.written == audit.stats.written == len(records)
        assert (await AuditRepository(db).verify()).ok
        await db.aclose()
        paths[kind] = path
    for table, order in (
        ("usage_records", "request_id"),
        ("usage_hourly", "hour, model"),
        ("usage_daily", "day, dim, value, model"),
        ("usage_latency", "hour, model, metric, bucket"),
        ("audit_log", "seq"),
    ):
        by_process = stored(paths["process"], table, order)
        assert by_process, table
        assert by_process == stored(paths["thread"], table, order), table
    rows = stored(paths["process"], "usage_records", "request_id")
    assert [row["request_id"][1] for row in rows] == [r.request_id for r in records]
    assert rows[1]["stream"] == ("integer", 1) and rows[0]["stream"] == ("integer", 0)
    assert rows[3]["key_id"] == ("null", None) and rows[3]["team"] == ("text", "")
