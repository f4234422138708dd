"""`lockgate serve` as a live process: banner, access log, event lines, headers, --url, failures."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from tests.fakes import Fault, ThreadedFake, start_in_thread
from tests.opex.support import LOCKGATE, cli, write
from tests.support import MASTER, bearer

HI = [{"role": "user", "content": "hello"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    proc: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    pump: threading.Thread | None = None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.pump is not None:
            self.pump.join(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> list[str]:
        with self.lock:
            return list(self.lines)

    def wait_for(self, predicate, timeout: float = 60.0) -> str:
        """The first stderr line matching ``predicate`` (bounded wait)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.stderr():
                if predicate(line):
                    return line
            if self.proc.poll() is not None and not any(predicate(x) for x in self.stderr()):
                raise AssertionError("gateway exited:\n" + "\n".join(self.stderr()))
            time.sleep(0.02)
        raise AssertionError("no matching line:\n" + "\n".join(self.stderr()))

    def json_lines(self, logger: str) -> list[dict]:
        out = []
        for line in self.stderr():
            if line.startswith("{"):
                data = json.loads(line)
                if data.get("logger") == logger:
                    out.append(data)
        return out


def start_serve(config: Path, port: int, cwd: Path, env: dict[str, str]) -> Served:
    proc = subprocess.Popen(
        [*LOCKGATE, "serve", "--config", str(config), "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(proc, port)

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with served.lock:
                served.lines.append(line.rstrip("\n"))

    served.pump = threading.Thread(target=pump, daemon=True)
    served.pump.start()
    return served


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LOCKGATE_", "OPENAI_", "ANTHROPIC_"))
    }
    env["XDG_DATA_HOME"] = str(tmp / "xdg")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def fake() -> Iterator[ThreadedFake]:
    with start_in_thread() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, fake) -> Iterator[Served]:
    """One `lockgate serve` for the module: a mock alias and one on the fake upstream."""
    tmp = tmp_path_factory.mktemp("serve")
    config = write(
        tmp / "lockgate.yaml",
        "model_list:\n"
        "  - model_name: mock\n"
        "    params: {model: mock/mock-1, input_cost_per_million: 1, output_cost_per_million: 2}\n"
        "  - model_name: up\n"
        f"    params: {{model: openai/gpt-4o-mini, api_base: '{fake.openai_base_url}',"
        " api_key: os.environ/UPSTREAM_KEY}\n"
        "router_settings: {num_retries: 2, retry_backoff_base: 0.01, retry_backoff_cap: 0.02}\n"
        "general_settings:\n"
        "  master_key: os.environ/LOCKGATE_MASTER_KEY\n"
        f"  database_url: sqlite:///{tmp}/gw.db\n",
    )
    served = start_serve(
        config,
        free_port(),
        tmp,
        clean_env(tmp, LOCKGATE_MASTER_KEY=MASTER, UPSTREAM_KEY="sk-upstream"),
    )
    try:
        served.wait_for(lambda line: line.startswith("lockgate listening on"))
        yield served
    finally:
        served.stop()


def test_listening_is_printed_once_the_port_answers(gateway):
    """The banner names the database, and the port accepts connections when it appears."""
    banner = gateway.wait_for(lambda line: line.startswith("lockgate listening on"))
    assert banner == f"lockgate listening on http://127.0.0.1:{gateway.port}"
    # the banner's lines reach the test's pump thread one by one: wait for this one too
    gateway.wait_for(lambda line: line.startswith("  database: sqlite"))
    assert httpx.get(gateway.url + "/health", timeout=10).status_code == 200


def test_one_access_line_per_request_with_the_operator_fields(gateway):
    """Each request logs one JSON line: ids, model, deployment, status, latency, tokens, cost."""
    r = httpx.post(
        gateway.url + "/v1/chat/completions",
        headers=bearer(),
        json={"model": "mock", "messages": HI},
        timeout=30,
    )
    assert r.status_code == 200
    rid = r.headers["x-request-id"]
    line = gateway.wait_for(lambda x: rid in x and '"lockgate.requests"' in x)
    data = json.loads(line)
    usage = r.json()["usage"]
    assert data["msg"] == "request" and data["level"] == "info"
    assert (data["model"], data["deployment"], data["status"]) == ("mock", "mock#0", 200)
    assert data["key_id"] is None and data["key_name"] == "master"
    assert (data["prompt_tokens"], data["completion_tokens"]) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert data["cost_usd"] > 0 and data["latency_ms"] > 0 and data["cache"]
    assert len([x for x in gateway.json_lines("lockgate.requests") if x["request_id"] == rid]) == 1


def test_retry_wait_is_upstream_time_not_overhead(gateway, fake):
    """A retried request reports its wait in x-lockgate-upstream-ms and logs the retry."""
    fake.reset()
    fake.push_fault(Fault.error(503, retry_after="1", path="/v1/chat/completions"), times=1)
    r = httpx.post(
        gateway.url + "/v1/chat/completions",
        headers=bearer(),
        json={"model": "up", "messages": HI},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-lockgate-attempts"] == "2"
    upstream = float(r.headers["x-lockgate-upstream-ms"])
    overhead = float(r.headers["x-lockgate-overhead-ms"])
    assert upstream >= 1000.0  # the Retry-After wait
    assert overhead < upstream
    rid = r.headers["x-request-id"]
    event = json.loads(gateway.wait_for(lambda x: rid in x and "upstream error" in x))
    assert event["msg"] == "upstream error; retrying" and event["logger"] == "lockgate.upstream"
    assert (event["status"], event["deployment"], event["attempt"]) == (503, "up#0", 1)
    access = json.loads(gateway.wait_for(lambda x: rid in x and '"lockgate.requests"' in x))
    assert access["attempts"] == 2 and access["upstream_ms"] >= 1000.0


def test_coalesced_wait_is_upstream_time_not_overhead(gateway, fake):
    """A request that waited on an identical in-flight one counts the wait as upstream."""
    import concurrent.futures

    fake.reset()
    fake.push_fault(Fault.slow_headers(1.0, path="/v1/chat/completions"), times=1)
    body = {"model": "up", "temperature": 0, "messages": [{"role": "user", "content": "same"}]}

    def post():
        return httpx.post(
            gateway.url + "/v1/chat/completions", headers=bearer(), json=body, timeout=60
        )

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(post)
        time.sleep(0.3)  # the second arrives while the first waits on the upstream
        second = pool.submit(post)
        responses = [first.result(), second.result()]
    assert [r.status_code for r in responses] == [200, 200]
    (follower,) = [r for r in responses if r.headers.get("x-lockgate-coalesced") == "1"]
    upstream = float(follower.headers["x-lockgate-upstream-ms"])
    assert upstream >= 300.0
    assert float(follower.headers["x-lockgate-overhead-ms"]) < upstream


def test_admin_commands_through_the_running_gateway(gateway, tmp_path):
    """keys, usage and audit verify act through --url with the master key from the environment."""
    env = {"LOCKGATE_MASTER_KEY": MASTER}
    made = cli("keys", "create", "remote-team", "--url", gateway.url, cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    assert f"gateway: {gateway.url}" in made.stderr and "database:" not in made.stderr
    key = json.loads(made.stdout)
    ok = httpx.post(
        gateway.url + "/v1/chat/completions",
        headers=bearer(key["key"]),
        json={"model": "mock", "messages": HI},
        timeout=30,
    )
    assert ok.status_code == 200
    listed = cli("keys", "list", "--json", "--url", gateway.url, cwd=tmp_path, env=env)
    assert key["id"] in [k["id"] for k in json.loads(listed.stdout)]
    report = cli(
        "usage",
        "report",
        "--by",
        "key",
        "--since",
        "today",
        "--json",
        "--url",
        gateway.url,
        cwd=tmp_path,
        env=env,
    )
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)["rows"]
    assert any(row["group"].get("key_id") == key["id"] for row in rows)
    verified = cli("audit", "verify", "--url", gateway.url, cwd=tmp_path, env=env)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: ") and "records verified from genesis" in verified.stdout
    revoked = cli("keys", "revoke", key["id"], "--url", gateway.url, cwd=tmp_path, env=env)
    assert revoked.stdout.strip() == f"revoked {key['id']} (remote-team)"
    denied = cli("keys", "list", "--url", gateway.url, "--key", "sk-wrong-key-000", cwd=tmp_path)
    assert denied.returncode == 1
    assert denied.stderr.strip().splitlines()[-1].startswith(f"error: {gateway.url}: HTTP 401")


def test_taken_port_is_one_clear_error(gateway, tmp_path):
    """A second gateway on the same port exits 1 with one error line and a hint."""
    config = write(tmp_path / "lockgate.yaml", "model_list: []\n")
    r = cli("serve", "--config", str(config), "--port", str(gateway.port), cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"error: port {gateway.port} on 127.0.0.1 is already in use",
        "  hint: stop the other process, or pick another port with --port or server.port",
    ]


def test_failed_start_is_one_line_and_a_hint(tmp_path):
    """An unreachable database stops the start with one error line, not a traceback."""
    dead = free_port()
    config = write(
        tmp_path / "lockgate.yaml",
        f"general_settings: {{database_url: 'postgresql://u:pw@127.0.0.1:{dead}/db'}}\n",
    )
    r = cli("serve", "--config", str(config), "--port", str(free_port()), cwd=tmp_path)
    assert r.returncode == 3
    assert "Traceback" not in r.stderr and "lockgate listening" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: cannot start:")
    assert f"hint: is the database (postgresql://u:***@127.0.0.1:{dead}/db)" in r.stderr
