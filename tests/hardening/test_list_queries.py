"""The list endpoints' query (``limit``, ``after``, ``order``) checked as OpenAI checks it,
through the official openai SDK against a live gateway.

Before: ``/v1/batches?limit=-1`` (or 0, or 10**20) was clamped silently, ``/v1/files``
ignored ``limit``, ``after`` and ``order`` and always answered everything with
``has_more: false``, and a batches cursor naming another key's batch changed the page
(it told that the id exists)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from tests.e2e.conftest import GatewayFactory, model_list
from tests.fakes import ThreadedFake
from tests.live_server import LiveGateway
from tests.support import MASTER, bearer

LINE = {
    "custom_id": "a",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
}


def _key(gw: LiveGateway, name: str) -> str:
    r = httpx.post(gw.url + "/admin/keys", json={"name": name}, headers=bearer(), timeout=30)
    r.raise_for_status()
    return str(r.json()["key"])


@pytest.fixture()
def gw(fake: ThreadedFake, gateway_factory: GatewayFactory) -> LiveGateway:
    return gateway_factory(model_list(fake), batches={"poll_seconds": 0.05})


@pytest.fixture()
def tenant(gw: LiveGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gw.v1, api_key=_key(gw, "tenant"), max_retries=0) as client:
        yield client


def _upload(client: openai.OpenAI, n: int, purpose: str = "batch") -> list[str]:
    data = (json.dumps(LINE) + "\n").encode()
    return [
        client.files.create(file=(f"f{i}.jsonl", data), purpose=purpose).id  # type: ignore[arg-type]
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("path", "query", "param", "code"),
    [
        ("/batches", {"limit": -1}, "limit", "integer_below_min_value"),
        ("/batches", {"limit": 0}, "limit", "integer_below_min_value"),
        ("/batches", {"limit": 101}, "limit", "integer_above_max_value"),
        ("/batches", {"limit": 10**20}, "limit", "integer_above_max_value"),
        ("/batches", {"limit": "1e3"}, "limit", "invalid_type"),
        ("/batches", {"limit": "\u0665"}, "limit", "invalid_type"),  # int() reads it as 5
        ("/batches", {"after": "batch_unknown"}, "after", "invalid_value"),
        ("/files", {"limit": -1}, "limit", "integer_below_min_value"),
        ("/files", {"limit": 0}, "limit", "integer_below_min_value"),
        ("/files", {"limit": 10_001}, "limit", "integer_above_max_value"),
        ("/files", {"limit": "ten"}, "limit", "invalid_type"),
        ("/files", {"order": "sideways"}, "order", "invalid_value"),
        ("/files", {"after": "file_unknown"}, "after", "invalid_value"),
    ],
)
def test_an_out_of_range_query_is_a_400_naming_the_parameter(
    tenant: openai.OpenAI, path: str, query: dict[str, object], param: str, code: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        tenant.get(path, cast_to=object, options={"params": query})
    err = caught.value
    assert err.status_code == 400
    assert isinstance(err.body, dict), err.body
    assert err.body["param"] == param and err.body["code"] == code, err.body
    assert err.body["type"] == "invalid_request_error" and err.body["message"], err.body


def test_files_page_in_either_order_with_the_sdk(tenant: openai.OpenAI) -> None:
    """The SDK's auto-pagination walks every file once, newest first by default and oldest
    first with ``order="asc"``; a purpose filter pages within that purpose."""
    ids = _upload(tenant, 5)
    other = _upload(tenant, 2, purpose="user_data")
    page = tenant.files.list(limit=2)
    assert len(page.data) == 2 and page.has_more
    newest_first = [f.id for f in tenant.files.list(limit=2)]
    assert sorted(newest_first) == sorted(ids + other)  # every file once
    assert len(newest_first) == len(set(newest_first)) == 7
    oldest_first = [f.id for f in tenant.files.list(limit=3, order="asc")]
    assert oldest_first == newest_first[::-1]
    batch_only = [f.id for f in tenant.files.list(limit=2, purpose="batch")]
    assert sorted(batch_only) == sorted(ids)
    # a cursor deleted between two pages still continues the list
    first = tenant.files.list(limit=3)
    tenant.files.delete(first.data[-1].id)
    rest = tenant.files.list(limit=10, after=first.data[-1].id)
    assert [f.id for f in rest.data] == newest_first[3:]


def test_batches_page_with_the_sdk_and_a_foreign_cursor_is_no_cursor(
    gw: LiveGateway, tenant: openai.OpenAI
) -> None:
    (fid,) = _upload(tenant, 1)
    made = [
        tenant.batches.create(
            input_file_id=fid, endpoint="/v1/chat/completions", completion_window="24h"
        ).id
        for _ in range(3)
    ]
    walked = [b.id for b in tenant.batches.list(limit=1)]
    assert sorted(walked) == sorted(made) and len(walked) == 3
    page = tenant.batches.list(limit=2)
    assert page.has_more and len(page.data) == 2
    with openai.OpenAI(base_url=gw.v1, api_key=_key(gw, "other"), max_retries=0) as other:
        # another key's batch id is not a cursor: the same answer as an id never made
        with pytest.raises(openai.BadRequestError) as caught:
            other.batches.list(after=made[0])
        assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "after"
        assert other.batches.list().data == []
    with openai.OpenAI(base_url=gw.v1, api_key=MASTER, max_retries=0) as admin:
        assert [b.id for b in admin.batches.list(after=walked[0])] == walked[1:]


def test_a_key_cannot_fill_the_shared_disk_with_files(
    fake: ThreadedFake, gateway_factory: GatewayFactory
) -> None:
    """Before: no bound on what one key kept, so it could fill the disk every tenant's
    files and a SQLite database share. Now its files and bytes are bounded; deleting
    makes room, and another key is not affected."""
    gw = gateway_factory(
        model_list(fake),
        batches={"max_file_bytes": 4096, "max_stored_bytes_per_key": 1000, "max_files_per_key": 3},
    )
    line = (json.dumps(LINE) + "\n").encode()  # 151 bytes
    with openai.OpenAI(base_url=gw.v1, api_key=_key(gw, "hoarder"), max_retries=0) as c:
        kept = [c.files.create(file=("a.jsonl", line), purpose="batch").id for _ in range(3)]
        with pytest.raises(openai.BadRequestError) as caught:  # a fourth file
            c.files.create(file=("a.jsonl", line), purpose="batch")
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["code"] == "storage_limit_exceeded", caught.value.body
        c.files.delete(kept[0])
        with pytest.raises(openai.BadRequestError):  # 2 x 151 kept + 755 bytes: over 1000
            c.files.create(file=("big.jsonl", line * 5), purpose="batch")
        assert c.files.create(file=("a.jsonl", line), purpose="batch").id
    with openai.OpenAI(base_url=gw.v1, api_key=_key(gw, "other"), max_retries=0) as other:
        assert other.files.create(file=("a.jsonl", line), purpose="batch").id
