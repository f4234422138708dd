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

Only the cores are imported here: the rest needs the database layer and settings.
"""

from __future__ import annotations

from lockgate.audit.chain import GENESIS_HASH, AuditChain, VerifyResult, record_hash, verify_chain
from lockgate.audit.crypto import AuditKeyError, BodyCipher, DecryptionError

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
