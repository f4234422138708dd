"""``redacted_headers`` with its name memo and first-character test keeps exactly what
the plain rule kept (session 12's function, below): same names, same values."""

from __future__ import annotations

import re
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from lockgate.audit import headers as h
from lockgate.audit.headers import MAX_HEADERS, MAX_VALUE, REDACTED, redacted_headers

_SECRET_NAME = re.compile(
    r"auth|cookie|key|token|secret|passw|signature|session|credential", re.IGNORECASE
)
_PREFIXES = ("bearer ", "basic ", "sk-", "sk_", "xox", "ghp_", "akia")


def plain_rule(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The rule as session 12 wrote it, header by header."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if len(out) >= MAX_HEADERS:
            break
        lname = name.lower()
        if _SECRET_NAME.search(lname) or value[:8].lstrip().lower().startswith(_PREFIXES):
            out[lname] = REDACTED
        else:
            out[lname] = value[:MAX_VALUE]
    return out or None


def test_the_first_character_test_lets_through_every_character_a_check_starts_on():
    firsts = {p[0] for p in _PREFIXES}
    for code in range(0x110000):
        c = chr(code)
        needs_check = c.isspace() or c.lower()[:1] in firsts
        assert (c in h._CHECK_FIRST) == needs_check, hex(code)


names = st.one_of(
    st.sampled_from(
        ["authorization", "Authorization", "X-API-KEY", "cookie", "host", "Host", "x-request-id"]
    ),
    st.text(min_size=0, max_size=8),
)
values = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["Bearer sk-1", "\u3000sk-abc", "\u2028bearer x", "  AKIA1", "\x1cghp_", "Sk_x", "xoX"]
    ),
    st.builds(lambda pad, p: pad + p, st.text(" \t\xa0", max_size=9), st.sampled_from(_PREFIXES)),
    st.text(min_size=250, max_size=270),
)


@settings(max_examples=600, derandomize=True, deadline=None)
@given(st.dictionaries(names, values, max_size=70))
def test_the_same_headers_are_kept_as_by_the_plain_rule(headers):
    before = plain_rule(headers)
    after = redacted_headers(headers)
    assert after == before
    if after is not None and before is not None:
        assert list(after) == list(before)  # same order
        for name, value in after.items():
            assert type(value) is str and value == before[name]
            if len(value) <= MAX_VALUE and value in headers.values() and value != REDACTED:
                # a kept value is the client's own string object, as before
                assert any(value is v for v in headers.values())


def test_names_are_remembered_up_to_a_bound():
    h._NAMES.clear()
    for i in range(h._MAX_NAMES + 50):
        assert redacted_headers({f"X-Name-{i}": "v"}) == {f"x-name-{i}": "v"}
    assert len(h._NAMES) == h._MAX_NAMES
    assert redacted_headers({"X-Session-Name": "v"}) == {"x-session-name": REDACTED}
