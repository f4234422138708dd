"""GENERATED PII test data of another origin: multi-locale chat transcripts made with Faker.

    python bench/make_pii_chat.py        # writes tests/guards_pii/data/pii_chat_faker.jsonl

Not real people or real conversations: Faker (MIT) draws names, e-mail addresses, phone
numbers, card numbers, IBANs, IPs and US SSNs in the conventions of ten locales, and
the templates below put them into support-chat turns, free-text notes and
agent/customer transcripts. Half the rows carry none of the target types but plenty of
look-alikes (order numbers, amounts, dates, postcodes, street addresses, names). Same
schema as the PII dev file, so ``bench/eval_pii.py tests/guards_pii/data/pii_chat_faker.jsonl``
scores it.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

from faker import Faker

OUT = Path(__file__).resolve().parents[1] / "tests" / "guards_pii" / "data" / "pii_chat_faker.jsonl"
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "en_IN", "pl_PL")

POSITIVE = (
    "Customer: hi, I'm {name}. you can mail me at {EMAIL}\nAgent: thanks {first}, got it.",
    "Agent: what's the best number to call you back?\nCustomer: {PHONE}, after 5pm please",
    "Customer: the refund should go to {IBAN}\nAgent: noted, it takes 3-5 business days",
    "note from {name}: card on file is {CREDIT_CARD}, exp {exp}, please update the order {order}",
    "Customer: my SSN is {SSN} and my email is {EMAIL}\nAgent: please never share your SSN here",
    "[{time}] {first}: the server at {IP} keeps timing out since {date}",
    "Hello, this is {name} ({EMAIL}, tel. {PHONE}). I live at {address}.",
    "Agent: can you confirm the account?\nCustomer: IBAN {IBAN}, holder {name}\nAgent: thank you",
    "support ticket {order}: user {EMAIL} logged in from {IP} and {IP6}",
    "Customer: call me on {PHONE} or my office {PHONE2}\nAgent: will do",
    "pls charge {CREDIT_CARD} for the {amount} invoice, thanks - {first}",
)
NEGATIVE = (
    "Customer: hi, I'm {name}, order {order} never arrived\nAgent: sorry {first}, checking now",
    "Agent: your parcel left the depot on {date} at {time}\nCustomer: great, thanks!",
    "note: {name} moved to {address}; invoice {order} of {amount} is paid",
    "Customer: the total was {amount} but I was charged twice on {date}\nAgent: I see it",
    "[{time}] {first}: deploy v{version} finished, build {order}, 0 errors",
    "Customer: can I change the delivery to {postcode}?\nAgent: yes, until {date}",
    "{first} wrote: meeting moved to {date} {time}, room {room}, bring the Q{quarter} numbers",
    "Agent: ticket {order} is closed. Rate us 1-10?\nCustomer: 9, thanks {agent}",
)


def _fill(fake: Faker, locale: str, template: str, rng: random.Random) -> dict[str, Any] | None:
    values: dict[str, str] = {
        "name": fake.name(), "first": fake.first_name(), "agent": fake.first_name(),
        "address": fake.address().replace("\n", ", "), "date": str(fake.date()),
        "time": fake.time()[:5], "order": f"#{rng.randint(100000, 99999999)}",
        "amount": f"{rng.randint(5, 900)}.{rng.randint(0, 99):02d} EUR",
        "exp": f"{rng.randint(1, 12):02d}/{rng.randint(26, 31)}", "postcode": fake.postcode(),
        "version": f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
        "room": str(rng.randint(100, 999)), "quarter": str(rng.randint(1, 4)),
    }  # fmt: skip
    typed = {
        "EMAIL": fake.email,
        "PHONE": fake.phone_number,
        "PHONE2": fake.phone_number,
        "CREDIT_CARD": fake.credit_card_number,
        "IBAN": fake.iban,
        "IP": fake.ipv4_public,
        "IP6": fake.ipv6,
        "SSN": fake.ssn,
    }
    if "{SSN}" in template and locale != "en_US":
        return None
    if "{IBAN}" in template and locale == "en_IN":
        return None  # Faker's en_IN IBANs are GB-prefixed with 21 characters: not valid IBANs
    text = template
    spans = []
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    for key, make in typed.items():
        while "{" + key + "}" in text:
            value = str(make())
            start = text.index("{" + key + "}")
            text = text[:start] + value + text[start + len(key) + 2 :]
            kind = {"PHONE2": "PHONE", "IP6": "IP"}.get(key, key)
            spans.append({"start": start, "end": start + len(value), "type": kind, "value": value})
    # spans were recorded before later replacements shifted text: recompute by value
    fixed = []
    for s in spans:
        at = text.find(s["value"])
        fixed.append({**s, "start": at, "end": at + len(s["value"])})
    return {"text": text, "label": int(bool(fixed)), "types": sorted({s["type"] for s in fixed}),
            "spans": fixed, "locale": locale, "source": "faker-chat (generated)"}  # fmt: skip


def main(argv: list[str]) -> None:
    """``[SEED [OUT]]``: another seed gives fresh values for an untuned check."""
    seed = int(argv[0]) if argv else 19
    out = Path(argv[1]) if len(argv) > 1 else OUT
    rng = random.Random(seed)
    rows = []
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(seed)
        for n in range(60):
            template = POSITIVE[n % len(POSITIVE)] if n % 2 == 0 else NEGATIVE[n % len(NEGATIVE)]
            row = _fill(fake, locale, template, rng)
            if row is not None:
                rows.append(row)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"{len(rows)} rows ({sum(r['label'] for r in rows)} with PII) -> {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
