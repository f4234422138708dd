"""An eval suite whose targets are registry prompts (name@label, name@vN), run against a
live gateway whose prompt registry holds them: rendered by the real render endpoint,
answered by the mock model, asserted on the answers."""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.live_server import serve_in_thread
from tests.support import MASTER, bearer

from lockgate.evals.client import url_client
from lockgate.evals.runner import SuiteRunner
from lockgate.evals.suite import suite_from_mapping
from lockgate.settings import settings_from_mapping

PROMPT = {
    "name": "support",
    "model": "mock",
    "messages": [{"role": "user", "content": "Question about {{ topic }}"}],
    "labels": ["production"],
}


async def test_suite_targets_resolve_through_the_real_registry(tmp_path: Path) -> None:
    """Two versions pushed through the admin API; a suite targets the label and the
    version: each case is rendered by the registry (the mock echoes what it got), the
    answers carry the prompt's version, and a missing label is an ERROR, not a FAIL."""
    settings = settings_from_mapping(
        {
            "model_list": [{"model_name": "mock", "params": {"model": "mock/mock-1"}}],
            "general_settings": {
                "master_key": MASTER,
                "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
            },
        },
        env={},
    )
    with serve_in_thread(settings) as gw:
        async with httpx.AsyncClient(base_url=gw.url, headers=bearer()) as admin:
            assert (await admin.post("/admin/prompts", json=PROMPT)).status_code in (200, 201)
            v2 = {
                **PROMPT,
                "messages": [{"role": "user", "content": "V2 {{ topic }}"}],
                "labels": [],
            }
            assert (await admin.post("/admin/prompts", json=v2)).status_code in (200, 201)
        suite = suite_from_mapping(
            {
                "targets": ["support@production", "support@v2", "support@nope"],
                "cases": [
                    {
                        "id": "c1",
                        "vars": {"topic": "parcels"},
                        "assert": [{"type": "max_tokens", "value": 100000}],
                    }
                ],
            }
        )
        async with url_client(gw.url, api_key=MASTER) as client:
            run = await SuiteRunner(suite, client).run()
    got = {r.target: r for r in run.results}
    assert got["support@production"].status == "pass", got["support@production"]
    assert got["support@v2"].status == "pass", got["support@v2"]
    assert got["support@production"].messages[-1]["content"] == "Question about parcels"
    assert got["support@v2"].messages[-1]["content"] == "V2 parcels"
    assert got["support@nope"].status == "error"
