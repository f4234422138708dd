"""``python -m tests.fakes --port N``: run a fake upstream until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import signal

from .server import FakeUpstream


async def _serve(host: str, port: int) -> None:
    fake = FakeUpstream(host=host, port=port)
    await fake.start()
    # The line other processes wait for; it carries the real port when --port is 0.
    print(f"fake upstream listening on {fake.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
