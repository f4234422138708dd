"""Audit log cores: a tamper-evident hash chain and encryption of stored bodies."""

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
