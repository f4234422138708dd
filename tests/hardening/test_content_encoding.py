"""A compressed request body gets a clear 415 before it is read, never inflated (a gzip
bomb costs the gateway nothing); an uncompressed or ``identity`` body is served."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
from tests.e2e.conftest import GatewayFactory, model_list
from tests.fakes import ThreadedFake
from tests.support import bearer

HI = [{"role": "user", "content": "hi"}]
ROUTES = {
    "/v1/chat/completions": ({"model": "gpt-4o-mini", "messages": HI}, "openai"),
    "/v1/messages": ({"model": "claude-haiku", "max_tokens": 16, "messages": HI}, "anthropic"),
    "/v1/embeddings": ({"model": "gpt-4o-mini", "input": "hi"}, "openai"),
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_compressed_body_is_a_415(
    route: str, fake: ThreadedFake, gateway_factory: GatewayFactory
) -> None:
    live = gateway_factory(model_list(fake), router_settings={"num_retries": 0})
    body, shape = ROUTES[route]
    raw = json.dumps(body).encode()
    # 64 MiB of zeros inflate from ~64 KiB: refused without reading past the header
    bomb = gzip.compress(b"0" * (64 << 20))
    with httpx.Client(base_url=live.url, headers=bearer(), timeout=30) as client:
        for encoding, content in (("gzip", gzip.compress(raw)), ("gzip", bomb), ("br", raw)):
            r = client.post(
                route,
                content=content,
                headers={"content-type": "application/json", "content-encoding": encoding},
            )
            assert r.status_code == 415, (encoding, r.status_code, r.text[:300])
            payload = r.json()
            error = payload["error"]
            if shape == "anthropic":
                assert payload["type"] == "error" and error["type"] == "invalid_request_error"
            else:
                assert error["code"] == "unsupported_media_type", payload
            assert "Content-Encoding" in error["message"] and encoding in error["message"]
        served = client.post(
            route,
            content=raw,
            headers={"content-type": "application/json", "content-encoding": "identity"},
        )
        assert served.status_code == 200, served.text[:300]
