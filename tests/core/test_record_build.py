"""``build_record`` writes the record's values straight in ``FIELDS`` order and makes
the record with ``record_of``: it must record exactly what the keyword-by-keyword
construction of ``RequestRecord`` did, value for value and byte for byte (the pickled
bytes the writer process gets, the usage row, the audit entry)."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockgate.audit.entry import entry_from_record
from lockgate.audit.headers import redacted_headers
from lockgate.auth.keys import Principal
from lockgate.chat import Usage
from lockgate.context import RequestContext
from lockgate.errors import BadRequestError, GatewayError, UpstreamTimeoutError
from lockgate.records import FIELDS, RequestRecord, fields_of, packed, record_of, unpack
from lockgate.services import build_record
from lockgate.settings import Deployment, ModelParams
from lockgate.usage.repository import row_of


def reference_record(
    ctx: RequestContext,
    model: str,
    status: int,
    usage: Usage | None,
    elapsed: float,
    saved: float = 0.0,
) -> RequestRecord:
    """``build_record`` as it was before (session 12): every field by keyword."""
    dep = ctx.deployment
    err = ctx.error
    p = ctx.principal
    return RequestRecord(
        request_id=ctx.request_id,
        started_at=ctx.started_wall,
        api=ctx.api,
        key_id=p.key_id,
        key_name=p.name,
        team=p.team,
        user=ctx.user,
        model=model,
        provider=dep.provider if dep is not None else None,
        deployment=dep.id if dep is not None else None,
        upstream_model=dep.params.upstream_model if dep is not None else None,
        status=status,
        error_type=err.type if err is not None else None,
        error_code=err.code if err is not None else None,
        stream=ctx.stream,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        cached_tokens=usage.cached_tokens if usage else 0,
        cost_usd=ctx.cost,
        latency_ms=elapsed * 1000.0,
        overhead_ms=max(0.0, elapsed - ctx.upstream_seconds) * 1000.0,
        ttft_ms=(ctx.first_chunk_at - ctx.started) * 1000.0 if ctx.first_chunk_at else None,
        attempts=ctx.attempts,
        cache=ctx.cache_status,
        notes=ctx.notes,
        client_ip=ctx.client_ip,
        client_request_id=ctx.client_request_id,
        saved_usd=saved,
        request_headers=redacted_headers(ctx.client_headers),
        attempt_log=ctx.attempt_log or None,
        request_body=ctx.captured_request,
        response_body=ctx.captured_response,
    )


DEPLOYMENTS = [
    None,
    Deployment(id="a#0", alias="a", params=ModelParams(model="openai/gpt-4o-mini")),
    Deployment(id="m#1", alias="m", params=ModelParams(model="mock/mock-1")),
]
ERRORS: list[GatewayError | None] = [
    None,
    BadRequestError("bad field", code="invalid_value"),
    UpstreamTimeoutError("slow", public=True),
]
PRINCIPALS = [
    Principal(kind="master"),
    Principal(kind="key", key_id="k1", name="team-a-key", team="team-a"),
    Principal(kind="anonymous"),
]

text = st.text(max_size=12)
header_values = st.one_of(
    text,
    st.sampled_from(["Bearer sk-abc", "  sk-live-1", "basic Zm9v", "AKIAXYZ", "xoxb-1", "ghp_x"]),
    st.text(min_size=250, max_size=300),  # cut at 256
)
header_names = st.one_of(
    st.sampled_from(
        ["authorization", "X-Api-Key", "cookie", "x-request-id", "user-agent", "Content-Type"]
    ),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz-ABC", min_size=1, max_size=10),
)
json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), text
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def contexts(draw: st.DrawFn) -> tuple[RequestContext, dict[str, Any]]:
    headers = draw(st.dictionaries(header_names, header_values, max_size=60))
    values = list(headers.values())
    # Other fields often hold the very objects of header values (the user header,
    # x-request-id): the pickled bytes then refer back to them; both ways must agree.
    shared = st.sampled_from(values) if values else st.none()
    ctx = RequestContext(
        request_id=draw(text),
        principal=draw(st.sampled_from(PRINCIPALS)),
        api=draw(st.sampled_from(["openai", "anthropic", "legacy"])),
        client_headers=headers,
        client_ip=draw(st.one_of(st.none(), st.just("127.0.0.1"))),
        client_request_id=draw(st.one_of(st.none(), text, shared)),
    )
    ctx.started = draw(st.floats(0, 10**6))
    ctx.started_wall = draw(st.floats(1.7e9, 1.8e9))
    ctx.user = draw(st.one_of(st.none(), text, shared))
    ctx.stream = draw(st.booleans())
    ctx.deployment = draw(st.sampled_from(DEPLOYMENTS))
    ctx.error = draw(st.sampled_from(ERRORS))
    ctx.attempts = draw(st.integers(0, 4))
    ctx.attempt_log = draw(st.lists(st.dictionaries(text, json_values, max_size=4), max_size=3))
    ctx.cache_status = draw(st.sampled_from([None, "miss", "hit", "semantic-hit", "bypass"]))
    ctx.cost = draw(st.floats(0, 1))
    ctx.upstream_seconds = draw(st.floats(0, 2))
    ctx.first_chunk_at = draw(
        st.one_of(st.none(), st.just(0.0), st.floats(ctx.started, ctx.started + 3))
    )
    ctx.notes = draw(st.dictionaries(text, json_values, max_size=4))
    ctx.captured_request = draw(st.one_of(st.none(), json_values))
    ctx.captured_response = draw(st.one_of(st.none(), json_values))
    usage = draw(
        st.one_of(
            st.none(),
            st.builds(
                Usage,
                prompt_tokens=st.integers(0, 10**6),
                completion_tokens=st.integers(0, 10**6),
                cached_tokens=st.integers(0, 10**3),
            ),
        )
    )
    args = {
        "model": draw(st.sampled_from(["gpt-4o-mini", "a", "unknown"])),
        "status": draw(st.sampled_from([200, 400, 429, 499, 502])),
        "usage": usage,
        "elapsed": draw(st.floats(0, 5)),
        "saved": draw(st.floats(0, 1)),
    }
    return ctx, args


@settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(contexts())
def test_the_record_and_its_bytes_are_what_the_keyword_construction_made(case):
    ctx, args = case
    before = reference_record(ctx, **args)
    after = build_record(ctx, **args)
    assert type(after) is RequestRecord
    assert after == before
    assert repr(after) == repr(before)
    for name in FIELDS:
        a, b = getattr(after, name), getattr(before, name)
        assert type(a) is type(b) and a == b, name
    # the bytes the writer process gets: as pickling the keyword-built record's values
    assert packed(after) == pickle.dumps(fields_of(before), pickle.HIGHEST_PROTOCOL)
    assert unpack([packed(after)]) == [before]
    # what the usage and audit writers store
    assert row_of(after) == row_of(before)
    assert entry_from_record(after, created_at=1.0, cipher=None) == entry_from_record(
        before, created_at=1.0, cipher=None
    )


def test_a_record_of_values_is_a_frozen_request_record():
    values = tuple(f"v{i}" for i in range(len(FIELDS)))
    record = record_of(values)
    same = RequestRecord(*values)
    assert type(record) is RequestRecord and record == same
    assert hash(record) == hash(same)
    assert fields_of(record) == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.status = 500  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del record.model  # type: ignore[misc]
    assert dataclasses.replace(record, status=1).status == 1
    assert pickle.loads(pickle.dumps(record)) == same


def test_packed_takes_the_values_of_the_record_it_is_given():
    """The values kept from ``record_of`` serve only the record they were made for."""
    first = record_of(tuple(f"a{i}" for i in range(len(FIELDS))))
    other = RequestRecord(*(f"b{i}" for i in range(len(FIELDS))))
    assert unpack([packed(other)]) == [other]
    assert unpack([packed(first)]) == [first]
