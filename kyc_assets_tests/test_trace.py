"""Lineage (kyc trace) from a case back to the Dagster materializations, documents, lists, models and
decisions; and reproducibility: the same inputs give the same cases and evidence ids."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from kyc_assets.audit.trace import build_trace, render_trace
from kyc_assets.cases.assets import build_escalated_cases
from kyc_assets.cases.store import CaseStore
from kyc_assets.onboarding.store import DocumentStore
from kyc_assets.resources import CaseStoreResource

DOC_OK, DOC_BAD, DOC_ORPHAN = "1" * 64, "2" * 64, "3" * 64
ENTRY = "f" * 64


def _frames(run_id: str = "screen-run") -> dict[str, pd.DataFrame]:
    return {
        "customers": pd.DataFrame([
            {"customer_id": "C-1", "full_name": "Ivan Petrov", "date_of_birth": "1970-05-05",
             "document_number": "P123", "document_sha256s": f'["{DOC_OK}"]'},
            {"customer_id": "C-2", "full_name": "Ana Lima", "date_of_birth": "1990-01-01",
             "document_number": "P456", "document_sha256s": f'["{DOC_BAD}"]'}]),
        "screening_results": pd.DataFrame([
            {"customer_id": "C-1", "list_entity_id": "us_ofac_sdn:42", "list_source": "us_ofac_sdn",
             "list_version": "v7", "entry_hash": ENTRY, "hit_type": "sanctions", "score": 0.97, "decision": "match",
             "explanation": "name and DOB", "run_id": run_id, "suppressed": False},
            {"customer_id": "C-2", "list_entity_id": None, "list_source": None, "list_version": "v7",
             "entry_hash": None, "hit_type": None, "score": 0.0, "decision": "no_match", "explanation": "",
             "run_id": run_id, "suppressed": False}]),
        "anomaly_scores": pd.DataFrame([
            {"account_id": "ACC1", "as_of_date": pd.Timestamp("2026-03-02"), "risk_score": 0.85, "alert": True,
             "triggered_rules": "structuring", "reasons": "structuring", "run_id": "score-run",
             "model_version": "iforest-abc"}]),
        "extracted_entities": pd.DataFrame([
            {"document_sha256": DOC_OK, "status": "ok", "document_type": "passport", "mrz_valid": True,
             "expiry_date": "2031-01-01", "warnings": "[]", "method": "mrz"},
            {"document_sha256": DOC_BAD, "status": "ok", "document_type": "passport", "mrz_valid": False,
             "expiry_date": "2020-01-01", "warnings": '["visual zone surname does not match the MRZ"]',
             "method": "mrz"},
            {"document_sha256": DOC_ORPHAN, "status": "ok", "document_type": "id_card", "mrz_valid": True,
             "expiry_date": "2019-06-30", "warnings": "[]", "method": "mrz"}]),
    }


def _graph(frames: dict[str, pd.DataFrame]) -> list:
    @dg.asset(code_version="1")
    def extracted_entities() -> pd.DataFrame:
        return frames["extracted_entities"]

    @dg.asset(code_version="1")
    def customers(extracted_entities: pd.DataFrame) -> pd.DataFrame:
        return frames["customers"]

    @dg.asset(code_version="1")
    def screening_results(customers: pd.DataFrame) -> pd.DataFrame:
        return frames["screening_results"]

    @dg.asset(code_version="1")
    def anomaly_scores() -> pd.DataFrame:
        return frames["anomaly_scores"]

    return [extracted_entities, customers, screening_results, anomaly_scores,
            build_escalated_cases({1: 1, 2: 3, 3: 5, 4: 10})]


def _run(tmp_path, name: str, instance=None):
    url = f"sqlite:///{tmp_path / name}"
    instance = instance or dg.DagsterInstance.ephemeral()
    result = dg.materialize(_graph(_frames()), instance=instance,
                            resources={"case_store": CaseStoreResource(database_url=url)})
    assert result.success
    return CaseStore(url), instance, result


def _decision_inputs(store: CaseStore) -> dict:
    return {c["case_id"]: (c["subject_type"], c["subject_id"], c["priority"],
                           sorted(e["evidence_id"] for e in store.get_case(c["case_id"])["evidence"]))
            for c in store.list_cases()}


def test_escalation_turns_hits_alerts_and_document_failures_into_one_case_per_subject(tmp_path):
    store, _, result = _run(tmp_path, "a.sqlite")
    cases = {(c["subject_type"], c["subject_id"]): c for c in store.list_cases()}
    assert set(cases) == {("customer", "C-1"), ("customer", "C-2"), ("account", "ACC1"), ("document", DOC_ORPHAN)}
    c2 = store.get_case(cases[("customer", "C-2")]["case_id"])
    assert sorted(e["reference"]["failure"] for e in c2["evidence"]) == [
        "expired_document", "extraction_disagreement", "invalid_mrz"]
    assert c2["priority"] == 2  # invalid MRZ: risk 0.8
    screening = store.get_case(cases[("customer", "C-1")]["case_id"])["evidence"][0]["reference"]
    assert screening["data_version"] and screening["code_version"] == "1" and screening["list_version"] == "v7"
    meta = result.asset_materializations_for_node("escalated_cases")[0].metadata
    assert meta["opened"].value == 4 and meta["pii_stored"].value is False


def test_rematerializing_with_the_same_inputs_reproduces_the_same_decision_inputs(tmp_path):
    first, instance, _ = _run(tmp_path, "a.sqlite")
    before = _decision_inputs(first)
    # Same instance and store again: nothing new.
    _, _, again = _run(tmp_path, "a.sqlite", instance=instance)
    meta = again.asset_materializations_for_node("escalated_cases")[0].metadata
    assert (meta["opened"].value, meta["evidence_added"].value) == (0, 0)
    assert _decision_inputs(first) == before
    # A fresh store and instance fed the same inputs: the same cases with the same evidence ids.
    second, _, _ = _run(tmp_path, "b.sqlite")
    assert _decision_inputs(second) == before and len(before) == 4


def test_trace_walks_from_the_case_to_every_input(tmp_path):
    store, instance, result = _run(tmp_path, "a.sqlite")
    documents = DocumentStore(tmp_path / "documents")
    case_id = next(c["case_id"] for c in store.list_cases() if c["subject_id"] == "C-1")
    store.decide(case_id, decision="confirmed", reason="listed person", analyst="alice")
    store.approve(case_id, analyst="bob")
    trace = build_trace(store.get_case(case_id), instance=instance, document_store=documents)
    by_key = {m["asset_key"]: m for m in trace["materializations"]}
    assert {"escalated_cases", "screening_results", "customers", "extracted_entities", "anomaly_scores"} <= set(by_key)
    for m in by_key.values():
        assert m["run_id"] == result.run_id and m["data_version"] and m["code_version"] and m["timestamp"]
    assert by_key["customers"]["via"] == "input of screening_results"
    assert by_key["screening_results"]["via"].startswith("evidence ")
    assert trace["escalation_runs"] == [result.run_id]
    assert trace["documents"][0]["sha256"] == DOC_OK and trace["documents"][0]["stored"] is False
    assert trace["lists"] == [{"list_source": "us_ofac_sdn", "list_version": "v7", "list_entity_id": "us_ofac_sdn:42",
                               "entry_hash": ENTRY, "hit_type": "sanctions", "explanation": "name and DOB"}]
    assert [(d["decision"], d["analyst"], d["approved_by"]) for d in trace["decisions"]] == [
        ("confirmed", "alice", "bob")]
    text = render_trace(trace)
    assert "screening_results run" in text and "confirmed by alice" in text and "Ivan" not in text


def test_trace_without_a_dagster_instance_lists_the_recorded_references(tmp_path):
    store, _, _ = _run(tmp_path, "a.sqlite")
    case_id = next(c["case_id"] for c in store.list_cases() if c["subject_type"] == "account")
    trace = build_trace(store.get_case(case_id))
    assert trace["materializations"] == [] and "DAGSTER_HOME" in trace["dagster_instance"]
    assert trace["models"] == [{"model_version": "iforest-abc", "partitions": ["2026-03-02"]}]
