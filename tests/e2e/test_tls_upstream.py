"""The official SDKs through the gateway to an HTTPS upstream (self-signed, its CA given
through SSL_CERT_FILE, which the default verifying context reads), on uvloop as in
`lockgate serve`."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from tests.audit.test_tls import self_signed
from tests.fakes import ThreadedFake, start_in_thread
from tests.live_server import LiveGateway, serve_in_thread
from tests.support import MASTER

from lockgate.settings import settings_from_mapping

from .conftest import model_list


@pytest.fixture()
def tls_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedFake]:
    """The fake provider on HTTPS with a fresh self-signed certificate the process trusts."""
    cert, key = self_signed(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with start_in_thread(ssl_context=server) as fake:
        yield fake


@pytest.fixture()
def tls_gateway(tls_fake: ThreadedFake, tmp_path: Path) -> Iterator[LiveGateway]:
    data = {
        "model_list": model_list(tls_fake),
        "general_settings": {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
        },
        "router_settings": {"num_retries": 0},
    }
    with serve_in_thread(settings_from_mapping(data, env={}), loop="uvloop") as gw:
        yield gw


def test_sdks_reach_an_https_upstream(tls_fake: ThreadedFake, tls_gateway: LiveGateway) -> None:
    """Chat, a stream and an Anthropic message over TLS; the upstream saw all three."""
    assert tls_fake.url.startswith("https://")
    with openai.OpenAI(base_url=tls_gateway.v1, api_key=MASTER, max_retries=0) as oai:
        reply = oai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "over tls"}]
        )
        assert "over tls" in (reply.choices[0].message.content or "")
        chunks = oai.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "streamed over tls"}],
            stream=True,
        )
        text = "".join((c.choices[0].delta.content or "") for c in chunks if c.choices)
        assert "streamed over tls" in text
    with anthropic.Anthropic(base_url=tls_gateway.url, api_key=MASTER, max_retries=0) as ant:
        message = ant.messages.create(
            model="claude-haiku",
            max_tokens=32,
            messages=[{"role": "user", "content": "anthropic over tls"}],
        )
        assert message.content[0].type == "text"
        assert "anthropic over tls" in message.content[0].text
    paths = [r.path for r in tls_fake.requests]
    assert paths.count("/v1/chat/completions") == 2
    assert paths.count("/v1/messages") == 1
