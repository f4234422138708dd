"""Stored bodies: only when configured, AES-256-GCM under the environment's key, never plaintext."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.audit.conftest import KEY_HEX, audit_rows, make_record, settings_for
from tests.support import bearer

from lockgate.audit.capture import capture_bodies
from lockgate.audit.crypto import BodyCipher, DecryptionError
from lockgate.audit.entry import decrypt_body
from lockgate.audit.sinks import build_audit_sinks
from lockgate.audit.writer import AuditWriter
from lockgate.auth.keys import Principal
from lockgate.context import RequestContext
from lockgate.services import build_record
from lockgate.settings import ConfigError

MARKER = "zebra-marker-7f3a91"
REQUEST = {"model": "mock", "messages": [{"role": "user", "content": f"say {MARKER}"}]}
RESPONSE = {"choices": [{"message": {"role": "assistant", "content": f"{MARKER} said"}}]}


def cipher(hex_key: str = KEY_HEX) -> BodyCipher:
    """A body cipher for ``hex_key``."""
    return BodyCipher.from_env_value(hex_key)


def db_files(db_url: str) -> bytes:
    """Every byte SQLite keeps for the database (main file plus any journal or WAL)."""
    path = Path(db_url.split(":///", 1)[1])
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


async def write_with_bodies(db, body_cipher: BodyCipher | None, n: int = 3) -> None:
    """Write ``n`` records that carry the marker in both bodies."""
    writer = AuditWriter(db, cipher=body_cipher, flush_interval=60)
    for i in range(n):
        writer.submit(make_record(i, request_body=REQUEST, response_body=RESPONSE))
    await writer.aclose()


async def test_bodies_round_trip_and_never_hit_disk_in_plaintext(db, db_url, repo):
    """Bodies decrypt to what was captured; the marker appears nowhere in the database files."""
    await write_with_bodies(db, cipher())
    rows = [row async for row in repo.rows()]
    assert len(rows) == 3
    for row in rows:
        assert row["body_key_id"] == cipher().key_id
        assert MARKER not in row["request_body"] and MARKER not in row["response_body"]
        assert decrypt_body(cipher(), row, "request_body") == REQUEST
        assert decrypt_body(cipher(), row, "response_body") == RESPONSE
    await db.aclose()
    data = db_files(db_url)
    assert b"zebra" not in data and b"req-0" in data  # the file is readable, the marker is not
    assert (await repo.verify()).ok


async def test_wrong_key_cannot_decrypt(db, repo):
    """Another key fails authentication instead of yielding garbage."""
    await write_with_bodies(db, cipher(), n=1)
    row = (await repo.by_request_id("req-0"))[0]
    with pytest.raises(DecryptionError):
        decrypt_body(cipher("22" * 32), row, "request_body")


async def test_token_moved_to_another_row_fails(db, repo):
    """A body token copied onto another request's row does not decrypt there (AAD)."""
    await write_with_bodies(db, cipher(), n=2)
    rows = [row async for row in repo.rows()]
    moved = {**rows[1], "request_body": rows[0]["request_body"]}
    with pytest.raises(DecryptionError):
        decrypt_body(cipher(), moved, "request_body")
    swapped = {**rows[0], "request_body": rows[0]["response_body"]}
    with pytest.raises(DecryptionError):
        decrypt_body(cipher(), swapped, "request_body")


async def test_edited_token_breaks_the_chain(db, repo):
    """Replacing a stored token is tampering like any other edit."""
    await write_with_bodies(db, cipher(), n=3)
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE audit_log SET request_body = response_body WHERE seq = 1")
        )
    result = await repo.verify()
    assert not result.ok and result.first_bad_seq == 1


async def test_without_cipher_bodies_are_not_stored(db, db_url, repo):
    """With body storage off, captured bodies are dropped, not written."""
    await write_with_bodies(db, None)
    rows = [row async for row in repo.rows()]
    assert all(r["request_body"] is None and r["response_body"] is None for r in rows)
    await db.aclose()
    assert b"zebra" not in db_files(db_url)


def test_store_bodies_without_key_refuses_to_start(db_url):
    """store_bodies on and no key in the environment: a ConfigError naming the variable."""
    settings = settings_for(db_url, audit={"store_bodies": True, "key_env": "AUDIT_K"})
    with pytest.raises(ConfigError, match="AUDIT_K is not set"):
        build_audit_sinks(settings, db=None, env={})  # type: ignore[arg-type]


def test_malformed_key_refuses_to_start(db_url):
    """A key that is not 32 bytes is a ConfigError, not a later crash."""
    settings = settings_for(db_url, audit={"store_bodies": True, "key_env": "AUDIT_K"})
    with pytest.raises(ConfigError, match=r"AUDIT_K.*32 bytes"):
        build_audit_sinks(settings, db=None, env={"AUDIT_K": "ab" * 16})  # type: ignore[arg-type]


async def test_gateway_with_store_bodies_and_no_key_fails_at_startup(
    db_url, open_gateway, monkeypatch
):
    """The gateway's lifespan fails before serving when the body key is missing."""
    monkeypatch.delenv("LOCKGATE_AUDIT_TEST_KEY", raising=False)
    settings = settings_for(
        db_url, audit={"store_bodies": True, "key_env": "LOCKGATE_AUDIT_TEST_KEY"}
    )
    with pytest.raises(ConfigError, match="LOCKGATE_AUDIT_TEST_KEY"):
        async with open_gateway(settings):
            pass


async def test_gateway_with_key_in_environment_keeps_encrypted_bodies(
    db_url, open_gateway, monkeypatch
):
    """The gateway keeps both bodies, redacted then encrypted; no plaintext reaches disk."""
    monkeypatch.setenv("LOCKGATE_AUDIT_TEST_KEY", KEY_HEX)
    settings = settings_for(
        db_url,
        audit={"store_bodies": True, "key_env": "LOCKGATE_AUDIT_TEST_KEY"},
        guardrails={"pii": {"input": "redact", "restore_output": False}},
    )
    email = "zed.zebra@example.org"
    request = {"model": "mock", "messages": [{"role": "user", "content": f"mail {email} now"}]}
    async with open_gateway(settings) as client:
        r = await client.post("/v1/chat/completions", json=request, headers=bearer())
        assert r.status_code == 200
        s = await client.post(
            "/v1/chat/completions", json={**request, "stream": True}, headers=bearer()
        )
        assert s.status_code == 200 and s.text.rstrip().endswith("data: [DONE]")
    rows = await audit_rows(db_url)
    assert len(rows) == 2
    for row in rows:
        sent = decrypt_body(cipher(), row, "request_body")
        answer = decrypt_body(cipher(), row, "response_body")
        assert sent["messages"][0]["content"] == "mail [EMAIL_1] now"
        assert "[EMAIL_1]" in answer["choices"][0]["message"]["content"]
    assert b"zebra" not in db_files(db_url)


def test_capture_bodies_reaches_the_record():
    """capture_bodies puts the bodies where Services.record picks them up."""
    ctx = RequestContext(request_id="r1", principal=Principal(kind="master"), api="openai")
    capture_bodies(ctx, REQUEST, RESPONSE)
    record = build_record(ctx, "mock", 200, None, 0.001)
    assert (record.request_body, record.response_body) == (REQUEST, RESPONSE)
