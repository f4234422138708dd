"""Master key, virtual keys and the admin API."""

from __future__ import annotations

from tests.support import MASTER, bearer

USER = {"role": "user", "content": "hi"}
CHAT = {"model": "mock", "messages": [USER]}


async def test_missing_key_is_401_before_body_is_read(make_settings, client_for):
    """With a master key configured, no key means 401 even for a malformed body."""
    client = await client_for(make_settings())
    r = await client.post("/v1/chat/completions", content=b"{broken")
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"


async def test_wrong_key_is_401(make_settings, client_for):
    """An unknown key is refused."""
    client = await client_for(make_settings())
    r = await client.post("/v1/chat/completions", json=CHAT, headers=bearer("sk-nope-123456"))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


async def test_every_route_but_health_needs_a_key(make_settings, client_for):
    """Models, metrics, stats and admin need a key; health and ready do not."""
    client = await client_for(make_settings())
    for path in ("/v1/models", "/metrics", "/api/stats", "/admin/keys"):
        assert (await client.get(path)).status_code == 401, path
    for path in ("/health", "/ready"):
        assert (await client.get(path)).status_code == 200, path


async def test_open_mode_accepts_any_key(make_settings, client_for):
    """Without a master key the local default accepts any key or none."""
    client = await client_for(make_settings(master_key=None))
    assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200
    r = await client.post("/v1/chat/completions", json=CHAT, headers=bearer("whatever"))
    assert r.status_code == 200


async def test_virtual_key_lifecycle(make_settings, client_for):
    """Create, use, list, rotate and revoke a virtual key through the admin API."""
    client = await client_for(make_settings())
    r = await client.post(
        "/admin/keys",
        json={"name": "team-a", "models": ["mock"], "team": "alpha", "metadata": {"owner": "ann"}},
        headers=bearer(),
    )
    assert r.status_code == 201
    created = r.json()
    secret, key_id = created["key"], created["id"]
    assert secret.startswith("sk-lg-") and created["models"] == ["mock"]
    # works with Bearer and with x-api-key
    assert (
        await client.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
    ).status_code == 200
    r = await client.post("/v1/chat/completions", json=CHAT, headers={"x-api-key": secret})
    assert r.status_code == 200
    listed = (await client.get("/admin/keys", headers=bearer())).json()["data"]
    assert [k["id"] for k in listed] == [key_id]
    assert "key" not in listed[0] and "key_hash" not in listed[0]
    # a virtual key is not an admin
    assert (await client.get("/admin/keys", headers=bearer(secret))).status_code == 403
    # rotate: old secret dies, new one works
    rotated = (await client.post(f"/admin/keys/{key_id}/rotate", headers=bearer())).json()
    assert rotated["key"] != secret
    assert (
        await client.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
    ).status_code == 401
    new = rotated["key"]
    assert (
        await client.post("/v1/chat/completions", json=CHAT, headers=bearer(new))
    ).status_code == 200
    # revoke: refused at once
    r = await client.delete(f"/admin/keys/{key_id}", headers=bearer())
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    r = await client.post("/v1/chat/completions", json=CHAT, headers=bearer(new))
    assert r.status_code == 401 and r.json()["error"]["code"] == "key_inactive"
    assert (await client.get("/admin/keys", headers=bearer())).json()["data"] == []


async def test_key_model_scope_is_403(make_settings, client_for):
    """A key limited to some models gets 403 for others and sees only its models."""
    settings = make_settings(
        models=[
            {"model_name": "mock", "params": {"model": "mock/mock-1"}},
            {"model_name": "other", "params": {"model": "mock/mock-2"}},
        ]
    )
    client = await client_for(settings)
    secret = (
        await client.post("/admin/keys", json={"name": "k", "models": ["mock"]}, headers=bearer())
    ).json()["key"]
    r = await client.post(
        "/v1/chat/completions", json={"model": "other", "messages": [USER]}, headers=bearer(secret)
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "model_not_allowed"
    models = (await client.get("/v1/models", headers=bearer(secret))).json()["data"]
    assert [m["id"] for m in models] == ["mock"]


async def test_expired_key_is_refused(make_settings, client_for):
    """A key past its expiry is refused."""
    client = await client_for(make_settings())
    secret = (
        await client.post("/admin/keys", json={"name": "old", "expires_at": 1.0}, headers=bearer())
    ).json()["key"]
    r = await client.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
    assert r.status_code == 401


async def test_admin_bad_input(make_settings, client_for):
    """Admin input errors are 400s naming the field; unknown ids are 404."""
    client = await client_for(make_settings())
    r = await client.post("/admin/keys", json={"models": ["mock"]}, headers=bearer())
    assert r.status_code == 400 and r.json()["error"]["param"] == "name"
    r = await client.post("/admin/keys", json={"name": "x", "models": "mock"}, headers=bearer())
    assert r.status_code == 400 and r.json()["error"]["param"] == "models"
    r = await client.delete("/admin/keys/key_doesnotexist", headers=bearer())
    assert r.status_code == 404


async def test_master_key_compared_exactly(make_settings, client_for):
    """A prefix of the master key is not the master key."""
    client = await client_for(make_settings())
    r = await client.get("/admin/keys", headers=bearer(MASTER[:-1]))
    assert r.status_code == 401
