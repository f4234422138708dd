"""In-process gateways (tests/core's fixtures) for the live model config tests."""

from tests.core.conftest import client_for, make_settings

__all__ = ["client_for", "make_settings"]
