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
  is listed (``--show``, and every missed trailer) and judged by hand; the script
  counts entries with any non-e-mail finding (a PHONE, CARD, SSN, IBAN or IP in a
  changelog is almost always a false alarm) and, separately, e-mail findings in the
  body.

Nothing is written to the repository: the addresses are real people's.
"""

from __future__ import annotations

import gzip
import random
import re
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

from eval_pii import score_rows, wilson  # bench/ is on sys.path when this script runs

from lockgate.guards.pii import PiiScanner

_HEADER = re.compile(r"^\S.*\(.+\) .*; ?urgency=", re.M)
_TRAILER = re.compile(r"^ -- (?P<name>[^<\n]+?) <(?P<addr>[^<>\s]+@[^<>\s]+)>  ", re.M)


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


def rows_of(texts: list[str]) -> list[dict[str, Any]]:
    """Each entry as a labelled row: its trailer addresses are the gold EMAIL spans."""
    return [
        {
            "text": t,
            "spans": [
                {"start": m.start("addr"), "end": m.end("addr"), "type": "EMAIL"}
                for m in _TRAILER.finditer(t)
            ],
        }
        for t in texts
    ]


def main(argv: list[str]) -> None:
    per = int(argv[argv.index("--per-package") + 1]) if "--per-package" in argv else 3
    rows = rows_of(entries(per, random.Random(7)))
    tally = score_rows(rows, PiiScanner(), show="--show" in argv)
    gold_n = tally.tp["EMAIL"] + tally.fn["EMAIL"]
    flagged = sum(1 for types in tally.fp_types if types - {"EMAIL"})
    other = {t: n for t, n in tally.fp.items() if t != "EMAIL"}
    print(f"entries {len(rows)} (up to {per} per package, distinct)")
    print(
        f"trailer e-mail recall (exact span): {tally.exact}/{gold_n} = "
        f"{tally.exact / gold_n:.4f} {wilson(tally.exact, gold_n)}"
    )
    print(
        f"entries with a non-e-mail finding: {flagged}/{len(rows)} = "
        f"{flagged / len(rows):.4f} {wilson(flagged, len(rows))}"
    )
    print(f"non-e-mail findings by type: {other}; e-mail findings in bodies: {tally.fp['EMAIL']}")


if __name__ == "__main__":
    main(sys.argv[1:])
