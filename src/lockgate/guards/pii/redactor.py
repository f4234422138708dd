"""Replace findings by numbered placeholders, and put the originals back later.

The same value gets the same placeholder throughout a conversation when a
:class:`Vault` is shared, so the model can still tell "[EMAIL_1]" from "[EMAIL_2]",
and :meth:`Redactor.restore` can un-redact the model's answer for the caller.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from lockgate.guards.pii.finding import ALL_TYPES, Finding
from lockgate.guards.pii.scanner import PiiScanner

__all__ = ["Redactor", "Vault"]


class Vault:
    """Placeholders and the originals they stand for, for one conversation.

    Holds secrets in memory: keep it per request (or per session) and never log it.
    """

    __slots__ = ("_by_placeholder", "_by_value", "_counts")

    def __init__(self) -> None:
        self._by_placeholder: dict[str, str] = {}
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: Counter[str] = Counter()

    def placeholder(self, type_: str, value: str) -> str:
        """The placeholder for ``value``, numbering a new one per type on first sight."""
        key = (type_, value)
        found = self._by_value.get(key)
        if found is None:
            self._counts[type_] += 1
            found = f"[{type_}_{self._counts[type_]}]"
            self._by_value[key] = found
            self._by_placeholder[found] = value
        return found

    def original(self, placeholder: str) -> str | None:
        """The value behind ``placeholder``, if this vault issued it."""
        return self._by_placeholder.get(placeholder)

    def __len__(self) -> int:
        return len(self._by_placeholder)

    def __repr__(self) -> str:
        return f"Vault({len(self)} entries)"  # never the originals


class Redactor:
    """Redacts text and chat messages with a :class:`PiiScanner`."""

    def __init__(self, scanner: PiiScanner | None = None) -> None:
        self.scanner = scanner if scanner is not None else PiiScanner()
        names = "|".join(sorted(ALL_TYPES))
        self._placeholder = re.compile(r"\[(?:" + names + r")_\d+\]")

    def redact(self, text: str, vault: Vault | None = None) -> tuple[str, list[Finding]]:
        """``text`` with each finding replaced by a placeholder such as ``[EMAIL_1]``.

        Without a vault, numbering starts afresh for this call and nothing is kept.
        """
        findings = self.scanner.find(text)
        if not findings:
            return text, findings
        return self.apply(text, findings, vault if vault is not None else Vault()), findings

    @staticmethod
    def apply(text: str, findings: list[Finding], vault: Vault) -> str:
        """Replace the given (sorted, non-overlapping) findings in ``text``."""
        parts: list[str] = []
        pos = 0
        for f in findings:
            parts.append(text[pos : f.start])
            parts.append(vault.placeholder(f.type, f.value))
            pos = f.end
        parts.append(text[pos:])
        return "".join(parts)

    def restore(self, text: str, vault: Vault) -> str:
        """Put the originals back for every placeholder this vault issued."""
        if "[" not in text or not len(vault):
            return text

        def original(m: re.Match[str]) -> str:
            value = vault.original(m.group())
            return m.group() if value is None else value

        return self._placeholder.sub(original, text)

    def redact_messages(
        self, messages: list[dict[str, Any]], vault: Vault | None = None
    ) -> tuple[list[dict[str, Any]], list[Finding]]:
        """New message dicts with redacted text content; the input is not touched.

        Handles string content and lists of parts, redacting ``{"type": "text"}`` parts
        and passing other parts (images, audio) through. Findings are positioned in
        their own text part, so use them for counting and audit, not for slicing.
        """
        vault = vault if vault is not None else Vault()
        out: list[dict[str, Any]] = []
        all_findings: list[Finding] = []
        for message in messages:
            new = dict(message)
            content = message.get("content")
            if isinstance(content, str):
                new["content"], found = self.redact(content, vault)
                all_findings.extend(found)
            elif isinstance(content, list):
                parts: list[Any] = []
                for part in content:
                    if (
                        isinstance(part, dict)
                        and part.get("type") == "text"
                        and isinstance(part.get("text"), str)
                    ):
                        text, found = self.redact(part["text"], vault)
                        all_findings.extend(found)
                        parts.append({**part, "text": text} if found else part)
                    else:
                        parts.append(part)
                new["content"] = parts
            out.append(new)
        return out, all_findings
