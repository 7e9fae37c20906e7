"""The kyc_risk assets in-process: ratings from fixture upstream tables, checks, reviews due, impact report."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import pytest
import yaml

from kyc_assets.cases.escalation import CaseCandidate, Evidence
from kyc_assets.cases.store import CaseStore
from kyc_assets.risk.methodology import DEFAULT_COUNTRY_LISTS, DEFAULT_METHODOLOGY
from kyc_assets.risk.reviews_store import ReviewStore

TODAY = datetime.now(UTC).date().isoformat()
CUSTOMERS = pd.DataFrame([
    {"customer_id": "C-clean", "full_name": "A B", "nationality": "GBR", "document_type": "passport",
     "document_number": "P1", "expiry_date": "2034-01-01", "kyc_status": "verified", "warnings": "[]"},
    {"customer_id": "C-iran", "full_name": "C D", "nationality": "IRN", "document_type": "passport",
     "document_number": "P2", "expiry_date": "2034-01-01", "kyc_status": "verified", "warnings": "[]"},
    {"customer_id": "C-pep", "full_name": "E F", "nationality": "FRA", "document_type": "id_card",
     "document_number": "P3", "expiry_date": "2034-01-01", "kyc_status": "verified", "warnings": "[]"},
    {"customer_id": "C-listed", "full_name": "G H", "nationality": "DEU", "document_type": "passport",
     "document_number": "P4", "expiry_date": "2034-01-01", "kyc_status": "verified", "warnings": "[]"},
])


def _fixture_assets() -> list:
    @dg.asset(name="customers")
    def customers():
        return CUSTOMERS

    @dg.asset(name="screening_results")
    def screening_results():
        rows = [{"customer_id": c, "list_entity_id": None, "list_version": "v1", "hit_type": None,
                 "decision": "no_match", "suppressed": False, "score": 0.0} for c in ("C-clean", "C-iran")]
        rows.append({"customer_id": "C-pep", "list_entity_id": "PEP-1", "list_version": "v1", "hit_type": "pep",
                     "decision": "match", "suppressed": False, "score": 0.95})
        rows.append({"customer_id": "C-listed", "list_entity_id": "SDN-1", "list_version": "v1",
                     "hit_type": "sanctions", "decision": "match", "suppressed": False, "score": 0.97})
        return pd.DataFrame(rows)

    @dg.asset(name="watchlist_entries")
    def watchlist_entries():
        return pd.DataFrame([{"entity_id": "PEP-1", "nationalities": json.dumps(["FR"]),
                              "topics": json.dumps(["role.pep"])},
                             {"entity_id": "SDN-1", "nationalities": "[]", "topics": json.dumps(["sanction"])}])

    @dg.asset(name="anomaly_scores")
    def anomaly_scores():
        return pd.DataFrame([{"account_id": "A1", "as_of_date": pd.Timestamp(TODAY), "risk_score": 0.2,
                              "alert": False, "triggered_rules": ""}])

    @dg.asset(name="transactions")
    def transactions():
        return pd.DataFrame([{"timestamp": pd.Timestamp(TODAY, tz="UTC"), "sender_account": "A1",
                              "receiver_account": "X9", "sender_country": "GB", "receiver_country": "DE"}])

    @dg.asset(name="adverse_media_results")
    def adverse_media_results():  # never materialized here: adverse media reads as not enabled
        return pd.DataFrame({"customer_id": [], "status": []})

    return [customers, screening_results, watchlist_entries, anomaly_scores, transactions, adverse_media_results]


@pytest.fixture
def risk(kyc_env, monkeypatch, tmp_path):
    reference = tmp_path / "reference.csv"
    reference.write_text("customer_id,account_id,customer_type,onboarding_channel,residence_country,account_opened\n"
                         "C-clean,A1,person,in_person,GB,2015-01-01\n")
    monkeypatch.setenv("KYC_CUSTOMER_REFERENCE_PATH", str(reference))
    proposed = yaml.safe_load(DEFAULT_METHODOLOGY.read_text())
    proposed["version"] = "2027.1-draft"
    proposed["factors"]["nationality"]["values"]["call_for_action"] = 0.5
    proposed["hard_rules"] = [r for r in proposed["hard_rules"] if r["id"] != "call_for_action_country"]
    path = tmp_path / "proposed.yaml"
    path.write_text(yaml.safe_dump(proposed))
    monkeypatch.setenv("KYC_RISK_PROPOSED_METHODOLOGY", str(path))

    from kyc_assets.definitions import build_resources
    from kyc_assets.risk.assets import build_risk_assets
    from kyc_assets.settings import Settings

    settings = Settings.from_env()
    store = CaseStore(settings.database_url)
    # the listed customer's sanctions hit was confirmed by two analysts
    store.escalate([CaseCandidate("customer", "C-listed", [Evidence("screening_hit", 0.97, "sanctions match",
                                                                    {"hit_type": "sanctions"}, ("x",))])], sla_days=5)
    case_id = store.list_cases()[0]["case_id"]
    store.decide(case_id, decision="confirmed", reason="same person", analyst="ana")
    store.approve(case_id, analyst="bob")
    instance = dg.DagsterInstance.ephemeral()
    resources = build_resources(settings)
    assets = [*_fixture_assets(), *build_risk_assets(settings, start_date="2026-01-01")]

    def run(selection, partition_key=None):
        return dg.materialize(assets, selection=selection, resources=resources, instance=instance,
                              partition_key=partition_key)

    return run, settings, ReviewStore(store), instance


def _read(settings, table: str) -> pd.DataFrame:
    from kyc_assets.settings import warehouse

    return warehouse(settings).read(table)


def test_ratings_reviews_and_impact_on_fixture_upstream_tables(risk):
    run, settings, reviews, instance = risk
    result = run(["customers", "screening_results", "watchlist_entries", "anomaly_scores", "transactions",
                  "risk_country_lists", "customer_risk_ratings"])
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["every_customer_rated"] and checks["risk_tiers_valid"]
    assert checks["prohibited_customers_have_open_case"] and checks["tier_distribution_stable"]
    ratings = _read(settings, "customer_risk_ratings").set_index("customer_id")
    assert ratings.loc["C-clean", "tier"] == "low"
    assert ratings.loc["C-iran", "tier"] == "high" and "call_for_action_country" in ratings.loc["C-iran", "hard_rules"]
    assert ratings.loc["C-pep", "tier"] == "high" and ratings.loc["C-pep", "f_pep"] == "foreign"
    assert ratings.loc["C-listed", "tier"] == "prohibited" and ratings.loc["C-listed", "f_sanctions"] == "confirmed"
    assert ratings.loc["C-clean", "f_onboarding_channel"] == "in_person"
    assert ratings.loc["C-clean", "f_corridors"] == "standard" and ratings.loc["C-clean", "f_anomaly"] == "low"
    versions = json.loads(ratings.loc["C-clean", "input_versions"])
    assert versions["customers"] and versions["screening_results"]
    # the prohibited customer got an event review at once, naming the rating's run and methodology
    open_reviews = reviews.open_reviews()
    assert set(open_reviews) == {"C-listed"}
    rating_ref = json.loads(open_reviews["C-listed"]["rating"])
    assert rating_ref["methodology_version"] == ratings.loc["C-listed", "methodology_version"]
    # no PII and no customer ids in the metadata
    mat = instance.get_latest_materialization_event(dg.AssetKey("customer_risk_ratings")).asset_materialization
    assert "C-clean" not in json.dumps({k: str(v.value) for k, v in mat.metadata.items()})
    assert mat.metadata["tier_counts"].value == {"low": 1, "medium": 0, "high": 2, "prohibited": 1}

    # kyc trace of the review reaches the rating's materialization, its methodology and its inputs
    from kyc_assets.risk.trace import build_review_trace, render_review_trace

    trace = build_review_trace(reviews.get_review(open_reviews["C-listed"]["review_id"]), instance=instance)
    nodes = {m["asset_key"]: m for m in trace["materializations"]}
    assert nodes["customer_risk_ratings"]["run_id"] == rating_ref["run_id"]
    assert nodes["customers"]["data_version"] == versions["customers"]
    assert nodes["screening_results"]["read_by"] == "customer_risk_ratings"
    assert nodes["adverse_media_results"]["note"] == "never materialized (read as empty)"
    assert trace["rating"]["methodology_version"] == rating_ref["methodology_version"]
    assert "methodology 2026.1+" in render_review_trace(trace)

    # reviews due today: the high-risk and prohibited customers, once even when the day is replayed
    assert run(["kyc_reviews_due"], partition_key=TODAY).success
    first = reviews.list_reviews(status="open")
    assert run(["kyc_reviews_due"], partition_key=TODAY).success
    assert [r["review_id"] for r in reviews.list_reviews(status="open")] == [r["review_id"] for r in first]
    assert all(reviews.state_of(c) for c in CUSTOMERS["customer_id"])

    # the what-if report: dropping the call-for-action rule moves the Iranian national down
    result = run(["risk_methodology_impact"])
    meta = instance.get_latest_materialization_event(dg.AssetKey("risk_methodology_impact")).asset_materialization
    assert meta.metadata["customers_down"].value == 1 and meta.metadata["customers_up"].value == 0
    report = meta.metadata["report"].value
    assert "## Factors driving the changes" in report and "| nationality |" in report


def test_kyc_trace_of_a_review_without_an_instance(risk, capsys):
    from kyc_assets.cli import main

    run, _settings, reviews, _ = risk
    assert run(["customers", "screening_results", "watchlist_entries", "anomaly_scores", "transactions",
                "risk_country_lists", "customer_risk_ratings"]).success
    review_id = reviews.list_reviews()[0]["review_id"]
    capsys.readouterr()
    assert main(["trace", review_id, "--without-instance", "--json"]) == 0
    trace = json.loads(capsys.readouterr().out)
    assert trace["customer_id"] == "C-listed" and trace["events"][0]["kind"] == "prohibited"
    assert trace["rating"]["methodology_version"].startswith("2026.1+") and trace["input_versions"]["customers"]
    assert trace["materializations_included"] is False
    assert main(["trace", "REV-nothere", "--without-instance"]) == 2


def test_a_methodology_change_is_a_new_code_version(kyc_env, tmp_path, monkeypatch):
    from kyc_assets.risk.assets import build_risk_assets
    from kyc_assets.settings import Settings

    data = yaml.safe_load(DEFAULT_METHODOLOGY.read_text())
    data["factors"]["anomaly"]["weight"] = 3.0
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    before = {a.key.to_user_string(): a for a in build_risk_assets(Settings.from_env())}
    monkeypatch.setenv("KYC_RISK_METHODOLOGY", str(path))
    after = {a.key.to_user_string(): a for a in build_risk_assets(Settings.from_env())}
    key = dg.AssetKey("customer_risk_ratings")
    assert before["customer_risk_ratings"].code_versions_by_key[key] != \
        after["customer_risk_ratings"].code_versions_by_key[key]
    lists = yaml.safe_load(DEFAULT_COUNTRY_LISTS.read_text())
    lists["lists"]["fatf_call_for_action"]["countries"].append("RU")
    lists_path = tmp_path / "lists.yaml"
    lists_path.write_text(yaml.safe_dump(lists))
    monkeypatch.setenv("KYC_RISK_COUNTRY_LISTS", str(lists_path))
    changed = {a.key.to_user_string(): a for a in build_risk_assets(Settings.from_env())}
    lists_key = dg.AssetKey("risk_country_lists")
    assert changed["risk_country_lists"].code_versions_by_key[lists_key] != \
        after["risk_country_lists"].code_versions_by_key[lists_key]
    monkeypatch.setenv("KYC_RISK_METHODOLOGY", str(tmp_path / "missing.yaml"))
    with pytest.raises(ValueError, match="cannot read"):
        build_risk_assets(Settings.from_env())
