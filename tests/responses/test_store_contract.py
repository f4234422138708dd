"""One contract for every Responses store: memory, SQLite, Postgres and Redis.

A stored response is read back only by its owner, until it expires; delete is the
owner's alone; counts are bounded per key and overall (oldest dropped first), and an
entry over the size bound is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.prompts.conftest import fresh_database

from lockgate.responses import MemoryResponseStore, ResponsesSettings, ResponseStore, StoredResponse
from lockgate.responses.redis_store import RedisResponseStore
from lockgate.responses.repository import DatabaseResponseStore
from lockgate.storage.database import Database

NOW = 1_000_000.0


@pytest.fixture(params=["memory", "sqlite", "postgres", "redis"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    made: list[ResponseStore] = []
    dbs: list[Database] = []
    url = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/resp.db"
    elif request.param == "postgres":
        url = await fresh_database(request.getfixturevalue("postgres_url"))
    if url is not None:
        db = Database(url)
        await db.migrate()
        dbs.append(db)

    def make(**fields: object) -> ResponseStore:
        settings = ResponsesSettings.model_validate(fields)
        store: ResponseStore
        if request.param == "memory":
            store = MemoryResponseStore(settings)
        elif request.param == "redis":
            store = RedisResponseStore(request.getfixturevalue("redis_url"), settings)
        else:
            # prune_seconds=0: the overall bound and expiry sweep on every put
            store = DatabaseResponseStore(dbs[0], settings, clock=lambda: NOW, prune_seconds=0)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()
    for db in dbs:
        await db.aclose()


def entry(owner: str, text: str = "hi", at: float = NOW, ttl: float = 3600) -> StoredResponse:
    response = {"id": "x", "object": "response", "output_text": text}
    history = [{"role": "user", "content": text}, {"role": "assistant", "content": "echo"}]
    return StoredResponse(owner, response, history, at, at + ttl)


async def test_owner_reads_and_deletes_others_never(make_store):
    store = make_store()
    assert await store.put("resp_a", entry("key:a", "mine"))
    got = await store.get("resp_a", "key:a", NOW)
    assert got is not None and got.response["output_text"] == "mine"
    assert got.history[-1] == {"role": "assistant", "content": "echo"}
    assert await store.get("resp_a", "key:b", NOW) is None
    assert not await store.delete("resp_a", "key:b")
    assert await store.get("resp_a", "key:a", NOW) is not None  # still there
    assert await store.delete("resp_a", "key:a")
    assert await store.get("resp_a", "key:a", NOW) is None
    assert not await store.delete("resp_a", "key:a")


async def test_expired_is_gone(make_store):
    store = make_store()
    await store.put("resp_old", entry("key:a", ttl=10))
    assert await store.get("resp_old", "key:a", NOW + 9) is not None
    assert await store.get("resp_old", "key:a", NOW + 10) is None


async def test_per_key_bound_keeps_each_keys_newest_and_spares_others(make_store):
    store = make_store(max_stored_per_key=3)
    await store.put("resp_b0", entry("key:b", at=NOW))
    for i in range(5):
        await store.put(f"resp_a{i}", entry("key:a", at=NOW + 1 + i))
    kept = [i for i in range(5) if await store.get(f"resp_a{i}", "key:a", NOW) is not None]
    assert kept == [2, 3, 4]
    assert await store.get("resp_b0", "key:b", NOW) is not None  # another key's survives


async def test_overall_bound_drops_the_oldest(make_store):
    store = make_store(max_stored=2)
    for i in range(3):
        await store.put(f"resp_{i}", entry(f"key:{i}", at=NOW + i))
    kept = [i for i in range(3) if await store.get(f"resp_{i}", f"key:{i}", NOW) is not None]
    assert kept == [1, 2]


async def test_too_large_or_storing_off_is_refused(make_store):
    small = make_store(max_entry_bytes=200)
    assert not await small.put("resp_big", entry("key:a", "x" * 500))
    assert await small.get("resp_big", "key:a", NOW) is None
    off = make_store(max_stored=0)
    assert not await off.put("resp_off", entry("key:a"))
