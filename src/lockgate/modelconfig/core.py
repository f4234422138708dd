"""Pure rules of live model configuration: validating an entry, merging the config
file's model_list with the entries stored in the database, and what a reload keeps.

A stored entry is validated with the same pydantic models as the file (``ModelEntry``
through ``settings_from_mapping``: environment references, provider keys from the
environment, did-you-mean errors).  The served deployments are the file's, then the
stored ones; file deployments keep their ``alias#n`` ids, stored ones their row id, so a
breaker or a per-deployment quota follows a deployment across reloads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lockgate.settings import ConfigError, Deployment, ModelEntry, Settings, settings_from_mapping

__all__ = [
    "StoredEntry",
    "changed_sections",
    "merged_deployments",
    "parse_entry",
    "unchanged_ids",
]

#: sections a file reload applies without a restart
LIVE_SECTIONS = frozenset({"model_list", "router_settings"})
#: router_settings fields a reload applies (the rest size breakers, retries and timeouts)
LIVE_ROUTER_FIELDS = frozenset({"fallbacks", "context_window_fallbacks", "model_group_alias"})


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """A row of ``model_entries``: its id and the entry as posted."""

    id: str
    raw: Mapping[str, Any]


def parse_entry(
    raw: object, env: Mapping[str, str] | None = None, *, reserved: Iterable[str] = ()
) -> ModelEntry:
    """``raw`` as a validated model entry; ConfigError says what is wrong."""
    if not isinstance(raw, dict):
        raise ConfigError("a model entry must be a JSON object with model_name and params")
    settings = settings_from_mapping({"model_list": [raw]}, env)
    entry = settings.model_list[0]
    if entry.model_name in set(reserved):
        raise ConfigError(
            f"model_name {entry.model_name!r} is already a group or routing alias;"
            " pick another name"
        )
    return entry


def merged_deployments(
    file_entries: Sequence[ModelEntry], stored: Sequence[tuple[str, ModelEntry]]
) -> list[Deployment]:
    """The file's deployments (ids ``alias#n``), then the stored ones (ids = row ids)."""
    out: list[Deployment] = []
    counts: dict[str, int] = {}
    for entry in file_entries:
        n = counts.get(entry.model_name, 0)
        counts[entry.model_name] = n + 1
        out.append(
            Deployment(id=f"{entry.model_name}#{n}", alias=entry.model_name, params=entry.params)
        )
    out.extend(Deployment(id=rid, alias=e.model_name, params=e.params) for rid, e in stored)
    return out


def unchanged_ids(old: Iterable[Deployment], new: Iterable[Deployment]) -> set[str]:
    """Deployments present before and after with the same alias and parameters: their
    breakers, quotas and balancer statistics carry over."""
    before = {d.id: d for d in old}
    return {d.id for d in new if before.get(d.id) == d}


def changed_sections(old: Settings, new: Settings) -> list[str]:
    """Config sections (and router_settings fields) that differ and need a restart."""
    out = []
    for name in Settings.model_fields:
        if name in LIVE_SECTIONS or name == "embedded_defaults":
            continue
        if name == "routing":  # the aliases' goals are live; their targets are not
            if old.routing.targets() != new.routing.targets():
                out.append(name)
        elif getattr(old, name) != getattr(new, name):
            out.append(name)
    rs_old, rs_new = old.router_settings, new.router_settings
    for name in type(rs_old).model_fields:
        if name not in LIVE_ROUTER_FIELDS and getattr(rs_old, name) != getattr(rs_new, name):
            out.append(f"router_settings.{name}")
    return out
