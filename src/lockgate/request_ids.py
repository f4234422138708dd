"""Request ids: the gateway's own, and the one a client sent for correlation.

The gateway's id is the key of a request's usage row and audit record, so it must be
unique: a random per-process prefix and a counter (no syscall per request).  A
client's ``x-request-id`` (or ``x-client-request-id``) is kept beside it, cleaned
and bounded, to join the gateway's records with the client's own logs; reusing one
is harmless.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping

from lockgate.storage.text import bounded

__all__ = ["CLIENT_ID_MAX", "RequestIds", "client_request_id"]

#: longest client request id kept (the usage column's size)
CLIENT_ID_MAX = 128


class RequestIds:
    """Unique ids: ``req_`` + 12 random hex digits per process + a 10-digit counter."""

    def __init__(self) -> None:
        self._prefix = "req_" + os.urandom(6).hex()
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):010x}"


def client_request_id(headers: Mapping[str, str]) -> str | None:
    """The client's own request id, cleaned and cut to ``CLIENT_ID_MAX`` characters."""
    given = headers.get("x-request-id") or headers.get("x-client-request-id")
    return bounded(given, CLIENT_ID_MAX) or None if given else None
