"""Prompts kept as files in the config directory (git-based workflows)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml

from lockgate.errors import BadRequestError
from lockgate.prompts.repository import PromptRepository
from lockgate.prompts.spec import PromptSpec, parse_spec

__all__ = ["load_prompt_file", "load_prompt_files", "sync_files"]

FILE_ACTOR = "config-file"


def load_prompt_file(path: Path) -> PromptSpec:
    """One prompt file (YAML or JSON); a ``ConfigError`` naming the file when invalid."""
    from lockgate.settings import ConfigError  # settings imports this package's config

    try:
        text = path.read_text(encoding="utf-8")
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"prompt file {path}: {exc}") from None
    try:
        return parse_spec(data)
    except BadRequestError as exc:
        raise ConfigError(f"prompt file {path}: {exc.message}") from None


def load_prompt_files(directory: str | Path) -> list[PromptSpec]:
    from lockgate.settings import ConfigError

    folder = Path(directory)
    if not folder.is_dir():
        raise ConfigError(f"prompts.directory {folder} is not a directory")
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    return [load_prompt_file(p) for p in files]


async def sync_files(
    repo: PromptRepository, specs: list[PromptSpec], winner: Literal["file", "db"]
) -> list[str]:
    """Bring the files into the database; the refs of versions created."""
    created: list[str] = []
    for spec in specs:
        if winner == "db" and await repo.versions(spec.name):
            continue
        version, new = await repo.push(spec, FILE_ACTOR)
        if new:
            created.append(version.ref)
    return created
