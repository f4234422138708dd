"""Spend and token reports: the grouping vocabulary, report rows, and their rendering (pure)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

__all__ = [
    "DIMENSIONS",
    "Dimension",
    "ReportQuery",
    "ReportRow",
    "day_of",
    "parse_day",
    "parse_dimensions",
    "render_table",
    "totals",
]

Dimension = Literal["key", "user", "team", "model", "provider", "day", "route"]
DIMENSIONS: tuple[str, ...] = get_args(Dimension)


def day_of(epoch_seconds: float) -> str:
    """The UTC calendar day (YYYY-MM-DD) a timestamp falls on."""
    # A UTC day is 86,400 s (POSIX time has no leap seconds): the day's number names it,
    # and a batch's rows share a handful of days (the writer process builds ~500 at once).
    return _day(int(epoch_seconds // 86_400))


@functools.lru_cache(maxsize=64)
def _day(number: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=number)).isoformat()


def parse_day(text: str, today: dt.date) -> str:
    """A day for ``--since``/``--until``: YYYY-MM-DD, ``today``, ``yesterday`` or ``7d``.

    ``Nd`` is the day N days before ``today`` (UTC), so ``--since 7d`` covers the last
    seven days and today.  Anything else is a ValueError naming the accepted forms.
    """
    t = text.strip().lower()
    if t == "today":
        return today.isoformat()
    if t == "yesterday":
        return (today - dt.timedelta(days=1)).isoformat()
    if t.endswith("d") and t[:-1].isdigit():
        return (today - dt.timedelta(days=int(t[:-1]))).isoformat()
    try:
        return dt.date.fromisoformat(t).isoformat()
    except ValueError:
        raise ValueError(
            f"{text!r} is not a day: use YYYY-MM-DD, today, yesterday or Nd (N days ago, e.g. 7d)"
        ) from None


def parse_dimensions(text: str | Sequence[str]) -> tuple[Dimension, ...]:
    """``"key,day"`` (or a list) → validated dimensions; ValueError names the bad one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[Dimension] = []
    for raw in items:
        name = raw.strip()
        if not name:
            continue
        if name not in DIMENSIONS:
            raise ValueError(f"unknown dimension {name!r}; expected one of {', '.join(DIMENSIONS)}")
        if name not in out:
            out.append(name)  # type: ignore[arg-type]
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ReportQuery:
    group_by: tuple[Dimension, ...] = ("model",)
    #: half-open day range [since, until) as YYYY-MM-DD, UTC; None = unbounded
    since: str | None = None
    until: str | None = None
    key_id: str | None = None
    team: str | None = None
    user: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class ReportRow:
    group: dict[str, str | None]
    requests: int
    errors: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float
    avg_latency_ms: float

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_tokens"] = self.total_tokens
        data["cost_usd"] = round(self.cost_usd, 8)
        data["avg_latency_ms"] = round(self.avg_latency_ms, 3)
        return data


def totals(rows: Iterable[ReportRow]) -> ReportRow:
    """One row summing ``rows`` (latency weighted by request count)."""
    n = err = hits = pt = ct = cached = 0
    cost = lat = 0.0
    for r in rows:
        n += r.requests
        err += r.errors
        hits += r.cache_hits
        pt += r.prompt_tokens
        ct += r.completion_tokens
        cached += r.cached_tokens
        cost += r.cost_usd
        lat += r.avg_latency_ms * r.requests
    return ReportRow({}, n, err, hits, pt, ct, cached, cost, lat / n if n else 0.0)


def _label(row: ReportRow, dim: str) -> str:
    if dim == "key":
        return str(row.group.get("key_name") or row.group.get("key_id") or "-")
    return str(row.group.get(dim) or "-")


def render_table(rows: Sequence[ReportRow], group_by: Sequence[str]) -> list[list[str]]:
    """Header plus one line per row plus a total line, as strings ready for a table."""
    header = [*group_by, "requests", "errors", "tokens in", "tokens out", "cost (USD)"]
    width = len(group_by)
    lines = [header]
    total = totals(rows)
    labelled = [(r, [_label(r, d) for d in group_by]) for r in rows]
    labelled.append((total, (["total"] + [""] * (width - 1)) if width else []))
    for r, label in labelled:
        lines.append(
            [
                *label,
                str(r.requests),
                str(r.errors),
                str(r.prompt_tokens),
                str(r.completion_tokens),
                f"{r.cost_usd:.6f}",
            ]
        )
    return lines
