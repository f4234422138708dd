"""Cache policy: determinism, per-alias modes, client controls, what may be stored."""

from __future__ import annotations

from typing import Any

import pytest
from tests.cache.cache_samples import text_completion

from lockgate.cache import (
    AliasCachePolicy,
    CacheControl,
    decide,
    is_deterministic,
    parse_body_control,
    parse_header_control,
    request_control,
    storable_completion,
    strip_cache_field,
)
from lockgate.errors import BadRequestError

MSGS = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"temperature": 0}, True),
        ({"temperature": 0.0}, True),
        ({"seed": 7}, True),
        ({"temperature": 1, "seed": 7}, True),
        ({}, False),
        ({"temperature": 0.2}, False),
        ({"temperature": None}, False),
        ({"temperature": False}, False),
    ],
)
def test_is_deterministic(body: dict[str, Any], expected: bool) -> None:
    """temperature 0 or a seed is deterministic; absent temperature is not."""
    assert is_deterministic(body) is expected


def test_default_policy_caches_only_deterministic() -> None:
    """The default mode reads and writes deterministic requests only."""
    policy = AliasCachePolicy()
    yes = decide({"messages": MSGS, "temperature": 0}, policy)
    no = decide({"messages": MSGS}, policy)
    assert (yes.read, yes.write, yes.ttl) == (True, True, 3600.0)
    assert (no.read, no.write, no.reason) == (False, False, "nondeterministic")


def test_always_and_off_modes() -> None:
    """ "always" caches sampled requests; "off" caches nothing."""
    body = {"messages": MSGS, "temperature": 1}
    assert decide(body, AliasCachePolicy(mode="always", ttl=5)).write
    off = decide({**body, "temperature": 0}, AliasCachePolicy(mode="off"))
    assert not off.read and not off.write and not off.coalesce


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, CacheControl()),
        ("", CacheControl()),
        ("no-cache", CacheControl(no_cache=True)),
        ("no-store", CacheControl(no_store=True)),
        ("No-Cache, no-store", CacheControl(no_cache=True, no_store=True)),
        ("ttl=60", CacheControl(ttl=60.0)),
        ("no-cache,ttl=1.5", CacheControl(no_cache=True, ttl=1.5)),
    ],
)
def test_parse_header(header: str | None, expected: CacheControl) -> None:
    """The x-lockgate-cache request header parses to a control."""
    assert parse_header_control(header) == expected


@pytest.mark.parametrize("header", ["max-age=3", "ttl=abc", "ttl=-1", "ttl=inf", "ttl=nan"])
def test_bad_header_is_a_client_error(header: str) -> None:
    """Unknown directives and bad TTLs are rejected with a 400."""
    with pytest.raises(BadRequestError):
        parse_header_control(header)


def test_parse_body_field() -> None:
    """The body cache field parses the same controls."""
    raw = {"no_cache": True, "no_store": False, "ttl": 30}
    assert parse_body_control(raw) == CacheControl(no_cache=True, ttl=30.0)


@pytest.mark.parametrize(
    "raw", ["yes", {"no_cache": "true"}, {"ttl": True}, {"ttl": -5}, {"bogus": 1}]
)
def test_bad_body_field_is_a_client_error(raw: Any) -> None:
    """Malformed body controls are rejected with a 400."""
    with pytest.raises(BadRequestError):
        parse_body_control(raw)


def test_header_and_body_combine() -> None:
    """Flags from both sources apply and the shorter TTL wins."""
    control = request_control("no-store, ttl=100", {"cache": {"no_cache": True, "ttl": 10}})
    assert control == CacheControl(no_cache=True, no_store=True, ttl=10.0)


def test_no_cache_still_stores_and_no_store_still_reads() -> None:
    """no-cache skips the read only; no-store skips the write only."""
    body = {"messages": MSGS, "temperature": 0}
    policy = AliasCachePolicy()
    no_cache = decide(body, policy, CacheControl(no_cache=True))
    no_store = decide(body, policy, CacheControl(no_store=True))
    both = decide(body, policy, CacheControl(no_cache=True, no_store=True))
    assert (no_cache.read, no_cache.write) == (False, True)
    assert (no_store.read, no_store.write) == (True, False)
    assert (both.read, both.write, both.reason) == (False, False, "bypass")


def test_request_ttl_is_capped_by_alias() -> None:
    """A client may shorten the TTL but not exceed the alias's max_ttl; ttl=0 means no store."""
    body = {"messages": MSGS, "temperature": 0}
    policy = AliasCachePolicy(ttl=60, max_ttl=120)
    assert decide(body, policy, CacheControl(ttl=10)).ttl == 10
    assert decide(body, policy, CacheControl(ttl=10_000)).ttl == 120
    assert not decide(body, policy, CacheControl(ttl=0)).write


def test_strip_cache_field_does_not_mutate() -> None:
    """The cache field is removed from a copy; a body without it is returned as is."""
    body = {"model": "m", "messages": MSGS, "cache": {"no_store": True}}
    stripped = strip_cache_field(body)
    assert "cache" not in stripped
    assert "cache" in body
    assert stripped["messages"] is body["messages"]
    plain = {"model": "m", "messages": MSGS}
    assert strip_cache_field(plain) is plain


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (text_completion(), True),
        (text_completion(finish="length"), True),
        (text_completion(finish="tool_calls"), True),
        (text_completion(finish="content_filter"), False),
        ({**text_completion(), "choices": []}, False),
        ({"error": {"message": "boom"}}, False),
    ],
)
def test_storable_completion(completion: dict[str, Any], expected: bool) -> None:
    """Finished answers (incl. "length") are stored; filtered, empty and error ones are not."""
    assert storable_completion(completion) is expected


def test_storable_needs_every_choice_finished() -> None:
    """An n>1 answer with one unfinished choice is not stored."""
    completion = text_completion()
    second = {**completion["choices"][0], "index": 1, "finish_reason": None}
    assert not storable_completion({**completion, "choices": [completion["choices"][0], second]})
