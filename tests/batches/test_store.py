"""The batch store on SQLite and PostgreSQL: claims are exclusive, answers are stored
once and only by the lease holder, lapsed leases are claimed again, batches finish."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from tests.batches.support import NOW, new_batch

from lockgate.batches.journal import AnswerJournal
from lockgate.batches.store import BatchStore, Finished
from lockgate.batches.tables import batch_lines, batches, files
from lockgate.chat import ChatResponse, Usage
from lockgate.storage.database import Database


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BatchStore]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/b.db"
    else:
        url = request.getfixturevalue("postgres_url")
    db = Database(url)
    await db.migrate()
    async with db.engine.begin() as conn:
        for table in (batch_lines, batches, files):
            await conn.execute(sa.delete(table))
    try:
        yield BatchStore(db, tmp_path / "files")
    finally:
        await db.aclose()


async def test_two_owners_never_claim_the_same_line(store: BatchStore) -> None:
    """Claims by two replicas are disjoint and cover every line."""
    await new_batch(store, 25)
    a = await store.claim("A", 10, NOW, 30)
    b = await store.claim("B", 100, NOW, 30)
    got_a = {x.line_no for x in a}
    got_b = {x.line_no for x in b}
    assert len(got_a) == 10 and not got_a & got_b
    assert got_a | got_b == set(range(1, 26))
    assert await store.claim("C", 5, NOW, 30) == []


async def test_only_the_lease_holder_stores_and_answered_lines_stay_done(store: BatchStore) -> None:
    """A replica whose lease lapsed and was taken over cannot overwrite the answer; an
    answered line is never claimed again, even after its lease time passes."""
    await new_batch(store, 1)
    (line,) = await store.claim("A", 1, NOW, 30)
    (again,) = await store.claim("B", 1, NOW + 31, 30)  # A vanished: lease lapsed
    assert again.attempts == 2
    ok = dict(ok=True, status_code=200, response={"x": 1}, request_id="r")
    assert await store.complete(line, "A", **ok) is False
    assert await store.complete(again, "B", **ok) is True
    assert await store.complete(again, "B", **ok) is False
    assert await store.claim("C", 5, NOW + 1000, 30) == []


async def test_finalize_writes_output_and_error_files(store: BatchStore) -> None:
    """When no line is left, one replica writes the output (answers, in line order) and
    the error file, and the batch is completed with its counts."""
    bid = await new_batch(store, 3)
    assert await store.finalize_ready("A", NOW, 30) == []
    claimed = await store.claim("A", 3, NOW, 30)
    for c in claimed:
        ok = c.line_no != 2
        await store.complete(
            c,
            "A",
            ok=ok,
            status_code=200 if ok else 400,
            response={"n": c.line_no} if ok else {"error": {"message": "bad"}},
            request_id=None,
        )
    assert await store.finalize_ready("A", NOW, 30) == [bid]
    assert await store.finalize_ready("B", NOW + 100, 30) == []
    batch = await store.get_batch(bid)
    assert batch is not None and batch["status"] == "completed"
    assert batch["counts"] == {"done": 2, "failed": 1}
    out = (store.root / batch["output_file_id"]).read_bytes().splitlines()
    assert [orjson.loads(x)["custom_id"] for x in out] == ["c0", "c2"]
    err = orjson.loads((store.root / batch["error_file_id"]).read_bytes())
    assert err["custom_id"] == "c1" and err["error"] == {"message": "bad"}


async def test_cancel_stops_new_work_and_ends_cancelled(store: BatchStore) -> None:
    """Cancelling leaves running lines to finish, runs nothing new, ends `cancelled`."""
    bid = await new_batch(store, 4)
    (first,) = await store.claim("A", 1, NOW, 30)
    await store.cancel(bid, NOW)
    assert await store.claim("A", 10, NOW, 30) == []
    assert await store.finalize_ready("A", NOW, 30) == []  # one line still running
    await store.complete(first, "A", ok=True, status_code=200, response={}, request_id=None)
    assert await store.finalize_ready("A", NOW, 30) == [bid]
    batch = await store.get_batch(bid)
    assert batch is not None and batch["status"] == "cancelled"
    assert batch["counts"]["done"] == 1 and batch["counts"]["cancelled"] == 3


async def test_group_commit_stores_only_what_this_replica_still_holds(store: BatchStore) -> None:
    """complete_many writes all answers in one go and counts only lines whose lease this
    replica still holds (another replica's takeover wins)."""
    from lockgate.batches.store import Finished

    await new_batch(store, 3)
    mine = await store.claim("A", 3, NOW, 30)
    assert await store.complete_many("A", [Finished(mine[0], True, 200, {}, None)]) == 1
    taken = await store.claim("B", 3, NOW + 31, 30)  # A's other two leases lapsed
    assert sorted(x.line_no for x in taken) == [2, 3]
    late = [Finished(x, True, 200, {"n": x.line_no}, None) for x in mine[1:]]
    assert await store.complete_many("A", late) == 0
    assert await store.complete_many("B", [Finished(taken[0], True, 200, {}, None)]) == 1


async def test_re_sends_are_counted_and_only_for_unanswered_lines(store: BatchStore) -> None:
    """Only a line marked sent counts as re-sent when it runs again: after its holder
    vanished (lapsed lease) or stopped with it in flight; a line claimed ahead but never
    marked, or retried after an answered 429, does not; answered lines never come back."""
    bid = await new_batch(store, 5)
    a = await store.claim("A", 5, NOW, 30)
    await store.complete_many("A", [], sending=a[:4])  # line 5 stays claimed, unsent
    await store.complete(a[0], "A", ok=True, status_code=200, response={}, request_id=None)
    await store.release(a[1], "A", interrupted=True)  # A stopped with line 2 in flight
    await store.release(a[2], "A")  # line 3 got a 429: retried, not a re-send
    again = await store.claim("B", 10, NOW + 31, 30)  # lines 4, 5: A died
    assert sorted(x.line_no for x in again) == [2, 3, 4, 5]
    batch = await store.get_batch(bid)
    assert batch is not None and batch["resent"] == 2


async def test_a_line_replayed_from_the_journal_is_not_counted_as_re_sent(
    store: BatchStore,
) -> None:
    """A line whose holder died after its upstream answer was journaled runs again but
    its answer is replayed, not sent: its re-send count goes back once it is stored."""
    bid = await new_batch(store, 2)
    a = await store.claim("A", 2, NOW, 30)
    await store.complete_many("A", [], sending=a)
    again = await store.claim("B", 10, NOW + 31, 30)  # A died with both upstream
    assert [x.attempts for x in again] == [2, 2]
    batch = await store.get_batch(bid)
    assert batch is not None and batch["resent"] == 2
    replayed = Finished(again[0], True, 200, {"id": "x"}, None, replayed=True)
    sent_again = Finished(again[1], True, 200, {"id": "y"}, None)
    assert await store.complete_many("B", [replayed, sent_again]) == 2
    batch = await store.get_batch(bid)
    assert batch is not None and batch["resent"] == 1


async def test_after_crash_fail_never_sends_a_line_that_was_upstream_again(
    store: BatchStore,
) -> None:
    """``after_crash: fail``: a line marked sent whose holder died or stopped is failed
    with code ``interrupted`` instead of claimed again; an unsent claimed line runs."""
    strict = BatchStore(store.db, store.root, resend_after_crash=False)
    bid = await new_batch(strict, 4)
    a = await strict.claim("A", 4, NOW, 30)
    await strict.complete_many("A", [], sending=a[:3])  # line 4 claimed, never sent
    await strict.complete(a[0], "A", ok=True, status_code=200, response={}, request_id=None)
    await strict.release(a[1], "A", interrupted=True)  # A stopped with line 2 upstream
    again = await strict.claim("B", 10, NOW + 31, 30)  # A died with line 3 upstream
    assert [x.line_no for x in again] == [4]
    async with strict.db.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(batch_lines.c.line_no, batch_lines.c.status, batch_lines.c.response)
                .where(batch_lines.c.batch_id == bid)
                .order_by(batch_lines.c.line_no)
            )
        ).all()
    assert [(r[0], r[1]) for r in rows] == [
        (1, "done"),
        (2, "failed"),
        (3, "failed"),
        (4, "running"),
    ]
    assert {r[2]["error"]["code"] for r in rows[1:3]} == {"interrupted"}
    batch = await strict.get_batch(bid)
    assert batch is not None and batch["resent"] == 0


@pytest.mark.parametrize("after_crash", ["fail", "resend"])
async def test_lines_lapsed_after_a_crash_are_sorted_by_the_answer_journal(
    store: BatchStore, tmp_path: Path, after_crash: str
) -> None:
    """Owner A died with lines 1-4 marked sent; its journal shows line 1 answered, line 2
    sent (no answer), lines 3 and 4 never left. Owner C (line 5, no journal here) died
    too. Line 1 runs again to replay its answer; 3 and 4 go back to pending, not counted
    as re-sent; 2 and 5 may be upstream: failed as ``interrupted`` (fail) or re-sent."""
    journal = AnswerJournal(tmp_path / "journal", "B")
    dead = AnswerJournal(tmp_path / "journal", "A")
    strict = BatchStore(
        store.db, store.root, resend_after_crash=after_crash == "resend", journal=journal
    )
    bid = await new_batch(strict, 5)
    a = await strict.claim("A", 4, NOW, 30)
    c = await strict.claim("C", 1, NOW, 30)
    await strict.complete_many("A", [], sending=a)
    await strict.complete_many("C", [], sending=c)
    body = {"choices": [{"message": {"content": "one"}}]}
    for line_no in (1, 2):
        dead.sending(bid, line_no)
    dead.record(bid, 1, ChatResponse(body, Usage()))
    again = await strict.claim("B", 10, NOW + 31, 30)
    status = {}
    async with strict.db.engine.connect() as conn:
        for r in await conn.execute(
            sa.select(batch_lines.c.line_no, batch_lines.c.status, batch_lines.c.resent).where(
                batch_lines.c.batch_id == bid
            )
        ):
            status[r[0]] = (r[1], r[2])
    if after_crash == "fail":
        assert sorted(x.line_no for x in again) == [1, 3, 4]
        assert status[2][0] == status[5][0] == "failed"
    else:
        assert sorted(x.line_no for x in again) == [1, 2, 3, 4, 5]
        assert status[2] == status[5] == ("running", 1)  # re-sent, counted
    assert status[3] == status[4] == ("running", 0)  # never left: not a re-send
    assert status[1] == ("running", 1)  # counted until its replay is stored
    assert journal.has(bid, 1) and not journal.has(bid, 2)


async def test_a_batch_past_its_window_expires_with_its_answers_kept(store: BatchStore) -> None:
    """At expiry unsent lines are not run; the line in flight may still answer; the batch
    ends `expired` with an output file of its answers and an error file of the rest
    (code batch_expired)."""
    bid = await new_batch(store, 5)
    a, b = await store.claim("A", 2, NOW + 86390, 30)
    await store.complete(a, "A", ok=True, status_code=200, response={"n": 1}, request_id=None)
    assert await store.expire_due(NOW + 86399) == []
    assert await store.expire_due(NOW + 86401) == [bid]
    assert await store.claim("A", 10, NOW + 86401, 30) == []
    assert await store.finalize_ready("A", NOW + 86401, 30) == []  # line 2 still in flight
    await store.complete(b, "A", ok=True, status_code=200, response={"n": 2}, request_id=None)
    assert await store.finalize_ready("A", NOW + 86402, 30) == [bid]
    batch = await store.get_batch(bid)
    assert batch is not None and batch["status"] == "expired"
    assert batch["expired_at"] == NOW + 86401
    assert batch["counts"] == {"done": 2, "expired": 3}
    out = (store.root / batch["output_file_id"]).read_bytes().splitlines()
    assert [orjson.loads(x)["custom_id"] for x in out] == ["c0", "c1"]
    err = [orjson.loads(x) for x in (store.root / batch["error_file_id"]).read_bytes().splitlines()]
    assert [e["custom_id"] for e in err] == ["c2", "c3", "c4"]
    assert {e["error"]["code"] for e in err} == {"batch_expired"}
    from lockgate.batches.routes import batch_object

    obj = batch_object(batch)
    assert obj["status"] == "expired" and obj["expired_at"] == int(NOW + 86401)
    assert obj["request_counts"] == {"total": 5, "completed": 2, "failed": 0}


async def test_a_line_given_back_to_a_cancelled_batch_is_not_run(store: BatchStore) -> None:
    """A line claimed ahead and given back after its batch was cancelled ends cancelled,
    so the batch still finishes."""
    bid = await new_batch(store, 2)
    a, b = await store.claim("A", 2, NOW, 30)
    await store.cancel(bid, NOW)
    await store.release(b, "A")
    await store.complete(a, "A", ok=True, status_code=200, response={}, request_id=None)
    assert await store.finalize_ready("A", NOW, 30) == [bid]
    batch = await store.get_batch(bid)
    assert batch is not None and batch["counts"] == {"done": 1, "cancelled": 1}


async def test_a_claim_never_leases_more_lines_than_asked(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """claim(1) leases one line whatever plan PostgreSQL picks. Inside `IN (subquery)` the
    planner may put the LIMIT ... FOR UPDATE SKIP LOCKED pick on the inner side of a
    nested-loop semi-join; each rescan skips the rows the same UPDATE has just changed and
    picks the next one, so the old claim leased all four lines of this batch at once.
    A database of its own whose planner may not hash, sort or materialise forces that
    plan (seen once in a full run with the default planner)."""
    admin = Database(request.getfixturevalue("postgres_url"))
    async with admin.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("DROP DATABASE IF EXISTS claim_plan")
        await conn.exec_driver_sql("CREATE DATABASE claim_plan")
        for knob in ("hashagg", "hashjoin", "mergejoin", "material", "sort"):
            await conn.exec_driver_sql(f"ALTER DATABASE claim_plan SET enable_{knob} = off")
    await admin.aclose()
    db = Database(admin.engine.url.set(database="claim_plan").render_as_string(False))
    try:
        await db.migrate()
        store = BatchStore(db, tmp_path / "files")
        await new_batch(store, 4)
        got = [len(await store.claim("A", 1, NOW, 30)) for _ in range(5)]
        assert got == [1, 1, 1, 1, 0]
    finally:
        await db.aclose()


async def test_an_idle_runner_skips_its_statements_only_when_they_would_change_nothing(
    store: BatchStore,
) -> None:
    """``surely_idle`` (read with sqlite3 on SQLite; never claimed elsewhere) holds only
    while no batch is active and no line is running: a pending batch, a running line,
    and a running line left in a finished batch (its lease lapsed: sorted and claimed
    again) each keep the runner's claim, renew, expire and finalize statements on."""
    sqlite = store.db.sqlite_reads is not None
    assert await store.surely_idle() is sqlite  # empty
    batch_id = await new_batch(store, 2)
    assert await store.surely_idle() is False  # pending lines to claim
    lines = await store.claim("A", 2, NOW, 30)
    assert await store.surely_idle() is False
    ok = dict(ok=True, status_code=200, response={"x": 1}, request_id="r")
    for line in lines:
        assert await store.complete(line, "A", **ok) is True
    assert await store.finalize_ready("A", NOW, 30) == [batch_id]
    assert (await store.get_batch(batch_id) or {})["status"] == "completed"
    assert await store.surely_idle() is sqlite  # finished: nothing left to do
    assert tuple(await store.turn("A", [], claim=8, now=NOW, lease=30)) == (0, [], set())
    async with store.db.engine.begin() as conn:
        await conn.execute(
            batch_lines.update()
            .where(batch_lines.c.batch_id == batch_id, batch_lines.c.line_no == 1)
            .values(status="running", lease_owner="gone", lease_until=NOW - 1)
        )
    assert await store.surely_idle() is False
