"""The tamper-evident audit log: one hash-chained row per request.

* :mod:`~lockgate.audit.chain` and :mod:`~lockgate.audit.crypto`: the pure cores (the
  hash chain; AES-256-GCM for stored bodies);
* :mod:`~lockgate.audit.entry`: a ``RequestRecord`` turned into the row that is chained;
* :mod:`~lockgate.audit.writer`: ``AuditWriter``, the record sink (bounded queue,
  batched transactions off the request path, flushed on close);
* :mod:`~lockgate.audit.ledger`: the chain head and how replicas stay linear;
* :mod:`~lockgate.audit.repository`: iterate, verify, export JSONL, prune with checkpoints;
* :mod:`~lockgate.audit.sinks`: ``build_audit_sinks`` from the ``audit:`` settings;
* :mod:`~lockgate.audit.capture`: ``capture_bodies`` for the stage that redacts bodies;
* :mod:`~lockgate.audit.cli`: ``lockgate audit verify|export|prune``.

Nothing is imported with the package itself: each export loads on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.audit.chain import (
        GENESIS_HASH,
        AuditChain,
        VerifyResult,
        record_hash,
        verify_chain,
    )
    from lockgate.audit.crypto import AuditKeyError, BodyCipher, DecryptionError

# Exports load on first use, so importing one submodule (a config model, say) does not
# import the rest with it.
_EXPORTS = {
    "GENESIS_HASH": "lockgate.audit.chain",
    "AuditChain": "lockgate.audit.chain",
    "VerifyResult": "lockgate.audit.chain",
    "record_hash": "lockgate.audit.chain",
    "verify_chain": "lockgate.audit.chain",
    "AuditKeyError": "lockgate.audit.crypto",
    "BodyCipher": "lockgate.audit.crypto",
    "DecryptionError": "lockgate.audit.crypto",
}

__all__ = [
    "GENESIS_HASH",
    "AuditChain",
    "AuditKeyError",
    "BodyCipher",
    "DecryptionError",
    "VerifyResult",
    "record_hash",
    "verify_chain",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
