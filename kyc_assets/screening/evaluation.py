"""Evaluation of the screening matcher: labelled name pairs, misspelt listed names, ordinary customers.

Three measurements, all at a given threshold (default: the product's DEFAULT_THRESHOLD):

- ``pair_metrics``: accuracy, recall and false-positive rate of ``score_pair`` on labelled pairs
  (kyc_assets_tests/fixtures/screening_eval/name_pairs.csv: transliterations, typos, reordered
  and partial names, nicknames, legal forms, scripts, and hard negatives);
- ``misspelt_recall``: share of listed names, misspelt with seeded edits, whose own entry is hit
  when screened against the whole list;
- ``customer_false_hits``: hits per 1,000 synthetic ordinary customers (names drawn from
  common given names and surnames of many countries) screened against the whole list.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from kyc_assets.screening.matcher import DEFAULT_THRESHOLD, Screener, score_pair
from kyc_assets.watchlists.model import WatchlistEntry

GIVEN_NAMES = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen", "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony", "Margaret", "Mark", "Sandra", "Emma", "Olivia", "Noah", "Liam", "Sophie", "Lukas", "Anna", "Felix", "Lea", "Jonas", "Hannah", "Pierre", "Camille", "Louis", "Chloe", "Lucas", "Manon", "Hugo", "Sofia", "Mateo", "Lucia", "Martin", "Paula", "Pablo", "Carmen", "Alejandro", "Giulia", "Francesco", "Chiara", "Lorenzo", "Jakub", "Zuzanna", "Piotr", "Agnieszka", "Lars", "Ingrid", "Erik", "Astrid", "Sven", "Freya", "Wei", "Fang", "Lei", "Jing", "Hiroshi", "Yuki", "Haruto", "Sakura", "Raj", "Priya", "Arjun", "Ananya", "Rahul", "Deepa", "Oluwaseun", "Chinedu", "Amara", "Kwame", "Ama", "Thabo", "Zanele", "Mehmet", "Ayse", "Emre", "Elif", "Dmitri", "Olga", "Ivan", "Elena", "Ahmed", "Fatima", "Omar", "Layla", "Youssef", "Mariam", "Nguyen", "Linh", "Minh", "Thi", "Carlos", "Ana", "Jose", "Juan", "Maria", "Luis", "Gabriela", "Diego"]
SURNAMES = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Dubois", "Durand", "Lefebvre", "Moreau", "Laurent", "Simon", "Michel", "Garcia", "Fernandez", "Gonzalez", "Rodriguez", "Lopez", "Martinez", "Sanchez", "Perez", "Gomez", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Nowak", "Kowalski", "Wisniewski", "Wojcik", "Kaminski", "Hansen", "Johansen", "Larsen", "Andersson", "Nilsson", "Eriksson", "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Sato", "Suzuki", "Takahashi", "Tanaka", "Sharma", "Patel", "Singh", "Kumar", "Gupta", "Okafor", "Adeyemi", "Mensah", "Nkosi", "Dlamini", "Yilmaz", "Kaya", "Demir", "Sahin", "Ivanov", "Smirnov", "Kuznetsov", "Popov", "Sokolov", "Haddad", "Nasser", "Khalil", "Mansour", "Tran", "Le", "Pham", "Silva", "Santos", "Oliveira", "Souza", "Costa", "Pereira"]


def load_pairs(path: str | Path) -> list[dict]:
    """Labelled pairs (query, candidate, schema, label 0/1, category) from a CSV file."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["label"] = int(row["label"])
    return rows


def pair_metrics(pairs: list[dict], threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Accuracy, recall, false-positive rate and the misclassified pairs at ``threshold``."""
    tp = fp = tn = fn = 0
    errors = []
    for row in pairs:
        score = score_pair(row["query"], row["candidate"], row.get("schema") or None)
        predicted = score >= threshold
        if predicted and row["label"]:
            tp += 1
        elif predicted:
            fp += 1
            errors.append((row["query"], row["candidate"], row["category"], round(score, 3)))
        elif row["label"]:
            fn += 1
            errors.append((row["query"], row["candidate"], row["category"], round(score, 3)))
        else:
            tn += 1
    n = max(tp + fp + tn + fn, 1)
    return {"threshold": threshold, "pairs": tp + fp + tn + fn, "accuracy": round((tp + tn) / n, 4),
            "recall": round(tp / max(tp + fn, 1), 4), "false_positive_rate": round(fp / max(fp + tn, 1), 4),
            "precision": round(tp / max(tp + fp, 1), 4), "errors": errors}


def threshold_sweep(pairs: list[dict], thresholds: Iterable[float]) -> list[dict]:
    """``pair_metrics`` (without the error list) at each threshold, to choose the operating point."""
    return [{k: v for k, v in pair_metrics(pairs, t).items() if k != "errors"} for t in thresholds]


def misspell(name: str, rng: random.Random, edits: int = 1) -> str:
    """The name with ``edits`` seeded character edits (deletion, substitution, transposition, insertion)
    inside its longest part, as a clerk's typo would."""
    parts = name.split()
    if not parts:
        return name
    k = max(range(len(parts)), key=lambda i: len(parts[i]))
    word = parts[k]
    for _ in range(edits):
        if len(word) < 4:
            break
        i = rng.randrange(1, len(word) - 1)
        op = rng.randrange(4)
        if op == 0:
            word = word[:i] + word[i + 1:]
        elif op == 1:
            word = word[:i] + rng.choice("aeiouhnrstl") + word[i + 1:]
        elif op == 2:
            word = word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]
        else:
            word = word[:i] + rng.choice("aeiouhnrstl") + word[i:]
    parts[k] = word
    return " ".join(parts)


def misspelt_recall(screener: Screener, entries: list[WatchlistEntry], n: int = 500, seed: int = 1,
                    threshold: float | None = None) -> dict:
    """Recall of misspelt listed person and organisation names: the listed entry must be among the hits."""
    rng = random.Random(seed)
    pool = [e for e in entries if e.entity_type in ("person", "organization") and len(e.primary_name) >= 8]
    sample = rng.sample(pool, min(n, len(pool)))
    found = 0
    missed = []
    for entry in sample:
        query = misspell(entry.primary_name, rng, edits=1 + (rng.random() < 0.3))
        hits = screener.screen(query, threshold=threshold, limit=50)
        if any(h.entity_id == entry.entity_id for h in hits):
            found += 1
        else:
            missed.append((query, entry.primary_name))
    return {"queries": len(sample), "recall": round(found / max(len(sample), 1), 4), "missed": missed[:20]}


def ordinary_customers(n: int, seed: int = 2, *, given_names: list[str] | None = None,
                       surnames: list[str] | None = None) -> list[str]:
    """Synthetic ordinary customer names: given name, optional second given name, surname
    (from the evaluation's name pools unless others are given)."""
    given_pool, surname_pool = given_names or GIVEN_NAMES, surnames or SURNAMES
    rng = random.Random(seed)
    names = []
    for _ in range(n):
        given = rng.choice(given_pool)
        if rng.random() < 0.25:
            given += " " + rng.choice(given_pool)
        names.append(f"{given} {rng.choice(surname_pool)}")
    return names


def customer_false_hits(screener: Screener, n: int = 2_000, seed: int = 2, threshold: float | None = None) -> dict:
    """Hits per 1,000 ordinary customers (each customer with at least one hit counts once)."""
    names = ordinary_customers(n, seed)
    flagged = Counter()
    for name in names:
        hits = screener.screen(name, entity_type="person", threshold=threshold, limit=1)
        if hits:
            flagged[(name, hits[0].matched_name, hits[0].score)] += 1
    count = sum(flagged.values())
    return {"customers": n, "customers_with_hits": count, "per_1000": round(1000 * count / max(n, 1), 3),
            "examples": [k for k, _ in flagged.most_common(10)]}


# ---- held-out figures on pairs and queries built from the lists (see ``pairs.py``) -----------------
def pair_figures(pairs: list, score=None, threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Accuracy overall, by group (person/company/script/other) and by pair kind of ``score(query,
    candidate, schema)`` (default: ``score_pair``) on ``pairs.Pair`` objects at ``threshold``;
    also recall and false-positive rate overall."""
    score = score or score_pair
    by: dict[str, list[bool]] = {}
    tp = fp = fn = tn = 0
    for p in pairs:
        predicted = score(p.query, p.candidate, p.schema) >= threshold
        ok = predicted == bool(p.label)
        for key in ("all", "group:" + p.group, "kind:" + p.kind):
            by.setdefault(key, []).append(ok)
        tp += predicted and p.label == 1
        fp += predicted and p.label == 0
        fn += (not predicted) and p.label == 1
        tn += (not predicted) and p.label == 0
    out = {k: round(sum(v) / len(v), 4) for k, v in sorted(by.items())}
    out.update(pairs=len(pairs), recall=round(tp / max(tp + fn, 1), 4),
               false_positive_rate=round(fp / max(fp + tn, 1), 4))
    return out


def perturbed_recall(screener: Screener, queries: list[dict], threshold: float | None = None) -> dict:
    """Right-entity recall of perturbed listed names (``pairs.perturbed_queries``), by perturbation kind:
    'in_hits' when the listed entity is among the hits, 'top1' when it is the best hit."""
    found: dict[str, list[tuple[bool, bool]]] = {}
    for q in queries:
        hits = screener.screen(q["query"], threshold=threshold, limit=20)
        ids = [h.entity_id for h in hits]
        found.setdefault(q["kind"], []).append((q["entity_id"] in ids, bool(ids) and ids[0] == q["entity_id"]))
    out = {}
    for kind, rows in sorted(found.items()):
        out[kind] = round(sum(a for a, _ in rows) / len(rows), 4)
        out[kind + "_top1"] = round(sum(b for _, b in rows) / len(rows), 4)
    allrows = [r for rows in found.values() for r in rows]
    out["all"] = round(sum(a for a, _ in allrows) / max(len(allrows), 1), 4)
    out["queries"] = len(allrows)
    return out


def exact_and_typo_recall(screener: Screener, entries: list[WatchlistEntry], n: int = 1_000, seed: int = 1,
                          threshold: float | None = None) -> dict:
    """Recall of listed Latin-script names screened as written ('exact') and with 1-2 seeded typos
    ('typo'), sampled from ``entries`` (the held-out part): the entry must be among the hits."""
    from kyc_assets.watchlists.model import is_latin

    rng = random.Random(seed)
    pool = [(e, n_) for e in entries if e.entity_type in ("person", "organization")
            for n_, k in e.names() if k != "weak_aka" and is_latin(n_) and len(n_) >= 6]
    sample = rng.sample(pool, min(n, len(pool)))
    exact = typo = 0
    missed = []
    for entry, name in sample:
        if any(h.entity_id == entry.entity_id for h in screener.screen(name, threshold=threshold, limit=50)):
            exact += 1
        else:
            missed.append(("exact", name))
        query = misspell(name, rng, edits=1 + (rng.random() < 0.3))
        if any(h.entity_id == entry.entity_id for h in screener.screen(query, threshold=threshold, limit=50)):
            typo += 1
        else:
            missed.append(("typo", query, name))
    k = max(len(sample), 1)
    return {"queries": len(sample), "exact": round(exact / k, 4), "typo": round(typo / k, 4), "missed": missed[:15]}
