"""The Responses API's stored state: responses kept for ``previous_response_id`` and GET."""

from lockgate.responses.config import ResponsesSettings
from lockgate.responses.store import MemoryResponseStore, ResponseStore, StoredResponse

__all__ = ["MemoryResponseStore", "ResponseStore", "ResponsesSettings", "StoredResponse"]
