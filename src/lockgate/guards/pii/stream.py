"""Redaction of streamed model output, chunk by chunk, with a short hold-back.

Text is emitted once it is far enough from the end of what has arrived that no
entity can still grow into it. The guarantee, for any chunking::

    "".join(s.feed(d) for d in deltas) + s.flush() == redactor.redact("".join(deltas))[0]

How: every scan covers the pending text plus ``CONTEXT_KEEP`` characters already
emitted (the detectors look at most that far back). The cut point is ``hold``
characters before the end, moved back to the start of the whitespace-free run it
falls in (keys, JWTs, e-mails, IPs contain no spaces), past a finding that straddles
it when the finding is complete (else back before it), and back to an unfinished
``-----BEGIN ... PRIVATE KEY-----`` block. Scans run once ``hold + step`` characters
are pending, so ordinary text is held back by at most ``hold + step`` characters
plus the last delta (224 + delta with the defaults). A whitespace-free run or key
block longer than ``max_hold`` is cut anyway (redacting the part seen) so memory
and latency stay bounded; only then can the output differ from ``redact``.
"""

from __future__ import annotations

import re
from typing import Protocol

from lockgate.guards.pii.entities import CONTEXT_AFTER, CONTEXT_BEFORE
from lockgate.guards.pii.finding import Finding
from lockgate.guards.pii.redactor import Redactor, Vault

__all__ = ["CONTEXT_KEEP", "StreamRedactor", "StreamRestorer", "TextStream"]

#: Already-emitted characters kept in front of each scan (lookbehinds, context words).
CONTEXT_KEEP = CONTEXT_BEFORE + 16
_SPACES = (" ", "\n", "\t", "\r")
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")


class TextStream(Protocol):
    """Rewrites streamed text piecewise: what ``feed`` and ``flush`` return is final."""

    def feed(self, delta: str) -> str: ...

    def flush(self) -> str: ...


class StreamRedactor:
    """Redacts one streamed response; make a new one per response.

    >>> s = StreamRedactor(Redactor())
    >>> s.feed("key ghp_abc") + s.feed("def1234567890ABCDEFGHIJKLMNOPQRST done") + s.flush()
    'key [API_KEY_1] done'
    """

    def __init__(
        self,
        redactor: Redactor,
        vault: Vault | None = None,
        *,
        hold: int = 128,
        step: int = 96,
        max_hold: int = 16384,
    ) -> None:
        if hold <= CONTEXT_AFTER + 64:
            raise ValueError("hold must leave room for the longest spaced entity and its context")
        self._redactor = redactor
        self._vault = vault if vault is not None else Vault()
        self._hold = hold
        self._step = step
        self._max_hold = max(max_hold, hold + step)
        self._buf = ""
        self._done = 0  # _buf[:_done] was emitted already and is kept as context
        self._offset = 0  # stream position of _buf[0]
        self._findings: list[Finding] = []
        self._rescan_at = 0  # no scan before _buf reaches this length

    @property
    def findings(self) -> list[Finding]:
        """Findings so far, positioned in the unredacted stream."""
        return list(self._findings)

    @property
    def vault(self) -> Vault:
        return self._vault

    def feed(self, delta: str) -> str:
        """Accept the next piece of text; return what is safe to emit now (maybe "")."""
        self._buf += delta
        n = len(self._buf)
        if n - self._done < self._hold + self._step or n < self._rescan_at:
            return ""
        return self._emit(final=False)

    def flush(self) -> str:
        """Emit everything still held; call once at the end of the stream."""
        out = self._emit(final=True)
        self._buf = ""
        self._done = 0
        return out

    def _emit(self, *, final: bool) -> str:
        buf = self._buf
        done = self._done
        n = len(buf)
        findings = [f for f in self._redactor.scanner.find(buf) if f.start >= done]
        cut = n if final else self._cut(buf, done, findings)
        # Held back by an open key block or a long token: wait for `step` more
        # characters before scanning again, so the held text is not rescanned per delta.
        self._rescan_at = n + self._step
        if cut <= done:
            return ""
        emitted: list[Finding] = []
        for f in findings:
            if f.start >= cut:
                break
            if f.end > cut:  # only when max_hold forced the cut through a finding
                f = Finding(f.start, cut, f.type, buf[f.start : cut], f.rule)
            emitted.append(Finding(f.start - done, f.end - done, f.type, f.value, f.rule))
            self._findings.append(
                Finding(f.start + self._offset, f.end + self._offset, f.type, f.value, f.rule)
            )
        out = Redactor.apply(buf[done:cut], emitted, self._vault)
        keep = max(0, cut - CONTEXT_KEEP)
        self._buf = buf[keep:]
        self._done = cut - keep
        self._offset += keep
        self._rescan_at -= keep
        return out

    def _cut(self, buf: str, done: int, findings: list[Finding]) -> int:
        n = len(buf)
        forced = n - self._hold
        floor = n - self._max_hold  # never hold more than max_hold characters
        cut = forced
        # Back to the start of the whitespace-free run the cut falls in.
        if not (buf[cut - 1] in _SPACES or buf[cut] in _SPACES):
            space = max(buf.rfind(ch, done, cut) for ch in _SPACES)
            cut = space + 1 if space >= done else done
        # Back before an unfinished private-key block (BEGIN line seen, END line not).
        for begin in _PEM_BEGIN.finditer(buf, done):
            if begin.start() >= cut:
                break
            if _PEM_END.search(buf, begin.end()) is None:
                cut = begin.start()
                break
        for f in findings:
            if f.start < cut < f.end:
                cut = f.end if f.end <= n - CONTEXT_AFTER else f.start
                break
        if cut < floor:
            cut = forced
        return cut


class StreamRestorer:
    """Puts originals back into streamed model output, one per response.

    Holds back only an unclosed ``[`` (at most ``max_placeholder`` characters), so a
    placeholder split across chunks ("[EMA" + "IL_1]") is still restored.

    >>> r, v = Redactor(), Vault()
    >>> _ = r.redact("a@x.io", v)
    >>> s = StreamRestorer(r, v)
    >>> s.feed("write to [EMA") + s.feed("IL_1] now") + s.flush()
    'write to a@x.io now'
    """

    def __init__(self, redactor: Redactor, vault: Vault, *, max_placeholder: int = 40) -> None:
        self._redactor = redactor
        self._vault = vault
        self._max = max_placeholder
        self._buf = ""

    def feed(self, delta: str) -> str:
        buf = self._buf + delta
        open_at = buf.rfind("[")
        if open_at >= 0 and "]" not in buf[open_at:] and len(buf) - open_at < self._max:
            self._buf = buf[open_at:]
            buf = buf[:open_at]
        else:
            self._buf = ""
        return self._redactor.restore(buf, self._vault) if buf else ""

    def flush(self) -> str:
        buf, self._buf = self._buf, ""
        return self._redactor.restore(buf, self._vault) if buf else ""
