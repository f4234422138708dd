"""The public names of the PII and audit packages stay deliberate."""

from __future__ import annotations

import lockgate.audit
import lockgate.guards.pii


def test_pii_exports() -> None:
    """Everything in __all__ exists, and the list is what the gateway wires."""
    assert set(lockgate.guards.pii.__all__) == {
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
    }
    assert all(hasattr(lockgate.guards.pii, name) for name in lockgate.guards.pii.__all__)


def test_audit_exports() -> None:
    """The audit package exports exactly its cores."""
    assert all(hasattr(lockgate.audit, name) for name in lockgate.audit.__all__)
    assert "BodyCipher" in lockgate.audit.__all__ and "verify_chain" in lockgate.audit.__all__
