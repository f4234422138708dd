"""Relational storage: SQLAlchemy async engine, schema and Alembic migrations.

``Database`` lives in ``lockgate.storage.database``; this package imports nothing, so
``lockgate.storage.cli`` (and ``lockgate --help``) does not pay for SQLAlchemy.
"""

__all__: list[str] = []
