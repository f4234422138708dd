# ruff: noqa: E501  (tables of example strings)
"""gitleaks' rule-file examples (see gitleaks_go.py)."""

from __future__ import annotations

import base64

from gitleaks_go import Example, an, ane, ans, g1, gs, hx, ns, num

# sentry.go: base64 of a generated {"iat":…,"url":…,"region_url":…,"org":…} document
_SNTRY_JSON = base64.b64encode(
    ns(
        r'\{"iat":[0-9.]{3,6},"url":"https://[A-Za-z0-9_]{10,20}","region_url":"https://[A-Za-z0-9_]{20,30}","org":"[A-Za-z0-9_]{5,10}"\}'
    ).encode()
).decode()
_SNTRY = "sntrys_" + _SNTRY_JSON + "_" + ns("[a-zA-Z0-9+/]{43}")

EXAMPLES: list[Example] = [
    ("1password.go", "1password-service-account-token", g1("1password", ns("ops_eyJ[a-zA-Z0-9+/]{250,300}={0,3}")), 1),
    ("1password.go", "1password-secret-key", gs("1password", ns("A3-[A-Z0-9]{6}-[A-Z0-9]{11}-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}")), 1),
    ("1password.go", "1password-secret-key", gs("1password", ns("A3-[A-Z0-9]{6}-[A-Z0-9]{6}-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}")), 1),
    ("adyen.go", "adyen-api-key", gs("adyen", "AQEyhmfx." + ns(ane("60"))), 1),
    ("adyen.go", "adyen-api-key", 'nonMatchingToken := "AXE' + ns(an("30")) + '"', 0),
    ("adyen.go", "adyen-client-key", gs("adyen", "test_" + ns(an("34"))), 1),
    ("adyen.go", "adyen-client-key", 'nonMatchingToken := "prod_' + ns(an("34")) + '"', 0),
    ("ansible.go", "ansible-vault-token", g1("ansible-vault-token", "ANSIBLE_VAULT;1.0;AES256;\n" + ns(num("32"))), 1),
    ("braintree.go", "braintree-access-token", gs("braintree", "access_token$sandbox$" + ns(an("16"))), 1),
    ("braintree.go", "braintree-access-token", gs("braintree", "access_token$production$" + ns(an("16"))), 1),
    ("braintree.go", "braintree-access-token", 'nonMatchingToken := "access_token$staging$' + ns(an("16")) + '"', 0),
    ("braintree.go", "braintree-tokenization-key", gs("braintree", "sandbox_" + ns(an("8")) + "_" + ns(an("16"))), 1),
    ("braintree.go", "braintree-tokenization-key", gs("braintree", "production_" + ns(an("8")) + "_" + ns(an("16"))), 1),
    ("braintree.go", "braintree-tokenization-key", 'nonMatchingToken := "development_' + ns(an("8")) + "_" + ns(an("16")) + '"', 0),
    ("claude.go", "claude-code-session-url", [
        "https://claude.ai/code/session_01DDpXdCk8uhiRdzku123456", "http://claude.ai/code/session_01DDpXdCk8uhiRdzku123456",
        "see https://claude.ai/code/session_01DDpXdCk8uhiRdzku123456 for context",
        'session = "https://claude.ai/code/session_01DDpXdCk8uhiRdzku123456"',
        "https://CLAUDE.AI/code/session_01DDpXdCk8uhiRdzku123456", "https://claude.ai/code/session_01DDpXdCk8uhiRdzku123456/",
        "https://claude.ai/code/session_01DDpXdCk8uhiRdzku123456?ref=foo", "https://claude.ai/code/session_" + ns("[A-Za-z0-9]{24}")], 1),
    ("claude.go", "claude-code-session-url", [
        "https://example.com/code/session_01DDpXdCk8uhiRdzku123456", "https://claude.ai/chat/session_01DDpXdCk8uhiRdzku123456",
        "https://claude.ai/code/01DDpXdCk8uhiRdzku123456", "https://claude.ai/code/session_short"], 0),
    ("database.go", "database-password", gs("DB_PASSWORD", ns("[a-zA-Z0-9:;<@=},!$?^]{20}")), 1),
    ("database.go", "database-password", gs("db_password", ns("[a-zA-Z0-9:;<@=},!$?^]{6}")), 1),
    ("database.go", "database-password", gs("DB_PASSWD", ns("[a-zA-Z0-9:;<@=},!$?^]{10}")), 1),
    ("database.go", "database-password", "pwd = " + ns("[a-zA-Z0-9:;<@=},!$?^]{20}"), 1),
    ("database.go", "database-password", "pwd: " + ns("[a-zA-Z0-9:;<@=},!$?^]{50}"), 1),
    ("database.go", "database-password", ["DB_PASSWORD=[value]", "somepwd=XXXXXXXXXXXXXXX"], 0),
    ("django.go", "django-insecure-secret-key", 'SECRET_KEY = "django-insecure-123456789!%_&*^)abcdef"', 1),
    ("groq.go", "groq-api-key", gs("groq", "gsk_" + ns(an("48"))), 1),
    ("groq.go", "groq-api-key", "GSK_API_KEY=gsk_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 0),
    ("langsmith.go", "langsmith-api-key", [
        g1("langsmith", "lsv2_pt_" + ns(an("32")) + "_" + ns(an("10"))),
        g1("langchain", "lsv2_sk_" + ns(an("32")) + "_" + ns(an("10"))),
        "LANGCHAIN_API_KEY=lsv2_pt_" + ns(an("32")) + "_" + ns(an("10"))], 1),
    ("langsmith.go", "langsmith-api-key", [
        "LANGCHAIN_API_KEY=ls__0123456789abcdef0123456789abcdef",
        "lsv2_xx_0123456789abcdef0123456789abcdef_0123456789"], 0),
    ("castai.go", "castai-api-key", gs("CastAI", "castai_v1_2cb5a70064f60ba2f5507bcbb02938a5a0483bf2a9742d08c5c274c827c9f6ea_aabb92b5"), 1),
    ("castai.go", "castai-api-key", gs("CastAI", "castai_v1_" + ns("[A-Za-z0-9]{64}_[A-Za-z0-9]{8}")), 1),
    ("castai.go", "castai-api-key", "key = test_v1_2cb5a70064f60ba2f5507bcbb02938a5a0483bf2a9742d08c5c274c827c9f6ea_037192b5", 0),
    ("chieftools.go", "chieftools-pat", g1("chieftools", "ctp_" + ns(an("36"))), 1),
    ("chieftools.go", "chieftools-access-token", g1("chieftools", "cto_" + ns(an("36"))), 1),
    ("chieftools.go", "chieftools-refresh-token", g1("chieftools", "ctr_" + ns(an("36"))), 1),
    ("datafactory.go", "datafactory-shir-token", "IR@40040abc-b2f2-8tyg-ab39-90a490zzzaae@adf-myapp-001@we@uUY/w9WdKTdAWWPDMrEEWdAEZIgeXlrO51GtVUR1/BE=", 1),
    ("claude_code.go", "claude-code-oauth-token", [
        "sk-ant-oat01-abc123xyz_456def789ghij-klmnopqrstuvwx-3456yza789bcde-1234fghijklmnopby56aaaogaopaaaabc123xyzZQ",
        g1("claude-code", "sk-ant-oat01-" + ns(ans("95"))),
        'CLAUDE_CODE_OAUTH_TOKEN="sk-ant-oat01-' + ns(ans("95")) + '"'], 1),
    ("claude_code.go", "claude-code-oauth-token", [
        "sk-ant-oat01-abc123xyz_456def789ghij-klmnopqrstuvwx-3456yza789bcde-1234fghijklmnopby56aaaogaopaaaabc123xy",
        "sk-ant-api03-abc123xyz-456def789ghij-klmnopqrstuvwx-3456yza789bcde-1234fghijklmnopby56aaaogaopaaaabc123xyzAA",
        "sk-ant-admin01-abc12fake-456def789ghij-klmnopqrstuvwx-3456yza789bcde-12fakehijklmnopby56aaaogaopaaaabc123xyzAA"], 0),
    ("aws_secret.go", "aws-secret-access-key", gs("AWSSecret", "lbqlNh3FW5/3AwnBoWsYIJam9w2Us4ZOH5Un8RyR"), 1),
    ("aws_secret.go", "aws-secret-access-key", ["lbqlNh3FW5/3AwnBoWsYIJam9w2Us4ZOH5Un8RyRX", "lbqlN'3FW5/3AwnBoWsYIJam9w2Us4ZOH5Un8RyR"], 0),
    ("PKCS8.go", "PKCS8-PK", "-----BEGIN PRIVATE KEY-----", 1),
    ("sentry.go", "sentry-access-token", gs("sentry", ns(hx("64"))), 1),
    ("sentry.go", "sentry-org-token", gs("sentry", "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"), 1),
    ("sentry.go", "sentry-org-token", gs("sentry", "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"), 1),
    ("sentry.go", "sentry-org-token", " 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", 1),
    ("sentry.go", "sentry-org-token", [_SNTRY, "<token>" + _SNTRY + "</token>", "https://example.com?token=" + _SNTRY + "&other=stuff"], 1),
    ("sentry.go", "sentry-org-token", [ns("sntrys_[a-zA-Z0-9]{90}_[a-zA-Z0-9]{43}"), "sntrys_" + _SNTRY_JSON + "_" + ns("[a-zA-Z0-9]{42}"), "sntrys_" + _SNTRY_JSON + "_" + ns("[a-zA-Z0-9]{44}")], 0),
    ("sentry.go", "sentry-user-token", gs("sentry", ns("sntryu_[a-f0-9]{64}")), 1),
    ("sentry.go", "sentry-user-token", [ns("sntryu_[a-f0-9]{63}"), ns("sntryu_[a-f0-9]{65}"), "sntryu_" + "a" * 64], 0),
    ("jwt.go", "jwt", gs("jwt", ns("ey[a-zA-Z0-9]{17,40}\\.ey[a-zA-Z0-9/_-]{17,60}\\.(?:[a-zA-Z0-9/_-]{10,40}={0,2})?")), 1),
    ("jwt.go", "jwt", [
        "python examples/cli.py eyJhbGciOiJIUzI1NiJ9.eyJJc3N1ZXIiOiJJc3N1ZXIiLCJVc2VybmFtZSI6IkJhZFNlY3JldHMiLCJleHAiOjE1OTMxMzM0ODMsImlhdCI6MTQ2NjkwMzA4M30.ovqRikAo_0kKJ0GVrAwQlezymxrLGjcEiW_s3UJMMCo",
        '"Authorization": "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VybmFtZTpib2IifQ.HcfCW67Uda-0gz54ZWTqmtgJnZeNem0Q757eTa9EZuw"',
        '"value": "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE1ODk1ODU1NjN9.PtfDS1niGoZ7pV6kplI-_q1fVKLnknQ3IwcrLZhoVCU",'], 1),
    ("dropbox.go", "dropbox-api-token", gs("dropbox", ns(an("15"))), 1),
]  # fmt: skip
