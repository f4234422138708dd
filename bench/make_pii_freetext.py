# ruff: noqa: E501  (templates)
"""GENERATED PII test data of a second origin: free text written in seven other languages.

    python bench/make_pii_freetext.py [SEED [OUT]]   # default /tmp/pii_freetext.jsonl

Unlike bench/make_pii_chat.py (English support-chat templates with values from ten
locales), the text around each value here is in the locale's own language and in
formats the scanner's templates never had: e-mail signatures, web-form dumps, forum
posts, JSON and CSV records, letters. Values come from Faker (MIT) for the same locale;
negatives carry that language's look-alikes (local dates like 12.03.2025, amounts like
1.234,56 €, customer/VAT/order numbers, postcodes, times). Written before the scanner
was run on it; not real people. Same schema as the PII dev file.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

from faker import Faker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_pii_chat import _fill

TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "de_DE": (
        (
            "Mit freundlichen Grüßen\n{name}\nTel.: {PHONE}\nE-Mail: {EMAIL}",
            "Hallo zusammen, bei mir kommt seit {dldate} keine Verbindung zu {IP} zustande. Weiß jemand Rat?",
            "Bitte überweisen Sie den Betrag von {lamount} auf folgendes Konto: IBAN {IBAN}, Kontoinhaber {name}.",
            '{{"kunde": "{name}", "email": "{EMAIL}", "telefon": "{PHONE}", "plz": "{postcode}"}}',
            "Ich habe mit meiner Kreditkarte {CREDIT_CARD} bezahlt, aber die Bestellung {order} ist nicht angekommen.",
        ),
        (
            "Sehr geehrte Damen und Herren, meine Kundennummer lautet {custno}, Rechnung {order} vom {dldate} über {lamount}.",
            "Termin verschoben auf {dldate} um {time} Uhr, Raum {room}. Viele Grüße, {first}",
            "Lieferadresse: {address}. Sendungsnummer {tracking}.",
            "USt-IdNr. DE{vat9}, Steuernummer {taxno}, Amtsgericht, HRB {room}{quarter}",
            "Artikel {sku}, Menge 3, Einzelpreis {lamount}, Gesamt {lamount2}",
        ),
    ),
    "fr_FR": (
        (
            "Cordialement,\n{name}\nTél. : {PHONE}\nCourriel : {EMAIL}",
            "Bonjour, merci de rembourser sur mon compte IBAN {IBAN} au nom de {name}.",
            "J'ai payé avec ma carte bancaire {CREDIT_CARD} le {dldate}, commande {order}.",
            "nom;prenom;email;telephone\n{last};{first};{EMAIL};{PHONE}",
            "Depuis ce matin le serveur {IP} ne répond plus, quelqu'un peut vérifier ?",
        ),
        (
            "Votre commande {order} du {dldate} d'un montant de {lamount} a été expédiée.",
            "Numéro client : {custno}. Code postal {postcode}. Merci de votre confiance.",
            "Rendez-vous le {dldate} à {time}, salle {room}. Bonne journée, {first}",
            "SIRET {siret}, TVA intracommunautaire FR{vat9}",
            "Adresse de livraison : {address}, colis n° {tracking}",
        ),
    ),
    "es_ES": (
        (
            "Un saludo,\n{name}\nTeléfono: {PHONE}\nCorreo: {EMAIL}",
            "Por favor, haga la transferencia a la cuenta {IBAN} a nombre de {name}.",
            "Pagué con la tarjeta {CREDIT_CARD} y el pedido {order} sigue sin llegar.",
            '{{"nombre": "{name}", "correo": "{EMAIL}", "movil": "{PHONE}"}}',
            "El servidor {IP} no responde desde el {dldate}, ¿alguien sabe algo?",
        ),
        (
            "Su pedido {order} del {dldate} por importe de {lamount} está en camino.",
            "Número de cliente {custno}, código postal {postcode}.",
            "Reunión el {dldate} a las {time} en la sala {room}. Saludos, {first}",
            "NIF B{vat8}, factura {order}, total {lamount}",
            "Dirección de entrega: {address}. Seguimiento {tracking}.",
        ),
    ),
    "it_IT": (
        (
            "Cordiali saluti,\n{name}\nTel. {PHONE}\nEmail: {EMAIL}",
            "Vi prego di effettuare il bonifico sull'IBAN {IBAN} intestato a {name}.",
            "Ho pagato con la carta di credito {CREDIT_CARD}, ordine {order}, ma non è arrivato nulla.",
            "nome,email,cellulare\n{name},{EMAIL},{PHONE}",
            "Il server {IP} è irraggiungibile dal {dldate}. Qualcuno ha idee?",
        ),
        (
            "Il suo ordine {order} del {dldate} di {lamount} è stato spedito.",
            "Codice cliente {custno}, CAP {postcode}.",
            "Riunione il {dldate} alle {time}, sala {room}. Saluti, {first}",
            "Partita IVA IT{vat11}, fattura n. {order}",
            "Indirizzo di consegna: {address}. Tracking {tracking}.",
        ),
    ),
    "nl_NL": (
        (
            "Met vriendelijke groet,\n{name}\nTel: {PHONE}\nE-mail: {EMAIL}",
            "Graag terugstorten op rekening {IBAN} t.n.v. {name}.",
            "Ik heb betaald met creditcard {CREDIT_CARD}, bestelling {order} is nooit aangekomen.",
            '{{"naam": "{name}", "email": "{EMAIL}", "telefoon": "{PHONE}"}}',
            "Sinds {dldate} kan ik {IP} niet meer bereiken, iemand een idee?",
        ),
        (
            "Uw bestelling {order} van {dldate} ter waarde van {lamount} is verzonden.",
            "Klantnummer {custno}, postcode {postcode}.",
            "Overleg op {dldate} om {time} in zaal {room}. Groet, {first}",
            "KvK {kvk}, btw-nummer NL{vat9}B01",
            "Afleveradres: {address}. Track & trace {tracking}.",
        ),
    ),
    "pt_BR": (
        (
            "Atenciosamente,\n{name}\nTelefone: {PHONE}\nE-mail: {EMAIL}",
            "Favor depositar na conta IBAN {IBAN}, titular {name}.",
            "Paguei com o cartão {CREDIT_CARD} e o pedido {order} não chegou.",
            "nome;email;celular\n{name};{EMAIL};{PHONE}",
            "O servidor {IP} está fora do ar desde {dldate}. Alguém sabe?",
        ),
        (
            "Seu pedido {order} de {dldate} no valor de {lamount} foi enviado.",
            "Código do cliente {custno}, CEP {postcode}.",
            "Reunião dia {dldate} às {time}, sala {room}. Abraço, {first}",
            "CNPJ {cnpj}, nota fiscal {order}",
            "Endereço de entrega: {address}. Rastreio {tracking}.",
        ),
    ),
    "pl_PL": (
        (
            "Pozdrawiam serdecznie,\n{name}\ntel. {PHONE}\ne-mail: {EMAIL}",
            "Proszę o zwrot na rachunek {IBAN}, właściciel {name}.",
            "Zapłaciłem kartą {CREDIT_CARD}, zamówienie {order} nie dotarło.",
            '{{"imie_nazwisko": "{name}", "email": "{EMAIL}", "telefon": "{PHONE}"}}',
            "Od {dldate} serwer {IP} nie odpowiada. Ktoś wie dlaczego?",
        ),
        (
            "Zamówienie {order} z dnia {dldate} na kwotę {lamount} zostało wysłane.",
            "Numer klienta {custno}, kod pocztowy {postcode}.",
            "Spotkanie {dldate} o {time}, sala {room}. Pozdrawiam, {first}",
            "NIP {nip}, REGON {regon}, faktura {order}",
            "Adres dostawy: {address}. Numer przesyłki {tracking}.",
        ),
    ),
}


def _local_values(rng: random.Random, fake: Faker) -> dict[str, str]:
    d = fake.date_object()
    amount = f"{rng.randint(1, 9)}.{rng.randint(100, 999)},{rng.randint(0, 99):02d} €"
    digits = lambda n: "".join(str(rng.randint(0, 9)) for _ in range(n))  # noqa: E731
    return {
        "dldate": f"{d.day:02d}.{d.month:02d}.{d.year}", "lamount": amount,
        "lamount2": f"{rng.randint(10, 99)}.{rng.randint(100, 999)},{rng.randint(0, 99):02d} €",
        "custno": digits(rng.choice([7, 8, 9, 10])), "vat9": digits(9), "vat8": digits(8),
        "vat11": digits(11), "taxno": f"{digits(3)}/{digits(3)}/{digits(5)}",
        "tracking": rng.choice(["JJD", "1Z", ""]) + digits(rng.choice([12, 14, 16])),
        "siret": f"{digits(3)} {digits(3)} {digits(3)} {digits(5)}", "kvk": digits(8),
        "cnpj": f"{digits(2)}.{digits(3)}.{digits(3)}/0001-{digits(2)}",
        "nip": f"{digits(3)}-{digits(3)}-{digits(2)}-{digits(2)}", "regon": digits(9),
        "sku": f"{digits(3)}-{digits(4)}", "last": fake.last_name(),
    }  # fmt: skip


def main(argv: list[str]) -> None:
    seed = int(argv[0]) if argv else 7
    out = Path(argv[1]) if len(argv) > 1 else Path("/tmp/pii_freetext.jsonl")
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for locale, (pos, neg) in TEMPLATES.items():
        fake = Faker(locale)
        fake.seed_instance(seed)
        for n in range(120):
            tpls = pos if n % 2 == 0 else neg
            template = tpls[(n // 2) % len(tpls)]
            for key, value in _local_values(rng, fake).items():
                template = template.replace("{" + key + "}", value)
            template = template.replace("{{", "{").replace("}}", "}")
            row = _fill(fake, locale, template, rng)
            if row is not None:
                row["source"] = "faker-freetext (generated)"
                rows.append(row)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"{len(rows)} rows ({sum(r['label'] for r in rows)} with PII) -> {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
