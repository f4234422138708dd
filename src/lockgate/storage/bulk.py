"""A batch of rows into one table, at the driver's cost on SQLite.

The usage and audit writers insert ~500 rows per transaction.  Through
``conn.execute(table.insert(), rows)`` SQLAlchemy builds each row's parameters
(``construct_params``, per row and column) before the driver's ``executemany``: on
SQLite that costs about as much CPU as SQLite's own insert.  The columns here are
plain strings, numbers, booleans and NULLs, which the ``sqlite3`` driver binds as they
are, so on SQLite the rows go to the driver as tuples in one ``executemany`` with the
statement's text built once per table and column set.  Other databases keep
SQLAlchemy's path (their drivers' parameter styles and type handling differ).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["insert_rows"]


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
