"""A JSON response whose header lines are rendered once, as the bytes on the wire.

Starlette's ``Response`` turns its headers into a list of byte pairs (each name
lower-cased and encoded, each value encoded), and a server then checks every name and
value and formats every line again.  On the chat route that was ~4% of the gateway's
CPU per request (session 10-12 profiles).  ``JSONAnswer`` renders the usual case (a
dict of lower-case names, no framing headers of its own) into the header block in one
pass; the fast lane (serving/fastlane.py) checks it with uvicorn's two rules and writes
it as it is.  ``raw_headers`` is still there for everyone else (the ASGI path, code
reading or changing the headers), built on first use, after which the fast lane
renders that list like any other response's.

What goes on the wire is the same as for ``Response(body, status, headers,
media_type="application/json")``: the given headers in order, then ``content-length``
and ``content-type``; anything unusual (names not in lower case, a ``content-length``,
``content-type`` or ``connection`` of the caller's, a status without a body) takes
Starlette's own path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.responses import Response

__all__ = ["JSONAnswer"]

#: uvicorn's rules (``HEADER_RE``, ``HEADER_VALUE_RE``) over text: latin-1 text and its
#: bytes match alike
_BAD_NAME = re.compile('[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_BAD_VALUE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_TAIL = "\r\ncontent-length: %d\r\ncontent-type: application/json\r\n"
_ONLY = "content-length: %d\r\ncontent-type: application/json\r\n"


class JSONAnswer(Response):
    """``Response(body, status, headers, media_type="application/json")`` with its
    header lines rendered at once (``lines``; None when Starlette's path built it, or
    once ``raw_headers`` was handed out)."""

    media_type = "application/json"

    def __init__(
        self, body: bytes, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self._raw: list[tuple[bytes, bytes]] | None = None
        #: the header lines, each ending in CRLF (no status line, no blank line)
        self.lines: bytes | None = None
        given = headers or {}
        self._given = given
        if given:
            names = "\n".join(given)
            if (
                not names.islower()
                or "content-length" in given
                or "content-type" in given
                or "connection" in given
                or status_code < 200
                or status_code in (204, 304)
            ):
                self.init_headers(headers)  # Starlette's own path (sets raw_headers)
                return
            text = "\r\n".join(map(": ".join, given.items())) + _TAIL % len(body)
        elif status_code < 200 or status_code in (204, 304):
            self.init_headers(headers)
            return
        else:
            text = _ONLY % len(body)
        self.lines = text.encode("latin-1")

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        raw = self._raw
        if raw is None:
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self._given.items()]
            raw.append((b"content-length", b"%d" % len(self.body)))
            raw.append((b"content-type", b"application/json"))
            self._raw = raw
        # handed out: the list may change from here on, so the lines are no longer it
        self.lines = None
        return raw

    @raw_headers.setter
    def raw_headers(self, value: list[tuple[bytes, bytes]]) -> None:
        self._raw = value
        self.lines = None

    def check(self) -> None:
        """uvicorn's checks on every header name and value of the rendered ``lines`` (a
        RuntimeError, as uvicorn raises, for a name or value it would refuse)."""
        given = self._given
        if _BAD_NAME.search("-".join(given)):
            raise RuntimeError("Invalid HTTP header name.")
        if _BAD_VALUE.search("\t".join(given.values())):
            raise RuntimeError("Invalid HTTP header value.")
