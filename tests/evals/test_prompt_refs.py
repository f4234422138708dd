"""Prompt refs (name@label, name@vN) resolve through the gateway's render endpoint by URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.fakes import ThreadedFake, start_server_in_thread
from tests.fakes.prompt_gateway import FakePromptGateway

from lockgate.evals.client import url_client
from lockgate.evals.runner import SuiteRunner
from lockgate.evals.suite import suite_from_mapping

PROMPTS = {
    "support": {
        "prod": {
            "model": "small",
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": "Be kind."},
                {"role": "user", "content": "Question: {{ question }}"},
            ],
        },
        "v7": {
            "model": "large",
            "messages": [{"role": "user", "content": "Q: {{ question }} (be brief)"}],
        },
    }
}


@pytest.fixture(scope="module")
def registry() -> Iterator[ThreadedFake]:
    with start_server_in_thread(FakePromptGateway(PROMPTS)) as fake:
        yield fake


async def test_prompt_refs_render_by_url(registry: ThreadedFake) -> None:
    """Each target's prompt is rendered with the case's vars; its model and params are used."""
    suite = suite_from_mapping(
        {
            "targets": [
                "support@prod",
                "support@v7",
                {"model": "override", "prompt": "support@prod"},
                "support@missing",
            ],
            "cases": [
                {
                    "id": "parcel",
                    "vars": {"question": "Where is my parcel?"},
                    "assert": [{"type": "contains", "value": "{{ question }}"}],
                }
            ],
        }
    )
    async with url_client(registry.url) as client:
        run = await SuiteRunner(suite, client).run()
    got = {r.target: r for r in run.results}
    assert got["support@prod"].answer is not None
    assert got["support@prod"].answer.text == "small: Question: Where is my parcel?"
    assert got["support@v7"].answer.text.startswith("large: Q: Where is my parcel?")  # type: ignore[union-attr]
    assert got["override:support@prod"].answer.text.startswith("override: ")  # type: ignore[union-attr]
    assert [r.status for r in run.results] == ["pass", "pass", "pass", "error"]
    assert "HTTP 404" in (got["support@missing"].error or "")
    renders: list[dict[str, Any]] = registry.fake.renders
    assert {
        "name": "support",
        "version": 7,
        "variables": {"question": "Where is my parcel?"},
    } in renders
    assert run.results[0].messages[0] == {"role": "system", "content": "Be kind."}
