"""Batch input validation (pure): every rule names the line it fails on."""

from __future__ import annotations

import json

import pytest

from lockgate.batches.lines import parse_input

EP = "/v1/chat/completions"


def line(i: int, **over: object) -> bytes:
    obj = {
        "custom_id": f"r{i}",
        "method": "POST",
        "url": EP,
        "body": {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]},
    }
    obj.update(over)
    return json.dumps(obj).encode()


def test_valid_file_parses_every_line_in_order() -> None:
    """Blank lines are skipped; line numbers are the file's, 1-based."""
    data = b"\n".join([line(1), b"", line(2), line(3)]) + b"\n"
    lines, errors = parse_input(data, EP, max_lines=10)
    assert errors == []
    assert [(ln.line_no, ln.custom_id) for ln in lines] == [(1, "r1"), (3, "r2"), (4, "r3")]


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (b"{not json", "invalid_json_line"),
        (b"[1, 2]", "invalid_request"),
        (line(9, custom_id=""), "invalid_request"),
        (line(9, method="GET"), "invalid_request"),
        (line(9, url="/v1/embeddings"), "mismatched_url"),
        (line(9, body={"messages": []}), "invalid_request"),
        (line(9, body={"model": "m", "stream": True}), "invalid_request"),
        (line(1), "duplicate_custom_id"),
    ],
)
def test_a_bad_line_fails_the_batch_with_its_number(bad: bytes, code: str) -> None:
    """Any bad line makes the whole batch fail, and the error names line 3."""
    data = b"\n".join([line(1), line(2), bad])
    lines, errors = parse_input(data, EP, max_lines=10)
    assert lines == []
    assert [(e.line, e.code) for e in errors] == [(3, code)]


def test_line_and_endpoint_limits() -> None:
    """Too many lines, no lines, or an unknown endpoint are errors without a line."""
    data = b"\n".join(line(i) for i in range(5))
    assert parse_input(data, EP, max_lines=4)[1][0].code == "too_many_lines"
    assert parse_input(b"\n\n", EP, max_lines=4)[1][0].code == "empty_file"
    assert parse_input(data, "/v1/images", max_lines=10)[1][0].code == "invalid_endpoint"
