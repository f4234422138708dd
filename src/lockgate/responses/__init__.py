"""The Responses API's stored state: responses kept for ``previous_response_id`` and GET."""

from lockgate.responses.build import build_response_store
from lockgate.responses.config import ResponsesSettings
from lockgate.responses.store import MemoryResponseStore, ResponseStore, StoredResponse

__all__ = [
    "MemoryResponseStore",
    "ResponseStore",
    "ResponsesSettings",
    "StoredResponse",
    "build_response_store",
]
