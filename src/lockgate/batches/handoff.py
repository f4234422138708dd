"""Hand a batch to the provider's own batch API (OpenAI Batches, Anthropic Message
Batches) for its discount, track it to the end, and map its results back.

Chosen when the batch is created (``batches.handoff: auto``; a batch's metadata
``lockgate_handoff: "off"`` opts out): every line names one alias whose first
deployment is OpenAI or Anthropic (Anthropic: chat and messages lines).  Each step of
a handed-off batch is durable, so a replica killed at any point resumes without
sending anything twice:

1. OpenAI: the requests file goes up as ``lockgate-<batch>.jsonl``; the remote id is
   stored.  A replica that died before storing it finds the file by name and size.
2. ``handoff_marked_at`` is committed, then the remote batch is created (OpenAI with
   metadata ``lockgate_batch_id``), then its id is stored.  A replica finding a mark
   without an id looks for the batch first (OpenAI: by that metadata; Anthropic, which
   has no metadata: a batch created since the mark with as many requests) and creates
   one only if there is none.
3. Polled every ``handoff_poll_seconds``; a cancel is passed on once.  When it ended,
   its results are stored for the lines still pending and the rest closed, in one
   transaction; then one usage row per answered line is recorded, priced at
   ``handoff_discount`` of the deployment's price.  The runner then writes the output
   and error files as for any batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from lockgate.batches.config import BatchSettings
from lockgate.batches.handoff_store import HandoffStore
from lockgate.batches.handoff_wire import (
    HANDOFF_PROVIDERS,
    LineAnswer,
    can_hand_off,
    custom_id,
    line_no_of,
    remote_url,
    to_answer,
    to_remote,
)
from lockgate.context import ApiFlavor, RequestContext
from lockgate.settings import Deployment

if TYPE_CHECKING:  # aiohttp (~5 MiB resident) loads with the first hand-off
    import aiohttp

    from lockgate.batches.remote import RemoteBatches
    from lockgate.router import Router
    from lockgate.services import Services

__all__ = ["ProviderHandoff", "handoff_target"]

_log = logging.getLogger("lockgate.batches.handoff")


def handoff_target(
    router: Router,
    settings: BatchSettings,
    endpoint: str,
    models: set[str],
    metadata: dict[str, str] | None,
) -> tuple[str, str, str] | None:
    """(provider, alias, deployment id) to hand a batch to, or None to run it here."""
    if settings.handoff != "auto" or (metadata or {}).get("lockgate_handoff") == "off":
        return None
    if len(models) != 1:
        return None
    alias = next(iter(models))
    deps = router.resolve(alias)
    if not deps:
        return None
    dep = deps[0]
    if dep.provider not in HANDOFF_PROVIDERS or not can_hand_off(endpoint, dep):
        return None
    return dep.provider, alias, dep.id


class ProviderHandoff:
    def __init__(
        self,
        svc: Services,
        settings: BatchSettings,
        owner: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._svc = svc
        self._cfg = settings
        self._store = HandoffStore(svc.db)
        self._owner = owner
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: answers stored, for the logs and tests
        self.stored = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="lockgate-batch-handoff")

    def wake(self) -> None:
        self._wake.set()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _loop(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away: keep trying, say so
                _log.warning("batch hand-off: %s: %s", type(exc).__name__, exc)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._cfg.handoff_poll_seconds)

    async def step(self) -> int:
        """Drive every handed-off batch that is due; how many were looked at."""
        now = self._clock()
        hold = self._cfg.lease_seconds
        rows = await self._store.take(self._owner, now, hold)
        for row in rows:
            renew = asyncio.create_task(self._renew(row["id"], hold))
            try:
                await self._drive(row)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the provider may be away: next poll
                _log.warning("batch %s hand-off: %s: %s", row["id"], type(exc).__name__, exc)
            finally:
                renew.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await renew
            with contextlib.suppress(Exception):
                # polled again after handoff_poll_seconds (or by another replica)
                await self._store.update(
                    row["id"],
                    self._owner,
                    handoff_until=self._clock() + self._cfg.handoff_poll_seconds,
                )
        return len(rows)

    async def _renew(self, batch_id: str, hold: float) -> None:
        """Keep the lease while a step runs (an upload or a create may take long)."""
        while True:
            await asyncio.sleep(hold / 3)
            await self._store.update(batch_id, self._owner, handoff_until=self._clock() + hold)

    def _remote(self, dep: Deployment, endpoint: str) -> RemoteBatches:
        import aiohttp

        from lockgate.batches.remote import remote_for

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._cfg.handoff_timeout_seconds)
            )
        return remote_for(dep, self._session, endpoint)

    async def _drive(self, row: dict[str, Any]) -> None:
        batch_id = row["id"]
        dep = self._svc.router.deployment(row["handoff_model"], row["handoff_deployment"])
        api = self._remote(dep, row["endpoint"])
        remote_id = row["remote_batch_id"]
        cancelling = row["status"] == "cancelling"
        if remote_id is None:
            if cancelling and row["handoff_marked_at"] is None:
                # nothing went out: the lines end cancelled here
                await self._store.finish(batch_id, self._owner, [], cancelled=True)
                return
            await self._submit(row, dep, api)
            return
        if cancelling and row["remote_status"] != "cancel_requested":
            await api.cancel(remote_id)
            await self._store.update(batch_id, self._owner, remote_status="cancel_requested")
            row["remote_status"] = "cancel_requested"
        status, ended = await api.status(remote_id)
        if not ended:
            if row["remote_status"] != "cancel_requested":
                await self._store.update(batch_id, self._owner, remote_status=status)
            return
        await self._collect(row, dep, api, remote_id, cancelling)

    async def _submit(self, row: dict[str, Any], dep: Deployment, api: RemoteBatches) -> None:
        batch_id, endpoint = row["id"], row["endpoint"]
        lines = await self._store.lines(batch_id)
        if dep.provider == "anthropic":
            requests = [
                {"custom_id": custom_id(batch_id, n), "params": to_remote(endpoint, dep, body)}
                for n, _, body in lines
            ]
        else:
            url = remote_url(endpoint)
            requests = [
                {
                    "custom_id": custom_id(batch_id, n),
                    "method": "POST",
                    "url": url,
                    "body": to_remote(endpoint, dep, body),
                }
                for n, _, body in lines
            ]
        file_id = row["remote_file_id"]
        if file_id is None:
            data = b"".join(orjson.dumps(r) + b"\n" for r in requests)
            file_id = await api.upload(batch_id, data)
            if file_id is not None:
                await self._store.update(batch_id, self._owner, remote_file_id=file_id)
        remote_id = None
        if row["handoff_marked_at"] is not None:  # a replica died around the create
            remote_id = await api.find(batch_id, row["handoff_marked_at"], len(requests))
        if remote_id is None:
            if not await self._store.update(batch_id, self._owner, handoff_marked_at=self._clock()):
                return  # another replica holds it now
            remote_id = await api.create(batch_id, file_id, requests)
        await self._store.update(
            batch_id, self._owner, remote_batch_id=remote_id, remote_status="submitted"
        )
        _log.info("batch %s handed to %s as %s", batch_id, dep.provider, remote_id)

    async def _collect(
        self,
        row: dict[str, Any],
        dep: Deployment,
        api: RemoteBatches,
        remote_id: str,
        cancelling: bool,
    ) -> None:
        batch_id, endpoint, alias = row["id"], row["endpoint"], row["handoff_model"]
        bodies = {n: body for n, _, body in await self._store.lines(batch_id)}
        answers: list[LineAnswer] = []
        for result in await api.results(remote_id):
            n = line_no_of(batch_id, result.custom_id)
            if n is None or n not in bodies:
                raise RuntimeError(
                    f"remote batch {remote_id} holds {result.custom_id!r}, not a line of"
                    f" {batch_id}: not ours"
                )
            if result.kind == "canceled":
                continue  # closed as cancelled below
            answers.append(to_answer(n, result, endpoint, dep, alias, bodies[n]))
        stored = await self._store.finish(batch_id, self._owner, answers, cancelled=cancelling)
        self.stored += len(stored)
        await self._record(row, dep, stored)
        if self._svc.batches is not None and self._svc.batches.runner is not None:
            self._svc.batches.runner.wake()  # write the output files now

    async def _record(self, row: dict[str, Any], dep: Deployment, stored: list[LineAnswer]) -> None:
        """One usage row per stored answer, priced at the batch discount."""
        from lockgate.batches.execute import batch_principal

        svc = self._svc
        principal = await batch_principal(svc, row["key_id"], allow_revoked=True)
        flavor: ApiFlavor = "anthropic" if row["endpoint"] == "/v1/messages" else "openai"
        for answer in stored:
            ctx = RequestContext(
                request_id=svc.request_ids.new(),
                principal=principal,
                api=flavor,
            )
            ctx.deployment = dep
            ctx.attempts = 1
            ctx.notes["batch"] = {
                "batch_id": row["id"],
                "line": answer.line_no,
                "handoff": dep.provider,
                "remote_batch_id": row["remote_batch_id"],
                "remote_request_id": answer.request_id,
                "discount": self._cfg.handoff_discount,
            }
            ctx.settle(answer.usage)
            ctx.cost *= self._cfg.handoff_discount
            svc.record(ctx, row["handoff_model"], answer.status_code, answer.usage)
