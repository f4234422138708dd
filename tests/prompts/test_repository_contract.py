"""One contract for the prompt, experiment and rollout storage on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from lockgate.errors import NotFoundError
from lockgate.experiments.repository import ExperimentRepository
from lockgate.experiments.rollout import start
from lockgate.experiments.spec import RolloutSpec
from lockgate.prompts import open_registry, parse_spec
from lockgate.prompts.repository import PromptRepository
from lockgate.storage.database import Database


@pytest.fixture()
async def db(backend_url: str) -> AsyncIterator[Database]:
    """The backend's database, migrated."""
    database = Database(backend_url)
    await database.migrate()
    yield database
    await database.aclose()


def spec(content: str, **extra):
    """Prompt 'support' with one user message."""
    return parse_spec(
        {"name": "support", "messages": [{"role": "user", "content": content}], **extra}
    )


async def test_versions_are_numbered_and_pushing_the_same_content_is_idempotent(db):
    """1, 2, ... per name; the same content again makes no version."""
    repo = PromptRepository(db)
    v1, new1 = await repo.push(spec("a {{ x }}", model="mock"), "alice")
    v2, new2 = await repo.push(spec("b {{ x }}"), "bob")
    v2b, new3 = await repo.push(spec("b {{ x }}", message="again"), "bob")
    assert (v1.version, v2.version, v2b.version) == (1, 2, 2)
    assert (new1, new2, new3) == (True, True, False)
    stored = await repo.get("support", 1)
    assert stored is not None and stored.author == "alice" and stored.model == "mock"
    assert [v.version for v in await repo.versions("support")] == [1, 2]


async def test_label_moves_are_recorded_and_rolled_back(db):
    """Each move keeps who/when/from/to; rollback goes to the previous version."""
    repo = PromptRepository(db)
    await repo.push(spec("a", labels=["production"]), "alice")
    await repo.push(spec("b"), "alice")
    head = await repo.head()
    assert await repo.move_label("support", "production", 2, "bob", "better") == (1, 2)
    assert await repo.head() > head
    assert await repo.labels() == {("support", "production"): 2}
    assert await repo.rollback("support", "production", "carol") == (2, 1)
    hist = await repo.history("support", "production")
    assert [(h["from_version"], h["to_version"], h["actor"]) for h in hist] == [
        (None, 1, "alice"),
        (1, 2, "bob"),
        (2, 1, "carol"),
    ]
    with pytest.raises(NotFoundError):
        await repo.move_label("support", "production", 9, "bob")


async def test_concurrent_pushes_get_distinct_versions(db):
    """Five writers pushing different content at once get versions 1..5."""
    repo = PromptRepository(db)
    results = await asyncio.gather(*(repo.push(spec(f"c{i}"), "x") for i in range(5)))
    assert sorted(v.version for v, _ in results) == [1, 2, 3, 4, 5]


async def test_only_one_holder_gets_a_lease(db):
    """A lease is exclusive until it lapses; its holder renews it."""
    clock = [1000.0]
    repo = ExperimentRepository(db, clock=lambda: clock[0])
    assert await repo.acquire_lease("rollout:r", "a", 10)
    assert not await repo.acquire_lease("rollout:r", "b", 10)
    assert await repo.acquire_lease("rollout:r", "a", 10)
    clock[0] += 11
    assert await repo.acquire_lease("rollout:r", "b", 10)
    assert not await repo.acquire_lease("rollout:r", "a", 10)


async def test_rollout_state_round_trips(db):
    """A rollout's state is stored and read back whole (it survives restarts)."""
    repo = ExperimentRepository(db)
    rs = RolloutSpec(name="r", prompt="support", to_version=2)
    state = start(rs, 1, 50.0)
    await repo.create_rollout(rs, state)
    spec2, back = await repo.rollout("r")
    assert spec2 == rs and back.to_json() == state.to_json()
    assert [s.name for s, _ in await repo.rollouts("running")] == ["r"]


async def test_public_registry_api_resolves_and_renders(db, backend_url):
    """open_registry: name@label, name@version and name (production) resolve and render."""
    repo = PromptRepository(db)
    await repo.push(spec("v1 {{ q }}", labels=["production"], model="mock"), "a")
    await repo.push(spec("v2 {{ q }}", labels=["staging"]), "a")
    async with open_registry(backend_url) as registry:
        prod = await registry.get("support@production")
        assert prod.ref == "support@1" and prod.model == "mock"
        assert prod.render({"q": "hi"}) == [{"role": "user", "content": "v1 hi"}]
        assert (await registry.get("support@2")).ref == "support@2"
        assert (await registry.get("support")).ref == "support@1"
        assert (await registry.get("support@staging")).render({"q": "x"})[0]["content"] == "v2 x"
        with pytest.raises(NotFoundError):
            await registry.get("support@nope")
