"""Streaming redaction: chunk boundaries never change the result or leak a value."""

from __future__ import annotations

import base64
import random
from pathlib import Path

import orjson
import pytest

from lockgate.guards.pii import PiiScanner, Redactor, StreamRedactor, Vault

DEV = Path(__file__).resolve().parents[2] / "data" / "dev" / "pii-dev.jsonl"
_R = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY"
_ANTHROPIC = "sk-ant-api03-" + _R * 2 + "-" + _R[:28] + "AA"  # 93 characters + "AA"
# A JWT longer than any hold: until its second dot arrives it is no finding.
_LONG_JWT = ".".join(
    base64.urlsafe_b64encode(part).rstrip(b"=").decode()
    for part in (b'{"alg":"RS256","typ":"JWT"}', b'{"sub":"' + b"u" * 400 + b'"}', b"s" * 64)
)


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    """One redactor for the module."""
    return Redactor(PiiScanner())


def stream(redactor: Redactor, deltas: list[str], **kw: int) -> tuple[list[str], str]:
    s = StreamRedactor(redactor, Vault(), **kw)
    return [s.feed(d) for d in deltas], s.flush()


def test_key_split_across_chunks(redactor: Redactor) -> None:
    """An Anthropic key cut in two between chunks is still redacted whole."""
    key = _ANTHROPIC
    outs, tail = stream(redactor, ["here: sk-ant-api03-abc", key[len("sk-ant-api03-abc") :], " ok"])
    assert "".join(outs) + tail == "here: [API_KEY_1] ok"
    assert not any("sk-ant" in o for o in outs)


def test_text_flows_with_bounded_hold(redactor: Redactor) -> None:
    """Plain prose is emitted while streaming, holding back at most hold+step chars."""
    s = StreamRedactor(redactor)  # defaults: hold=128, step=96
    received = emitted = 0
    for i in range(200):
        delta = f"word{i} "
        received += len(delta)
        emitted += len(s.feed(delta))
        assert received - emitted <= 128 + 96 + len(delta)
    assert emitted > 0
    s.flush()


def test_open_pem_block_is_held_until_end(redactor: Redactor) -> None:
    """Nothing of a private key block is emitted before its END line arrives."""
    body = "\n".join(_R + _R for _ in range(20))
    block = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"
    s = StreamRedactor(redactor)
    out = s.feed("intro text " * 30)
    for i in range(0, len(block), 17):
        out += s.feed(block[i : i + 17])
        assert _R not in out
    out += s.feed(" and more text " * 20) + s.flush()
    assert out == ("intro text " * 30) + "[PRIVATE_KEY_1]" + (" and more text " * 20)


def test_stream_findings_positions(redactor: Redactor) -> None:
    """Findings report positions in the unredacted stream."""
    text = ("filler " * 40) + "mail a@x.io now " + ("filler " * 40)
    s = StreamRedactor(redactor)
    for i in range(0, len(text), 9):
        s.feed(text[i : i + 9])
    s.flush()
    [f] = s.findings
    assert text[f.start : f.end] == "a@x.io"


def test_hold_must_cover_context() -> None:
    """A hold too small to see a whole spaced entity is refused."""
    with pytest.raises(ValueError, match="hold"):
        StreamRedactor(Redactor(), hold=16)


def _corpus() -> tuple[list[str], list[str]]:
    rows = [orjson.loads(line)["text"] for line in DEV.read_bytes().splitlines()]
    extra = [
        "key " + _ANTHROPIC + " and AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "-----BEGIN EC PRIVATE KEY-----\n" + _R + "\n" + _R + "\n-----END EC PRIVATE KEY-----",
        "Authorization: Bearer " + _R + "\nIBAN GB82 WEST 1234 5698 7654 32",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0." + _R,
        "session " + _LONG_JWT + " expires",
        "export OPENAI_API_KEY=sk-proj-" + _R * 6 + "\n",
        "ip 2001:db8::8a2e:370:7334 and 10.0.0.1; card 4111 1111 1111 1111",
    ]
    return rows, extra


def test_random_chunkings_match_whole_text(redactor: Redactor) -> None:
    """Property: for random texts and chunkings, stream output == redact(whole)."""
    rng = random.Random(20261127)
    rows, extra = _corpus()
    for _ in range(150):
        parts = [
            rng.choice(extra if rng.random() < 0.3 else rows) for _ in range(rng.randint(1, 12))
        ]
        text = rng.choice(["\n", " ", ""]).join(parts)
        expected, _ = redactor.redact(text, Vault())
        hold = rng.choice([96, 128, 256])
        deltas: list[str] = []
        i = 0
        while i < len(text):
            n = rng.choice([1, 2, 3, 5, 8, 13, 40, 120, 400])
            deltas.append(text[i : i + n])
            i += n
        outs, tail = stream(redactor, deltas, hold=hold, step=rng.choice([1, 16, 32]))
        assert "".join(outs) + tail == expected, (text, deltas)


def test_separator_inside_long_value_is_still_judged(redactor: Redactor) -> None:
    """A ':' inside a long assigned value is evaluated the same in windows and whole."""
    text = (
        "export OPENAI_API_KEY=sk-proj-" + _R * 4 + "password: 1T4PWoSza2PpE70Z3888Debra Neal "
    ) + "more words " * 30
    expected, _ = redactor.redact(text, Vault())
    for size in (1, 7, 16, 33, 50):
        outs, tail = stream(redactor, [text[i : i + size] for i in range(0, len(text), size)])
        assert "".join(outs) + tail == expected, size
