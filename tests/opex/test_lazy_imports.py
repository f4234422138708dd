"""What a command or a gateway loads is what its config uses (start-up time and idle memory).

Structural checks in fresh interpreters, not timings: the timings are in
bench/bench_cli_startup.py and bench/bench_startup.py.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from tests.live_server import spawn_serve, wait_ok
from tests.opex.support import ask_mock, mock_config, run_probe, write
from tests.opex.test_serve_live import free_port

from lockgate.storage.database import Database, shipped_head

#: heavy packages only some configs or commands need
HEAVY = ("numpy", "scipy", "alembic", "redis", "jsonschema", "onnxruntime", "tokenizers")


def loaded_after(code: str, packages: tuple[str, ...] = HEAVY) -> set[str]:
    """Which of ``packages`` are in ``sys.modules`` after running ``code`` in a fresh Python."""
    probe = (
        f"{code}\nimport sys, json\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({packages!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def probe_json(code: str) -> Any:
    """What ``code``, run in a fresh Python, printed as JSON on its last line."""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_cli_loads_no_heavy_package_for_help():
    """`lockgate --help` imports neither the statistics stack nor the database layer."""
    assert loaded_after("import lockgate.cli", (*HEAVY, "sqlalchemy")) == set()


def test_the_server_module_loads_no_heavy_package():
    """numpy/scipy (experiments, routing, semantic cache), redis, Alembic load on use."""
    assert loaded_after("import lockgate.server, lockgate.app, lockgate.services") == set()


def test_shipped_head_matches_alembic():
    assert shipped_head() is not None
    assert shipped_head() == Database.head_revision()


def test_a_database_at_head_is_opened_without_alembic(tmp_path: Path):
    """The first start migrates (Alembic); later starts see the head with one query."""
    url = f"sqlite:///{tmp_path}/lg.db"
    migrate = (
        "import asyncio\nfrom lockgate.storage.database import Database\n"
        f"db = Database({url!r})\nasyncio.run(db.migrate())\nasyncio.run(db.aclose())"
    )
    assert "alembic" in loaded_after(migrate)
    assert loaded_after(migrate) == set()

    async def revision() -> str | None:
        db = Database(url)
        try:
            return await db.current_revision()
        finally:
            await db.aclose()

    assert asyncio.run(revision()) == Database.head_revision()


def test_a_database_behind_head_is_still_migrated(tmp_path: Path):
    """The fast path never skips a real upgrade: an older schema goes through Alembic."""
    from alembic import command
    from sqlalchemy.engine import Connection

    from lockgate.storage.database import _alembic_config

    url = f"sqlite:///{tmp_path}/old.db"

    def to_first(conn: Connection) -> None:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")

    async def migrate_and_read() -> str | None:
        db = Database(url)
        try:
            async with db.engine.begin() as conn:
                await conn.run_sync(to_first)
            assert await db.current_revision() == "0001"
            await db.migrate()
            return await db.current_revision()
        finally:
            await db.aclose()

    assert asyncio.run(migrate_and_read()) == Database.head_revision()


def test_a_gateway_on_defaults_never_maps_numpy_or_scipy(tmp_path: Path):
    """A live `lockgate serve` that answered a request has not loaded the statistics stack."""
    config = write(
        tmp_path / "lockgate.yaml",
        "model_list:\n  - model_name: mock\n    params: {model: mock/mock-1}\n"
        f"general_settings: {{database_url: 'sqlite:///{tmp_path}/gw.db'}}\n",
    )
    port = free_port()
    proc = spawn_serve(config, port, tmp_path / "serve.log")
    try:
        wait_ok(f"http://127.0.0.1:{port}", timeout=60)
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "mock", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert r.status_code == 200
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        for package in ("numpy", "scipy", "onnxruntime"):
            assert f"site-packages/{package}/" not in maps, package
    finally:
        proc.terminate()
        proc.wait(timeout=30)


#: what `lockgate serve` on a SQLite file keeps out of its process: Alembic and Mako (the
#: first start migrates in a child), pygments and rich (structlog's console extras, the
#: CLI's tables), cryptography (audit encryption), Jinja2 (prompt templates), aiohttp (the
#: pass-through, batch hand-off, callbacks and unusual provider URLs: on first use), typer
#: (a plain `serve` line starts in lockgate.serve_cli), click and multiprocessing
#: (uvicorn's command line and supervisors: serving/lean.py's import_deferring_init)
SERVE_LEAN = (
    "alembic",
    "mako",
    "pygments",
    "rich",
    "cryptography",
    "jinja2",
    "watchfiles",
    "aiohttp",
    "typer",
    "click",
    "multiprocessing",
)


def test_import_cli_loads_no_command_group():
    """`lockgate serve` imports none of the command groups (keys and cache are local)."""
    from lockgate.cli import LAZY_GROUPS

    modules = sorted({module for module, _ in LAZY_GROUPS.values()})
    probe = (
        "import sys, json, lockgate.cli\n"
        f"print(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_every_command_group_is_listed_and_reachable():
    from typer.testing import CliRunner

    from lockgate.cli import LAZY_GROUPS, app

    runner = CliRunner()
    listed = runner.invoke(app, ["--help"])
    assert listed.exit_code == 0, listed.output
    for name in LAZY_GROUPS:
        assert f" {name} " in listed.output, name
        sub = runner.invoke(app, [name, "--help"])
        assert sub.exit_code == 0, (name, sub.output)
        assert f" {name} [OPTIONS] COMMAND" in " ".join(sub.output.split()), name
    typo = runner.invoke(app, ["audits"])
    assert typo.exit_code == 2
    assert "Did you mean 'audit'?" in typo.output


def test_serve_migrates_in_a_child_and_loads_none_of_the_extras(tmp_path: Path):
    """A first `lockgate serve` on a SQLite file: the schema reaches head, yet the serving
    process never imported Alembic, Mako, pygments, rich, cryptography, Jinja2, watchfiles,
    aiohttp, typer, click, multiprocessing or SQLAlchemy's ORM."""
    from lockgate.storage.revisions import shipped_head

    db = tmp_path / "gw.db"
    config = mock_config(tmp_path)
    loaded = tmp_path / "loaded.json"
    # the probe also records when the cyclic GC was switched off and on (a thread polls)
    setup = (
        "import gc, threading, time\nflips = [[time.time(), gc.isenabled()]]\n"
        "def watch():\n"
        "    while True:\n"
        "        if gc.isenabled() != flips[-1][1]:\n"
        "            flips.append([time.time(), gc.isenabled()])\n"
        "        time.sleep(0.002)\n"
        "threading.Thread(target=watch, daemon=True).start()"
    )
    record = "{'modules': sorted(sys.modules), 'gc': flips}"
    port = free_port()
    proc = run_probe(setup, record, loaded, config, port, log=tmp_path / "serve.log")
    try:
        wait_ok(f"http://127.0.0.1:{port}", timeout=60)
        assert ask_mock(port) == 200
        answered = time.time()
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0, (tmp_path / "serve.log").read_text()
    seen = json.loads(loaded.read_text())
    assert {m.split(".")[0] for m in seen["modules"]} & set(SERVE_LEAN) == set()
    assert "sqlalchemy.orm" not in seen["modules"]  # storage/lean_import.py
    # the GC was off while the gateway started and on again before it answered
    states = [on for _, on in seen["gc"]]
    assert states[:3] == [True, False, True], seen["gc"]
    assert [on for at, on in seen["gc"] if at < answered][-1] is True

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (shipped_head(),)
        ]


def test_lean_sqlalchemy_asyncio_keeps_every_name() -> None:
    """After the lean import the engine's names come without the ORM; any other name of
    the real package (AsyncSession) still imports, loading it then; unknown names fail."""
    code = (
        "import json, sys\n"
        "from lockgate.storage.lean_import import import_sqlalchemy_asyncio_lean\n"
        "import_sqlalchemy_asyncio_lean()\n"
        "from sqlalchemy.ext.asyncio import create_async_engine, AsyncConnection\n"
        "import asyncio, sqlalchemy as sa\n"
        "async def go():\n"
        "    engine = create_async_engine('sqlite+aiosqlite://')\n"
        "    async with engine.connect() as conn:\n"
        "        value = (await conn.execute(sa.text('select 41 + 1'))).scalar()\n"
        "    await engine.dispose()\n"
        "    return value\n"
        "out = {'value': asyncio.run(go()), 'orm_before': 'sqlalchemy.orm' in sys.modules}\n"
        "from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker\n"
        "out['session'] = AsyncSession.__module__\n"
        "out['orm_after'] = 'sqlalchemy.orm' in sys.modules\n"
        "import sqlalchemy.ext.asyncio as m\n"
        "out['unknown'] = hasattr(m, 'no_such_name')\n"
        "print(json.dumps(out))\n"
    )
    assert probe_json(code) == {
        "value": 42,
        "orm_before": False,
        "session": "sqlalchemy.ext.asyncio.session",
        "orm_after": True,
        "unknown": False,
    }


def test_uvicorn_without_its_init_keeps_every_name() -> None:
    """Config and Server come from their modules without click; a submodule imports
    without the real __init__; any other name (run, __version__) runs it then."""
    code = (
        "import json, sys\n"
        "from lockgate.serving.lean import import_deferring_init\n"
        "import_deferring_init(\n"
        "    'uvicorn', {'Config': 'uvicorn.config', 'Server': 'uvicorn.server'}\n"
        ")\n"
        "import uvicorn\n"
        "from uvicorn import Config, protocols\n"
        "from uvicorn.server import Server\n"
        "out = {'same': Config is uvicorn.config.Config and uvicorn.Server is Server,\n"
        "       'sub': protocols.__name__, 'click_before': 'click' in sys.modules}\n"
        "out['run'] = uvicorn.run.__module__\n"
        "out['version'] = isinstance(uvicorn.__version__, str)\n"
        "out['click_after'] = 'click' in sys.modules\n"
        "out['unknown'] = hasattr(uvicorn, 'no_such_name')\n"
        "print(json.dumps(out))\n"
    )
    assert probe_json(code) == {
        "same": True,
        "sub": "uvicorn.protocols",
        "click_before": False,
        "run": "uvicorn.main",
        "version": True,
        "click_after": True,
        "unknown": False,
    }


#: `lockgate serve` as `python -m lockgate` runs it, recording each statement its sqlite3
#: connections run (a line each, as they run) and, at exit, the modules it imported
_TRACED_SERVE = (
    "import atexit, json, sqlite3, sys\n"
    "out, trace = sys.argv[1], open(sys.argv[2], 'a', buffering=1)\n"
    "connect = sqlite3.connect\n"
    "def traced(*args, **kwargs):\n"
    "    conn = connect(*args, **kwargs)\n"
    "    conn.set_trace_callback(lambda sql: trace.write(' '.join(sql.split()) + '\\n'))\n"
    "    return conn\n"
    "sqlite3.connect = traced\n"
    "atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(sys.modules))))\n"
    "sys.argv = ['lockgate', 'serve', '-c', sys.argv[3], '--port', sys.argv[4]]\n"
    "import runpy\nrunpy.run_module('lockgate', run_name='__main__')\n"
)

#: what every idle poll reads (each at least twice: at start and again later)
_POLLS = (
    "FROM key_changes",  # virtual keys' change counter
    "FROM model_changes",  # stored model entries' change counter
    "FROM lockgate_changes",  # the prompt registry's head
    "FROM rollouts WHERE status",  # the rollout driver's due checks
    "FROM batches WHERE status",  # the batch runner's "anything to do?"
)


def test_a_gateway_on_sqlite_that_served_and_polled_never_imported_sqlalchemy(tmp_path: Path):
    """On a SQLite file (the embedded defaults' database), a live `lockgate serve` that
    answered chat requests (one with an unknown key: open mode looks it up), a stream,
    an Anthropic message and readiness probes, wrote their usage and audit rows (the
    writer process) and ran every poll several times, has not imported SQLAlchemy: the
    polls read with sqlite3."""
    db = tmp_path / "gw.db"
    config = write(
        tmp_path / "lockgate.yaml",
        "model_list:\n  - model_name: mock\n    params: {model: mock/mock-1}\n"
        f"general_settings: {{database_url: 'sqlite:///{db}', key_sync_seconds: 0.05}}\n"
        "live_models: {sync_seconds: 0.05}\n"
        "prompts: {poll_interval_seconds: 0.05, rollout_tick_seconds: 0.05}\n"
        "batches: {poll_seconds: 0.05}\n"
        "usage: {flush_interval_seconds: 0.05}\n"
        "server: {drain_seconds: 0}\n",
    )
    loaded, trace = tmp_path / "loaded.json", tmp_path / "sql.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _TRACED_SERVE, str(loaded), str(trace), str(config), str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    chat = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
    try:
        wait_ok(url, timeout=60, proc=proc, log=tmp_path / "serve.log")
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.post("/v1/chat/completions", json=chat).status_code == 200
            unknown = {"authorization": "Bearer sk-not-a-stored-key"}
            r = client.post("/v1/chat/completions", json=chat, headers=unknown)
            assert r.status_code == 200
            streamed = client.post("/v1/chat/completions", json={**chat, "stream": True})
            assert streamed.status_code == 200 and "[DONE]" in streamed.text
            message = {"model": "mock", "max_tokens": 16, **{"messages": chat["messages"]}}
            assert client.post("/v1/messages", json=message).status_code == 200
            assert client.get("/ready").json()["checks"]["database"] is True
        # every poll ran again after the requests, and the 4 usage rows are in
        deadline = time.monotonic() + 60
        while True:
            lines = trace.read_text().splitlines() if trace.exists() else []
            counts = {poll: sum(poll in line for line in lines) for poll in _POLLS}
            with sqlite3.connect(db) as conn:
                rows = conn.execute("SELECT count(*) FROM usage_records").fetchone()[0]
            if min(counts.values()) >= 2 and rows == 4:
                break
            assert time.monotonic() < deadline, (counts, rows)
            time.sleep(0.05)
        assert any("FROM api_keys WHERE key_hash" in line for line in lines)
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0, (tmp_path / "serve.log").read_text()
    modules = {m.split(".")[0] for m in json.loads(loaded.read_text())}
    assert modules & {"sqlalchemy", "aiosqlite", "greenlet"} == set()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 4


def test_lazy_module_imports_on_first_use_and_then_is_the_module() -> None:
    """The stand-in imports its module on the first attribute read and puts the module
    in its place in the importing module's globals; a module already imported is
    returned as it is; a missing attribute is still an AttributeError."""
    code = (
        "import json, sys\n"
        "from lockgate.storage.lean_import import lazy_module\n"
        "wave = lazy_module('wave')\n"
        "out = {'before': 'wave' in sys.modules, 'repr': repr(wave)}\n"
        "out['value'] = wave.WAVE_FORMAT_PCM\n"
        "out['after'] = 'wave' in sys.modules\n"
        "out['rebound'] = wave is sys.modules['wave']\n"
        "out['loaded'] = lazy_module('json') is json\n"
        "try:\n"
        "    lazy_module('colorsys').no_such_name\n"
        "except AttributeError:\n"
        "    out['missing'] = 'AttributeError'\n"
        "print(json.dumps(out))\n"
    )
    assert probe_json(code) == {
        "before": False,
        "repr": "<module 'wave', imported on first use>",
        "value": 1,
        "after": True,
        "rebound": True,
        "loaded": True,
        "missing": "AttributeError",
    }
