"""Detection and redaction of personal data and credentials in text and streams.

>>> from lockgate.guards.pii import PiiScanner, Redactor, Vault
>>> vault = Vault()
>>> Redactor(PiiScanner()).redact("write to ann@example.org", vault)[0]
'write to [EMAIL_1]'
"""

from __future__ import annotations

from lockgate.guards.pii.chunks import rewrite_chunks
from lockgate.guards.pii.finding import ALL_TYPES, PII_TYPES, SECRET_TYPES, Finding
from lockgate.guards.pii.redactor import Redactor, Vault
from lockgate.guards.pii.scanner import PiiScanner
from lockgate.guards.pii.stream import StreamRedactor, StreamRestorer, TextStream

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
