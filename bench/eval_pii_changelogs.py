"""PII scanner on real text of another origin: Debian package changelogs.

    PYTHONPATH=src python bench/eval_pii_changelogs.py [--per-package 3] [--show]

No labelled real-text PII corpus with our entity types is reachable here (see the
guards3 notes), so this takes the ``changelog.Debian.gz`` files the machine's packages
ship (/usr/share/doc/*/; each under its package's free licence) and labels them by
their *format*, not by the scanner:

- **E-mail recall**: every entry ends in a trailer ``" -- Name <address>  date"``
  (Debian Policy 4.4); the address between the angle brackets is a real person's or
  team's e-mail address, placed by the format. Recall = trailer addresses the scanner
  finds with exactly that span.
- **False alarms**: everything else in an entry is free text written by maintainers:
  version strings (``1.2.3-4+deb12u1``), bug numbers (``Closes: #1024598``), CVE ids,
  dates, patch numbers, file paths, URLs. Every finding that is not a trailer address
  is listed (``--show``) and judged by hand; the script counts entries with any
  non-e-mail finding (a PHONE, CARD, SSN, IBAN or IP in a changelog is almost always
  a false alarm) and, separately, e-mail findings in the body.

Nothing is written to the repository: the addresses are real people's.
"""

from __future__ import annotations

import gzip
import random
import re
import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path

from lockgate.guards.pii import PiiScanner

_HEADER = re.compile(r"^\S.*\(.+\) .*; ?urgency=", re.M)
_TRAILER = re.compile(r"^ -- (?P<name>[^<\n]+?) <(?P<addr>[^<>\s]+@[^<>\s]+)>  ", re.M)


def _wilson(k: int, n: int) -> str:
    if n == 0:
        return "[n/a]"
    z, p = 1.96, k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / d
    return f"[{max(0.0, c - h):.4f}, {min(1.0, c + h):.4f}]"


def entries(per_package: int, rng: random.Random) -> list[str]:
    out: list[str] = []
    for path in sorted(Path("/usr/share/doc").glob("*/changelog.Debian.gz")):
        try:
            text = gzip.decompress(path.read_bytes()).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        starts = [m.start() for m in _HEADER.finditer(text)] + [len(text)]
        chunks = [text[a:b].strip("\n") for a, b in pairwise(starts)]
        chunks = [c for c in chunks if _TRAILER.search(c) and len(c) < 20_000]
        out += rng.sample(chunks, min(per_package, len(chunks)))
    return list(dict.fromkeys(out))  # packages built from one source share a changelog


def main(argv: list[str]) -> None:
    per = int(argv[argv.index("--per-package") + 1]) if "--per-package" in argv else 3
    show = "--show" in argv
    scanner = PiiScanner()
    rows = entries(per, random.Random(7))
    gold_n = gold_hit = 0
    flagged_rows = 0
    body_email = Counter[str]()
    other: Counter[str] = Counter()
    shown: list[str] = []
    for text in rows:
        gold = {(m.start("addr"), m.end("addr")) for m in _TRAILER.finditer(text)}
        found = scanner.find(text)
        spans = {(f.start, f.end) for f in found if f.type == "EMAIL"}
        gold_n += len(gold)
        gold_hit += len(gold & spans)
        extra = [f for f in found if (f.start, f.end) not in gold]
        if any(f.type != "EMAIL" for f in extra):
            flagged_rows += 1
        for f in extra:
            (body_email if f.type == "EMAIL" else other)[f.type] += 1
            if show and (f.type != "EMAIL" or len(shown) < 400):
                ctx = text[max(0, f.start - 50) : f.end + 30].replace("\n", " ")
                shown.append(f"{f.type:12s} {f.value!r:40s} | {ctx}")
        if show:
            for a, b in gold - spans:
                shown.append(f"MISSED       {text[a:b]!r:40s} | {text[max(0, a - 40) : b + 5]!r}")
    print(f"entries {len(rows)} (up to {per} per package, distinct)")
    print(
        f"trailer e-mail recall (exact span): {gold_hit}/{gold_n} = {gold_hit / gold_n:.4f} "
        f"{_wilson(gold_hit, gold_n)}"
    )
    print(
        f"entries with a non-e-mail finding: {flagged_rows}/{len(rows)} = "
        f"{flagged_rows / len(rows):.4f} {_wilson(flagged_rows, len(rows))}"
    )
    print(
        f"non-e-mail findings by type: {dict(other)}; e-mail findings in bodies: "
        f"{sum(body_email.values())}"
    )
    for line in shown:
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
