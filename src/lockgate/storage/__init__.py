"""Relational storage: SQLAlchemy async engine, schema and Alembic migrations."""

from lockgate.storage.database import Database

__all__ = ["Database"]
