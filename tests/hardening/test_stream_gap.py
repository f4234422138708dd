"""The client leaves after the pipeline handed over its stream but before the first byte.

The route's body generator has not started then, so the clean-up inside it (which
records the request and closes the upstream stream) never ran: the request was on
no record at all.  Driven at the ASGI level, where the moment can be chosen exactly:
the client's disconnect arrives while the response start is being sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from asgi_lifespan import LifespanManager
from tests.audit.conftest import audit_rows, settings_for
from tests.hardening.conftest import MOCK, usage_rows
from tests.support import MASTER

from lockgate.app import create_app


async def test_client_gone_before_first_byte_is_recorded_499(tmp_path):
    """One usage row and one audit record, status 499, for a stream nobody received."""
    url = f"sqlite+aiosqlite:///{tmp_path}/gap.db"
    body = orjson.dumps(
        {"model": "mock", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    )
    app = create_app(settings_for(url, MOCK))
    started = asyncio.Event()
    sent: list[dict[str, Any]] = []
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": body, "more_body": False}
        await started.wait()  # the client hangs up as the response starts
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.start":
            started.set()
            await asyncio.sleep(0)

    async with LifespanManager(startup_timeout=120, shutdown_timeout=120, app=app) as manager:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/chat/completions",
            "raw_path": b"/v1/chat/completions",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"gw"),
                (b"content-type", b"application/json"),
                (b"authorization", b"Bearer " + MASTER.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 4000),
            "state": dict(manager._state),
        }
        await asyncio.wait_for(manager.app(scope, receive, send), 10)
    assert [m["type"] for m in sent] == ["http.response.start"]
    assert [row["status"] for row in await usage_rows(url)] == [499]
    assert [row["record"]["status"] for row in await audit_rows(url)] == [499]
