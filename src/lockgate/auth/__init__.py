"""Authentication: master key and virtual keys."""

from lockgate.auth.authenticator import Authenticator
from lockgate.auth.keys import ApiKey, Principal, generate_key, hash_key
from lockgate.auth.repository import KeyRepository

__all__ = ["ApiKey", "Authenticator", "KeyRepository", "Principal", "generate_key", "hash_key"]
