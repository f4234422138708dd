"""``JSONAnswer`` is Starlette's JSON ``Response`` with its header lines rendered once:
the same headers in the same order, the same bytes, and uvicorn's checks on names and
values giving the same verdicts (the fast lane writes the rendered lines as they are)."""

from __future__ import annotations

import pytest
from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE

from lockgate.api.common import json_response
from lockgate.api.json_answer import JSONAnswer

BODY = b'{"ok":true}'

HEADERS: dict[str, dict[str, str] | None] = {
    "none": None,
    "empty": {},
    "lockgate's": {
        "x-request-id": "req_1",
        "x-lockgate-overhead-ms": "0.550",
        "x-lockgate-model": "gpt-4o-mini",
        "x-lockgate-deployment": "gpt-4o-mini#0",
        "x-lockgate-cost-usd": "0.00001560",
    },
    "latin-1 value": {"x-note": "caf\xe9"},
    "upper-case name": {"X-Request-Id": "req_1", "retry-after": "2"},
    "own content-type": {"content-type": "application/problem+json"},
    "own content-length": {"content-length": "11"},
    "connection close": {"connection": "close"},
    "digits only name": {"123": "x"},
}


def starlette(status: int, headers: dict[str, str] | None) -> Response:
    return Response(BODY, status_code=status, headers=headers, media_type="application/json")


@pytest.mark.parametrize("status", [200, 201, 204, 304, 404, 429, 503])
@pytest.mark.parametrize("case", sorted(HEADERS))
def test_the_same_headers_and_lines_as_starlettes_response(status: int, case: str) -> None:
    headers = HEADERS[case]
    expected = starlette(status, headers).raw_headers
    answer = JSONAnswer(BODY, status, headers)
    lines = answer.lines
    if lines is not None:
        assert lines == b"".join(b"%b: %b\r\n" % pair for pair in expected)
    assert answer.raw_headers == expected
    assert answer.body == BODY and answer.status_code == status
    # only the usual case is rendered ahead; anything unusual takes Starlette's path
    usual = case in ("none", "empty", "lockgate's", "latin-1 value")
    assert (lines is not None) is (usual and status not in (204, 304))


def test_json_response_is_a_rendered_answer() -> None:
    answer = json_response({"ok": True}, 201, {"x-request-id": "req_1"})
    assert isinstance(answer, JSONAnswer) and answer.lines is not None
    assert answer.raw_headers == starlette(201, {"x-request-id": "req_1"}).raw_headers


def test_headers_changed_after_the_fact_are_the_ones_written() -> None:
    """Once its headers are handed out, the rendered lines are dropped: the fast lane
    then writes the (possibly changed) list, as for any other response."""
    answer = JSONAnswer(BODY, 200, {"x-request-id": "req_1"})
    assert answer.lines is not None
    answer.headers["x-added"] = "1"
    assert answer.lines is None
    assert (b"x-added", b"1") in answer.raw_headers
    replaced = JSONAnswer(BODY, 200, {"x-request-id": "req_1"})
    replaced.raw_headers = [(b"x-only", b"1")]
    assert replaced.lines is None and replaced.raw_headers == [(b"x-only", b"1")]


def test_non_latin1_headers_fail_when_made_as_starlettes_do() -> None:
    with pytest.raises(UnicodeEncodeError):
        starlette(200, {"x-note": "\u2603"})
    with pytest.raises(UnicodeEncodeError):
        JSONAnswer(BODY, 200, {"x-note": "\u2603"})


def test_checks_refuse_what_uvicorn_refuses() -> None:
    """Every latin-1 character in a name and in a value: the rendered answer's check
    refuses it exactly when uvicorn's rule (over the encoded bytes) does."""
    checked = 0
    for code in range(256):
        char = chr(code)
        for headers, rule, encoded in (
            ({f"x-a{char}b": "v"}, HEADER_RE, f"x-a{char}b".encode("latin-1")),
            ({"x-name": f"a{char}b"}, HEADER_VALUE_RE, f"a{char}b".encode("latin-1")),
        ):
            answer = JSONAnswer(BODY, 200, headers)
            if answer.lines is None:
                continue  # Starlette's path (an upper-case name): uvicorn checks the list
            checked += 1
            if rule.search(encoded) is not None:
                with pytest.raises(RuntimeError, match="Invalid HTTP header"):
                    answer.check()
            else:
                answer.check()
    assert checked > 400  # all values and most names were rendered and checked
