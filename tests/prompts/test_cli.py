"""`lockgate prompts | experiments | rollouts` against the configured database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from lockgate.audit.repository import AuditRepository
from lockgate.cli import app
from lockgate.storage.database import Database

runner = CliRunner()


def lockgate(config: Path, *args: str) -> str:
    """Run the CLI in-process; its output (the exit code must be 0)."""
    result = runner.invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result.stdout


def setup(tmp_path: Path) -> Path:
    """A config on a fresh SQLite file and two prompt files."""
    config = tmp_path / "lockgate.yaml"
    config.write_text(
        "model_list:\n  - model_name: mock\n    params: {model: mock/mock-1}\n"
        f"general_settings:\n  database_url: sqlite+aiosqlite:///{tmp_path}/cli.db\n"
    )
    base = {"name": "support", "model": "mock", "labels": ["production"]}
    (tmp_path / "v1.yaml").write_text(
        yaml.safe_dump({**base, "messages": [{"role": "user", "content": "Hi {{ q }}"}]})
    )
    (tmp_path / "v2.yaml").write_text(
        yaml.safe_dump(
            {**base, "labels": [], "messages": [{"role": "user", "content": "Hello {{ q }}"}]}
        )
    )
    return config


async def audit_events(tmp_path: Path) -> list[str]:
    """The event kinds in the audit log."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    try:
        kinds = []
        async for row in AuditRepository(db).rows():
            raw = row["record"]
            record = json.loads(raw) if isinstance(raw, str) else raw
            if record["api"] == "event":
                kinds.append(record["notes"]["event"])
        return kinds
    finally:
        await db.aclose()


def test_prompt_lifecycle(tmp_path):
    """push, list, show, diff, label and rollback; label moves land in the audit log."""
    config = setup(tmp_path)
    assert "created support@1 labels: production" in lockgate(
        config, "prompts", "push", str(tmp_path / "v1.yaml")
    )
    assert "unchanged" in lockgate(config, "prompts", "push", str(tmp_path / "v1.yaml"))
    assert "created support@2" in lockgate(config, "prompts", "push", str(tmp_path / "v2.yaml"))
    listing = lockgate(config, "prompts", "list")
    assert "support" in listing and "production→v1" in listing
    diff = lockgate(config, "prompts", "diff", "support", "production", "2")
    assert "-  content: Hi {{ q }}" in diff and "+  content: Hello {{ q }}" in diff
    assert "v1 -> v2" in lockgate(config, "prompts", "label", "support", "2", "production")
    shown = json.loads(lockgate(config, "prompts", "show", "support", "production", "--json"))
    assert shown["version"] == 2 and len(shown["history"]) == 2
    assert "v2 -> v1" in lockgate(config, "prompts", "rollback", "support")
    assert asyncio.run(audit_events(tmp_path)) == ["prompt.label", "prompt.label", "prompt.label"]


def test_experiment_and_rollout_commands(tmp_path):
    """experiments create/status/list and rollouts start/status/abort print their tables."""
    config = setup(tmp_path)
    lockgate(config, "prompts", "push", str(tmp_path / "v1.yaml"))
    lockgate(config, "prompts", "push", str(tmp_path / "v2.yaml"))
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        yaml.safe_dump(
            {
                "name": "tone",
                "prompt": "support",
                "variants": [{"name": "control"}, {"name": "hello", "version": 2}],
            }
        )
    )
    assert "started experiment tone" in lockgate(config, "experiments", "create", str(exp))
    status = lockgate(config, "experiments", "status", "tone")
    assert "SRM: p = -" in status and "decision: no_decision" in status
    data = json.loads(lockgate(config, "experiments", "status", "tone", "--json"))
    assert data["decision"]["state"] == "no_decision"
    roll = tmp_path / "roll.yaml"
    roll.write_text(yaml.safe_dump({"name": "r1", "prompt": "support", "to_version": 2}))
    assert "v1 -> v2" in lockgate(config, "rollouts", "start", str(roll))
    table = lockgate(config, "rollouts", "status", "r1")
    assert "running" in table and "start" in table
    lockgate(config, "rollouts", "abort", "r1")
    assert "aborted" in lockgate(config, "rollouts", "status")
    assert "rollout.abort" in asyncio.run(audit_events(tmp_path))


def test_bad_files_exit_2(tmp_path):
    """An invalid prompt file is refused with the field named."""
    config = setup(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmessages: []\n")
    result = runner.invoke(app, ["prompts", "push", str(bad), "--config", str(config)])
    assert result.exit_code == 2 and "messages" in result.output
