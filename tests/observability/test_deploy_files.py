"""deploy/: the dashboard and alert rules only use metrics the gateway really exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")
_NAME = re.compile(r"\b((?:lockgate|gen_ai)_[a-z0-9_]+)")


def _expressions() -> list[str]:
    dash = json.loads((DEPLOY / "grafana" / "lockgate-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    rules = yaml.safe_load((DEPLOY / "prometheus" / "lockgate-alerts.yaml").read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    return exprs


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


async def test_every_metric_in_deploy_files_is_exposed(make_settings, open_gateway):
    """Each metric name in the dashboard and alerts is a family on /metrics."""
    gw = await open_gateway(make_settings())
    assert (await gw.chat("priced", "hi")).status_code == 200
    text = await gw.metrics()
    families = {f.name for f in text_string_to_metric_families(text)}
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    known = {_base(n) for n in families | declared}
    # Label names (inside `by (...)` and `{...}`) are not metrics.
    stripped = [re.sub(r"by \([^)]*\)|\{[^}]*\}", " ", e) for e in _expressions()]
    used = {_base(m) for e in stripped for m in _NAME.findall(e)}
    assert len(used) >= 10
    assert used <= known, sorted(used - known)
