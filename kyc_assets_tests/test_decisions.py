"""Decisions with four-eyes approval: the workflow, refusals (audited), suppressions, concurrency."""

from __future__ import annotations

import json
import threading

import pytest

from kyc_assets.cases.analysts import AnalystDirectory, AuthenticationError, hash_password, verify_password
from kyc_assets.cases.store import (
    CaseClosed,
    CaseNotFound,
    CaseStore,
    ConcurrentUpdate,
    FourEyesViolation,
    InvalidRequest,
)
from kyc_assets.screening.suppressions import apply_suppressions
from kyc_assets_tests.case_helpers import ENTRY_HASH, opened, sqlite_store
from kyc_assets_tests.conftest import pg_url


def _last(store, case_id=None):
    entry = store.audit_entries(subject=case_id, limit=1)[0]
    return entry["actor"], entry["action"], entry["detail"].get("error")


def test_confirmation_needs_a_second_analyst_and_the_report_another_than_its_preparer(tmp_path):
    store = sqlite_store(tmp_path)
    case_id = opened(store)
    case = store.decide(case_id, decision="confirmed", reason="name, DOB and nationality match", analyst="alice")
    assert case["status"] == "pending_approval" and case["decisions"][0]["status"] == "proposed"
    with pytest.raises(FourEyesViolation, match="four-eyes: alice proposed"):
        store.approve(case_id, analyst="alice")
    message = f"four-eyes: alice proposed the confirmation of {case_id} and cannot also approve it"
    assert _last(store, case_id) == ("alice", "case_approve_refused", message)
    with pytest.raises(CaseClosed, match="awaiting a second analyst"):
        store.decide(case_id, decision="escalate", reason="x", analyst="carol")
    case = store.approve(case_id, analyst="bob", reason="agree")
    assert (case["status"], case["outcome"]) == ("closed", "confirmed")
    assert case["decisions"][0]["approved_by"] == "bob" and case["report"]["status"] == "draft"
    assert case["report"]["prepared_by"] == "alice"
    with pytest.raises(FourEyesViolation, match="prepared report"):
        store.approve_report(case_id, analyst="alice")
    assert store.approve_report(case_id, analyst="bob")["report"]["status"] == "approved"
    with pytest.raises(CaseClosed, match="already approved"):
        store.approve_report(case_id, analyst="carol")
    assert store.verify_audit().intact


def test_refusals_are_one_line_and_land_in_the_audit_log(tmp_path):
    store = sqlite_store(tmp_path)
    case_id = opened(store)
    with pytest.raises(CaseNotFound, match="no case 'CASE-missing'"):
        store.decide("CASE-missing", decision="confirmed", reason="r", analyst="alice")
    assert _last(store) == ("alice", "case_decide_refused", "no case 'CASE-missing'")
    with pytest.raises(InvalidRequest, match="decision must be one of"):
        store.decide(case_id, decision="maybe", reason="r", analyst="alice")
    with pytest.raises(InvalidRequest, match="needs a reason"):
        store.decide(case_id, decision="escalate", reason="  ", analyst="alice")
    with pytest.raises(InvalidRequest, match="not a valid analyst name"):
        store.decide(case_id, decision="escalate", reason="r", analyst="system:escalation")
    with pytest.raises(CaseClosed, match="no confirmation awaiting approval"):
        store.approve(case_id, analyst="bob")
    store.decide(case_id, decision="false_positive", reason="different date of birth", analyst="alice")
    with pytest.raises(CaseClosed, match="is closed"):
        store.decide(case_id, decision="confirmed", reason="r", analyst="bob")
    with pytest.raises(CaseClosed, match="cannot be assigned"):
        store.assign(case_id, to="bob", actor="alice")
    refused = [e for e in store.audit_entries(limit=50) if e["action"].endswith("_refused")]
    assert len(refused) == 7 and all("\n" not in e["detail"]["error"] for e in refused)
    assert store.verify_audit().intact


def test_dismissing_a_false_positive_creates_a_suppression_through_the_suppressions_api(tmp_path):
    store = sqlite_store(tmp_path)
    case_id = opened(store)
    case = store.decide(case_id, decision="false_positive", reason="different person", analyst="alice")
    assert (case["status"], case["outcome"]) == ("closed", "false_positive")
    [suppression] = store.suppressions(status="active")
    assert (suppression["customer_id"], suppression["list_entity_id"], suppression["entry_hash"],
            suppression["created_by"]) == ("C-1", "us_ofac_sdn:1", ENTRY_HASH, "alice")
    detail = next(e["detail"] for e in case["events"] if e["action"] == "case_decided_false_positive")
    assert detail["suppressions"] == [suppression["suppression_id"]]
    import pandas as pd

    results = pd.DataFrame([{"customer_id": "C-1", "list_entity_id": "us_ofac_sdn:1", "entry_hash": ENTRY_HASH,
                             "decision": "match"}])
    assert apply_suppressions(results, store.active_suppression_keys())["suppressed"].tolist() == [True]


def test_escalate_raises_priority_and_a_rejected_confirmation_returns_the_case(tmp_path):
    store = sqlite_store(tmp_path)
    case_id = opened(store)
    store.assign(case_id, to="bob", actor="alice")
    case = store.decide(case_id, decision="escalate", reason="possible sanctions evasion", analyst="bob")
    assert (case["status"], case["priority"], case["assigned_to"]) == ("escalated", 1, "bob")
    store.decide(case_id, decision="confirmed", reason="MLRO view", analyst="bob")
    case = store.reject(case_id, analyst="carol", reason="evidence too thin")
    assert case["status"] == "escalated" and case["decisions"][-1]["status"] == "rejected"
    assert [e["action"] for e in case["events"]] == ["case_opened", "case_assigned", "case_decided_escalate",
                                                     "case_decided_confirmed", "case_confirmation_rejected"]


def test_a_stale_version_is_refused(tmp_path):
    store = sqlite_store(tmp_path)
    case_id = opened(store)
    seen = store.get_case(case_id)["version"]
    store.assign(case_id, to="bob", actor="alice", expected_version=seen)
    with pytest.raises(ConcurrentUpdate, match="changed by someone else"):
        store.decide(case_id, decision="escalate", reason="r", analyst="carol", expected_version=seen)


def _race(store: CaseStore, case_id: str, n: int = 6) -> tuple[list[str], list[str]]:
    """n analysts, looking at the same version of a case, decide it at the same moment; returns
    (winners, refusal messages)."""
    seen = store.get_case(case_id)["version"]
    barrier = threading.Barrier(n)
    wins, refusals = [], []

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            store.decide(case_id, decision=["false_positive", "confirmed", "escalate"][i % 3], reason="race",
                         analyst=f"analyst{i}", expected_version=seen)
            wins.append(f"analyst{i}")
        except (CaseClosed, ConcurrentUpdate) as exc:
            refusals.append(str(exc))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wins, refusals


def test_concurrent_decisions_on_sqlite_exactly_one_wins(tmp_path):
    store = sqlite_store(tmp_path)
    case_id = opened(store)
    wins, refusals = _race(store, case_id)
    assert len(wins) == 1 and len(refusals) == 5
    case = store.get_case(case_id)
    assert len(case["decisions"]) == 1 and case["decisions"][0]["analyst"] == wins[0]
    assert sum(e["action"] == "case_decide_refused" for e in store.audit_entries(limit=50)) == 5
    assert store.verify_audit().intact


def test_concurrent_decisions_on_postgres_exactly_one_wins(pg_database):
    store = CaseStore(pg_url(pg_database))
    try:
        case_id = opened(store)
        wins, refusals = _race(store, case_id, n=8)
        assert len(wins) == 1 and len(refusals) == 7
        assert len(store.get_case(case_id)["decisions"]) == 1
        assert sum(e["action"] == "case_decide_refused" for e in store.audit_entries(limit=50)) == 7
        assert store.verify_audit().intact
    finally:
        store.engine.dispose()


def test_analysts_file_with_scrypt_hashes(tmp_path):
    path = tmp_path / "analysts.json"
    path.write_text(json.dumps({"analysts": [
        {"username": "alice", "password_hash": hash_password("correct horse")},
        {"username": "bob", "password_hash": hash_password("battery staple"), "roles": ["analyst", "approver"]}]}))
    directory = AnalystDirectory.from_file(path)
    assert directory.authenticate("alice", "correct horse").username == "alice"
    for name, password in (("alice", "wrong"), ("mallory", "correct horse"), ("bob", "")):
        with pytest.raises(AuthenticationError):
            directory.authenticate(name, password)
    assert not verify_password("x", "md5$abc") and not verify_password("x", "garbage")
    store = sqlite_store(tmp_path, analysts=directory)
    case_id = opened(store)
    with pytest.raises(InvalidRequest, match="unknown analyst 'mallory'"):
        store.assign(case_id, to="mallory", actor="alice")
    assert store.assign(case_id, to="bob", actor="alice")["assigned_to"] == "bob"
    with pytest.raises(AuthenticationError, match="trusted user header"):
        directory.from_header("alice")
    proxied = AnalystDirectory.from_file(path, trusted_header="X-Forwarded-User")
    assert proxied.from_header("bob").username == "bob"
    with pytest.raises(AuthenticationError):
        proxied.from_header("eve")


def test_concurrent_dismissals_without_a_version_still_have_one_winner(tmp_path):
    store = sqlite_store(tmp_path)
    case_id = opened(store)
    barrier, outcomes = threading.Barrier(4), []

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            store.decide(case_id, decision="false_positive", reason="race", analyst=f"analyst{i}")
            outcomes.append("won")
        except (CaseClosed, ConcurrentUpdate) as exc:  # closed, or its version moved since it was read
            outcomes.append(str(exc))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1 and len(outcomes) == 4
    assert all("is closed" in o or "changed by someone else" in o for o in outcomes if o != "won")


def test_a_decision_without_a_version_loses_to_one_committed_after_it_was_read(tmp_path):
    """Optimistic concurrency always applies: without ``expected_version`` the store acts on the version
    it read when the call began, so a decision committed in between (here injected just before the
    write transaction starts) wins and the slower one is refused instead of being applied on top."""
    import contextlib

    store, other = sqlite_store(tmp_path), sqlite_store(tmp_path)
    case_id = opened(store)
    real_write, raced = store._write, []

    @contextlib.contextmanager
    def racing_write(*args, **kwargs):
        if not raced:  # bob's escalation commits between alice's read and her write
            raced.append(other.decide(case_id, decision="escalate", reason="senior look", analyst="bob"))
        with real_write(*args, **kwargs) as conn:
            yield conn

    store._write = racing_write
    with pytest.raises(ConcurrentUpdate, match="changed by someone else"):
        store.decide(case_id, decision="false_positive", reason="looks fine", analyst="alice")
    store._write = real_write
    case = store.get_case(case_id)
    assert case["status"] == "escalated" and [d["analyst"] for d in case["decisions"]] == ["bob"]
