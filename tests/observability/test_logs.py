"""mask_secrets, the JSON formatter, and the per-request log sink (logs.access, on by default)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from tests.support import bearer

from lockgate.auth.keys import generate_key
from lockgate.logs import JsonFormatter, mask_secrets

SECRET = "Zx9" + "q" * 20  # shaped like a token, not like any prefix


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        (f"calling with sk-{SECRET} now", SECRET),
        (f"sk-proj-{SECRET}", SECRET),
        (f"Bearer {SECRET}", SECRET),
        (f"bearer   {SECRET}", SECRET),
        (f"api_key={SECRET}", SECRET),
        (f"api-key: {SECRET}", SECRET),
        (f'{{"api_key": "{SECRET}"}}', SECRET),
        (f"x-api-key: {SECRET}", SECRET),
        (f"password={SECRET}", SECRET),
    ],
)
def test_mask_secrets_hides_credentials(text, leak):
    """Credential-shaped substrings are replaced by *** and their value is gone."""
    masked = mask_secrets(text)
    assert leak not in masked
    assert "***" in masked


def test_mask_secrets_hides_generated_gateway_keys():
    """A key as lockgate generates it (sk-lg-...) never survives masking."""
    key = generate_key()
    masked = mask_secrets(f"presented {key} for model x")
    assert key not in masked and key[6:] not in masked
    assert masked.startswith("presented ") and masked.endswith(" for model x")


def test_mask_secrets_hides_authorization_header_line():
    """'Authorization: Bearer <token>' hides the token itself, not only the word Bearer."""
    assert SECRET not in mask_secrets(f"Authorization: Bearer {SECRET}")
    assert SECRET not in mask_secrets(f"authorization=Bearer {SECRET}")


def test_mask_secrets_keeps_ordinary_text():
    """Text with no credential shape comes back unchanged."""
    text = "model gpt-4o-mini answered 200 in 12.5 ms for user ann (skip-list ok)"
    assert mask_secrets(text) == text


def test_json_formatter_masks_message_and_extra_fields():
    """A log line is one JSON object; secrets in the message and in extra fields are masked."""
    record = logging.makeLogRecord(
        {
            "name": "lockgate.test",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "upstream said %s",
            "args": (f"bad key sk-{SECRET}",),
            "request_id": "req_1",
            "detail": {"header": f"Bearer {SECRET}", "n": 3},
        }
    )
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert SECRET not in line
    assert data["logger"] == "lockgate.test" and data["level"] == "info"
    assert data["request_id"] == "req_1" and data["detail"]["n"] == 3
    assert data["msg"].startswith("upstream said bad key ")


@pytest.fixture()
def request_log() -> Iterator[io.StringIO]:
    """JSON lines written to the ``lockgate.requests`` logger, in a buffer."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("lockgate.requests")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield buf
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


async def test_request_log_one_line_per_request_without_bodies(
    make_settings, open_gateway, request_log
):
    """By default each request (ok, streamed, failed) logs one line, no body text."""
    gw = await open_gateway(make_settings())
    phrase = "purple-walrus-confidential-phrase"
    ok = await gw.chat("priced", f"please repeat {phrase}")
    assert phrase in ok.text  # the mock echoes it, so the answer holds it too
    streamed = await gw.client.post(
        "/v1/chat/completions",
        headers=bearer(),
        json={
            "model": "priced",
            "stream": True,
            "messages": [{"role": "user", "content": f"stream {phrase}"}],
        },
    )
    failed = await gw.chat("no-such-model", phrase)
    assert (ok.status_code, streamed.status_code, failed.status_code) == (200, 200, 404)

    lines = _lines(request_log)
    ids = [ok.headers["x-request-id"], streamed.headers["x-request-id"]]
    assert len(lines) == 3
    assert [line["request_id"] for line in lines[:2]] == ids
    ids.append(lines[2]["request_id"])
    assert len(set(ids)) == 3
    assert phrase not in request_log.getvalue()
    by_id = {line["request_id"]: line for line in lines}
    first = by_id[ids[0]]
    assert first["msg"] == "request" and first["logger"] == "lockgate.requests"
    assert (first["model"], first["status"], first["stream"]) == ("priced", 200, False)
    assert first["prompt_tokens"] == ok.json()["usage"]["prompt_tokens"]
    assert by_id[ids[1]]["stream"] is True
    assert (by_id[ids[2]]["status"], by_id[ids[2]]["model"]) == (404, "(unknown)")


async def test_request_log_can_be_turned_off(make_settings, open_gateway, request_log):
    """With logs.access off no request line is written."""
    gw = await open_gateway(make_settings(logs={"access": False}))
    r = await gw.chat("priced", "quiet")
    assert r.status_code == 200
    assert request_log.getvalue() == ""


async def test_request_log_never_holds_the_key(make_settings, open_gateway, request_log):
    """A virtual key's secret never appears in its request's log line; its name and id do."""
    gw = await open_gateway(make_settings())
    made = (await gw.client.post("/admin/keys", headers=bearer(), json={"name": "logged"})).json()
    r = await gw.chat("priced", "who am i", key=made["key"])
    assert r.status_code == 200
    text = request_log.getvalue()
    assert made["key"] not in text and made["key"][6:] not in text
    (line,) = _lines(request_log)
    assert (line["key_id"], line["key_name"]) == (made["id"], "logged")


async def test_failed_request_log_line_matches_response_request_id(
    make_settings, open_gateway, request_log
):
    """An error response carries x-request-id, the id its log (and usage) line is kept under."""
    gw = await open_gateway(make_settings())
    failed = await gw.chat("no-such-model", "x")
    assert failed.status_code == 404
    (line,) = _lines(request_log)
    assert failed.headers.get("x-request-id") == line["request_id"]
