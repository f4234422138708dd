"""One record per finished request, handed to the sinks that keep it (usage, audit).

``Services.record`` builds exactly one ``RequestRecord`` for every request the chat
routes handle, whatever its outcome (answered, failed, refused, cancelled), and
``submit``s it to each sink.  Sinks must not block: they queue the record and write
in batches off the request path, and flush what they hold when closed.
"""

from __future__ import annotations

import dataclasses
import operator
import pickle
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

__all__ = [
    "FIELDS",
    "Packed",
    "RecordSink",
    "RequestRecord",
    "fields_of",
    "pack",
    "packed",
    "record_of",
    "unpack",
    "unpack_fields",
    "wants",
]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    request_id: str
    #: wall-clock seconds since the epoch when the request arrived
    started_at: float
    api: str  # openai | anthropic | legacy
    key_id: str | None
    key_name: str | None
    team: str | None
    user: str | None
    #: the alias the client asked for
    model: str
    provider: str | None
    deployment: str | None
    upstream_model: str | None
    #: HTTP status the client got (499: the client went away mid-stream)
    status: int
    error_type: str | None
    error_code: str | None
    stream: bool
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float
    latency_ms: float
    overhead_ms: float
    ttft_ms: float | None
    attempts: int
    cache: str | None
    #: guard verdicts and other facts stages noted (JSON-serialisable)
    notes: dict[str, Any] = field(default_factory=dict)
    client_ip: str | None = None
    #: the client's x-request-id (``request_id`` is always the gateway's own, unique)
    client_request_id: str | None = None
    #: what a cache hit saved: the answer's price at the alias's first deployment
    saved_usd: float = 0.0
    #: the client's request headers, credentials redacted (audit only; usage keeps none)
    request_headers: dict[str, str] | None = None
    #: one entry per upstream attempt: deployment, status, latency_ms, error (audit only)
    attempt_log: list[dict[str, Any]] | None = None
    #: bodies, only when body capture is configured (already redacted by the guards)
    request_body: Any = None
    response_body: Any = None


class RecordSink(Protocol):
    def submit(self, record: RequestRecord) -> Awaitable[None] | None:
        """Queue the record; never blocks, never raises for storage trouble.

        A sink that keeps records durably (``audit: {durability: sync}``) returns an
        awaitable that completes once the record is committed.
        """
        ...

    async def aclose(self) -> None:
        """Write everything queued, then stop."""
        ...


def wants(sink: RecordSink, status: int) -> bool:
    """Whether ``sink`` takes a record of this status now: a sink may say no beforehand
    with a ``wants(status)`` method (the access log below its level), sparing the
    record's construction when no sink takes it."""
    check = getattr(sink, "wants", None)
    return check is None or bool(check(status))


#: a record as the bytes that cross to the writer process: the pickle of its fields as a
#: tuple (a quarter of the cost of pickling the slotted dataclass), made once per record
#: when its first sink queues it, so a batch is handed over without serialising anything
#: on the request loop at once (500 records took 1.7-5.9 ms in one ``pickle.dumps``)
Packed = bytes

#: the record's field names, in the order :func:`packed` keeps their values
FIELDS: tuple[str, ...] = RequestRecord.__slots__
_fields = operator.attrgetter(*FIELDS)
#: the last record packed and its bytes: the usage and audit writers get the same record
_last: list[Any] = [None, b""]

#: ``RequestRecord``'s slots, in the same order, without its frozen guard: a frozen
#: dataclass's ``__init__`` sets each of its 32 fields through ``object.__setattr__``
#: (~4 µs a record); this one's plain stores take a tenth of that
_Draft = dataclasses.make_dataclass(
    "_Draft", FIELDS, slots=True, init=True, repr=False, eq=False, match_args=False
)
#: the last record :func:`record_of` made and its values: :func:`packed` pickles them
#: without reading the 32 attributes back
_made: list[Any] = [None, ()]


def record_of(values: tuple[Any, ...]) -> RequestRecord:
    """A ``RequestRecord`` of ``values`` (every field, in :data:`FIELDS` order): the same
    object ``RequestRecord(*values)`` makes (equal, frozen, same type), for a quarter of
    the cost.

    The values go into a :data:`_Draft` (same slots, plain stores), whose class is then
    set to ``RequestRecord``: CPython allows it between classes of the same layout (same
    base, same slots, no ``__dict__``), and the object is frozen from then on.
    """
    draft = _Draft(*values)
    object.__setattr__(draft, "__class__", RequestRecord)
    record = cast(RequestRecord, draft)
    made = _made
    made[0], made[1] = record, values
    return record


def packed(record: RequestRecord) -> Packed:
    """``record``'s bytes (the same object for the sinks that queue the same record).

    A record that cannot be pickled (an odd object in its notes) packs as ``b""``;
    :func:`unpack` refuses it, so its batch is written row by row and the record goes
    to the dead-letter file like any row the database refuses.
    """
    last = _last
    if last[0] is record:
        return last[1]  # type: ignore[no-any-return]
    made = _made
    values = made[1] if made[0] is record else _fields(record)
    try:
        blob = pickle.dumps(values, pickle.HIGHEST_PROTOCOL)
    except Exception:
        blob = b""
    last[0], last[1] = record, blob
    return blob


def pack(records: Sequence[RequestRecord]) -> list[Packed]:
    """Each record's bytes (:func:`packed`)."""
    return [packed(r) for r in records]


def unpack(blobs: Sequence[Packed]) -> list[RequestRecord]:
    """The records :func:`pack` made bytes of, equal field by field."""
    return [RequestRecord(*values) for values in unpack_fields(blobs)]


#: the values :func:`unpack_fields` gave last, by blob
_recent: dict[Packed, tuple[Any, ...]] = {}


def fields_of(record: RequestRecord) -> tuple[Any, ...]:
    """``record``'s values in :data:`FIELDS` order (what :func:`unpack_fields` gives)."""
    return _fields(record)


def unpack_fields(blobs: Sequence[Packed]) -> list[tuple[Any, ...]]:
    """Each record's values in :data:`FIELDS` order, without building the records.

    The writer's jobs read fields by name from these (``operator.itemgetter``): a frozen
    dataclass of this many fields costs about twice its unpickling to construct.  A blob
    that is empty (unpicklable record), or not the tuple of a record, is refused as
    :func:`unpack` refuses it.

    The usage and audit writers hand the writer process the same records, usually in
    consecutive jobs: the values of the previous call's blobs are kept (one batch) and
    given again for equal blobs instead of unpickling them twice.  Values are only read.
    """
    global _recent
    seen = _recent
    kept: dict[Packed, tuple[Any, ...]] = {}
    out = []
    n = len(FIELDS)
    for blob in blobs:
        values = seen.get(blob)
        if values is None:
            if not blob:
                raise ValueError("a record that could not be serialised for the writer")
            values = pickle.loads(blob)
            if type(values) is not tuple or len(values) != n:
                raise TypeError(f"not the {n} fields of a record: {type(values).__name__}")
        out.append(values)
        kept[blob] = values
    _recent = kept
    return out
