"""Identity and roles (issue 12): canonical analyst names, roles enforced for approvals, SAR approval,
suppression lifting, purge and key rotation, and the CLI authenticating every command that reads
personal data or writes the audit log (export under any --as name is refused)."""

from __future__ import annotations

import json

import pytest

from kyc_assets.cases.analysts import AnalystDirectory, canonical, hash_password
from kyc_assets.cases.store import CaseStore, FourEyesViolation, InvalidRequest, NotPermitted, RetentionError
from kyc_assets_tests.case_helpers import ENTRY_HASH, new_key, opened, sqlite_store
from kyc_assets_tests.test_cli_cases import home, run  # noqa: F401 -- the fixture: a KYC_HOME with one case

ROLES = {"alice": ["analyst", "approver"], "bob": ["analyst"], "carol": ["approver"], "dave": ["admin"]}


def _directory(tmp_path, roles=ROLES, passwords=None) -> tuple[AnalystDirectory, str]:
    path = tmp_path / "analysts.json"
    path.write_text(json.dumps({"analysts": [
        {"username": name, "roles": granted, "password_hash": hash_password((passwords or {}).get(name, "x"))}
        for name, granted in roles.items()]}))
    return AnalystDirectory.from_file(path), str(path)


def test_case_and_unicode_variants_are_one_analyst_in_the_directory(tmp_path):
    directory, _ = _directory(tmp_path)
    for variant in ("alice", "Alice", "ALICE", "\uff41\uff4c\uff49\uff43\uff45", " alice "):  # fullwidth too
        assert directory.get(variant).username == "alice"
    assert canonical("\u212a") == canonical("K") == "k"  # the Kelvin sign is a K
    store = sqlite_store(tmp_path, analysts=directory)
    case_id = opened(store)
    store.decide(case_id, decision="confirmed", reason="listed", analyst="alice")
    for variant in ("ALICE", "\uff21lice"):
        with pytest.raises(FourEyesViolation, match="alice proposed the confirmation"):
            store.approve(case_id, analyst=variant)
    assert store.approve(case_id, analyst="Carol")["decisions"][0]["approved_by"] == "carol"
    # Two entries for one analyst are refused when the file is read.
    path = tmp_path / "twice.json"
    path.write_text(json.dumps({"analysts": [{"username": "alice"}, {"username": "ALICE"}]}))
    with pytest.raises(ValueError, match="are the same analyst"):
        AnalystDirectory.from_file(path)


def test_local_mode_refuses_a_variant_of_the_proposer(tmp_path):
    store = sqlite_store(tmp_path)  # no directory: local mode
    case_id = opened(store)
    store.decide(case_id, decision="confirmed", reason="listed", analyst="Alice")
    assert store.get_case(case_id)["decisions"][0]["analyst"] == "alice"  # recorded canonically
    for variant in ("alice", "ALICE", "\uff21\uff2c\uff29\uff23\uff25"):
        with pytest.raises(FourEyesViolation):
            store.approve(case_id, analyst=variant)
        with pytest.raises(FourEyesViolation):
            store.reject(case_id, analyst=variant, reason="no")
    store.approve(case_id, analyst="bob")
    with pytest.raises(FourEyesViolation, match="prepared report"):
        store.approve_report(case_id, analyst="ALICE")  # the proposer prepared the SAR draft
    assert store.approve_report(case_id, analyst="Bob")["report"]["approved_by"] == "bob"


def test_roles_are_enforced_for_approvals_reports_suppressions_purge_and_keys(tmp_path):
    directory, _ = _directory(tmp_path)
    store = sqlite_store(tmp_path, analysts=directory, pii_keys=new_key())
    case_id = opened(store)
    store.decide(case_id, decision="confirmed", reason="listed", analyst="bob")  # any analyst may propose
    for action in (lambda: store.approve(case_id, analyst="dave"),
                   lambda: store.reject(case_id, analyst="dave", reason="no")):
        with pytest.raises(NotPermitted, match="dave does not have the approver role"):
            action()
    store.approve(case_id, analyst="carol")
    with pytest.raises(NotPermitted, match="approve a SAR draft"):
        store.approve_report(case_id, analyst="dave")
    store.approve_report(case_id, analyst="alice")
    refused = [(e["actor"], e["action"]) for e in store.audit_entries(subject=case_id)
               if e["action"].endswith("_refused")]
    assert set(refused) == {("dave", "case_approve_refused"), ("dave", "case_reject_refused"),
                            ("dave", "report_approve_refused")}
    # Lifting a suppression needs an approver.
    sup = store.suppress("C-9", "us_ofac_sdn:1", ENTRY_HASH, analyst="bob", reason="different person")
    with pytest.raises(NotPermitted, match="lift a suppression"):
        store.lift_suppression(sup["suppression_id"], analyst="bob", reason="withdrawn")
    assert store.suppressions(status="active")
    assert store.lift_suppression(sup["suppression_id"], analyst="carol", reason="withdrawn")
    # Purge and key rotation need an admin (the retention period then still protects the case).
    with pytest.raises(NotPermitted, match="purge a case"):
        store.delete_case(case_id, actor="alice")
    with pytest.raises(RetentionError):
        store.delete_case(case_id, actor="dave")
    with pytest.raises(NotPermitted, match="rotate the PII keys"):
        store.rotate_pii_keys(actor="alice")
    assert store.rotate_pii_keys(actor="dave") == 1
    with pytest.raises(ValueError, match="unknown role"):
        _directory(tmp_path, roles={"eve": ["superuser"]})


def test_a_trusted_proxy_without_a_file_grants_only_the_roles_it_sends():
    plain = AnalystDirectory(None, trusted_header="X-User")
    assert plain.from_header("alice", "approver").roles == ("analyst",)  # no roles header configured
    with_roles = AnalystDirectory(None, trusted_header="X-User", trusted_roles_header="X-Groups")
    assert with_roles.from_header("alice", "approver, analyst, root").roles == ("analyst", "approver")
    with pytest.raises(ValueError, match="approver role"):
        with_roles.authorise(with_roles.from_header("bob", "analyst"), "case_approve")


@pytest.fixture
def listed(home, monkeypatch, tmp_path):  # noqa: F811 -- the imported fixture
    """The CLI's KYC_HOME with an analyst list: alice (analyst, approver), bob (analyst)."""
    _, path = _directory(tmp_path, roles={"alice": ["analyst", "approver"], "bob": ["analyst"]},
                         passwords={"alice": "alice-pw", "bob": "bob-pw"})
    monkeypatch.setenv("KYC_ANALYSTS_FILE", path)
    return home


def test_export_refuses_reserved_and_unknown_names(home, capsys, tmp_path, monkeypatch):  # noqa: F811
    case_id = home["case_id"]
    code, _, err = run(capsys, "case", "export", case_id, "--out", str(tmp_path / "b1"), "--as",
                       "system:escalation", "--without-instance")
    assert code == 2 and "'system:escalation' is not a valid analyst name" in err
    assert not (tmp_path / "b1").exists()
    assert all(e["actor"] != "system:escalation" or e["action"] == "case_opened"
               for e in CaseStore.from_env().audit_entries(subject=case_id))
    # With an analyst list: an unknown name, or a known one without its password, exports nothing.
    _, path = _directory(tmp_path, roles={"alice": ["analyst"]}, passwords={"alice": "alice-pw"})
    monkeypatch.setenv("KYC_ANALYSTS_FILE", path)
    code, _, err = run(capsys, "case", "export", case_id, "--out", str(tmp_path / "b2"), "--as", "examiner",
                       "--password-stdin", "--without-instance", stdin="whatever\n", monkeypatch=monkeypatch)
    assert code == 2 and err.strip() == "kyc: error: unknown analyst or wrong password"
    code, _, err = run(capsys, "case", "export", case_id, "--out", str(tmp_path / "b2"), "--without-instance")
    assert code == 2 and "say who you are with --as" in err
    assert not (tmp_path / "b2").exists()
    code, _, _ = run(capsys, "case", "export", case_id, "--out", str(tmp_path / "b3"), "--as", "ALICE",
                     "--password-stdin", "--without-instance", stdin="alice-pw\n", monkeypatch=monkeypatch)
    assert code == 0
    exported = CaseStore.from_env().audit_entries(subject=case_id, limit=1)[0]
    assert (exported["actor"], exported["action"]) == ("alice", "case_exported")


@pytest.mark.parametrize("argv", [["case", "show", "{case}"], ["case", "report", "{case}"], ["case", "list"],
                                  ["trace", "{case}", "--without-instance"]],
                         ids=["show", "report", "list", "trace"])
def test_reading_commands_need_the_same_authentication_as_decisions(listed, capsys, monkeypatch, argv):
    case_id = listed["case_id"]
    argv = [a.replace("{case}", case_id) for a in argv]
    if argv[1] == "report":  # only a confirmed case has a SAR draft
        store = CaseStore.from_env()
        store.decide(case_id, decision="confirmed", reason="listed", analyst="bob")
        store.approve(case_id, analyst="alice")
    code, out, err = run(capsys, *argv)
    assert code == 2 and "say who you are with --as" in err and "Jane" not in out
    code, out, err = run(capsys, *argv, "--as", "alice", "--password-stdin", stdin="wrong\n", monkeypatch=monkeypatch)
    assert code == 2 and err.strip() == "kyc: error: unknown analyst or wrong password" and out == ""
    code, out, _ = run(capsys, *argv, "--as", "alice", "--password-stdin", stdin="alice-pw\n", monkeypatch=monkeypatch)
    assert code == 0 and out
    entries = CaseStore.from_env().audit_entries(limit=3)
    assert any(e["actor"] == "alice" and e["action"] == "case_read_refused" for e in entries)
    if argv[0] != "case" or argv[1] != "list":  # reading one case's personal data is audited
        assert entries[0]["actor"] == "alice" and entries[0]["action"] in ("case_viewed", "report_viewed",
                                                                            "case_traced")


def test_cli_roles_and_account_lock_out(listed, capsys, monkeypatch):
    case_id = listed["case_id"]
    monkeypatch.setenv("KYC_ANALYST_PASSWORD", "bob-pw")
    assert run(capsys, "case", "decide", case_id, "--decision", "confirmed", "--reason", "r", "--as", "bob")[0] == 0
    code, _, err = run(capsys, "case", "approve", case_id, "--as", "bob")
    assert code == 2 and "bob does not have the approver role needed to approve a confirmation" in err
    # KYC_LOGIN_MAX_FAILURES: three wrong passwords lock the account, then even the right one is refused.
    monkeypatch.setenv("KYC_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("KYC_ANALYST_PASSWORD", "wrong")
    for _ in range(3):
        assert run(capsys, "case", "approve", case_id, "--as", "alice")[0] == 2
    monkeypatch.setenv("KYC_ANALYST_PASSWORD", "alice-pw")
    code, _, err = run(capsys, "case", "approve", case_id, "--as", "Alice")
    assert code == 2 and "locked" in err
    store = CaseStore.from_env()
    assert store.get_case(case_id)["status"] == "pending_approval"
    locked = [e for e in store.audit_entries(subject="cli") if e["action"] == "login_locked"]
    assert len(locked) == 1 and locked[0]["actor"] == "alice" and locked[0]["detail"]["failures"] == 3


def test_the_default_lock_out_needs_five_failures(listed, capsys, monkeypatch):
    case_id = listed["case_id"]
    monkeypatch.setenv("KYC_ANALYST_PASSWORD", "wrong")
    for _ in range(3):
        run(capsys, "case", "show", case_id, "--as", "alice")
    monkeypatch.setenv("KYC_ANALYST_PASSWORD", "alice-pw")
    assert run(capsys, "case", "show", case_id, "--as", "alice")[0] == 0  # 3 < 5: not locked
    with pytest.raises(InvalidRequest, match="unknown analyst"):
        CaseStore.from_env().assign(case_id, to="mallory", actor="alice")


def test_sessions_and_lock_outs_on_postgresql(pg_database):
    """The server-side sign-in state (migration 0005) on the production database: a session lives until
    logout or idleness, and failures lock an account for the window; a second store sees the same."""
    from kyc_assets.cases.access import AccessControl
    from kyc_assets_tests.conftest import pg_url

    store = CaseStore(pg_url(pg_database))
    access = AccessControl(store, idle_seconds=60, max_failures=2, lockout_seconds=300)
    other = AccessControl(CaseStore(pg_url(pg_database), migrate=False), idle_seconds=60, max_failures=2,
                          lockout_seconds=300)
    sid = access.open_session("alice", now=1000.0)
    assert other.check_session(sid, "alice", now=1030.0) and not other.check_session(sid, "bob", now=1030.0)
    assert not access.check_session("forged", "alice", now=1030.0)
    access.end_session(sid, now=1040.0)
    assert not other.check_session(sid, "alice", now=1041.0)
    idle = access.open_session("bob", now=2000.0)
    assert not access.check_session(idle, "bob", now=2061.0)  # 61 s without a request, 60 allowed
    assert not access.failed("alice", now=3000.0) and access.failed("alice", now=3001.0)
    assert other.locked_for("alice", now=3003.0) == 298 and other.locked_for("bob", now=3003.0) == 0
    other.succeeded("alice")
    assert access.locked_for("alice", now=3003.0) == 0
    for s in (store, other.store):
        s.engine.dispose()

