"""Running a FakeUpstream on its own event loop in a background thread, for sync tests."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from .server import FakeUpstream

__all__ = ["ThreadedFake", "start_in_thread", "start_server_in_thread"]


class ThreadedFake:
    """A started fake on a daemon thread. ``fake`` is the FakeUpstream itself: its
    ``requests``, ``cancel_events`` and fault API are safe to use from the test thread."""

    def __init__(
        self, fake: FakeUpstream, loop: asyncio.AbstractEventLoop, thread: threading.Thread
    ) -> None:
        self.fake = fake
        self._loop = loop
        self._thread = thread

    @property
    def url(self) -> str:
        return self.fake.base_url

    @property
    def openai_base_url(self) -> str:
        return self.fake.openai_base_url

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def __enter__(self) -> ThreadedFake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __getattr__(self, name: str) -> Any:
        # push_fault, script, requests, cancelled, ... straight from the fake
        return getattr(self.fake, name)


def start_in_thread(timeout: float = 10.0, **kwargs: Any) -> ThreadedFake:
    """Start ``FakeUpstream(**kwargs)`` on a new thread and return once it listens."""
    return start_server_in_thread(FakeUpstream(**kwargs), timeout)


def start_server_in_thread(fake: Any, timeout: float = 10.0) -> ThreadedFake:
    """Start any fake server (``start``/``stop`` coroutines, ``base_url``) on a new thread."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(fake.start())
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)
            started.set()
            loop.close()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name=f"fake-upstream-{id(fake):x}", daemon=True)
    thread.start()
    if not started.wait(timeout):
        raise TimeoutError("fake upstream did not start")
    if failure:
        raise failure[0]
    return ThreadedFake(fake, loop, thread)
