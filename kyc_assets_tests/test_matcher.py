"""Tests for fuzzy name scoring and the indexed Screener, against the bundled OFAC subset."""

import random
import time

import pytest

from kyc_assets.screening.matcher import (
    DEFAULT_THRESHOLD,
    MATCH_THRESHOLD,
    Hit,
    Screener,
    score_pair,
    token_similarity,
)
from kyc_assets.watchlists.model import WatchlistEntry
from kyc_assets.watchlists.sources import load_watchlist


@pytest.fixture(scope="module")
def bundled():
    return load_watchlist().entries


@pytest.fixture(scope="module")
def screener(bundled):
    return Screener(bundled)


def test_thresholds_are_ordered():
    assert 0 < DEFAULT_THRESHOLD < MATCH_THRESHOLD < 1


@pytest.mark.parametrize(
    "query, candidate",
    [
        ("Ayman al Zawahri", "AL ZAWAHIRI, Dr. Ayman"),  # typo (missing letter)
        ("Zawahiri Ayman", "AL ZAWAHIRI, Dr. Ayman"),  # swapped order, particle missing
        ("Jorge Cifuentes Villa", "CIFUENTES VILLA, Jorge Milton"),  # missing middle name
        ("Saddam Husain al Tikriti", "Saddam Hussein AL-TIKRITI"),  # transliteration variant
        ("Mohammed Husayn Fadlallah", "FADLALLAH, Shaykh Muhammad Husayn"),
        ("Dzhorge Milton Sifuentes Vila", "CIFUENTES VILLA, Jorge Milton"),
        ("Владимир Путин", "PUTIN, Vladimir"),  # Cyrillic input
    ],
)
def test_variants_score_above_default_threshold(query, candidate):
    assert score_pair(query, candidate) >= DEFAULT_THRESHOLD


@pytest.mark.parametrize(
    "query, candidate",
    [
        ("John Smith", "AL ZAWAHIRI, Dr. Ayman"),
        ("Maria Garcia", "CIFUENTES VILLA, Jorge Milton"),
        ("Anna Kowalski", "Saddam Hussein AL-TIKRITI"),
        ("Smith", "John Smith Jones"),
    ],
)
def test_unrelated_names_score_below_default_threshold(query, candidate):
    assert score_pair(query, candidate) < DEFAULT_THRESHOLD


def test_score_pair_bounds_and_symmetry_of_exact():
    assert score_pair("Saddam Hussein", "HUSSEIN, Saddam") == pytest.approx(1.0)
    assert score_pair("", "Saddam Hussein") == 0.0
    assert 0.0 <= score_pair("xq", "Saddam Hussein") <= 1.0


def test_token_similarity_uses_sound_and_transliteration():
    assert token_similarity("hussein", "husain") > 0.85
    assert token_similarity("mohammed", "muhammad") > 0.85
    assert token_similarity("dzhamal", "jamal") > 0.9
    assert token_similarity("tanaka", "teng") < 0.8


@pytest.mark.parametrize(
    "query",
    ["Ayman al Zawahri", "Zawahiri, Ayman", "Saddam Husain al-Tikriti", "Jorge Cifuentes Villa"],
)
def test_screen_finds_listed_party(screener, query):
    hits = screener.screen(query)
    assert hits and isinstance(hits[0], Hit)
    assert hits[0].score >= DEFAULT_THRESHOLD
    assert hits[0].decision in ("match", "potential_match")
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize("query", ["John Smith", "Emma Johansson", "Peter Jensen", "Thomas Miller"])
def test_screen_common_unlisted_names_give_no_hits(screener, query):
    assert screener.screen(query) == []


def test_exact_name_is_a_match_with_explanation(screener):
    (hit, *_) = screener.screen("Saddam Hussein AL-TIKRITI", entity_type="person")
    assert hit.entity_id and hit.list_source == "us_ofac_sdn"
    assert hit.decision == "match" and hit.score >= MATCH_THRESHOLD
    assert hit.explanation.startswith("name tokens 4/4 aligned")


def test_fuzzy_explanation_names_the_token_pair(screener):
    (hit, *_) = screener.screen("Saddam Husain al Tikriti")
    assert "hussein~husain" in hit.explanation or "husain~hussein" in hit.explanation


def _entry(entity_type="person", dobs=(), nats=()):
    return WatchlistEntry("t:1", "test", entity_type, "Ivan PETROV", dates_of_birth=list(dobs),
                          nationalities=list(nats))


def test_secondary_attributes_move_the_score():
    screener = Screener([_entry(dobs=["1960-05-01"], nats=["RU"])])
    base = screener.screen("Ivan Petrov", threshold=0)[0].score
    exact = screener.screen("Ivan Petrov", date_of_birth="1960-05-01", threshold=0)[0]
    year = screener.screen("Ivan Petrov", date_of_birth="1960", threshold=0)[0]
    wrong = screener.screen("Ivan Petrov", date_of_birth="1985-02-03", threshold=0)[0]
    nat = screener.screen("Ivan Petrov", nationality="Russia", threshold=0)[0]
    vessel = screener.screen("Ivan Petrov", entity_type="vessel", threshold=0)[0]
    assert exact.score >= year.score >= base > wrong.score
    assert exact.score > wrong.score + 0.1
    assert "DOB matches" in exact.explanation and "DOB year matches" in year.explanation
    assert "DOB differs" in wrong.explanation and "nationality matches" in nat.explanation
    assert vessel.score < base - 0.1 and "entity type mismatch" in vessel.explanation


def test_missing_or_date_typed_attributes_are_accepted():
    import datetime

    screener = Screener([_entry(dobs=["1960-05-01"], nats=["RU"])])
    hit = screener.screen("Ivan Petrov", date_of_birth=datetime.date(1960, 5, 1), nationality=float("nan"))[0]
    assert "DOB matches" in hit.explanation and "nationality" not in hit.explanation


def test_weak_alias_counts_less():
    entry = WatchlistEntry("t:2", "test", "person", "Ousmane DJIBO", aliases=[("Petit CHAPORI", "weak_aka")])
    hit = Screener([entry]).screen("Petit Chapori", threshold=0)[0]
    assert hit.score < 1.0 and "weak alias" in hit.explanation


def test_index_finds_everything_brute_force_finds(screener, bundled):
    rng = random.Random(7)
    sample = rng.sample([e for e in bundled if e.entity_type in ("person", "organization")], 25)
    queries = []
    for e in sample:
        name = e.primary_name
        i = rng.randrange(1, max(2, len(name) - 1))
        queries.append(name[:i] + name[i + 1:])  # one deleted character
    queries += ["Mohammed Hussein", "Ali Hassan", "Juan Carlos Lopez", "Korea Trading"]
    for query in queries:
        brute = set()
        for item in screener.names:
            if screener.score_name(query, item.tokens).score >= DEFAULT_THRESHOLD:
                brute.add(screener.entries[item.entry].entity_id)
        found = {h.entity_id for h in screener.screen(query, limit=10_000)}
        assert brute <= found, (query, brute - found)


def test_screen_many_flattens_hits(screener):
    rows = [{"row_id": "c1", "name": "Ayman al Zawahri", "date_of_birth": "1951-06-19"},
            {"row_id": "c2", "name": "John Smith"}]
    out = screener.screen_many(rows)
    assert out and {r["row_id"] for r in out} == {"c1"}
    assert out[0]["entity_id"] == "us_ofac_sdn:2676" and "DOB matches" in out[0]["explanation"]


def test_screening_a_few_hundred_names_completes(screener, bundled):
    names = [e.primary_name for e in bundled[:300]]
    start = time.perf_counter()
    found = sum(1 for n in names if screener.screen(n))
    elapsed = time.perf_counter() - start
    print(f"screened {len(names)} names in {elapsed:.2f}s ({len(names) / elapsed:.0f} names/s)")
    assert found == len(names)  # every listed name finds at least its own entry
