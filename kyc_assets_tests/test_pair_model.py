"""The pair model: shipped JSON, probabilities with explanations, initials, acronyms, companies, titles, scripts."""

import json
import math
from pathlib import Path

import pytest

from kyc_assets.screening import train_pair_model
from kyc_assets.screening.matcher import (
    DEFAULT_THRESHOLD,
    Screener,
    pair_features,
    pair_score,
    score_pair,
)
from kyc_assets.screening.normalize import normalize_name
from kyc_assets.screening.pair_model import FAMILIES, FEATURES, MODEL_PATH, legal_form_kinds, load_model
from kyc_assets.watchlists.model import WatchlistEntry
from kyc_assets.watchlists.sources import load_watchlist

FIXTURES = Path(__file__).parent / "fixtures" / "watchlists"
BUNDLED_OFAC = Path(__file__).parent.parent / "kyc_assets" / "data" / "ofac"


def test_shipped_model_is_json_with_every_feature_and_a_report():
    data = json.loads(MODEL_PATH.read_text())
    assert data["features"] == list(FEATURES) and set(data["families"]) == set(FAMILIES)
    for fam in data["families"].values():
        assert set(fam["coef"]) == set(FEATURES) and math.isfinite(fam["intercept"])
    report = (MODEL_PATH.parent / "TRAINING_REPORT.md").read_text()
    assert "Held-out pairs" in report and "Brier" in report and "| align |" in report
    assert load_model().version == data["version"]


def test_score_is_a_probability_and_the_explanation_is_coefficient_times_value():
    model = load_model()
    ns = pair_score("Saddam Husain al Tikriti", "Saddam Hussein AL-TIKRITI", "Person")
    x = pair_features(ns, "Saddam Husain al Tikriti", "Saddam Hussein AL-TIKRITI")
    fam = model.families["person"]
    z = fam.intercept + sum(c * v for c, v in zip(fam.coef, x, strict=True))
    assert ns.score == pytest.approx(1 / (1 + math.exp(-z)))
    assert 0.0 < ns.score < 1.0
    name, value = ns.contributions[0]
    assert value == pytest.approx(fam.coef[FEATURES.index(name)] * x[FEATURES.index(name)])
    assert "model: " in ns.describe() and score_pair("Saddam Husain al Tikriti", "Saddam Hussein AL-TIKRITI",
                                                     "Person") == ns.score


@pytest.fixture(scope="module")
def screener():
    extra = [WatchlistEntry("x:1", "test", "person", "KHAN, Mohammad Ali"),
             WatchlistEntry("x:2", "test", "organization", "ISLAMIC REPUBLIC OF IRAN SHIPPING LINES"),
             WatchlistEntry("x:3", "test", "organization", "PARS TRADE LINES", aliases=[("PTLX", "strong_aka")])]
    return Screener(load_watchlist().entries + extra)


@pytest.mark.parametrize("query", ["M. A. Khan", "M Khan", "Mohd A. Khan"])
def test_initials_are_retrieved_and_scored(screener, query):
    hits = screener.screen(query, threshold=0.2, limit=50)
    assert "x:1" in {h.entity_id for h in hits}


def test_an_initial_proves_less_than_a_name():
    full = score_pair("Mohammad Ali Khan", "Mohammad Ali Khan")
    two = score_pair("M. A. Khan", "Mohammad Ali Khan")
    one = score_pair("M Khan", "Mohammad Ali Khan")
    assert full > two >= DEFAULT_THRESHOLD > one
    assert score_pair("Mohd A. Khan", "Mohammad Ali Khan") >= DEFAULT_THRESHOLD


def test_acronyms_match_both_ways(screener):
    assert screener.screen("IRISL")[0].entity_id == "x:2"
    assert "acronym" in screener.screen("IRISL")[0].explanation
    assert "x:3" in {h.entity_id for h in screener.screen("Pars Trade Lines X", threshold=0.2, limit=50)}
    assert score_pair("IRISL", "Islamic Republic of Iran Shipping Lines", "Company") >= DEFAULT_THRESHOLD
    assert score_pair("IRIS", "Islamic Republic of Iran Shipping Lines", "Company") < DEFAULT_THRESHOLD


@pytest.mark.parametrize("query, candidate, same", [
    ("Joint Stock Company Rosoboronexport", "Rosoboronexport OAO", True),
    ("EMMA LLC", "EMMA CORP", False),
    ("Northgate Marine Supplies Ltd", "Northgate Marine Services Ltd", False),
])
def test_companies(query, candidate, same):
    assert (score_pair(query, candidate, "Company") >= DEFAULT_THRESHOLD) is same


def test_legal_form_kinds():
    assert legal_form_kinds("Joint Stock Company Rosoboronexport") == legal_form_kinds("Rosoboronexport OAO") \
        == frozenset({"joint_stock"})
    assert legal_form_kinds("EMMA LLC") != legal_form_kinds("EMMA CORP")
    assert legal_form_kinds("Ivan Petrov") == frozenset()


@pytest.mark.parametrize("raw", ["Président Vladimir Putin", "Presidente Vladimir Putin", "Sheikh Vladimir Putin",
                                 "Hajji Vladimir Putin", "General Vladimir Putin"])
def test_titles_in_many_languages_are_dropped(raw):
    assert normalize_name(raw, "person") == "vladimir putin"


def test_a_given_name_that_is_also_a_title_is_kept():
    assert normalize_name("Amir Khan", "person") == "amir khan"
    assert normalize_name("He Jiankui", "person") == "he jiankui"


@pytest.mark.parametrize("raw, expected", [
    ("नरेन्द्र मोदी", "narendra modi"),  # Devanagari: ICU keeps the inherent vowels
    ("タナカ ヒロシ", "tanaka hiroshi"),  # Japanese kana stay whole words
    ("王伟", "wang wei"),
])
def test_more_scripts(raw, expected):
    assert normalize_name(raw) == expected


@pytest.mark.parametrize("raw", ["សម រង្ស៊ី", "สมชาย ใจดี", "محسن حجتی"])
def test_other_scripts_transliterate_to_ascii_letters(raw):
    out = normalize_name(raw)
    assert out and out.replace(" ", "").isalpha() and out.isascii()


def test_arabic_script_names_align_with_their_romanisation():
    assert score_pair("صدام حسين", "Saddam HUSSEIN", "Person") >= DEFAULT_THRESHOLD


def test_training_entry_point_writes_a_loadable_model(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "ofac_sdn_2021-07-07_fullset").symlink_to(BUNDLED_OFAC)
    (data / "un_sc_consolidated_2026-02-27.xml").symlink_to(FIXTURES / "un_consolidated_sample.xml")
    out = tmp_path / "model"
    assert train_pair_model.main(["--data", str(data), "--out", str(out), "--customers", "200"]) == 0
    model = load_model.__wrapped__(str(out / "pair_model.json"))
    assert set(model.families) == set(FAMILIES) and model.rarity_names > 1000
    assert "Held-out pairs" in (out / "TRAINING_REPORT.md").read_text()
