"""The query of OpenAI's list endpoints (``limit``, ``after``, ``order``), checked as OpenAI
checks it, and the page a cursor selects.

OpenAI answers a ``limit`` outside its range, or not an integer, and an ``order`` other
than ``asc``/``desc`` with a 400 naming the parameter; lockgate used to clamp or ignore
them silently, so a client that sent ``limit=0`` got a page it did not ask for. The
``after`` cursor is looked up among the caller's own rows only: an id of another key's
object is no cursor (it would tell that the id exists), and neither is an id that never
existed (a client that lost its cursor is told, not handed page one again, which would
loop a paginating client for ever). Rows are ordered by ``(created_at, id)`` so that
objects created in the same instant are neither skipped nor repeated across pages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lockgate.errors import BadRequestError
from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    import sqlalchemy as sa
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")

__all__ = ["Page", "page_of", "page_query"]

_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_ORDERS = ("asc", "desc")


@dataclass(frozen=True, slots=True)
class Page:
    """What one list request asks for."""

    limit: int
    after: str | None = None
    order: str = "desc"


def _limit(raw: str | None, default: int, most: int) -> int:
    if raw is None:
        return default
    if not _INTEGER.match(raw):
        raise BadRequestError(
            f"Invalid 'limit': expected an integer, but got {raw[:40]!r} instead.",
            code="invalid_type",
            param="limit",
        )
    limit = int(raw)
    if limit < 1:
        raise BadRequestError(
            "Invalid 'limit': integer below minimum value. Expected a value >= 1,"
            f" but got {limit} instead.",
            code="integer_below_min_value",
            param="limit",
        )
    if limit > most:
        shown = str(limit) if len(raw) <= 40 else raw[:40] + "..."
        raise BadRequestError(
            f"Invalid 'limit': integer above maximum value. Expected a value <= {most},"
            f" but got {shown} instead.",
            code="integer_above_max_value",
            param="limit",
        )
    return limit


def page_query(
    params: Mapping[str, str], *, default_limit: int, max_limit: int, ordered: bool
) -> Page:
    """The list query in ``params``; a 400 naming the parameter when it is out of range.

    ``ordered``: the endpoint takes ``order`` (``/v1/files`` does, ``/v1/batches`` does
    not: there it is ignored, as OpenAI ignores query parameters it does not define).
    """
    limit = _limit(params.get("limit"), default_limit, max_limit)
    order = "desc"
    if ordered:
        order = params.get("order", "desc")
        if order not in _ORDERS:
            raise BadRequestError(
                f"Invalid value for 'order': expected one of 'asc' or 'desc', but got"
                f" {order[:40]!r} instead.",
                code="invalid_value",
                param="order",
            )
    return Page(limit=limit, after=params.get("after") or None, order=order)


async def page_of(
    conn: Any, table: Any, scope: Any, page: Page, what: str, owned: Any = None
) -> list[dict[str, Any]]:
    """Up to ``page.limit + 1`` rows of ``table`` within ``scope`` (a where clause, or
    ``None`` for every row), in ``page.order`` by ``(created_at, id)``, after the cursor.
    The extra row tells whether there is more. The cursor is looked for within ``owned``
    (default: ``scope``)."""
    owned = scope if owned is None else owned
    created, ident = table.c.created_at, table.c.id
    q = sa.select(table)
    if scope is not None:
        q = q.where(scope)
    if page.after is not None:
        find = sa.select(created).where(ident == page.after)
        if owned is not None:
            find = find.where(owned)
        at = (await conn.execute(find)).scalar()
        if at is None:
            raise BadRequestError(
                f"Invalid 'after': no {what} with id {page.after[:80]!r}; use an id from"
                " an earlier page of this list.",
                code="invalid_value",
                param="after",
            )
        if page.order == "desc":
            q = q.where(sa.or_(created < at, sa.and_(created == at, ident < page.after)))
        else:
            q = q.where(sa.or_(created > at, sa.and_(created == at, ident > page.after)))
    if page.order == "desc":
        q = q.order_by(created.desc(), ident.desc())
    else:
        q = q.order_by(created.asc(), ident.asc())
    return [dict(r) for r in (await conn.execute(q.limit(page.limit + 1))).mappings()]
