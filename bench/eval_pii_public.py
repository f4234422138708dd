"""PII scanner on the public test data of other tools: text lockgate's templates never made.

    pip download --no-deps --no-binary :all: -d /tmp/pii python-stdnum==2.2 phonenumbers==9.0.43
    (untar both into /tmp/pii)
    PYTHONPATH=src python bench/eval_pii_public.py --stdnum /tmp/pii/python_stdnum-2.2 \\
        --phonenumbers /tmp/pii/phonenumbers-9.0.43 [--extra FILE.jsonl ...] [--show]

Sets (each scored with bench/eval_pii.py's span matching; Wilson 95% intervals):

- ``phonenumbers-intl`` / ``phonenumbers-national``: Google libphonenumber's example
  fixed-line and mobile number of every region it knows (its metadata; Apache-2.0),
  formatted by the library itself in international and national format, each put in
  every textual context of its matcher tests (``findPossibleInContext`` /
  ``findValidInContext`` of tests/phonenumbermatchertest.py: "Hi there, call ... to reach
  me!", "Call me on 21.6.1984 at ...", "... , 45 days a year" ...). Gold: the number (and
  the second number one context carries). A number of fewer than 7 digits is left out
  (lockgate reads no phone under 7 digits; the count is printed). Reported by context
  group: a phone word before the number ("call"), none, or a letter glued to it.
- ``stdnum-iban``: python-stdnum's IBAN tests (LGPL-2.1+): the IBAN registry's sample
  numbers of every country, with and without spaces (label 1), and its broken-checksum,
  wrong-length and misplaced-letter numbers (label 0); ``stdnum-be-iban``: Belgian IBANs
  its author found online, each followed by its BIC as in the test file.
- ``--extra``: any JSONL of labelled rows (``text``, ``label``, ``spans``), for example
  cases transcribed from another tool's tests; reported on their own.

Nothing from these packages is copied into the repository; the script reads the
unpacked source distributions.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path
from typing import Any

import orjson
from eval_pii import print_tally, score_rows  # bench/ is on sys.path when this script runs

from lockgate.guards.pii import PiiScanner

Row = dict[str, Any]


def _row(text: str, spans: list[tuple[int, int, str]]) -> Row:
    return {
        "text": text,
        "label": int(bool(spans)),
        "spans": [{"start": a, "end": b, "type": t} for a, b, t in spans],
    }


def _contexts(test_file: Path) -> list[tuple[str, str]]:
    """The ``NumberContext(lead, trail)`` pairs of libphonenumber's find-in-context tests."""
    tree = ast.parse(test_file.read_text(encoding="utf-8"))
    out: list[tuple[str, str]] = []
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and fn.name in (
            "findPossibleInContext",
            "findValidInContext",
        ):
            for call in ast.walk(fn):
                if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "NumberContext":
                    lead, trail = (ast.literal_eval(a) for a in call.args)
                    out.append((lead, trail))
    return out


def _context_group(lead: str, trail: str) -> str:
    """``glued``: a letter touches the number ("Hi call+1 ...", "...forme"); else whether
    a word before it names a phone ("call")."""
    if (lead and lead[-1].isalpha()) or (trail and trail[0].isalpha()):
        return "glued"
    return "phone-word" if "call" in lead.lower() else "no-phone-word"


def phone_rows(root: Path) -> dict[str, list[Row]]:
    sys.path.insert(0, str(root))
    import phonenumbers as pn

    contexts = _contexts(root / "tests" / "phonenumbermatchertest.py")
    second = "+1800-123-4567"
    sets: dict[str, list[Row]] = {
        f"phonenumbers-{fmt}-{group}": []
        for fmt in ("intl", "national")
        for group in ("phone-word", "no-phone-word", "glued")
    }
    short = 0
    for region in sorted(pn.SUPPORTED_REGIONS):
        for kind in (pn.PhoneNumberType.FIXED_LINE, pn.PhoneNumberType.MOBILE):
            number = pn.example_number_for_type(region, kind)
            if number is None:
                continue
            for name, fmt in (
                ("intl", pn.PhoneNumberFormat.INTERNATIONAL),
                ("national", pn.PhoneNumberFormat.NATIONAL),
            ):
                value = pn.format_number(number, fmt)
                if len(re.sub(r"\D", "", value)) < 7:
                    short += 1
                    continue
                for lead, trail in contexts:
                    text = lead + value + trail
                    spans = [(len(lead), len(lead) + len(value), "PHONE")]
                    if second in trail:
                        at = len(lead) + len(value) + trail.index(second)
                        spans.append((at, at + len(second), "PHONE"))
                    sets[f"phonenumbers-{name}-{_context_group(lead, trail)}"].append(
                        _row(text, spans)
                    )
    print(
        f"phonenumbers: {len(contexts)} contexts; {short} example numbers under 7 digits left out"
    )
    return sets


def _doctest_blocks(path: Path) -> list[tuple[str, list[str]]]:
    """``numbers = '''...'''`` blocks of a doctest file with the sentence before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith(">>> numbers = '''"):
            j = i - 1
            while j > 0 and not lines[j].strip():
                j -= 1
            para = []
            while j >= 0 and lines[j].strip():
                para.insert(0, lines[j].strip())
                j -= 1
            intro = " ".join(para)
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("... '''"):
                body.append(lines[i][4:].strip())
                i += 1
            out.append((intro, [b for b in body if b]))
        i += 1
    return out


def iban_rows(root: Path) -> dict[str, list[Row]]:
    tests = root / "tests"
    sets: dict[str, list[Row]] = {"stdnum-iban": [], "stdnum-be-iban": []}
    for intro, numbers in _doctest_blocks(tests / "test_iban.doctest"):
        valid = "should all be valid" in intro or "IBAN REGISTRY" in intro
        invalid = any(w in intro for w in ("broken", "wrong length", "alphabetic", "mangled"))
        if not (valid or invalid):
            continue  # country-specific checks stdnum adds beyond the IBAN standard
        for value in numbers:
            sets["stdnum-iban"].append(_row(value, [(0, len(value), "IBAN")] if valid else []))
    for intro, numbers in _doctest_blocks(tests / "test_be_iban.doctest"):
        if "valid" not in intro:
            continue
        for line in numbers:
            m = re.match(r"BE[0-9 .\-]+[0-9]", line)
            if m is not None:
                sets["stdnum-be-iban"].append(_row(line, [(0, m.end(), "IBAN")]))
    return sets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stdnum", type=Path)
    ap.add_argument("--phonenumbers", type=Path)
    ap.add_argument("--extra", type=Path, nargs="*", default=[])
    ap.add_argument("--show", action="store_true")
    args = ap.parse_args()
    sets: dict[str, list[Row]] = {}
    if args.phonenumbers:
        sets.update(phone_rows(args.phonenumbers))
    if args.stdnum:
        sets.update(iban_rows(args.stdnum))
    for path in args.extra:
        sets[path.stem] = [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]
    scanner = PiiScanner()
    for name, rows in sets.items():
        print(f"\n== {name}: {len(rows)} rows ({sum(r['label'] for r in rows)} with PII)")
        print_tally(score_rows(rows, scanner, args.show))


if __name__ == "__main__":
    main()
