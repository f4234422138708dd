"""The admin console at /ui: login, CSRF, and the overview read from hourly rollups."""

from __future__ import annotations

import re

import sqlalchemy as sa
from tests.support import MASTER, bearer

from lockgate.console import session
from lockgate.console.rollups import usage_hourly


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m is not None
    return m.group(1)


async def _login(gw, key: str = MASTER, csrf: str | None = None):
    form = await gw.client.get("/ui/login")
    pre = form.cookies[session.LOGIN_COOKIE]
    return await gw.client.post(
        "/ui/login",
        data={"master_key": key, "csrf": _csrf(form.text) if csrf is None else csrf},
        headers={"cookie": f"{session.LOGIN_COOKIE}={pre}"},
    )


async def test_overview_needs_a_session(make_settings, open_gateway):
    gw = await open_gateway(make_settings())
    r = await gw.client.get("/ui/")
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    login_page = await gw.client.get("/ui/login")
    assert login_page.status_code == 200 and "Master key" in login_page.text
    assert login_page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in login_page.headers["content-security-policy"]


async def test_wrong_and_revoked_keys_are_refused(make_settings, open_gateway):
    """A wrong, empty or revoked key gets 401 and no cookie."""
    gw = await open_gateway(make_settings())
    r = await gw.client.post("/admin/keys", headers=bearer(), json={"name": "v"})
    revoked = r.json()
    await gw.client.delete(f"/admin/keys/{revoked['id']}", headers=bearer())
    for key in ("sk-wrong", revoked["key"], ""):
        r = await _login(gw, key)
        assert r.status_code == 401, key
        assert session.COOKIE not in r.cookies


async def test_login_needs_its_form_token(make_settings, open_gateway):
    """Login CSRF: the master key posted without the login form's token opens nothing."""
    gw = await open_gateway(make_settings())
    bare = await gw.client.post("/ui/login", data={"master_key": MASTER})
    assert bare.status_code == 403 and session.COOKIE not in bare.cookies
    forged = await _login(gw, MASTER, csrf="0" * 64)
    assert forged.status_code == 403 and session.COOKIE not in forged.cookies
    assert (await _login(gw)).status_code == 303


async def test_a_virtual_key_sees_only_its_own(make_settings, open_gateway):
    """A virtual key's session shows its own requests, never another key's; admin pages 403."""
    gw = await open_gateway(make_settings())
    mine = (await gw.client.post("/admin/keys", headers=bearer(), json={"name": "mine"})).json()
    other = (await gw.client.post("/admin/keys", headers=bearer(), json={"name": "other"})).json()
    await gw.chat("priced", "one", key=mine["key"])
    theirs = await gw.chat("free", "two", key=other["key"])
    await gw.chat("free", "three", key=other["key"])
    await gw.client.get("/admin/usage", headers=bearer())  # flushes the usage writer
    r = await _login(gw, mine["key"])
    assert r.status_code == 303
    gw.client.cookies.set(session.COOKIE, r.cookies[session.COOKIE], path="/ui")
    page = await gw.client.get("/ui/")
    assert "1 requests" in page.text and "<td>free</td>" not in page.text
    logs = await gw.client.get("/ui/logs")
    assert logs.text.count('class="detail"') == 1
    other_id = theirs.headers["x-request-id"]
    assert (await gw.client.get(f"/ui/logs/{other_id}")).status_code == 404
    assert (await gw.client.get(f"/ui/logs?key={other['id']}")).text.count('class="detail"') == 0
    usage = await gw.client.get("/ui/usage?by=user&days=3&format=csv")
    assert usage.text.splitlines()[0].startswith("model,")  # team/user fall back to model
    assert [line.split(",")[:2] for line in usage.text.splitlines()[1:]] == [["priced", "1"]]
    for path in ("/ui/keys", "/ui/models", "/ui/cache"):
        assert (await gw.client.get(path)).status_code == 403, path
    await gw.client.delete(f"/admin/keys/{mine['id']}", headers=bearer())
    gone = await gw.client.get("/ui/")
    assert gone.status_code == 303 and gone.headers["location"] == "/ui/login"


async def test_login_overview_and_rollups_match_requests(make_settings, open_gateway):
    gw = await open_gateway(make_settings())
    for text in ("one", "two", "three"):
        await gw.chat("priced", text)
    await gw.chat("free", "four")
    r = await _login(gw)
    assert r.status_code == 303 and r.headers["location"] == "/ui/"
    gw.client.cookies.set(session.COOKIE, r.cookies[session.COOKIE], path="/ui")
    # the usage report flushes the writer: the rollups are written with the batch
    report = (await gw.client.get("/admin/usage", headers=bearer())).json()
    page = await gw.client.get("/ui/")
    assert page.status_code == 200
    assert "4 requests" in page.text
    assert re.search(r">priced</a></td><td>3</td>", page.text)
    assert re.search(r">free</a></td><td>1</td>", page.text)
    engine = gw.services.db.engine
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(
                    sa.func.sum(usage_hourly.c.requests),
                    sa.func.sum(usage_hourly.c.prompt_tokens),
                    sa.func.sum(usage_hourly.c.cost_usd),
                )
            )
        ).one()
    totals = report["totals"]
    assert row[0] == totals["requests"] == 4
    assert row[1] == totals["prompt_tokens"]
    assert abs(row[2] - totals["cost_usd"]) < 1e-12


async def test_logout_needs_the_csrf_token(make_settings, open_gateway):
    gw = await open_gateway(make_settings())
    r = await _login(gw)
    gw.client.cookies.set(session.COOKIE, r.cookies[session.COOKIE], path="/ui")
    page = await gw.client.get("/ui/")
    token = _csrf(page.text)
    bad = await gw.client.post("/ui/logout", data={"csrf": "0" * 64})
    assert bad.status_code == 403
    assert (await gw.client.get("/ui/")).status_code == 200
    good = await gw.client.post("/ui/logout", data={"csrf": token})
    assert good.status_code == 303
    assert session.COOKIE in good.headers["set-cookie"]


def test_session_cookie_is_signed_and_expires():
    secret = session.secret_of("sk-master")
    cookie = session.issue(secret, now=1000.0, ttl=60)
    assert session.verify(secret, cookie, now=1010.0) is not None
    assert session.verify(secret, cookie, now=1061.0) is None
    assert session.verify(session.secret_of("sk-other"), cookie, now=1010.0) is None
    expiry, subject, nonce, mac = cookie.split(".")
    assert subject == session.ADMIN
    assert session.verify(secret, f"{int(expiry) + 999}.{subject}.{nonce}.{mac}", 1010.0) is None
    assert session.verify(secret, f"{expiry}.key_other.{nonce}.{mac}", 1010.0) is None
    mine = session.verify(secret, session.issue(secret, 1000.0, "key_abc"), 1010.0)
    assert mine is not None and mine.key_id == "key_abc"


def test_percentiles_from_histograms_are_within_a_bucket():
    """Percentiles read from log buckets stay within the bucket ratio of the exact ones."""
    import random

    from lockgate.console.histogram import RATIO, bucket_of, percentile

    rng = random.Random(11)
    values = sorted(rng.lognormvariate(5, 1.2) for _ in range(5000))
    hist: dict[int, int] = {}
    for v in values:
        hist[bucket_of(v)] = hist.get(bucket_of(v), 0) + 1
    for q in (50, 95, 99):
        exact = values[int(q / 100 * len(values)) - 1]
        got = percentile(hist, q)
        assert got is not None and 1 / RATIO <= got / exact <= RATIO, (q, got, exact)
    assert percentile({}, 50) is None
    assert bucket_of(0.2) == 0 and bucket_of(1e9) == 31


async def test_a_key_with_bad_limits_is_a_400_and_not_made(make_settings, open_gateway):
    """The create form validates limits like the admin API: a clear 400, no key stored."""
    gw = await open_gateway(make_settings())
    r = await _login(gw)
    gw.client.cookies.set(session.COOKIE, r.cookies[session.COOKIE], path="/ui")
    token = _csrf((await gw.client.get("/ui/keys")).text)
    for field, value in (("rpm", "lots"), ("budget_month", "-5"), ("name", "")):
        form = {"csrf": token, "name": "k", field: value}
        bad = await gw.client.post("/ui/keys", data=form)
        assert bad.status_code == 400, (field, bad.text)
        assert 'id="error"' in bad.text
    assert (await gw.client.get("/admin/keys", headers=bearer())).json()["data"] == []
