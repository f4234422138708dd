"""POST /v1/feedback and GET /admin/feedback through the real app."""

from __future__ import annotations

import pytest
from tests.support import bearer


async def _key(gw, name: str) -> str:
    r = await gw.client.post("/admin/keys", headers=bearer(), json={"name": name, "team": "t"})
    assert r.status_code == 201
    return r.json()["key"]


async def _answer(gw, model: str, text: str, key: str) -> str:
    r = await gw.chat(model, text, key=key)
    assert r.status_code == 200
    return r.headers["x-request-id"]


async def _rate(gw, key: str, **body):
    return await gw.client.post("/v1/feedback", headers=bearer(key), json=body)


async def test_feedback_on_own_request_is_accepted(make_settings, open_gateway):
    """Score, thumbs and task_completed on the caller's own request id answer 201 with its model."""
    gw = await open_gateway(make_settings())
    key = await _key(gw, "rater")
    rid = await _answer(gw, "priced", "rate this answer", key)
    r = await _rate(gw, key, request_id=rid, score=0.5, thumbs="up", task_completed=True)
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["request_id"] == rid and data["model"] == "priced"
    assert data["object"] == "feedback" and isinstance(data["id"], int)


async def test_unknown_request_id_is_404(make_settings, open_gateway):
    """A made-up request id is not found."""
    gw = await open_gateway(make_settings())
    key = await _key(gw, "rater")
    r = await _rate(gw, key, request_id="req_does_not_exist", score=1)
    assert r.status_code == 404
    assert r.json()["error"]["param"] == "request_id"


async def test_other_keys_request_is_404_but_master_may_rate_it(make_settings, open_gateway):
    """Key B cannot rate key A's request (404, like an unknown id); the master key can."""
    gw = await open_gateway(make_settings())
    a, b = await _key(gw, "a"), await _key(gw, "b")
    rid = await _answer(gw, "priced", "belongs to a", a)
    r = await _rate(gw, b, request_id=rid, thumbs="down")
    assert r.status_code == 404
    assert (await _rate(gw, a, request_id=rid, thumbs="down")).status_code == 201
    r = await gw.client.post("/v1/feedback", headers=bearer(), json={"request_id": rid, "score": 2})
    assert r.status_code == 201


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"score": 1}, "request_id"),
        ({"request_id": "", "score": 1}, "request_id"),
        ({"request_id": "RID", "score": "high"}, "score"),
        ({"request_id": "RID", "score": True}, "score"),
        ({"request_id": "RID", "thumbs": "sideways"}, "thumbs"),
        ({"request_id": "RID", "task_completed": "yes"}, "task_completed"),
        ({"request_id": "RID", "score": 1, "comment": "x" * 2001}, "comment"),
        ({"request_id": "RID", "score": 1, "prompt_version": 3}, "prompt_version"),
    ],
)
async def test_bad_body_is_400_naming_the_field(make_settings, open_gateway, body, param):
    """Each invalid field is refused with 400 and named in error.param."""
    gw = await open_gateway(make_settings())
    key = await _key(gw, "rater")
    rid = await _answer(gw, "priced", "something to rate", key)
    if body.get("request_id") == "RID":
        body = {**body, "request_id": rid}
    r = await _rate(gw, key, **body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


async def test_feedback_without_any_rating_is_400(make_settings, open_gateway):
    """A body with a request id but no score, thumbs or task_completed is refused."""
    gw = await open_gateway(make_settings())
    key = await _key(gw, "rater")
    rid = await _answer(gw, "priced", "unrated", key)
    r = await _rate(gw, key, request_id=rid, comment="just a comment")
    assert r.status_code == 400
    assert "score" in r.json()["error"]["message"]


async def test_non_object_body_is_400(make_settings, open_gateway):
    """A JSON array body is refused with 400."""
    gw = await open_gateway(make_settings())
    r = await gw.client.post("/v1/feedback", headers=bearer(), json=[1, 2])
    assert r.status_code == 400


async def test_admin_feedback_aggregates_exactly(make_settings, open_gateway):
    """Per model and prompt version: exact counts, score means, thumbs and task tallies."""
    gw = await open_gateway(make_settings())
    key = await _key(gw, "rater")
    p1 = await _answer(gw, "priced", "priced one", key)
    p2 = await _answer(gw, "priced", "priced two", key)
    f1 = await _answer(gw, "free", "free one", key)
    ratings = [
        (p1, {"score": 1.0, "thumbs": "up", "task_completed": True}),
        (p2, {"score": 0.25, "thumbs": "down", "task_completed": False}),
        (p2, {"thumbs": "+1"}),
        (p1, {"score": 4, "prompt_version": "v2"}),
        (p2, {"score": 2, "thumbs": "down", "prompt_version": "v2", "task_completed": True}),
        (f1, {"task_completed": False}),
        (f1, {"score": -1.5, "thumbs": True}),
    ]
    for rid, body in ratings:
        r = await _rate(gw, key, request_id=rid, **body)
        assert r.status_code == 201, r.text

    r = await gw.client.get("/admin/feedback", headers=bearer())
    assert r.status_code == 200
    got = {(d["model"], d["prompt_version"]): d for d in r.json()["data"]}
    assert set(got) == {("priced", None), ("priced", "v2"), ("free", None)}

    p = got[("priced", None)]
    assert (p["count"], p["thumbs_up"], p["thumbs_down"]) == (3, 2, 1)
    assert (p["task_completed"], p["task_failed"]) == (1, 1)
    assert p["avg_score"] == pytest.approx((1.0 + 0.25) / 2)
    assert p["thumbs_up_rate"] == pytest.approx(2 / 3)

    v2 = got[("priced", "v2")]
    assert (v2["count"], v2["thumbs_up"], v2["thumbs_down"]) == (2, 0, 1)
    assert (v2["task_completed"], v2["task_failed"]) == (1, 0)
    assert v2["avg_score"] == pytest.approx(3.0)

    f = got[("free", None)]
    assert (f["count"], f["thumbs_up"], f["thumbs_down"]) == (2, 1, 0)
    assert (f["task_completed"], f["task_failed"]) == (0, 1)
    assert f["avg_score"] == pytest.approx(-1.5)

    only = await gw.client.get("/admin/feedback", params={"model": "free"}, headers=bearer())
    assert [(d["model"], d["count"]) for d in only.json()["data"]] == [("free", 2)]


async def test_admin_feedback_needs_master_key(make_settings, open_gateway):
    """A virtual key cannot read the feedback summary."""
    gw = await open_gateway(make_settings())
    key = await _key(gw, "rater")
    r = await gw.client.get("/admin/feedback", headers=bearer(key))
    assert r.status_code == 403
