from __future__ import annotations

import json
import sqlite3
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from kyc_assets.audit import log as audit
from kyc_assets.cases import migrations
from kyc_assets.cases.escalation import MODEL_ONLY_CASE_MIN_DAYS, anomaly_candidates, screening_candidates
from kyc_assets.cases.store import CaseNotFound, CaseStore, RetentionError, priority_for
from kyc_assets_tests.case_helpers import alert, customer_case, new_key, opened, sqlite_store
from kyc_assets_tests.conftest import pg_url


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
        # Model-only alerts: below the case threshold stays an alert; above it, on enough alerted days
        # (escalation.MODEL_ONLY_CASE_MIN_DAYS), it becomes a case.
        {"account_id": "ACC3", "as_of_date": day, "risk_score": 0.8, "alert": True, "triggered_rules": "",
         "reasons": "amount_out_max_7d", "run_id": "r2"},
        *({"account_id": "ACC4", "as_of_date": day - pd.Timedelta(days=back), "risk_score": 0.95, "alert": True,
           "triggered_rules": "", "reasons": "amount_out_max_7d", "run_id": "r2"}
          for back in range(MODEL_ONLY_CASE_MIN_DAYS)),
    ])
    return screening_candidates(screening, customers) + anomaly_candidates(scores)


def test_escalation_is_idempotent_and_keeps_one_open_case_per_subject(tmp_path):
    store = CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    # evidence: the hit, ACC1's alert day, and each of ACC4's alerted days
    assert store.escalate(_inputs(), sla_days=5) == {"opened": 3, "updated": 0,
                                                     "evidence_added": 2 + MODEL_ONLY_CASE_MIN_DAYS}
    assert store.escalate(_inputs(), sla_days=5) == {"opened": 0, "updated": 0, "evidence_added": 0}
    # New evidence (a higher score from a new list version) joins the open case.
    assert store.escalate(_inputs(score=0.97), sla_days=5)["updated"] == 1
    open_cases = {c["subject_id"]: c for c in store.open_cases()}
    assert set(open_cases) == {"C-1", "ACC1", "ACC4"}
    hit = open_cases["C-1"]
    assert len(hit["evidence"]) == 2 and hit["priority"] == 1 and hit["risk"] == 0.97
    assert '"document_sha256s": ["' + "a" * 64 in hit["evidence"][0]["reference"]
    assert open_cases["ACC1"]["priority"] == 3 and priority_for(0.8) == 2  # one typology: priority 3 (triage)
    # 3 opened + 1 evidence added, and one case_state entry per escalating transaction (audit/state.py)
    assert store.verify_audit().intact and store.verify_audit().entries == 6


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


# --- Round 2: migrations, PII encryption, queue, retention ----------------------------------------




EXPECTED_TABLES = {"alembic_version", "audit_log", "cases", "case_evidence", "case_events", "decisions", "reports",
                   "suppressions"}


def test_migrations_upgrade_an_empty_sqlite_database_to_head(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    head = migrations.head_revision()  # one head (each helper's revision relinked in order at merge)
    assert migrations.upgrade(engine) == head and head >= "0004"
    inspector = sa.inspect(engine)
    assert EXPECTED_TABLES <= set(inspector.get_table_names())
    assert {"version", "subject_name_enc", "retain_until"} <= {c["name"] for c in inspector.get_columns("cases")}
    assert {"ix_cases_queue_order", "ix_cases_active_queue"} <= {i["name"] for i in inspector.get_indexes("cases")}
    assert "ix_audit_log_subject" in {i["name"] for i in inspector.get_indexes("audit_log")}
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == head
    assert migrations.upgrade(engine) == head  # idempotent


def test_a_foundation_database_without_alembic_is_stamped_and_upgraded(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # the foundation's create_all schema, with one case in it
        conn.executescript("""
            CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, at TEXT, actor TEXT, action TEXT, subject TEXT,
                                    detail TEXT, prev_hash TEXT, entry_hash TEXT UNIQUE);
            CREATE TABLE cases (case_id TEXT PRIMARY KEY, subject_type TEXT, subject_id TEXT, status TEXT,
                                priority INTEGER, risk REAL, reasons TEXT, opened_at TEXT, updated_at TEXT,
                                due_date TEXT, assigned_to TEXT);
            CREATE TABLE case_evidence (case_id TEXT, evidence_id TEXT, kind TEXT, risk REAL, reason TEXT,
                                        reference TEXT, added_at TEXT, PRIMARY KEY (case_id, evidence_id));
            CREATE TABLE suppressions (suppression_id TEXT PRIMARY KEY, customer_id TEXT, list_entity_id TEXT,
                                       entry_hash TEXT, list_source TEXT, status TEXT, reason TEXT, created_by TEXT,
                                       created_at TEXT, lifted_at TEXT, lifted_reason TEXT);
            INSERT INTO cases VALUES ('CASE-0000000001', 'account', 'ACC9', 'open', 2, 0.8, '["x"]',
                                      '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00', '2026-01-06', NULL);
        """)
    store = CaseStore(f"sqlite:///{path}")
    case = store.get_case("CASE-0000000001")
    assert case["version"] == 1 and case["status"] == "open" and case["decisions"] == []


@pytest.mark.usefixtures("pg_database")
def test_migrations_upgrade_an_empty_postgres_database(pg_database):
    engine = sa.create_engine(pg_url(pg_database))
    try:
        assert migrations.upgrade(engine) == migrations.head_revision()
        assert EXPECTED_TABLES <= set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            triggers = set(conn.execute(sa.text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
        assert {"audit_log_no_update_delete", "audit_log_no_truncate", "cases_retention"} <= triggers
    finally:
        engine.dispose()


def test_pii_columns_are_encrypted_at_rest_and_rotation_reencrypts(tmp_path):
    old = new_key()
    store = sqlite_store(tmp_path, pii_keys=old)
    case_id = opened(store)
    raw = sqlite3.connect(tmp_path / "cases.sqlite").execute(
        "SELECT subject_name_enc, subject_dob_enc, subject_document_number_enc FROM cases").fetchone()
    dump = "\n".join(sqlite3.connect(tmp_path / "cases.sqlite").iterdump())
    assert all(v and v.startswith("gAAAA") for v in raw)
    # Whole plaintext values, not fragments: a short fragment such as "Doe" turns up inside random base64
    # ciphertext now and then (a flaky test), a 10-character value practically never.
    plain = ("Jane <b>Doe</b>", "Jane &lt;b&gt;Doe", "1980-01-02", "X1234567")
    assert not any(p in v for v in raw for p in plain) and not any(p in dump for p in plain)
    case = store.get_case(case_id)
    assert (case["subject_name"], case["subject_dob"], case["subject_document_number"]) == \
        ("Jane <b>Doe</b>", "1980-01-02", "X1234567")

    new = new_key()
    rotated = sqlite_store(tmp_path, pii_keys=f"{new},{old}")
    assert rotated.rotate_pii_keys(actor="ops") == 1
    only_new = sqlite_store(tmp_path, pii_keys=new)
    assert only_new.get_case(case_id)["subject_name"] == "Jane <b>Doe</b>"
    # A store without the right key cannot read the PII (and says so through pii_available).
    assert sqlite_store(tmp_path, pii_keys=old).get_case(case_id)["pii_available"] is False


def test_without_a_key_the_store_keeps_no_pii(tmp_path):
    store = sqlite_store(tmp_path)
    case_id = opened(store)
    assert not store.stores_pii
    raw = sqlite3.connect(tmp_path / "cases.sqlite").execute(
        "SELECT subject_name_enc, subject_dob_enc, subject_document_number_enc FROM cases").fetchone()
    assert raw == (None, None, None)
    case = store.get_case(case_id)
    assert case["subject_name"] is None and case["pii_available"] is False and case["subject_id"] == "C-1"


def test_queue_filters_sorts_pages_and_counts(tmp_path):
    store = sqlite_store(tmp_path)
    cands = [customer_case(f"C-{i}") for i in range(5)]
    from kyc_assets.cases.escalation import CaseCandidate

    cands.append(CaseCandidate("account", "ACC1", [alert(risk=0.6)]))
    store.escalate(cands, sla_days={1: 1, 2: 3, 3: 5, 4: 10})
    queue = store.list_cases(status="active")
    assert len(queue) == 6 == store.count_cases(status="active")
    assert [c["priority"] for c in queue] == sorted(c["priority"] for c in queue)
    assert queue[-1]["subject_id"] == "ACC1" and queue[-1]["priority"] == 3
    # service level per priority: priority 1 is due a day after opening, priority 3 five days
    assert (date.fromisoformat(queue[-1]["due_date"]) - date.fromisoformat(queue[0]["due_date"])).days == 4
    assert [c["case_id"] for c in store.list_cases(limit=2, offset=2)] == [c["case_id"] for c in queue[2:4]]
    assert store.count_cases(subject_type="account") == 1 and store.count_cases(search="C-3") == 1
    assert store.list_cases(assigned_to="") and not store.list_cases(assigned_to="alice")
    with pytest.raises(CaseNotFound, match="no case"):
        store.get_case("CASE-nope")


def test_closed_cases_are_kept_for_the_retention_period(tmp_path):
    store = sqlite_store(tmp_path, retention_years=5)
    case_id = opened(store)
    with pytest.raises(RetentionError, match="retained"):
        store.delete_case(case_id, actor="ops")  # still open
    case = store.decide(case_id, decision="false_positive", reason="different person", analyst="alice")
    closed = date.fromisoformat(case["closed_at"][:10])
    assert date.fromisoformat(case["retain_until"]).year - closed.year == 5
    with pytest.raises(RetentionError):
        store.delete_case(case_id, actor="ops")
    assert store.get_case(case_id)["status"] == "closed"
    assert [e["action"] for e in store.audit_entries(subject=case_id, limit=3)] == [
        "case_delete_refused", "case_decided_false_positive", "case_delete_refused"]
    # Past retention (simulated by moving the date back) deletion is allowed; the audit entries stay.
    with store._write() as conn:
        conn.execute(sa.text("UPDATE cases SET retain_until = '2000-01-01'"))
    store.delete_case(case_id, actor="ops")
    with pytest.raises(CaseNotFound):
        store.get_case(case_id)
    assert store.audit_entries(subject=case_id, limit=1)[0]["action"] == "case_deleted"
    assert store.verify_audit().intact


def test_evidence_of_a_closed_case_does_not_reopen_it(tmp_path):
    store = sqlite_store(tmp_path)
    case_id = opened(store)
    store.decide(case_id, decision="escalate", reason="needs MLRO", analyst="alice")
    store.decide(case_id, decision="confirmed", reason="confirmed by MLRO", analyst="alice")
    store.approve(case_id, analyst="bob")
    assert store.escalate([customer_case()], sla_days=5) == {"opened": 0, "updated": 0, "evidence_added": 0}
    json.dumps(store.get_case(case_id))  # JSON-serialisable for the CLI and the dashboard
