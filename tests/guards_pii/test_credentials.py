"""Credential detectors: provider keys, generic assignments, PEM blocks, JWTs."""

from __future__ import annotations

import base64

import pytest

from lockgate.guards.pii import PiiScanner

_R = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY"  # 32 mixed characters, no structure
_HEX = "9f3a61c0e8b27d45a1f09c3e7b5d2864"  # 32 random hex digits


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    """One scanner for the module."""
    return PiiScanner()


def found(scanner: PiiScanner, text: str) -> list[tuple[str, str]]:
    return [(f.type, f.value) for f in scanner.find(text)]


@pytest.mark.parametrize(
    "key",
    [
        "sk-" + _R + "abcdEFGH12345678",  # OpenAI legacy
        "sk-proj-" + _R + "-" + _R + "_" + _R,  # OpenAI project key
        "sk-ant-api03-" + _R + _R + "-" + _R[:28] + "AA",  # Anthropic: 93 + "AA"
        "AKIAQ3EGRB4KZLW7N2XM",  # AWS access key id
        "ASIAY34FZKBOKMUTVV7A",  # AWS temporary key id
        "ghp_" + _R + "1234",  # GitHub classic
        "github_pat_11ABCDEFG0123456789abc_" + _R + _R,  # GitHub fine-grained
        "xoxb-123456789012-1234567890123-" + _R[:24],  # Slack bot
        "sk_live_" + _R[:24],  # Stripe
        "rk_live_" + _R[:24],  # Stripe restricted
        "AIzaSyA" + _R,  # Google
        "hf_" + "qWeRtYuIoPaSdFgHjKlZxCvBnMqAzWsXeD",  # Hugging Face
        "shpat_" + _HEX,  # Shopify
        "key-" + _HEX,  # Mailgun
        "SK" + _HEX,  # Twilio
    ],
)
def test_provider_keys(scanner: PiiScanner, key: str) -> None:
    """Each provider's key format is found whole, wherever it sits."""
    for text in (f"key: {key}", f'client(api="{key}")', f"{key}\n", f"use {key}."):
        assert found(scanner, text) == [("API_KEY", key)], text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("export MY_SERVICE_API_KEY=9f8e7d6c5b4a3f2e1d0cAbCd", "9f8e7d6c5b4a3f2e1d0cAbCd"),
        ('{"client_secret": "Zx9-Qw8_Er7Ty6Ui5Op4"}', "Zx9-Qw8_Er7Ty6Ui5Op4"),
        ("SECRET_KEY='k0mv(@IAVp_3eo5@v1lILcvQ*QI=!z5_z'", "k0mv(@IAVp_3eo5@v1lILcvQ*QI=!z5_z"),
        ("X-Auth-Token: 7fa8c2e94b1d3f6a5c7e9b0d2f4a6c8e", "7fa8c2e94b1d3f6a5c7e9b0d2f4a6c8e"),
        ("Authorization: Bearer f9Kq2Lx7Vb0Mz3Nw8Pr5Ts1Yu", "f9Kq2Lx7Vb0Mz3Nw8Pr5Ts1Yu"),
        ("DATABASE_URL=postgres://app:s3cr3t-Pa55@db.internal:5432/app", "s3cr3t-Pa55"),
        ("redis://:hunter2@cache:6379/0 is the cache", "hunter2"),
        ("bot 1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0 started", None),
        (
            "aws_secret_access_key = q7Rk2VxW9/Lm3Tz8Ab+Cd4Ef5Gh6Ij0KlMnOpQrSt",
            "q7Rk2VxW9/Lm3Tz8Ab+Cd4Ef5Gh6Ij0KlMnOpQrSt",
        ),
    ],
)
def test_generic_assignments(scanner: PiiScanner, text: str, value: str | None) -> None:
    """Random-looking values assigned to credential-named keys are found."""
    if value is None:  # the whole match is the secret
        value = text.split()[1]
    assert found(scanner, text) == [("API_KEY", value)]


@pytest.mark.parametrize(
    "text",
    [
        "api_key = os.environ['OPENAI_API_KEY']",
        "token = get_token(session)",
        "password = settings.DATABASE_PASSWORD_FOR_PRODUCTION",
        "Set api_key=YOUR_API_KEY_HERE before running.",
        "token: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "Replace sk-... with your key; we use scikit-learn",
        "a risk-averse-long-winded-strategy-for-everyone-involved",
        "sk-this-is-a-long-kebab-case-slug-name",
        "checksum = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "id: 123e4567-e89b-12d3-a456-426614174000",
        "AKIA is how AWS key ids begin",
        # documentation stand-ins (gitleaks' "must not match" kind)
        "key: AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "xoxb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx",
        "xoxb-12345-abcd234",
        "xoxb-xoxb-my-bot-token",
        '"token4": "xoxp-572370529330-573807301142-572331691188-####################"',
        "xoxe.xoxp-1-RANDOMSTRINGHERE",
        "postgres://user:password@localhost/db",
        'create_engine("postgresql://scott:tiger@localhost/test")',
        'proxy_url="socks5h://<username>:<password>@proxy:1080"',
        "see https://example.com/a:b@c for details",
        "a random 40 char run wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY with no context",
        "self.token_norm = EsmFold2LayerNorm(diffusion_config.hidden_size)",
        "_tukeylambda_kurt_p = poly1d(_tukeylambda_kurt_pc[::-1])",
        "LayoutLMv2TokenizerFast = LayoutLMv2Tokenizer",
        "key_states = kv_nope.new_empty(*kv_nope.shape[:-1], 12)",
        "Example: `metadata[key1]=value1&metadata[key2]=value2`",
        'processor(image_token="<|unused_200054|>")',
        "q1, q2 = q[..., 0::2], q[..., 1::2]",
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZ\n-----END PUBLIC KEY-----",
    ],
)
def test_credential_near_misses(scanner: PiiScanner, text: str) -> None:
    """Placeholders, code, hashes, slugs, certificates and public keys stay."""
    assert found(scanner, text) == []


def test_pem_private_key_block(scanner: PiiScanner) -> None:
    """The whole block, BEGIN to END, is one finding."""
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow" + _R + "\n" + _R + "==\n"
    block += "-----END RSA PRIVATE KEY-----"
    assert found(scanner, f"my key:\n{block}\nthanks") == [("PRIVATE_KEY", block)]


def test_pem_openssh_and_truncated(scanner: PiiScanner) -> None:
    """OpenSSH blocks count, and so does a pasted block cut off before END."""
    head = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA" + _R
    assert found(scanner, head + "\n-----END OPENSSH PRIVATE KEY-----") == [
        ("PRIVATE_KEY", head + "\n-----END OPENSSH PRIVATE KEY-----")
    ]
    assert found(scanner, head + "\n\n(rest omitted)") == [("PRIVATE_KEY", head)]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_jwt(scanner: PiiScanner) -> None:
    """Three base64url parts whose header is JSON with alg."""
    token = _b64(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64(b'{"sub":"1"}') + "." + _R
    assert found(scanner, f"Cookie: session={token}; Path=/") == [("JWT", token)]


def test_jwt_needs_alg_header(scanner: PiiScanner) -> None:
    """Dotted base64 whose header lacks alg is not a JWT."""
    fake = _b64(b'{"typ":"JWT","kid":"x"}') + "." + _b64(b'{"sub":"1"}') + ".sig"
    assert [f.type for f in scanner.find(fake)] != ["JWT"]
