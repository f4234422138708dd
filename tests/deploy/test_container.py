"""The container image's Dockerfile and the compose stack, validated offline (no Docker
daemon is reachable here): hadolint lints the Dockerfile, docker-compose parses and
resolves the compose file, and the properties the deployment relies on are asserted."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose"
ENV = {
    "LOCKGATE_MASTER_KEY": "sk-test-0123456789",
    "POSTGRES_PASSWORD": "pw",
    "GRAFANA_ADMIN_PASSWORD": "pw",
}


def stages(dockerfile: str) -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), split per build stage."""
    text = re.sub(r"\\\n", " ", dockerfile)
    out: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


def test_hadolint_passes() -> None:
    """hadolint (the pip-packaged binary) finds nothing to report."""
    hadolint = shutil.which("hadolint") or str(Path(os.sys.executable).parent / "hadolint")
    res = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """The linter is live: an unpinned apt install and a `latest` base fail it."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\n")
    hadolint = shutil.which("hadolint") or str(Path(os.sys.executable).parent / "hadolint")
    res = subprocess.run([hadolint, str(bad)], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "DL3007" in res.stdout


def test_final_stage_is_slim_non_root_and_checked() -> None:
    """Multi-stage; the final stage copies the built venv, installs no compiler, runs as a
    numeric non-root user, and has a HEALTHCHECK on /health."""
    parts = stages((ROOT / "Dockerfile").read_text())
    assert len(parts) >= 2
    final = parts[-1]
    text = "\n".join(final)
    assert "slim" in (ROOT / "Dockerfile").read_text().split("PYTHON_IMAGE=", 1)[1].splitlines()[0]
    assert any(line.startswith("COPY --from=build") for line in final)
    assert not re.search(r"\b(gcc|g\+\+|build-essential|clang|make)\b", text)
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    health = [line for line in final if line.startswith("HEALTHCHECK")]
    assert health and "/health" in health[0]
    assert "VARIANT" in parts[0][0] or any("VARIANT" in line for line in parts[0])


def compose_config() -> dict[str, Any]:
    binary = shutil.which("docker-compose")
    assert binary is not None, "docker-compose is required (apt-get install docker-compose)"
    env = {"PATH": os.environ.get("PATH", ""), **ENV}
    res = subprocess.run(
        [binary, "-f", str(COMPOSE / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=COMPOSE,
    )
    assert res.returncode == 0, res.stderr
    data: dict[str, Any] = yaml.safe_load(res.stdout)
    return data


def test_compose_parses_with_three_replicas_and_the_stack() -> None:
    """docker-compose resolves the file: 3 gateways behind nginx, Redis, PostgreSQL,
    Prometheus and Grafana, gateways read-only and started only after the migration."""
    services = compose_config()["services"]
    gateways = sorted(n for n in services if n.startswith("gateway-"))
    assert gateways == ["gateway-1", "gateway-2", "gateway-3"]
    assert {"redis", "postgres", "prometheus", "grafana", "lb", "migrate"} <= services.keys()
    for name in gateways:
        gw = services[name]
        assert gw["read_only"] is True
        assert gw["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert gw["environment"]["LOCKGATE_REDIS_URL"].startswith("redis://redis:")
        assert gw["environment"]["LOCKGATE_DATABASE_URL"].startswith("postgresql://")
    assert services["migrate"]["command"][:2] == ["db", "migrate"]
    for svc in services.values():
        if "image" in svc:
            assert not svc["image"].endswith(":latest") and ":" in svc["image"]
    published = [p for svc in services.values() for p in svc.get("ports", [])]
    assert published and all(str(p).startswith("127.0.0.1:") for p in published)
    nginx = (COMPOSE / "nginx.conf").read_text()
    assert all(f"server {g}:4000" in nginx for g in gateways)
    prom = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == [f"{g}:4000" for g in gateways]


def test_compose_refuses_missing_secrets() -> None:
    """Without the secrets .env, compose stops with the hint instead of running keyless."""
    binary = shutil.which("docker-compose")
    assert binary is not None
    res = subprocess.run(
        [binary, "-f", str(COMPOSE / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "")},
        cwd="/",
    )
    assert res.returncode != 0 and "init-secrets.sh" in res.stderr


@pytest.mark.parametrize("overlay", ["single-node", "ha"])
def test_configs_shipped_for_deployment_validate(overlay: str) -> None:
    """The config files the image, compose and Kubernetes ship pass lockgate's own check."""
    from lockgate.settings import load_settings

    env = {
        **ENV,
        "LOCKGATE_DATABASE_URL": "sqlite:////tmp/x.db",
        "LOCKGATE_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    for path in (
        ROOT / "deploy" / "container" / "lockgate.yaml",
        COMPOSE / "lockgate.yaml",
        ROOT / "deploy" / "k8s" / "overlays" / overlay / "lockgate.yaml",
    ):
        settings = load_settings(path, env)
        assert settings.general_settings.master_key is not None
