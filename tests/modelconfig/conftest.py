"""In-process gateways (tests/core's fixtures) for the live model config tests, and the
config file the SIGHUP tests write and rewrite."""

from pathlib import Path
from typing import Any

import yaml
from tests.core.conftest import client_for, make_settings
from tests.support import MASTER

__all__ = ["client_for", "make_settings", "write_mock_config"]


def write_mock_config(path: Path, tmp: Path, models: list[str], **extra: Any) -> None:
    """A config file serving each of ``models`` from the mock provider, on a SQLite
    database under ``tmp``; ``extra`` adds sections."""
    data = {
        "model_list": [{"model_name": m, "params": {"model": "mock/mock-1"}} for m in models],
        "general_settings": {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{tmp}/gw.db",
        },
        **extra,
    }
    path.write_text(yaml.safe_dump(data))
