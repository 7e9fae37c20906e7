from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kyc_assets.audit import log as audit
from kyc_assets.cases.escalation import anomaly_candidates, screening_candidates
from kyc_assets.cases.store import CaseStore, priority_for


def _inputs(score=0.93):
    screening = pd.DataFrame([
        {"customer_id": "C-1", "list_entity_id": "us_ofac_sdn:1", "list_source": "us_ofac_sdn", "list_version": "v1",
         "matched_name": "X", "score": score, "decision": "match", "explanation": "e", "run_id": "r1"},
        {"customer_id": "C-2", "list_entity_id": None, "list_source": None, "list_version": "v1",
         "matched_name": None, "score": 0.0, "decision": "no_match", "explanation": "", "run_id": "r1"},
    ])
    customers = pd.DataFrame([{"customer_id": "C-1", "document_sha256s": '["' + "a" * 64 + '"]'},
                              {"customer_id": "C-2", "document_sha256s": "[]"}])
    day = pd.Timestamp("2026-09-03")
    scores = pd.DataFrame([
        {"account_id": "ACC1", "as_of_date": day, "risk_score": 0.8, "alert": True, "triggered_rules": "structuring",
         "reasons": "structuring;structuring_count_7d", "run_id": "r2"},
        {"account_id": "ACC2", "as_of_date": day, "risk_score": 0.1, "alert": False, "triggered_rules": "",
         "reasons": "", "run_id": "r2"},
        # Model-only alerts: below the case threshold stays an alert, above it becomes a case.
        {"account_id": "ACC3", "as_of_date": day, "risk_score": 0.8, "alert": True, "triggered_rules": "",
         "reasons": "amount_out_max_7d", "run_id": "r2"},
        {"account_id": "ACC4", "as_of_date": day, "risk_score": 0.95, "alert": True, "triggered_rules": "",
         "reasons": "amount_out_max_7d", "run_id": "r2"},
    ])
    return screening_candidates(screening, customers) + anomaly_candidates(scores)


def test_escalation_is_idempotent_and_keeps_one_open_case_per_subject(tmp_path):
    store = CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    assert store.escalate(_inputs(), sla_days=5) == {"opened": 3, "updated": 0, "evidence_added": 3}
    assert store.escalate(_inputs(), sla_days=5) == {"opened": 0, "updated": 0, "evidence_added": 0}
    # New evidence (a higher score from a new list version) joins the open case.
    assert store.escalate(_inputs(score=0.97), sla_days=5)["updated"] == 1
    open_cases = {c["subject_id"]: c for c in store.open_cases()}
    assert set(open_cases) == {"C-1", "ACC1", "ACC4"}
    hit = open_cases["C-1"]
    assert len(hit["evidence"]) == 2 and hit["priority"] == 1 and hit["risk"] == 0.97
    assert '"document_sha256s": ["' + "a" * 64 in hit["evidence"][0]["reference"]
    assert open_cases["ACC1"]["priority"] == priority_for(0.8) == 2
    assert store.verify_audit().intact and store.verify_audit().entries == 4


def test_audit_chain_names_the_first_tampered_entry(tmp_path):
    store = CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    store.escalate(_inputs(), sla_days=5)
    store.escalate(_inputs(score=0.99), sla_days=5)
    with store.engine.begin() as conn:
        conn.execute(sa.update(audit.audit_log).where(audit.audit_log.c.seq == 2).values(actor="mallory"))
    report = store.verify_audit()
    assert not report.intact and report.first_broken == 2 and "modified" in report.problem
    with store.engine.begin() as conn:
        conn.execute(sa.delete(audit.audit_log).where(audit.audit_log.c.seq == 1))
    assert store.verify_audit().first_broken == 1
