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


def test_generated_chat_recall_and_false_positives() -> None:
    scanner = PiiScanner()
    found_n: Counter[str] = Counter()
    gold_n: Counter[str] = Counter()
    neg = neg_flagged = 0
    locales = set()
    for line in DATA.read_bytes().splitlines():
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
    assert len(locales) == 10
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
