"""A batch of rows into one table, at the driver's cost on SQLite.

The usage and audit writers insert ~500 rows per transaction.  Through
``conn.execute(table.insert(), rows)`` SQLAlchemy builds each row's parameters
(``construct_params``, per row and column) before the driver's ``executemany``: on
SQLite that costs about as much CPU as SQLite's own insert.  The columns here are
plain strings, numbers, booleans and NULLs, which the ``sqlite3`` driver binds as they
are, so on SQLite the rows go to the driver as tuples in one ``executemany`` with the
statement's text built once per table and column set.  Other databases keep
SQLAlchemy's path (their drivers' parameter styles and type handling differ).

:func:`upsert_adding` does the same for the rollups' ``INSERT ... ON CONFLICT DO UPDATE``
adding to the stored sums.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["insert_rows", "plain_binds", "upsert_adding"]


def _null(value: None) -> None:
    return None


def plain_binds() -> None:
    """Bind ``None`` and booleans without ``sqlite3``'s adaptation search (the writer
    process calls this once; it changes no stored value).

    The driver binds ``int``, ``float``, ``str`` and ``bytearray`` values as they are; any
    other value, ``None`` and ``bool`` included, first goes through its adapter lookup,
    which looks up ``__adapt__`` on a type that has none and so raises and clears an
    ``AttributeError`` per value: ~0.17 µs each, ~2 µs per usage row (a dozen NULL
    columns).  With an adapter registered for them the lookup finds it at once; the values
    bound are the same (NULL, and 0 or 1, as before).
    """
    import sqlite3

    sqlite3.register_adapter(type(None), _null)
    sqlite3.register_adapter(bool, int)


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each with the same keys, all columns of ``table``) in ``conn``'s
    transaction: one ``executemany``."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), list(rows))
        return
    sql, values = _sqlite_insert(conn.dialect, table, tuple(rows[0]))
    conn.exec_driver_sql(sql, [values(row) for row in rows])


@functools.lru_cache(maxsize=16)
def _sqlite_insert(
    dialect: sa.Dialect, table: sa.Table, keys: tuple[str, ...]
) -> tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]]:
    """The positional INSERT for ``keys``'s columns (in the table's order) and the function
    that takes a row's values in that order.  An unknown key is an error, as with
    SQLAlchemy's own insert."""
    unknown = set(keys) - set(table.c.keys())
    if unknown:
        raise sa.exc.ArgumentError(f"unconsumed column names: {', '.join(sorted(unknown))}")
    names = [c.name for c in table.c if c.name in keys]
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)})"
        f" VALUES ({', '.join('?' * len(names))})"
    )
    pick = operator.itemgetter(*names)
    if len(names) == 1:
        return sql, lambda row: (pick(row),)
    return sql, pick


def upsert_adding(
    conn: Connection, table: sa.Table, rows: Sequence[tuple[Any, ...]], sums: Sequence[str]
) -> None:
    """Insert ``rows`` (tuples of every column of ``table``, in its order) in ``conn``'s
    transaction; a row whose primary key is stored already adds its ``sums`` columns to
    the stored ones instead (one ``executemany``).  ``rows`` must not repeat a key, and
    should come in key order (concurrent writers then lock rows in the same order)."""
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(_sqlite_upsert(conn.dialect, table, tuple(sums)), list(rows))
        return
    names = [c.name for c in table.c]
    params = [dict(zip(names, row, strict=True)) for row in rows]
    conn.execute(_upsert(conn.dialect.name, table, tuple(sums)), params)


@functools.lru_cache(maxsize=16)
def _sqlite_upsert(dialect: sa.Dialect, table: sa.Table, sums: tuple[str, ...]) -> str:
    quote = dialect.identifier_preparer.quote
    names = [quote(c.name) for c in table.c]
    keys = ", ".join(quote(c.name) for c in table.primary_key)
    adds = ", ".join(f"{quote(n)} = {quote(n)} + excluded.{quote(n)}" for n in sums)
    return (
        f"INSERT INTO {quote(table.name)} ({', '.join(names)})"
        f" VALUES ({', '.join('?' * len(names))})"
        f" ON CONFLICT ({keys}) DO UPDATE SET {adds}"
    )


@functools.lru_cache(maxsize=16)
def _upsert(dialect: str, table: sa.Table, sums: tuple[str, ...]) -> Any:
    if dialect != "postgresql":
        raise NotImplementedError(f"no upsert for {dialect}")
    # PostgreSQL's dialect module (~1 MB) loads with its engine; here only on use
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    stmt = pg_insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key],
        set_={name: table.c[name] + stmt.excluded[name] for name in sums},
    )
