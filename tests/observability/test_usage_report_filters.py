"""GET /admin/usage: filters, two-dimension grouping, cache hits, and refusals."""

from __future__ import annotations

import datetime as dt

from tests.support import bearer


async def _key(gw, name: str, team: str) -> tuple[str, str]:
    r = await gw.client.post("/admin/keys", headers=bearer(), json={"name": name, "team": team})
    assert r.status_code == 201
    return r.json()["key"], r.json()["id"]


async def _usage(gw, **params):
    return await gw.client.get("/admin/usage", params=params, headers=bearer())


async def test_filters_select_exactly_their_rows(make_settings, open_gateway):
    """key_id, team, user and model filters each keep only matching requests."""
    gw = await open_gateway(make_settings())
    (a, a_id), (b, _) = await _key(gw, "fa", "red"), await _key(gw, "fb", "blue")
    await gw.chat("priced", "one", key=a, user="ann")
    await gw.chat("free", "two", key=a, user="bob")
    await gw.chat("priced", "three", key=b, user="ann")
    await gw.chat("priced", "four", key=b)
    cases = [
        ({"key_id": a_id}, 2),
        ({"team": "blue"}, 2),
        ({"user": "ann"}, 2),
        ({"model": "free"}, 1),
        ({"team": "red", "model": "priced"}, 1),
        ({"user": "nobody"}, 0),
    ]
    for params, n in cases:
        r = await _usage(gw, group_by="model", **params)
        assert r.status_code == 200, r.text
        assert r.json()["totals"]["requests"] == n, params


async def test_since_until_are_half_open_days(make_settings, open_gateway):
    """A row of day D is in [D, D+1) and absent from [D+1, ...) and [..., D)."""
    gw = await open_gateway(make_settings())
    await gw.chat("priced", "dated")
    (row,) = (await _usage(gw, group_by="day")).json()["rows"]
    today = row["group"]["day"]
    tomorrow = (dt.date.fromisoformat(today) + dt.timedelta(days=1)).isoformat()
    counts = {}
    for name, params in {
        "in": {"since": today, "until": tomorrow},
        "after": {"since": tomorrow},
        "before": {"until": today},
    }.items():
        r = await _usage(gw, group_by="day", **params)
        assert r.status_code == 200
        counts[name] = r.json()["totals"]["requests"]
    assert counts == {"in": 1, "after": 0, "before": 0}


async def test_group_by_key_and_day(make_settings, open_gateway):
    """group_by=key,day gives one row per key per day, with key id, name and day in the group."""
    gw = await open_gateway(make_settings())
    (a, a_id), (b, b_id) = await _key(gw, "ga", "red"), await _key(gw, "gb", "red")
    for _ in range(3):
        await gw.chat("priced", "hello", key=a)
    await gw.chat("priced", "hello", key=b)
    r = await _usage(gw, group_by="key,day")
    assert r.status_code == 200
    data = r.json()
    assert data["group_by"] == ["key", "day"]
    got = {
        (row["group"]["key_id"], row["group"]["key_name"]): row["requests"] for row in data["rows"]
    }
    assert got == {(a_id, "ga"): 3, (b_id, "gb"): 1}
    assert all(set(row["group"]) == {"key_id", "key_name", "day"} for row in data["rows"])


async def test_cache_hits_counted_and_free(make_settings, open_gateway):
    """A cache hit counts as a request and a cache hit, with its tokens but no cost."""
    gw = await open_gateway(make_settings())
    miss = await gw.chat("priced", "cached words", temperature=0)
    hit = await gw.chat("priced", "cached words", temperature=0)
    assert hit.headers["x-lockgate-cache"] == "hit"
    row = (await _usage(gw, group_by="model")).json()["rows"][0]
    u = miss.json()["usage"]
    assert (row["requests"], row["cache_hits"], row["errors"]) == (2, 1, 0)
    assert row["prompt_tokens"] == 2 * u["prompt_tokens"]
    assert row["cost_usd"] == round(float(miss.headers["x-lockgate-cost-usd"]), 8)


async def test_bad_parameters_are_400(make_settings, open_gateway):
    """An unknown dimension or a malformed date is refused, naming the parameter."""
    gw = await open_gateway(make_settings())
    for params, param in (
        ({"group_by": "colour"}, "group_by"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
    ):
        r = await _usage(gw, **params)
        assert r.status_code == 400, params
        assert r.json()["error"]["param"] == param


async def test_usage_report_needs_master_key(make_settings, open_gateway):
    """A virtual key gets 403 from /admin/usage."""
    gw = await open_gateway(make_settings())
    key, _ = await _key(gw, "nosy", "red")
    r = await gw.client.get("/admin/usage", headers=bearer(key))
    assert r.status_code == 403
