"""Triage: the queue order is the order an analyst should work in (cases/triage.py)."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pandas as pd
import pytest

from kyc_assets.cases.escalation import (
    anomaly_candidates,
    document_candidates,
    merge_candidates,
    screening_candidates,
)
from kyc_assets.cases.triage import case_priority, distribution, evidence_priority, spread_ok
from kyc_assets.demo import print_summary
from kyc_assets.settings import Settings
from kyc_assets_tests.case_helpers import sqlite_store

DAY = pd.Timestamp("2026-09-03")


def _hit(customer, entity, score, decision, explanation, hit_type="sanctions"):
    return {"customer_id": customer, "list_entity_id": entity, "list_source": "us_ofac_sdn", "list_version": "v1",
            "entry_hash": entity.replace(":", "") * 4, "hit_type": hit_type, "matched_name": "X", "score": score,
            "decision": decision, "explanation": explanation, "run_id": "r1", "suppressed": False}


def _alert(account, risk, rules, reasons=None, day=DAY):
    return {"account_id": account, "as_of_date": day, "risk_score": risk, "alert": True,
            "triggered_rules": ";".join(rules), "reasons": reasons or ";".join(rules) or "amount_in_sum_7d",
            "run_id": "r2"}


def small_world():
    """Candidates of a small world whose exact sanctions match was escalated last and is the 6th case id."""
    screening = pd.DataFrame([
        _hit("C-pep", "pep:1", 0.99, "match", "name tokens 2/2 aligned", hit_type="pep"),
        _hit("C-weak", "us_ofac_sdn:2", 0.78, "potential_match", "name tokens 2/3 aligned"),
        _hit("C-exact", "us_ofac_sdn:1", 0.93, "match", "name tokens 2/2 aligned; DOB matches"),
    ])
    customers = pd.DataFrame([{"customer_id": c, "document_sha256s": "[]"} for c in ("C-pep", "C-weak", "C-exact")])
    scores = pd.DataFrame([
        # High-risk alerts: the riskiest anomaly is still behind the confirmed identity.
        _alert("ACC-LAYER", 0.99, ["cycle", "rapid_pass_through"]),
        _alert("ACC-STRUCT", 0.88, ["structuring"]),
        _alert("ACC-FANIN", 0.97, ["fan_in"]),
        # a model-only alert opens a case when it persists (MODEL_ONLY_CASE_MIN_DAYS alerted days)
        *[_alert("ACC-MODEL", 0.96, [], day=DAY - pd.Timedelta(days=k)) for k in range(3)],
    ])
    extracted = pd.DataFrame([{"document_sha256": "d" * 64, "status": "ok", "document_type": "passport",
                               "mrz_valid": False, "expiry_date": "2030-01-01", "warnings": "[]"}])
    return merge_candidates(anomaly_candidates(scores), document_candidates(extracted, customers, "2026-09-03"),
                            screening_candidates(screening, customers))


def test_the_exact_sanctions_match_sorts_first_and_kinds_come_in_order(tmp_path):
    store = sqlite_store(tmp_path)
    levels = Settings.from_env({"KYC_HOME": str(tmp_path)}).case_service_level
    store.escalate(small_world(), sla_days=levels)
    queue = store.list_cases(status="active", sort="priority")
    order = [c["subject_id"] for c in queue]
    assert order[0] == "C-exact"
    prio = {c["subject_id"]: c["priority"] for c in queue}
    assert prio == {"C-exact": 1, "ACC-LAYER": 2, "d" * 64: 2, "ACC-STRUCT": 3, "ACC-FANIN": 3, "C-pep": 3,
                    "C-weak": 3, "ACC-MODEL": 4}
    # Within a priority the riskiest first: the layering alert (0.99) before the invalid MRZ (0.8).
    assert order.index("ACC-LAYER") < order.index("d" * 64)
    # The due date follows the priority: 1, 3, 5 and 10 days with the default KYC_CASE_SLA_DAYS=5.
    today = date.today()
    due = {c["subject_id"]: c["due_date"] for c in queue}
    assert due["C-exact"] == (today + timedelta(days=1)).isoformat()
    assert due["ACC-LAYER"] == (today + timedelta(days=3)).isoformat()
    assert due["C-pep"] == (today + timedelta(days=5)).isoformat()
    assert due["ACC-MODEL"] == (today + timedelta(days=10)).isoformat()
    assert distribution(prio.values()) == {1: 1, 2: 2, 3: 4, 4: 1}
    # The store's own order (the escalated_cases table) is the same.
    assert [c["subject_id"] for c in store.open_cases()] == order


def test_new_stronger_evidence_raises_the_priority_and_brings_the_due_date_forward(tmp_path):
    store = sqlite_store(tmp_path)
    levels = {1: 1, 2: 3, 3: 5, 4: 10}
    weak = pd.DataFrame([_hit("C-1", "us_ofac_sdn:1", 0.8, "potential_match", "name tokens 2/3 aligned")])
    customers = pd.DataFrame([{"customer_id": "C-1", "document_sha256s": "[]"}])
    store.escalate(screening_candidates(weak, customers), sla_days=levels)
    case = store.list_cases()[0]
    assert case["priority"] == 3 and case["due_date"] == (date.today() + timedelta(days=5)).isoformat()
    exact = pd.DataFrame([_hit("C-1", "us_ofac_sdn:1", 1.0, "match", "name tokens 2/2 aligned")])
    store.escalate(screening_candidates(exact, customers), sla_days=levels)
    case = store.list_cases()[0]
    assert case["priority"] == 1 and case["due_date"] == (date.today() + timedelta(days=1)).isoformat()


@pytest.mark.parametrize(("kind", "risk", "reference", "expected"), [
    ("screening_hit", 1.0, {"hit_type": "sanctions", "decision": "match", "score": 1.0}, 1),
    ("screening_hit", 0.9, {"hit_type": "sanctions", "decision": "match", "score": 0.9, "explanation": "x"}, 2),
    ("screening_hit", 0.7, {"hit_type": "pep", "decision": "match", "score": 1.0}, 3),
    ("screening_hit", 0.6, {"hit_type": "pep", "decision": "potential_match", "score": 0.86}, 4),
    ("anomaly_alert", 0.95, {"triggered_rules": ["structuring"]}, 2),
    ("anomaly_alert", 0.8, {"triggered_rules": "structuring"}, 3),
    ("anomaly_alert", 0.99, {"triggered_rules": ["fan_in", "fan_out"]}, 3),
    ("anomaly_alert", 0.99, {"triggered_rules": ["fan_in", "cycle"], "explained_by_role": ["fan_in"]}, 2),
    ("anomaly_alert", 0.99, {"triggered_rules": ["fan_in"], "explained_by_role": ["fan_in"]}, 4),
    ("document_failure", 0.8, {"failure": "invalid_mrz"}, 2),
    ("document_failure", 0.6, {"failure": "expired_document"}, 3),
])
def test_each_kind_of_evidence_gets_its_priority(kind, risk, reference, expected):
    assert evidence_priority(kind, risk, reference) == expected


def test_a_queue_at_one_priority_fails_the_spread_check():
    assert not spread_ok([1] * 31, min_cases=10)
    assert spread_ok([1] * 30 + [3], min_cases=10)
    assert spread_ok([1, 1, 1], min_cases=10)  # three exact matches may all be priority 1
    assert case_priority([{"kind": "anomaly_alert", "risk": 0.99, "reference": {}},
                          {"kind": "screening_hit", "risk": 1.0, "reference": {"decision": "match", "score": 1.0}}]) == 1


def test_the_sla_setting_changes_the_due_dates():
    default = Settings.from_env({}).case_service_level
    assert default == {1: 1, 2: 3, 3: 5, 4: 10}
    assert Settings.from_env({"KYC_CASE_SLA_DAYS": "10"}).case_service_level == {1: 1, 2: 5, 3: 10, 4: 20}
    assert Settings.from_env({"KYC_CASE_SLA_DAYS_BY_PRIORITY": "1:2,4:30"}).case_service_level == \
        {1: 2, 2: 5, 3: 5, 4: 30}
    with pytest.raises(ValueError, match="KYC_CASE_SLA_DAYS_BY_PRIORITY"):
        Settings.from_env({"KYC_CASE_SLA_DAYS_BY_PRIORITY": "urgent:1"})


def test_the_demo_summary_shows_the_priority_distribution(tmp_path):
    out = io.StringIO()
    summary = {"documents": 1, "documents_rejected": 0, "customers": 1, "screening_hits": 1, "customers_hit": 1,
               "transactions": 1, "transactions_quarantined": 0, "alerts": 1, "accounts_alerted": 1,
               "open_cases": 5, "cases_by_priority": {1: 1, 2: 0, 3: 3, 4: 1}, "seconds_generate": 0,
               "seconds_materialize": 0}
    print_summary(summary, Settings.from_env({"KYC_HOME": str(tmp_path)}), out)
    assert "by priority           P1: 1, P2: 0, P3: 3, P4: 1" in out.getvalue()


def test_model_only_alerts_need_persistence_and_graph_typologies_are_typologies():
    scores = pd.DataFrame([
        _alert("ACC-ONCE", 0.99, []),  # model-only, one day: stays in anomaly_scores, no case
        *[_alert("ACC-TWICE", 0.99, [], day=DAY - pd.Timedelta(days=k)) for k in range(2)],
        *[_alert("ACC-LOW", 0.5, [], day=DAY - pd.Timedelta(days=k)) for k in range(5)],  # below the risk floor
        _alert("ACC-GRAPH", 0.6, [], reasons="fan_in_unexplained;g_unexplained_in"),  # a graph typology
        _alert("ACC-RING", 0.95, [], reasons="graph_cycle;layering_chain;g_cycle_count"),
    ])
    cands = {c.subject_id: c for c in anomaly_candidates(scores)}
    assert set(cands) == {"ACC-GRAPH", "ACC-RING"}
    assert case_priority(cands["ACC-GRAPH"].evidence) == 3
    assert case_priority(cands["ACC-RING"].evidence) == 2  # two high-severity graph typologies
    assert cands["ACC-RING"].evidence[0].reference["triggered_rules"] == ["graph_cycle", "layering_chain"]
    more = {c.subject_id for c in anomaly_candidates(scores, model_only_min_days=2)}
    assert more == {"ACC-GRAPH", "ACC-RING", "ACC-TWICE"}
