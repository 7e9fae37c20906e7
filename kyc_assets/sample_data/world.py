"""The deterministic synthetic world behind ``make demo`` and the tests.

``generate_world(out, seed)`` writes:
- ``inbox/``: passport and ID-card images with valid MRZs (some with noise, blur or rotation)
  and utility-bill images, as a customer would upload them;
- ``transactions.csv``: the canonical transaction schema, ordinary activity plus planted,
  labelled typologies;
- ``customers.csv``: the ground truth of the synthetic customers;
- ``labels.json``: what was planted (customers bearing OFAC-listed names, typology accounts).
Everything is a function of the seed; a few customers deliberately bear names from the bundled
OFAC SDN subset with realistic variations (a dropped middle name, a typo, swapped order).
"""

from __future__ import annotations

import csv
import json
import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

GIVEN = ["James", "Maria", "Olivia", "Lucas", "Sofia", "Noah", "Emma", "Liam", "Amelia", "Mateo", "Isabel",
         "Hugo", "Clara", "Jonas", "Elena", "Tomas", "Laura", "Felix", "Nora", "Oscar", "Ines", "Paul", "Ana", "Leo"]
SURNAMES = ["Smith", "Garcia", "Muller", "Rossi", "Dubois", "Novak", "Jansen", "Silva", "Kowalski", "Nielsen",
            "Moreau", "Fischer", "Costa", "Lindqvist", "Horvat", "Brennan", "Okafor", "Tanaka", "Haddad", "Petrov"]
STREETS = ["High Street", "Station Road", "Church Lane", "Park Avenue", "Mill Road", "King Street", "Elm Grove"]
CITIES = [("London", "GBR"), ("Dublin", "IRL"), ("Lisbon", "PRT"), ("Berlin", "DEU"), ("Madrid", "ESP"),
          ("Utopia City", "UTO")]
ISSUERS = ["Northern Power & Light", "City Water Services", "Metro Gas Supply"]
TRANSACTIONS_START = date(2026, 9, 1)
TRANSACTIONS_DAYS = 60
# Documents are judged against this day so that the world does not age (expiry, century rules).
WORLD_TODAY = date(2026, 11, 1)


@dataclass
class Customer:
    customer_id: str
    given_names: str
    surname: str
    date_of_birth: date
    sex: str
    nationality: str
    document_type: str
    document_number: str
    expiry_date: date
    address: str
    account_id: str
    ofac_entity_id: str | None = None


def _name_parts(text: str) -> list[str]:
    return re.sub(r"[^A-Za-z ]", " ", text).split()


def _listed_people(rng: random.Random, count: int) -> list[tuple[str, str, str, date | None]]:
    """Pick OFAC-listed individuals with a full date of birth and a plain 'LAST, First' name."""
    from kyc_assets.watchlists.sources import default_watchlist_path, load_watchlist

    entries = load_watchlist(default_watchlist_path()).entries
    people = []
    for e in entries:
        if e.entity_type != "person" or not e.dates_of_birth:
            continue
        dob = next((d for d in e.dates_of_birth if len(d) == 10), None)
        parts = _name_parts(e.primary_name)
        if dob and 2 <= len(parts) <= 4 and all(len(p) >= 3 for p in parts) and any(p.isupper() for p in parts) \
                and not all(p.isupper() for p in parts):
            people.append((e.entity_id, parts, dob))
    people.sort(key=lambda p: p[0])
    chosen = rng.sample(people, count)
    result = []
    for entity_id, parts, dob in chosen:
        # OFAC writes 'LAST NAMES, Given Names'; the loader displays it as 'Given Names LAST NAMES'.
        surname = [p for p in parts if p.isupper()] or parts[-1:]
        given = [p for p in parts if p not in surname]
        result.append((entity_id, " ".join(given), " ".join(surname), date.fromisoformat(dob)))
    return result


def _vary(rng: random.Random, given: str, surname: str, kind: str) -> tuple[str, str]:
    """Realistic variations a customer record shows against the listed name."""
    if kind == "drop_middle" and len(given.split()) > 1:
        return given.split()[0], surname
    if kind == "typo" and len(surname) > 4:
        i = rng.randrange(1, len(surname) - 1)
        return given, surname[:i] + surname[i + 1] + surname[i] + surname[i + 2:]
    return given, surname


def _customers(rng: random.Random, n: int, listed: list) -> list[Customer]:
    customers = []
    variations = ["exact", "drop_middle", "typo"]
    for i in range(n):
        sex = rng.choice("MF")
        city, country = rng.choice(CITIES)
        address = f"{rng.randint(1, 220)} {rng.choice(STREETS)}\n{city}"
        dob = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 52))
        given, surname, ofac_id = rng.choice(GIVEN), rng.choice(SURNAMES), None
        if i < len(listed):
            ofac_id, lgiven, lsurname, ldob = listed[i]
            given, surname = _vary(rng, lgiven.title(), lsurname.title(), variations[i % len(variations)])
            dob = ldob or dob
        doc_type = "id_card" if i % 3 == 2 else "passport"
        customers.append(Customer(
            customer_id=f"CUST-{i + 1:04d}", given_names=given, surname=surname, date_of_birth=dob, sex=sex,
            nationality=country, document_type=doc_type,
            document_number=f"{rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}{rng.randint(10_000_000, 99_999_999)}",
            expiry_date=WORLD_TODAY + timedelta(days=rng.randrange(200, 3000)), address=address,
            account_id=f"ACC{i + 1:06d}", ofac_entity_id=ofac_id))
    return customers


def _malformed_rows(tx: pd.DataFrame) -> pd.DataFrame:
    """A handful of rows that break the canonical schema, as real extracts do; they must be
    quarantined with their reason, never dropped and never fail the batch."""
    bad = []
    for i, (column, value) in enumerate([("timestamp", "31/09/2026 25:61"), ("amount", "-250.00"),
                                         ("amount", "abc"), ("currency", "XXQ"), ("sender_account", ""),
                                         ("channel", "carrier_pigeon")]):
        base = tx.iloc[(2 * i + 1) * len(tx) // 14].to_dict()  # spread over the period, not one day
        bad.append({**base, "transaction_id": f"BAD{i + 1:05d}", column: value})
    bad.append(tx.iloc[len(tx) - 1].to_dict())  # a duplicate of an existing transaction id
    return pd.DataFrame(bad, columns=tx.columns)


def generate_world(out: Path | str, *, seed: int = 7, customers: int = 18, transactions: int = 20_000,
                   listed: int = 3, accounts: int = 400) -> dict:
    """Write the sample world into ``out`` and return a summary of what was written."""
    from kyc_assets.sample_data.documents import render_id_card, render_passport, render_utility_bill
    from kyc_assets.sample_data.transactions import generate_transactions

    out = Path(out)
    rng = random.Random(seed)
    inbox = out / "inbox"
    (inbox / "identity").mkdir(parents=True, exist_ok=True)
    (inbox / "bills").mkdir(parents=True, exist_ok=True)
    people = _customers(rng, customers, _listed_people(rng, min(listed, customers)))
    distortions = [None, None, "noise", "blur", "rotate"]
    documents = 0
    for i, c in enumerate(people):
        person = {"surname": c.surname, "given_names": c.given_names, "date_of_birth": c.date_of_birth,
                  "sex": c.sex, "nationality": c.nationality, "issuing_country": c.nationality,
                  "document_number": c.document_number, "expiry_date": c.expiry_date, "address": c.address}
        render = render_id_card if c.document_type == "id_card" else render_passport
        image = render(person, distortion=distortions[i % len(distortions)], seed=seed + i)
        image.save(inbox / "identity" / f"{c.customer_id.lower()}_{c.document_type}.png")
        documents += 1
        if i % 2 == 0:
            bill = render_utility_bill(person, issuer=ISSUERS[i % len(ISSUERS)],
                                       issue_date=WORLD_TODAY - timedelta(days=rng.randrange(5, 60)), seed=seed + i)
            bill.save(inbox / "bills" / f"{c.customer_id.lower()}_bill.png")
            documents += 1

    account_ids = [c.account_id for c in people] + [f"ACC{i:06d}" for i in range(len(people) + 1, accounts + 1)]
    tx, typologies = generate_transactions(account_ids, n=transactions, start=TRANSACTIONS_START,
                                           days=TRANSACTIONS_DAYS, seed=seed)
    tx = pd.concat([tx, _malformed_rows(tx)], ignore_index=True)
    tx.to_csv(out / "transactions.csv", index=False)

    with open(out / "customers.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["customer_id", "full_name", "date_of_birth", "nationality", "document_type",
                         "document_number", "account_id"])
        for c in people:
            writer.writerow([c.customer_id, f"{c.given_names} {c.surname}", c.date_of_birth.isoformat(),
                             c.nationality, c.document_type, c.document_number, c.account_id])
    labels = {
        "seed": seed,
        "listed_customers": [{"customer_id": c.customer_id, "full_name": f"{c.given_names} {c.surname}",
                              "date_of_birth": c.date_of_birth.isoformat(), "ofac_entity_id": c.ofac_entity_id}
                             for c in people if c.ofac_entity_id],
        "typologies": typologies,
        "malformed_transaction_ids": ["BAD00001", "BAD00002", "BAD00003", "BAD00004", "BAD00005", "BAD00006",
                                      str(tx.iloc[-1]["transaction_id"])],
    }
    (out / "labels.json").write_text(json.dumps(labels, indent=1, default=str))
    return {"documents": documents, "customers": len(people), "transactions": len(tx),
            "planted_listed_customers": len(labels["listed_customers"]), "planted_typologies": len(typologies)}
