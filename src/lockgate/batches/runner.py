"""The batch job runner: claims lines under leases, runs them, stores the answers.

One runner per process, started in the app's lifespan beside the server and never on
the request path. It keeps at most ``concurrency`` lines in flight, waits while the
process is busy with more interactive requests than ``yield_above_inflight``, renews
its leases while lines run, and gives its lines back when it stops, so another replica
(or this one after a restart) picks them up.

Lines are claimed ahead (up to 4 x ``concurrency`` held, claimed once fewer than
2 x ``concurrency`` wait unmarked). One transaction per turn, on the database's write
thread, stores the answers that arrived (group commit), marks the next lines as sent
and, when needed, claims more; a line is only ever sent after its mark is committed,
and up to ``mark_ahead`` marked lines wait, so a finished line is followed by the next
at once, without waiting for the database.
After a crash, a marked line that runs again counts as re-sent (``resent`` per line):
every line sent twice is counted; lines counted without having left are, per crash, at
most the ``mark_ahead`` primed ones plus the running ones whose request was still inside
the gateway's pipeline (at most ``concurrency``). Lines claimed ahead for
a batch cancelled or expired meanwhile are given back unsent. A line that failed in a
retryable way (429, 5xx) is given back until ``max_attempts``; then its error is its
answer.

Before each attempt of a line leaves (retries and fallbacks included), ``holds`` checks
that this replica surely still holds its lease: at least a third of the lease left since
its mark or the last renewal, with no gap in renewals as long as a lease since it was
marked (a paused process). Otherwise the request is not sent (``LeaseLost``) and the line
is given back: another replica may be running it already.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

from lockgate.batches.config import BatchSettings
from lockgate.batches.journal import AnswerJournal, LeaseLost
from lockgate.batches.outcome import Outcome, retryable
from lockgate.batches.store import BatchStore, Claimed, Finished

__all__ = ["BatchRunner", "owner_id"]

_log = logging.getLogger("lockgate.batches")

#: runs one line; the callable it is given says whether the line's lease surely holds
Execute = Callable[[Claimed, Callable[[], bool]], Awaitable[Outcome]]

#: how long ``stop`` waits for the runner's turn in progress before cutting it off
_STOP_WAIT_S = 5.0


def owner_id() -> str:
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{secrets.token_hex(4)}"


class BatchRunner:
    def __init__(
        self,
        store: BatchStore,
        execute: Execute,
        settings: BatchSettings,
        *,
        interactive_inflight: Callable[[], float] = lambda: 0.0,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        journal: AnswerJournal | None = None,
    ) -> None:
        self.store = store
        self._journal = journal
        self._execute = execute
        self._cfg = settings
        self._interactive = interactive_inflight
        self._clock = clock
        self.owner = owner or owner_id()
        self._running: dict[tuple[str, int], tuple[Claimed, asyncio.Task[None]]] = {}
        self._finished: list[Finished] = []
        #: claimed (leased) lines not started yet
        self._ready: collections.deque[Claimed] = collections.deque()
        #: marked sent (committed), waiting for room: a finished line is followed at once
        self._primed: collections.deque[Claimed] = collections.deque()
        self._ahead = (
            0  # a line marked but unsent at a crash would be failed for nothing
            if settings.after_crash == "fail"
            else settings.mark_ahead
            if settings.mark_ahead is not None
            else settings.concurrency // 2
        )
        #: batches cancelled or expired: their claimed lines are given back, not run
        self._stopped: set[str] = set()
        self._stopping = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: lines leased per replica (running, marked and waiting), claimed in one go once
        #: fewer than ``_claim_low`` wait unmarked: a claim (sorting the pending lines)
        #: is rare, and rides in the same transaction as storing and marking
        self._claim_target = 4 * settings.concurrency
        self._claim_low = 2 * settings.concurrency
        self.executed = 0
        #: when the leases of every line held were last extended (a successful renewal)
        self._renewed_at = -math.inf
        #: lines marked before this may have lost their lease (renewals stopped for a
        #: whole lease meanwhile): none of them is sent
        self._gap_before = -math.inf
        #: attempts not sent because their line's lease may have lapsed
        self.lease_lost = 0

    def wake(self, stopped: str | None = None) -> None:
        """Look for work now (a batch was created, or ``stopped``: cancelled)."""
        if stopped is not None:
            self._stopped.add(stopped)
        self._wake.set()

    def holds(self, line: Claimed) -> bool:
        """Whether this replica surely still holds ``line``'s lease (marked at
        ``send_by - lease/2``): a third of the lease must be left, so a request that
        leaves now is this replica's even if the next renewal comes late."""
        lease = self._cfg.lease_seconds
        marked = line.send_by - lease / 2
        if marked < self._gap_before:
            return False
        return self._clock() < max(marked, self._renewed_at) + lease * 2 / 3

    def start(self) -> None:
        self._renewed_at = self._clock()  # nothing is held yet
        self._task = asyncio.create_task(self._loop(), name="lockgate-batches")

    async def stop(self) -> None:
        """Stop claiming, cancel lines in flight and give them back at once."""
        self._stopping = True
        if self._task is not None:
            # Let a turn in progress end (it runs on the database's write thread, which
            # closes after us: a turn cut off there would answer into a closed loop)
            self._wake.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._task), _STOP_WAIT_S)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        running = list(self._running.values())
        for _, task in running:
            task.cancel()
        for _, task in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self._turn(self._clock())
        for line, _ in running:
            with contextlib.suppress(Exception):
                # no-op for stored answers
                await self.store.release(line, self.owner, interrupted=True)
        self._running.clear()
        ready = [*self._primed, *self._ready]
        self._ready, self._primed = collections.deque(), collections.deque()
        for line in ready:  # never sent
            with contextlib.suppress(Exception):
                await self.store.release(line, self.owner)
        if self._journal is not None:  # kept if a line's answer may be only there
            self._journal.close(remove=not running and not self._finished)

    async def _loop(self) -> None:
        cfg = self._cfg
        last_expiry = self._clock()
        while not self._stopping:
            try:
                now = self._clock()
                await self._turn(now)
                if now - self._renewed_at >= cfg.lease_seconds / 3:
                    await self.store.renew(self.owner, now, cfg.lease_seconds)
                    if now - self._renewed_at >= cfg.lease_seconds:
                        self._gap_before = now  # leases may have lapsed meanwhile
                    self._renewed_at = now
                if now - last_expiry >= cfg.poll_seconds * 10:
                    self._stopped.update(await self.store.expire_due(now))
                    last_expiry = now
                if self._stopped:
                    await self._give_back_stopped()
                if not (self._running or self._finished or self._ready or self._primed):
                    await self.store.finalize_ready(self.owner, now, cfg.lease_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away: keep trying, say so
                _log.warning("batch runner: %s: %s", type(exc).__name__, exc)
            if self._wake.is_set():
                self._wake.clear()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), cfg.poll_seconds)
            self._wake.clear()

    async def _give_back_stopped(self) -> None:
        stopped, self._stopped = self._stopped, set()
        both = [*self._primed, *self._ready]
        drop = [x for x in both if x.batch_id in stopped]
        self._primed = collections.deque(x for x in self._primed if x.batch_id not in stopped)
        self._ready = collections.deque(x for x in self._ready if x.batch_id not in stopped)
        for line in drop:  # never sent: it ends cancelled or expired
            await self.store.release(line, self.owner)

    def _start_primed(self) -> None:
        """Start lines already marked sent while there is room, unless interactive
        traffic says wait (the loop looks again at its next poll)."""
        while self._primed and len(self._running) < self._cfg.concurrency and not self._stopping:
            busy = self._interactive() - len(self._running)  # batch lines count too
            if busy > self._cfg.yield_above_inflight:
                return
            line = self._primed.popleft()
            if self._clock() >= line.send_by:  # held too long: marked again (lease re-checked)
                self._ready.appendleft(line)
                self._wake.set()
                continue
            task = asyncio.create_task(self._run(line))
            self._running[(line.batch_id, line.line_no)] = (line, task)

    async def _turn(self, now: float) -> None:
        """One transaction: store the answers that arrived (group commit), mark the
        next lines as sent (committed before any of them leaves), and lease more lines
        when few are left to mark; then start the marked ones."""
        cfg = self._cfg
        batch, self._finished = self._finished, []
        marking: list[Claimed] = []
        want = 0
        if not self._stopping:
            room = cfg.concurrency - len(self._running) + self._ahead - len(self._primed)
            marking = [self._ready.popleft() for _ in range(max(0, min(room, len(self._ready))))]
            if len(self._ready) < self._claim_low:
                held = len(self._running) + len(self._primed) + len(self._ready) + len(marking)
                want = self._claim_target - held
        if not batch and not marking and want <= 0:
            self._start_primed()
            return
        try:
            stored, claimed, marked = await self.store.turn(
                self.owner, batch, sending=marking, claim=want, now=now, lease=cfg.lease_seconds
            )
        except Exception:
            self._finished = batch + self._finished  # the database is away: keep them
            self._ready.extendleft(reversed(marking))
            raise
        for line in claimed:
            if (line.batch_id, line.line_no) not in self._running:
                self._ready.append(line)
            # else: our own lease lapsed while it ran: it is still running
        # A marked line's lease runs to now + lease: it must leave within half of that
        # (the rest covers its walk to the upstream); a line not marked is no longer
        # this replica's (its lease lapsed and another took it): dropped, never sent.
        send_by = now + cfg.lease_seconds / 2
        for line in marking:
            if (line.batch_id, line.line_no) in marked:
                self._primed.append(dataclasses.replace(line, send_by=send_by))
        if len(marked) < len(marking):
            _log.warning(
                "batch runner: %d lines were taken by another replica (lease lapsed)",
                len(marking) - len(marked),
            )
            self._wake.set()  # mark the next lines at once
        self._start_primed()
        if claimed and len(self._primed) <= self._ahead // 2:
            self._wake.set()  # mark what was just leased at once
        self.executed += stored
        if self._journal is not None and self._journal.tracks_running():
            unstored = {(x.line.batch_id, x.line.line_no) for x in self._finished} | set(
                self._running
            )
            self._journal.stored(unstored)
            self._journal.rotate_if_big(unstored)
        if stored < len(batch):
            _log.warning(
                "batch runner: %d answers arrived after their lease was lost", len(batch) - stored
            )

    async def _run(self, line: Claimed) -> None:
        try:
            outcome = await self._execute(line, lambda: self.holds(line))
            ok = outcome.status < 400
            if not ok and retryable(outcome.status) and line.attempts < self._cfg.max_attempts:
                await self.store.release(line, self.owner)
                return
            # Stored by the loop, many answers per transaction (group commit).
            self._finished.append(
                Finished(
                    line, ok, outcome.status, outcome.body, outcome.request_id, outcome.replayed
                )
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, LeaseLost):
                self.lease_lost += 1
            _log.warning("batch %s line %d: %s", line.batch_id, line.line_no, exc)
            with contextlib.suppress(Exception):  # a no-op if another replica took it
                await self.store.release(line, self.owner)
        finally:
            self._running.pop((line.batch_id, line.line_no), None)
            self._start_primed()
            # The loop's next transaction stores every answer that arrived meanwhile
            self._wake.set()
