"""Detection and redaction of personal data and credentials in text and streams.

>>> from lockgate.guards.pii import PiiScanner, Redactor, Vault
>>> vault = Vault()
>>> Redactor(PiiScanner()).redact("write to ann@example.org", vault)[0]
'write to [EMAIL_1]'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.guards.pii.chunks import rewrite_chunks
    from lockgate.guards.pii.finding import ALL_TYPES, PII_TYPES, SECRET_TYPES, Finding
    from lockgate.guards.pii.redactor import Redactor, Vault
    from lockgate.guards.pii.scanner import PiiScanner
    from lockgate.guards.pii.stream import StreamRedactor, StreamRestorer, TextStream

# Exports load on first use, so importing one submodule (a config model, say) does not
# import the rest with it.
_EXPORTS = {
    "rewrite_chunks": "lockgate.guards.pii.chunks",
    "ALL_TYPES": "lockgate.guards.pii.finding",
    "PII_TYPES": "lockgate.guards.pii.finding",
    "SECRET_TYPES": "lockgate.guards.pii.finding",
    "Finding": "lockgate.guards.pii.finding",
    "Redactor": "lockgate.guards.pii.redactor",
    "Vault": "lockgate.guards.pii.redactor",
    "PiiScanner": "lockgate.guards.pii.scanner",
    "StreamRedactor": "lockgate.guards.pii.stream",
    "StreamRestorer": "lockgate.guards.pii.stream",
    "TextStream": "lockgate.guards.pii.stream",
}

__all__ = [
    "ALL_TYPES",
    "PII_TYPES",
    "SECRET_TYPES",
    "Finding",
    "PiiScanner",
    "Redactor",
    "StreamRedactor",
    "StreamRestorer",
    "TextStream",
    "Vault",
    "rewrite_chunks",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
