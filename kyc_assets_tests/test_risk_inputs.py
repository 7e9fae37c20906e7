"""The rating's inputs gathered from the platform's tables, and the ratings-table helpers."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from kyc_assets.risk.inputs import ReferenceFileError, build_inputs, document_status, load_reference
from kyc_assets.risk.ratings import distribution_shift, unrated

AS_OF = date(2026, 12, 1)


def _customers() -> pd.DataFrame:
    rows = [("ok", "passport", "verified", []),
            ("mismatch", "passport", "needs_review", ["visual zone surname does not match the MRZ"]),
            ("engines", "id_card", "needs_review", ["MRZ engines disagree on the document number"]),
            ("nodoc", "utility_bill", "incomplete", []),
            ("checkdigit", "passport", "needs_review", []),
            ("expired", "passport", "needs_review", ["document expired"])]
    return pd.DataFrame([{"customer_id": c, "document_type": t, "kyc_status": s, "warnings": json.dumps(w),
                          "nationality": "GBR", "document_number": f"N-{c}", "expiry_date": "2030-01-01"}
                         for c, t, s, w in rows])


def test_document_quality_from_the_profile():
    status = dict(zip(_customers()["customer_id"], document_status(_customers()), strict=True))
    assert status == {"ok": "ok", "mismatch": "inconsistent", "engines": "extraction_disagreement",
                      "nodoc": "missing", "checkdigit": "extraction_disagreement", "expired": "ok"}


def test_screening_pep_class_reference_accounts_and_behaviour():
    customers = _customers()
    screening = pd.DataFrame([
        {"customer_id": "ok", "list_entity_id": "P-GB", "hit_type": "pep", "decision": "match", "suppressed": False},
        {"customer_id": "mismatch", "list_entity_id": "P-FR", "hit_type": "pep", "decision": "potential_match",
         "suppressed": False},
        {"customer_id": "mismatch", "list_entity_id": "P-GB", "hit_type": "pep", "decision": "match",
         "suppressed": False},
        {"customer_id": "engines", "list_entity_id": "P-INT", "hit_type": "pep", "decision": "match",
         "suppressed": False},
        {"customer_id": "engines", "list_entity_id": "S-1", "hit_type": "sanctions", "decision": "match",
         "suppressed": True},
        {"customer_id": "checkdigit", "list_entity_id": "S-2", "hit_type": "sanctions",
         "decision": "potential_match", "suppressed": False},
        {"customer_id": "expired", "list_entity_id": None, "hit_type": None, "decision": "no_match",
         "suppressed": False}])
    entries = pd.DataFrame([{"entity_id": "P-GB", "nationalities": '["United Kingdom"]', "topics": '["role.pep"]'},
                            {"entity_id": "P-FR", "nationalities": '["FR"]', "topics": '["role.pep"]'},
                            {"entity_id": "P-INT", "nationalities": "[]", "topics": '["role.pep.intl"]'}])
    reference = pd.DataFrame([
        {"customer_id": None, "document_number": "N-ok", "account_id": "A1", "customer_type": "company",
         "onboarding_channel": "remote", "residence_country": "DE", "account_opened": "2020-05-01"},
        {"customer_id": "expired", "document_number": None, "account_id": "A2", "customer_type": None,
         "onboarding_channel": None, "residence_country": None, "account_opened": None},
        {"customer_id": "expired", "document_number": None, "account_id": "A3", "customer_type": None,
         "onboarding_channel": None, "residence_country": None, "account_opened": None}])
    scores = pd.DataFrame([
        {"account_id": "A1", "as_of_date": "2026-11-20", "risk_score": 0.4, "alert": False, "triggered_rules": ""},
        {"account_id": "A2", "as_of_date": "2026-11-25", "risk_score": 0.9, "alert": True,
         "triggered_rules": "structuring;dormant_reactivation"},
        {"account_id": "A3", "as_of_date": "2026-11-26", "risk_score": 0.7, "alert": True, "triggered_rules": "fan_in"},
        {"account_id": "A3", "as_of_date": "2026-06-01", "risk_score": 0.99, "alert": True,  # outside the lookback
         "triggered_rules": "cycle"}])
    tx = pd.DataFrame([
        {"timestamp": "2026-11-20T10:00:00", "sender_account": "A1", "receiver_account": "Z", "sender_country": "GB",
         "receiver_country": "IR"},
        {"timestamp": "2025-01-02T10:00:00", "sender_account": "Q", "receiver_account": "A2", "sender_country": "KE",
         "receiver_country": "GB"}])
    media = pd.DataFrame([{"customer_id": "ok", "status": "article"}, {"customer_id": "ok", "status": "article"},
                          {"customer_id": "mismatch", "status": "no_articles"},
                          {"customer_id": "engines", "status": "disabled"}])
    out = build_inputs(customers, screening, as_of=AS_OF, home_country="GB", watchlist_entries=entries,
                       adverse_media=media, reference=reference, anomaly_scores=scores, transactions=tx,
                       confirmed={"nodoc": {"sanctions": True, "pep": False, "case_ids": ["CASE-1"]}}
                       ).set_index("customer_id")
    assert out.loc["ok", "pep_class"] == "domestic" and out.loc["ok", "is_pep"] is True
    assert out.loc["mismatch", "pep_class"] == "foreign"  # the foreign hit outranks the domestic one
    assert out.loc["engines", "pep_class"] == "international_organisation"
    assert out.loc["engines", "sanctions_status"] == "suppressed"
    assert out.loc["checkdigit", "sanctions_status"] == "potential" and out.loc["checkdigit", "open_potential_matches"] == 1
    assert out.loc["nodoc", "sanctions_status"] == "confirmed"  # from the case store, screened or not
    assert out.loc["expired", "sanctions_status"] == "none" and out.loc["expired", "is_pep"] is False
    assert list(out.loc["ok", ["customer_type", "onboarding_channel", "residence_country", "account_opened"]]) == \
        ["company", "remote", "DE", "2020-05-01"]
    assert out.loc["mismatch", "customer_type"] == "person" and not out.loc["mismatch", "has_account"]
    assert out.loc["ok", "corridor_countries"] == "IR" and out.loc["ok", "anomaly_max_score"] == 0.4
    assert out.loc["expired", "anomaly_max_score"] == 0.9 and out.loc["expired", "typology_alerts"] == 2
    assert out.loc["expired", "reactivated"] and not out.loc["ok", "reactivated"]
    assert out.loc["expired", "last_activity"] == "2025-01-02"  # older than the lookback: dormant
    assert out.loc["expired", "account_opened"] == "2025-01-02"  # first activity when the file has no date
    assert out.loc["ok", "adverse_media"] == "found" and out.loc["mismatch", "adverse_media"] == "none"
    assert out.loc["engines", "adverse_media"] == "not_enabled"


def test_reference_file_errors_are_one_line(tmp_path):
    assert len(load_reference(tmp_path / "absent.csv")) == 0
    bad = tmp_path / "ref.csv"
    bad.write_text("account_id,role\nA1,merchant\n")
    with pytest.raises(ReferenceFileError, match="needs a customer_id or document_number column"):
        load_reference(bad)


def test_tier_distribution_shift_reports_the_numbers():
    before = {"low": 80, "medium": 15, "high": 5, "prohibited": 0}
    ok, info = distribution_shift(before, {"low": 78, "medium": 16, "high": 6, "prohibited": 0})
    assert ok and info["compared"]
    ok, info = distribution_shift(before, {"low": 50, "medium": 45, "high": 5, "prohibited": 0})
    assert not ok and info["jumped"] == ["low", "medium"] and info["share_change"]["medium"] == 0.3
    ok, info = distribution_shift(before, {"low": 85, "medium": 15, "high": 0, "prohibited": 0})
    assert not ok and info["collapsed"] == ["high"]
    assert distribution_shift(None, before)[0] and distribution_shift({"low": 3}, before)[1]["compared"] is False


def test_unrated_counts_customers_without_a_valid_tier():
    ratings = pd.DataFrame({"customer_id": ["a", "b"], "tier": ["low", "bogus"], "computed_tier": ["low", "low"]})
    assert unrated(pd.Series(["a", "b", "c"]), ratings) == 2
