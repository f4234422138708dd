"""The ``lockgate`` command as an operator meets it, each case a real subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.opex.support import cli, write

from lockgate.usage.reports import parse_day

MOCK_ONLY = "model_list:\n  - model_name: mock\n    params: {model: mock/mock-1}\n"


def _db_line(stderr: str) -> str:
    (line,) = [ln for ln in stderr.splitlines() if ln.startswith("database: ")]
    return line.removeprefix("database: ")


def test_version_flag(tmp_path: Path):
    """`lockgate --version` prints the version and exits 0."""
    from lockgate import __version__

    r = cli("--version", cwd=tmp_path)
    assert (r.returncode, r.stdout.strip()) == (0, f"lockgate {__version__}")


def test_admin_commands_find_config_like_serve(tmp_path: Path):
    """keys: $LOCKGATE_CONFIG first, then ./lockgate.yaml, then the per-user data dir."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write(
        a / "lockgate.yaml", MOCK_ONLY + f"general_settings:\n  database_url: sqlite:///{a}/a.db\n"
    )
    write(b / "env.yaml", MOCK_ONLY + f"general_settings:\n  database_url: sqlite:///{b}/b.db\n")

    local = cli("keys", "list", cwd=a)
    assert local.returncode == 0, local.stderr
    assert _db_line(local.stderr).endswith(f"{a}/a.db")

    from_env = cli("keys", "list", cwd=a, env={"LOCKGATE_CONFIG": str(b / "env.yaml")})
    assert _db_line(from_env.stderr).endswith(f"{b}/b.db")

    embedded = cli("keys", "list", cwd=b)
    assert _db_line(embedded.stderr) == f"sqlite+aiosqlite:///{b}/xdg/lockgate/lockgate.db"
    assert not (b / "lockgate-data").exists()


def test_key_created_without_config_is_the_one_serve_uses(tmp_path: Path):
    """With no config anywhere, `keys create` and `serve` agree on the database."""
    from lockgate.settings import load_settings

    r = cli("keys", "create", "team-a", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)
    db_used = _db_line(r.stderr)
    import os

    old = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    try:
        serve_db = load_settings(None, env={}).general_settings.database_url
    finally:
        if old is None:
            del os.environ["XDG_DATA_HOME"]
        else:
            os.environ["XDG_DATA_HOME"] = old
    assert serve_db == db_used
    listed = cli("keys", "list", "--json", cwd=tmp_path)
    assert [k["id"] for k in json.loads(listed.stdout)] == [created["id"]]


def test_admin_commands_do_not_need_provider_secrets(tmp_path: Path):
    """An unset OPENAI_API_KEY in model_list stops serve's checks, not keys/usage/audit."""
    config = write(
        tmp_path / "lockgate.yaml",
        "model_list:\n"
        "  - model_name: gpt\n"
        "    params: {model: openai/gpt-4o-mini, api_key: os.environ/OPENAI_API_KEY}\n"
        f"general_settings:\n  database_url: sqlite:///{tmp_path}/g.db\n",
    )
    for args in (["keys", "list"], ["usage", "report"], ["audit", "verify"]):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 0, (args, r.stderr)
    checked = cli("check-config", str(config), cwd=tmp_path)
    assert checked.returncode == 1
    assert "OPENAI_API_KEY (used by model_list.0.params.api_key)" in checked.stderr


def test_admin_commands_still_need_the_database_variable(tmp_path: Path):
    """A database URL read from an unset variable is an error even for admin commands."""
    write(
        tmp_path / "lockgate.yaml",
        MOCK_ONLY + "general_settings:\n  database_url: os.environ/LOCKGATE_DB_URL\n",
    )
    r = cli("keys", "list", cwd=tmp_path)
    assert r.returncode == 2
    assert "LOCKGATE_DB_URL (used by general_settings.database_url)" in r.stderr


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("today", "2026-11-28"),
        ("yesterday", "2026-11-27"),
        ("7d", "2026-11-21"),
        ("0d", "2026-11-28"),
        ("2026-11-01", "2026-11-01"),
    ],
)
def test_parse_day_forms(text, day):
    """--since/--until accept a date, today, yesterday and Nd."""
    import datetime as dt

    assert parse_day(text, dt.date(2026, 11, 28)) == day


def test_usage_report_bad_since_is_a_clear_error(tmp_path: Path):
    """A --since that is no day is exit 2 naming the accepted forms, not an empty table."""
    write(tmp_path / "lockgate.yaml", MOCK_ONLY)
    r = cli("usage", "report", "--since", "last-week", cwd=tmp_path)
    assert r.returncode == 2
    assert "--since: 'last-week' is not a day" in r.stderr
    assert "YYYY-MM-DD, today, yesterday or Nd" in r.stderr
    assert r.stdout == ""


def test_usage_report_empty_range_says_so(tmp_path: Path):
    """An empty report says on stderr that nothing was recorded, for which range."""
    write(tmp_path / "lockgate.yaml", MOCK_ONLY)
    r = cli("usage", "report", "--since", "yesterday", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "no usage recorded from " in r.stderr
    inverted = cli("usage", "report", "--since", "today", "--until", "7d", cwd=tmp_path)
    assert inverted.returncode == 2 and "the range is empty" in inverted.stderr


def test_cache_eval_malformed_file_names_the_line(tmp_path: Path):
    """`cache eval` on a bad JSONL line reports file:line and no traceback."""
    write(tmp_path / "lockgate.yaml", MOCK_ONLY)
    pairs = write(
        tmp_path / "pairs.jsonl",
        '{"q1": "a", "q2": "b", "label": 1}\n\n{"q1": "a", "label": 1}\n',
    )
    r = cli("cache", "eval", str(pairs), cwd=tmp_path)
    assert r.returncode == 2
    assert f"error: {pairs}:3:" in r.stderr
    assert "Traceback" not in r.stderr
    broken = write(tmp_path / "broken.jsonl", "{not json\n")
    r = cli("cache", "eval", str(broken), cwd=tmp_path)
    assert r.returncode == 2 and f"{broken}:1:" in r.stderr


PROBLEMS = (
    "general_settings: {database_url: 'mysql://u@h/db'}\n"
    "audit: {store_bodies: true}\n"
    "limits: {backend: 'memcached://h'}\n"
    "semantic_cache: {aliases: {nope: {}}}\n"
    "server: {host: 0.0.0.0}\n"
)
PROBLEM_LINES = [
    "general_settings.database_url: unsupported scheme 'mysql'",
    "audit.store_bodies is on but environment variable LOCKGATE_AUDIT_KEY is not set",
    "limits.backend: unsupported URL scheme 'memcached'",
    "semantic_cache.aliases: unknown model_name 'nope'",
    "refusing to listen on 0.0.0.0 without a master key",
]


def test_check_config_runs_serves_startup_checks(tmp_path: Path):
    """check-config fails (1) on all that would stop serve, and serve stops (2) the same way."""
    config = write(tmp_path / "lockgate.yaml", MOCK_ONLY + PROBLEMS)
    checked = cli("check-config", str(config), cwd=tmp_path)
    served = cli("serve", "--config", str(config), "--port", "1", cwd=tmp_path)
    assert (checked.returncode, served.returncode) == (1, 2), checked.stdout
    for out in (checked.stderr, served.stderr):
        for message in PROBLEM_LINES:
            assert f"error: {message}" in out
        assert out.count("  hint: ") == len(PROBLEM_LINES)
        assert "Traceback" not in out


def test_check_config_malformed_audit_key_and_gateway_embedder(tmp_path: Path):
    """A malformed audit key and an incomplete gateway embedder are start-up problems too."""
    config = write(
        tmp_path / "lockgate.yaml",
        MOCK_ONLY
        + "audit: {store_bodies: true}\n"
        + "semantic_cache: {embedder: gateway, aliases: {mock: {}}}\n",
    )
    r = cli("check-config", str(config), cwd=tmp_path, env={"LOCKGATE_AUDIT_KEY": "short"})
    assert r.returncode == 1
    assert "error: audit: environment variable LOCKGATE_AUDIT_KEY:" in r.stderr
    assert "needs embedding_model and embedding_dim" in r.stderr


def test_check_config_semantic_encoder(tmp_path: Path):
    """Either shipped encoder passes check-config (their wheels are installed); another
    name is a config error that lists the two."""
    for model in ("paraphrase-MiniLM-L3-v2", "all-MiniLM-L6-v2"):
        config = write(
            tmp_path / "lockgate.yaml",
            MOCK_ONLY + f"semantic_cache: {{model: {model}, aliases: {{mock: {{}}}}}}\n",
        )
        r = cli("check-config", str(config), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    config = write(
        tmp_path / "lockgate.yaml",
        MOCK_ONLY + "semantic_cache: {model: all-MiniLM-L12-v2, aliases: {mock: {}}}\n",
    )
    r = cli("check-config", str(config), cwd=tmp_path)
    assert r.returncode != 0
    assert "paraphrase-MiniLM-L3-v2" in r.stderr and "Traceback" not in r.stderr


def test_check_config_connect_reports_unreachable_database(tmp_path: Path):
    """--connect opens the database; without it no connection is attempted."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    config = write(
        tmp_path / "lockgate.yaml",
        MOCK_ONLY
        + f"general_settings: {{database_url: 'postgresql://u:pw@127.0.0.1:{port}/db'}}\n",
    )
    offline = cli("check-config", str(config), cwd=tmp_path)
    assert offline.returncode == 0, offline.stderr
    online = cli("check-config", str(config), "--connect", cwd=tmp_path)
    assert online.returncode == 1
    assert f"cannot connect to the database postgresql+asyncpg://u:***@127.0.0.1:{port}/db" in (
        online.stderr
    )
    assert "pw" not in online.stderr


def test_check_config_connect_ok_on_sqlite(tmp_path: Path):
    """--connect on a reachable database passes."""
    config = write(tmp_path / "lockgate.yaml", MOCK_ONLY)
    r = cli("check-config", "--connect", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"({config.name})" in r.stdout


@pytest.mark.parametrize(
    "args",
    [["prompts", "list"], ["db", "migrate", "--timeout", "10"], ["experiments", "list"]],
)
def test_prompt_and_db_commands_find_config_like_serve(tmp_path: Path, args: list[str]):
    """prompts/experiments/db use ./lockgate.yaml, say which database, need no provider key."""
    write(
        tmp_path / "lockgate.yaml",
        "model_list:\n  - model_name: gpt\n    params: {model: openai/gpt-4o-mini,"
        " api_key: os.environ/OPENAI_API_KEY}\n"
        f"general_settings:\n  database_url: sqlite:///{tmp_path}/here.db\n",
    )
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _db_line(r.stderr).endswith(f"{tmp_path}/here.db")
    assert (tmp_path / "here.db").is_file()
