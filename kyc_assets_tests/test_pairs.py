"""The pair builder: alias positives, hard negatives and perturbations from the lists, split by entity."""

import random
from collections import Counter
from pathlib import Path

import pytest

from kyc_assets.screening import pairs as P
from kyc_assets.watchlists.model import WatchlistEntry

FIXTURES = Path(__file__).parent / "fixtures" / "watchlists"
BUNDLED = Path(__file__).parent.parent / "kyc_assets" / "data"


@pytest.fixture(scope="module")
def entries():
    return P.load_list_entries(BUNDLED, ["ofac"]) + P.load_list_entries(
        FIXTURES, ["un_consolidated_sample.xml", "uk_hmt_conlist_sample.csv", "eu_fsf_sample.xml"])


def test_split_is_by_entity_stable_and_about_one_in_five(entries):
    parts = Counter(P.split_of(e.entity_id) for e in entries)
    assert 0.1 < parts["held_out"] / len(entries) < 0.3
    assert all(P.split_of(e.entity_id) == P.split_of(e.entity_id) for e in entries[:50])


def test_pairs_never_cross_the_split(entries):
    for part, seed in (("train", P.TUNE_SEED), ("held_out", P.REPORT_SEED)):
        for pair in P.build_pairs(entries, part, seed):
            assert P.split_of(pair.query_entity) == part
            if pair.label == 0 and ":" in pair.candidate_entity and not pair.candidate_entity.endswith(
                    (":other", ":sibling")):
                assert P.split_of(pair.candidate_entity) == part


def test_positives_are_names_of_one_entity_and_negatives_of_two(entries):
    pairs = P.build_pairs(entries, "train", P.TUNE_SEED)
    by_id = {e.entity_id: {n for n, _ in e.names()} for e in entries}
    kinds = Counter(p.kind for p in pairs)
    assert kinds["alias"] and kinds["weak_alias"] and kinds["hard_neg_token"] and kinds["perturbed_initials"]
    for p in pairs:
        if p.kind in ("alias", "weak_alias", "original_script", "former_name"):
            assert p.label == 1 and {p.query, p.candidate} <= by_id[p.query_entity]
        if p.kind.startswith("hard_neg_") and p.kind not in ("hard_neg_other_form", "hard_neg_sibling"):
            assert p.label == 0 and p.query_entity != p.candidate_entity
            assert p.query in by_id[p.query_entity] and p.candidate in by_id[p.candidate_entity]


def test_original_script_aliases_become_script_pairs(entries):
    rng = random.Random(1)
    script = [p for p in P.alias_pairs(entries, rng, per_entity=50) if p.kind == "original_script"]
    assert script and all(p.group == "script" for p in script)


def test_seeds_give_different_but_reproducible_pairs(entries):
    a = [p.as_row() for p in P.build_pairs(entries, "train", 5)]
    b = [p.as_row() for p in P.build_pairs(entries, "train", 5)]
    c = [p.as_row() for p in P.build_pairs(entries, "train", 6)]
    assert a == b and a != c


@pytest.mark.parametrize("kind", P.PERTURBATION_KINDS)
def test_each_perturbation_changes_the_name(kind):
    entry = WatchlistEntry("t:1", "test", "person", "AL-RAHMAN, Abdulkarim Mohammad Yousef")
    rng = random.Random(3)
    outs = {P.perturb(entry, entry.primary_name, kind, rng) for _ in range(20)} - {None}
    assert outs and all(o != "Abdulkarim Mohammad Yousef AL-RAHMAN" for o in outs)


def test_initials_keep_the_surname():
    entry = WatchlistEntry("t:1", "test", "person", "KHAN, Mohammad Ali")
    rng = random.Random(0)
    for _ in range(20):
        out = P.perturb(entry, entry.primary_name, "initials", rng)
        assert out.endswith("KHAN") and out.split()[0].rstrip(".") in ("M", "Mohammad")


def test_perturbed_queries_per_kind(entries):
    queries = P.perturbed_queries(entries, random.Random(9), per_kind=20)
    counts = Counter(q["kind"] for q in queries)
    assert set(counts) == set(P.PERTURBATION_KINDS) and max(counts.values()) <= 20


def test_script_negatives_pair_an_original_script_name_with_another_entitys_latin_name(entries):
    from kyc_assets.watchlists.model import is_latin

    pairs = P.script_negatives(entries, random.Random(3))
    by_id = {e.entity_id: {n for n, _ in e.names()} for e in entries}
    assert pairs
    for p in pairs:
        assert p.label == 0 and p.kind == "hard_neg_script" and p.group == "script"
        assert p.query_entity != p.candidate_entity
        assert p.query in by_id[p.query_entity] and p.candidate in by_id[p.candidate_entity]
        assert is_latin(p.query) != is_latin(p.candidate)
