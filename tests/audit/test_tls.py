"""`lockgate serve` speaks HTTPS with the certificate and key named in the config."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.conftest import free_port
from tests.support import MASTER

from lockgate.settings import ConfigError, settings_from_mapping

SRC = Path(__file__).resolve().parents[2] / "src"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A fresh self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lockgate test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture()
def https_gateway(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`lockgate serve` in a subprocess with TLS on; yields its base URL and the certificate."""
    cert, key = self_signed(tmp_path)
    port = free_port()
    config = tmp_path / "lockgate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "mock", "params": {"model": "mock/mock-1"}}],
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
                },
                "server": {
                    "host": "127.0.0.1",
                    "port": port,
                    "log_level": "warning",
                    "ssl_certfile": str(cert),
                    "ssl_keyfile": str(key),
                },
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "gateway did not start within 30 s"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        yield f"https://127.0.0.1:{port}", cert
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def test_openai_sdk_over_https(https_gateway):
    """The openai SDK, trusting only the test certificate, chats through the gateway."""
    url, cert = https_gateway
    context = ssl.create_default_context(cafile=str(cert))
    with (
        httpx.Client(verify=context) as http,
        openai.OpenAI(base_url=url + "/v1", api_key=MASTER, http_client=http, max_retries=0) as c,
    ):
        reply = c.chat.completions.create(
            model="mock", messages=[{"role": "user", "content": "hello over tls"}]
        )
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens > 0


def test_https_is_really_tls(https_gateway):
    """The certificate is checked (an untrusting client fails) and plain HTTP is not served."""
    url, _ = https_gateway
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url + "/health", timeout=10)
    with pytest.raises(httpx.HTTPError):
        httpx.get(url.replace("https://", "http://") + "/health", timeout=10)


def test_tls_settings_must_come_in_pairs_and_exist(tmp_path):
    """A certificate without a key, or a missing file, is a configuration error."""
    cert, key = self_signed(tmp_path)
    with pytest.raises(ConfigError, match="set together"):
        settings_from_mapping({"server": {"ssl_certfile": str(cert)}}, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        settings_from_mapping(
            {"server": {"ssl_certfile": str(cert), "ssl_keyfile": str(tmp_path / "nope.pem")}},
            env={},
        )
    ok = settings_from_mapping(
        {"server": {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}}, env={}
    )
    assert ok.server.ssl_keyfile == str(key)
