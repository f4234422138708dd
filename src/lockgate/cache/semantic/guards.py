"""Near-miss guards: cheap lexical checks that veto a semantic cache hit.

Cosine similarity of sentence embeddings cannot tell "enable" from "disable",
"2+2" from "2+3" or "safe" from "not safe": those pairs routinely score above
0.9. So a candidate above the similarity threshold is served only if every
guard here agrees the two texts ask the same thing. Each guard is a pure
function ``(Features, Features) -> bool`` (True = same); a text's features are
extracted once per lookup, so checking a few candidates stays in microseconds.

The guards err on the side of refusing: a refused paraphrase costs one
upstream call, a served near miss is a wrong answer.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lockgate.cache.semantic.lexicon import (
    ALWAYS_CAPITALISED,
    EXCLUSIVE,
    FUNCTION_WORDS,
    NEGATIONS,
    NUMBER_WORDS,
    OPPOSITE_PHRASES,
    OPPOSITES,
    QUESTION_WORDS,
    SCRIPTS,
    STOPWORDS,
    UNITS,
)

__all__ = [
    "GUARDS",
    "Features",
    "GuardName",
    "extract_features",
    "near_miss",
]

GuardName = str

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*|[0-9]+(?:[.,][0-9]+)*", re.UNICODE)
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?", re.IGNORECASE)
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|`([^`]+)`|'([^']+)'(?!\w)")
# "%" is left out: after a number it is a unit (percent), handled by the units guard.
_OPERATOR = re.compile(r"(?<=[\w)\s])([-+*/^=<>\u00d7\u00f7])(?=[\s(\w])")
_CODEISH = re.compile(r"[A-Za-z0-9]*[._/:@#][A-Za-z0-9._/:@#-]+|[a-z]+[A-Z]\w*|\w*\d\w*")


@dataclass(frozen=True, slots=True)
class Features:
    """What the guards compare, extracted once per text."""

    words: frozenset[str]
    numbers: tuple[str, ...]  # sorted multiset, number words folded to digits
    quantities: tuple[tuple[str, str], ...]  # sorted (number, unit) pairs
    units: frozenset[str]
    operators: tuple[str, ...]
    negated: bool
    #: how many negations: "I don't think it isn't" (2) is not "I don't think it is" (1)
    negations: int
    quoted: frozenset[str]
    entities: frozenset[str]  # lower-cased names and code-like tokens
    sequence: tuple[str, ...]  # folded words in order
    names: tuple[str, ...]  # capitalised names in order of first appearance
    language: str


def _fold_word(word: str) -> str:
    w = word.lower().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    return w.replace("'", "")


def _normalise_number(raw: str) -> str:
    text = raw.replace(",", "") if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?", raw) else raw
    text = text.replace(",", ".").lstrip("+")
    try:
        value = float(text)
    except ValueError:
        return raw
    return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _language(text: str, words: Iterable[str]) -> str:
    counts: Counter[str] = Counter()
    for ch in "" if text.isascii() else text:
        code = ord(ch)
        for name, lo, hi in SCRIPTS:
            if lo <= code <= hi:
                counts[name] += 1
                break
    if counts:
        script, n = counts.most_common(1)[0]
        if n >= 2:
            return script
    words = list(words)
    scores = {lang: sum(w in stops for w in words) for lang, stops in STOPWORDS.items()}
    best = max(scores.values())
    if best < 2:
        return "unknown"
    leaders = [lang for lang, score in scores.items() if score == best]
    # English wins ties: most traffic is English and a false "different
    # language" veto only costs a hit, but two non-English guesses must agree.
    if "en" in leaders:
        return "en"
    return leaders[0] if len(leaders) == 1 else "unknown"


def extract_features(text: str) -> Features:
    """Pull numbers, negation, names, quotes, units and language out of ``text``."""
    matches = list(_WORD.finditer(text))
    raw_words = [m.group(0) for m in matches]
    words = [_fold_word(w) for w in raw_words]
    numbers = [_normalise_number(m.group(0)) for m in _NUMBER.finditer(text)]
    numbers += [NUMBER_WORDS[w] for w in words if w in NUMBER_WORDS]
    quantities: list[tuple[str, str]] = []
    for m in re.finditer(r"([$€£¥])?\s?(\d+(?:[.,]\d+)*)\s?(°?[a-zA-Z%]+|[$€£¥%])?", text):
        for unit in (m.group(3), m.group(1)):
            if unit is not None and unit.lower() in UNITS:
                quantities.append((_normalise_number(m.group(2)), UNITS[unit.lower()]))
                break
    units = {UNITS[w] for w in words if w in UNITS and len(w) > 2}
    units |= {UNITS[s.lower()] for s in re.findall(r"[$€£¥%]|°[cCfF]", text) if s.lower() in UNITS}
    units |= {u for _, u in quantities}
    quoted = {next(g for g in m.groups() if g).strip().lower() for m in _QUOTED.finditer(text)}
    # Listed negation words ("dont" folded from "don't" among them), plus any other n't form.
    negations = sum(
        1 if w in NEGATIONS else int(r.lower().replace("\u2019", "'").endswith("n't"))
        for w, r in zip(words, raw_words, strict=True)
    )
    entities: set[str] = set()
    names: dict[str, None] = {}
    for m in matches:
        word = m.group(0)
        i = m.start() - 1
        while i >= 0 and text[i].isspace():
            i -= 1
        starts_sentence = i < 0 or text[i] in ".!?:"
        folded = _fold_word(word)
        if folded in ALWAYS_CAPITALISED or folded in NEGATIONS:
            continue
        if (word[:1].isupper() and not starts_sentence) or (word.isupper() and len(word) > 1):
            entities.add(folded)
            names.setdefault(folded)
    entities |= {t.lower().rstrip(".:/") for t in _CODEISH.findall(text) if not t.isdigit()}
    entities -= {w for w in entities if re.fullmatch(r"[\d.,]+", w)}
    return Features(
        words=frozenset(words),
        sequence=tuple(words),
        names=tuple(names),
        numbers=tuple(sorted(numbers)),
        quantities=tuple(sorted(quantities)),
        units=frozenset(units),
        operators=tuple(_OPERATOR.findall(text)),
        negated=negations > 0,
        negations=negations,
        quoted=frozenset(quoted),
        entities=frozenset(entities),
        language=_language(text, words),
    )


def _numbers(a: Features, b: Features) -> bool:
    return a.numbers == b.numbers and a.operators == b.operators


def _negation(a: Features, b: Features) -> bool:
    # Counted, not just present: "you're not dead" / "you're dead" differ, and so do
    # "I don't think it isn't" / "I don't think it is" (both contain a negation).
    return a.negations == b.negations


# word -> the (pair, side) entries of OPPOSITES it is on: a lookup per word
# instead of two set intersections per pair (the guard runs on every candidate).
_OPPOSITE_SIDES: dict[str, list[tuple[int, int]]] = {}
for _i, _sides_of_pair in enumerate(OPPOSITES):
    for _side, _members in enumerate(_sides_of_pair):
        for _word in _members:
            _OPPOSITE_SIDES.setdefault(_word, []).append((_i, _side))


def _opposite_sides(words: frozenset[str]) -> dict[int, tuple[bool, bool]]:
    """For each pair of OPPOSITES the text touches: (has a left word, has a right word)."""
    out: dict[int, list[bool]] = {}
    for word in words:
        for pair, side in _OPPOSITE_SIDES.get(word, ()):
            out.setdefault(pair, [False, False])[side] = True
    return {pair: (sides[0], sides[1]) for pair, sides in out.items()}


def _opposites(a: Features, b: Features) -> bool:
    sides_a, sides_b = _opposite_sides(a.words), _opposite_sides(b.words)
    for pair in sides_a.keys() & sides_b.keys():
        if sides_a[pair] != sides_b[pair]:
            return False
    a_text, b_text = f" {' '.join(a.sequence)} ", f" {' '.join(b.sequence)} "
    for left_phrase, right_phrase in OPPOSITE_PHRASES:
        a_left, a_right = left_phrase in a_text, right_phrase in a_text
        b_left, b_right = left_phrase in b_text, right_phrase in b_text
        if (a_left and b_right and not a_right) or (a_right and b_left and not a_left):
            return False
    for word in a.words ^ b.words:
        # "install"/"uninstall", "able"/"unable", "connect"/"disconnect"...
        for prefix in ("un", "dis", "de", "non", "in", "im", "ir", "il"):
            if word.startswith(prefix) and len(word) > len(prefix) + 3:
                stem = word[len(prefix) :]
                other = b.words if word in a.words else a.words
                if stem in other:
                    return False
    return True


def _exclusive(a: Features, b: Features) -> bool:
    return all(a.words & group == b.words & group for group in EXCLUSIVE)


def _question(a: Features, b: Features) -> bool:
    # "Who invented the telephone?" / "When was the telephone invented?": a
    # rewording at cosine 0.93 that asks for something else.
    qa, qb = a.words & QUESTION_WORDS, b.words & QUESTION_WORDS
    return not (qa and qb and qa != qb)


def _order(a: Features, b: Features) -> bool:
    # "from English to French" / "from French to English", "Alice owes Bob" /
    # "Bob owes Alice": same words, swapped roles, similarity above 0.99.
    if a.sequence != b.sequence and sorted(a.sequence) == sorted(b.sequence):
        return False
    shared_a = [n for n in a.names if n in b.names]
    shared_b = [n for n in b.names if n in a.names]
    return shared_a == shared_b


def _one_letter_apart(x: str, y: str) -> bool:
    """One substitution, insertion or deletion: "color"/"colour", "analyse"/"analyze"."""
    if abs(len(x) - len(y)) > 1:
        return False
    if len(x) == len(y):
        return sum(c != d for c, d in zip(x, y, strict=True)) == 1
    short, long = (x, y) if len(x) < len(y) else (y, x)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _substitution(a: Features, b: Features) -> bool:
    # The same question with one content word swapped in place ("water often" /
    # "rarely", "arrive" / "depart", "boil" / "fry" rice) is the commonest near
    # miss no word list can cover, and scores 0.92-0.97. Synonym swaps ("quit" /
    # "exit" vim) are refused too: precision first.
    if len(a.sequence) != len(b.sequence):
        return True
    diffs = [(x, y) for x, y in zip(a.sequence, b.sequence, strict=True) if x != y]
    if len(diffs) != 1:
        return True
    ((x, y),) = diffs
    if x in FUNCTION_WORDS or y in FUNCTION_WORDS:
        return True
    if NUMBER_WORDS.get(x, x) == NUMBER_WORDS.get(y, y):
        return True  # "3" / "three"
    if x in NEGATIONS and y in NEGATIONS:
        return True  # "doesn't" / "won't": the negation guard compares those
    return min(len(x), len(y)) >= 5 and _one_letter_apart(x, y)


def _entities(a: Features, b: Features) -> bool:
    if a.quoted != b.quoted:
        return False
    # A name in one text must occur (any case) somewhere in the other: "Python"
    # against "python" passes, "Paris" against "Berlin" does not.
    a_text = a.words | a.entities
    b_text = b.words | b.entities
    return a.entities <= b_text and b.entities <= a_text


def _units(a: Features, b: Features) -> bool:
    return a.units == b.units and a.quantities == b.quantities


def _language_guard(a: Features, b: Features) -> bool:
    return a.language == b.language or "unknown" in (a.language, b.language)


GUARDS: dict[GuardName, Callable[[Features, Features], bool]] = {
    "numbers": _numbers,
    "negation": _negation,
    "opposites": _opposites,
    "exclusive": _exclusive,
    "question": _question,
    "order": _order,
    "entities": _entities,
    "units": _units,
    "language": _language_guard,
    # Last: the most generic, so a more specific guard names the reason first.
    "substitution": _substitution,
}
"""Every guard by name, in the order they are tried."""


def near_miss(a: Features, b: Features, enabled: Iterable[GuardName] = GUARDS) -> GuardName | None:
    """The name of the first guard that tells ``a`` and ``b`` apart, or ``None``."""
    for name in enabled:
        if not GUARDS[name](a, b):
            return name
    return None
