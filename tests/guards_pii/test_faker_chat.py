"""PII of another origin than the dev file: GENERATED multi-locale chat transcripts.

tests/guards_pii/data/pii_chat_faker.jsonl is made by bench/make_pii_chat.py with Faker
(ten locales; support-chat turns, notes, transcripts; half the rows carry only
look-alikes such as order numbers, amounts, dates, postcodes and addresses). It is
generated, not real conversations.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from lockgate.guards.pii import PiiScanner

DATA = Path(__file__).parent / "data" / "pii_chat_faker.jsonl"
# bench/make_pii_freetext.py 7: free text in seven other languages (signatures, forms, CSV/JSON)
FREETEXT = Path(__file__).parent / "data" / "pii_freetext_faker.jsonl"


@pytest.mark.parametrize(("path", "n_locales"), [(DATA, 10), (FREETEXT, 7)])
def test_generated_recall_and_false_positives(path: Path, n_locales: int) -> None:
    scanner = PiiScanner()
    found_n: Counter[str] = Counter()
    gold_n: Counter[str] = Counter()
    neg = neg_flagged = 0
    locales = set()
    for line in path.read_bytes().splitlines():
        row = orjson.loads(line)
        locales.add(row["locale"])
        found = scanner.find(row["text"])
        for span in row["spans"]:
            gold_n[span["type"]] += 1
            found_n[span["type"]] += any(
                f.type == span["type"] and f.start < span["end"] and span["start"] < f.end
                for f in found
            )
        if row["label"] == 0:
            neg += 1
            neg_flagged += bool(found)
    assert len(locales) == n_locales
    assert sum(found_n.values()) / sum(gold_n.values()) >= 0.99
    assert neg_flagged / neg <= 0.01


@pytest.mark.parametrize(
    "text",
    [
        "Agent: best number to call you back?\nCustomer: 0612 345 678, after 5pm",
        "Agent: what's your mobile?\nMember: 601 900 521",
    ],
)
def test_speaker_labels_do_not_hide_a_phone_number(text: str) -> None:
    """'Customer:' opening a chat turn is a speaker, not a "customer number" context."""
    assert [f.type for f in PiiScanner().find(text)] == ["PHONE"]


def test_customer_number_is_still_not_a_phone() -> None:
    assert PiiScanner().find("your customer number 601 900 521 is on the invoice") == []


@pytest.mark.parametrize(
    ("text", "types"),
    [
        ("Il server 140.218.197.244 è irraggiungibile dal 05.10.1990.", ["IP"]),
        ('{"naam": "Floor", "telefoon": "0281 957086"}', ["PHONE"]),
        ("Paguei com o cartão 4338750047433 e o pedido não chegou.", ["CREDIT_CARD"]),
        ("SIRET 235 346 165 57220, TVA FR620809679", []),
        ("CNPJ 00.796.882/0001-43, nota fiscal #55334883", []),
        ("Lieferadresse: Harm-Rädel-Ring 980, 14852 Gardelegen. Sendungsnummer 106792470822.", []),
        ("tel. 99 9124-6517). I live at Praia de Gomes, 6, Barroca, 97105022 Oliveira", ["PHONE"]),
    ],
)
def test_other_languages(text: str, types: list[str]) -> None:
    """What the free-text set of other languages revealed (each was wrong before)."""
    assert [f.type for f in PiiScanner().find(text)] == types
