"""The audit trail against someone who can write the database but holds neither the HMAC key nor
write access to the checkpoint folder (issue 12): keyed chain, key rotation, signed checkpoints,
case state covered by the chain, and the owner/application role split on PostgreSQL."""

from __future__ import annotations

import json
import uuid

import psycopg2
import pytest
import sqlalchemy as sa

from kyc_assets.audit import log as audit
from kyc_assets.cases.store import CaseStore
from kyc_assets_tests.case_helpers import customer_case
from kyc_assets_tests.conftest import PG, pg_admin, pg_url

K1 = "k1:" + "a" * 43
K2 = "k2:" + "b" * 43


def _store(tmp_path, **kwargs) -> CaseStore:
    return CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}", **kwargs)


def _fill(store: CaseStore, n: int) -> None:
    for i in range(n):  # one transaction each, as the product appends
        store.append_audit(actor="ops", action="test", subject=f"S-{i}", detail={"i": i})


def _rows(store: CaseStore) -> list:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(audit.audit_log).order_by(audit.audit_log.c.seq)).all()


def _recompute_unkeyed(store: CaseStore, start: int, change: dict) -> None:
    """What a database writer without the key can do: change an entry and rewrite every later hash
    as a plain SHA-256 chain (the pre-issue-12 algorithm)."""
    rows = _rows(store)
    prev = rows[start - 2].entry_hash if start > 1 else audit.GENESIS
    with store._write() as conn:
        for row in rows[start - 1:]:
            values = {**row._asdict(), **(change if row.seq == start else {}), "prev_hash": prev, "key_id": None}
            values["entry_hash"] = audit.entry_hash(values["seq"], values["at"], values["actor"], values["action"],
                                                    values["subject"], values["detail"], prev)
            conn.execute(sa.update(audit.audit_log).where(audit.audit_log.c.seq == row.seq).values(**values))
            prev = values["entry_hash"]


def test_a_chain_recomputed_without_the_key_is_detected(tmp_path):
    store = _store(tmp_path, audit_keys=K1)
    _fill(store, 10)
    report = store.verify_audit()
    assert report.intact and report.keyed_entries == 10
    _recompute_unkeyed(store, 4, {"actor": "mallory"})
    report = store.verify_audit()
    assert not report.intact and report.first_broken == 4
    assert "not keyed although an earlier entry is" in report.problem


def test_a_keyed_entry_cannot_be_rewritten_with_a_guessed_key(tmp_path):
    store = _store(tmp_path, audit_keys=K1)
    _fill(store, 5)
    row = _rows(store)[2]
    forged = audit.AuditKeys("k1:" + "x" * 43)  # the same key id, another secret
    with store._write() as conn:
        conn.execute(sa.update(audit.audit_log).where(audit.audit_log.c.seq == 3).values(
            actor="mallory", entry_hash=audit.entry_hash(3, row.at, "mallory", row.action, row.subject, row.detail,
                                                         row.prev_hash, "k1", forged)))
    assert store.verify_audit().problem == "entry 3 was modified after it was written"


def test_a_whole_log_rewritten_without_the_key_disagrees_with_the_signed_checkpoints(tmp_path):
    store = _store(tmp_path, audit_keys=K1, checkpoint_dir=tmp_path / "anchors", checkpoint_every=5)
    _fill(store, 12)
    assert store.verify_audit().checkpoints >= 2
    _recompute_unkeyed(store, 1, {"detail": '{"i":999}'})  # every entry unkeyed: no keyed entry to compare with
    report = store.verify_audit()
    assert not report.intact and "differs from the checkpoint" in report.problem and "rewritten" in report.problem


def test_deleting_the_newest_entries_is_detected(tmp_path):
    store = _store(tmp_path, audit_keys=K1, checkpoint_dir=tmp_path / "anchors", checkpoint_every=10)
    _fill(store, 25)
    assert store.verify_audit().intact
    with store._write() as conn:  # SQLite has no append-only trigger: a database writer deletes the tail
        conn.execute(sa.delete(audit.audit_log).where(audit.audit_log.c.seq >= 15))
    report = store.verify_audit()
    assert not report.intact and report.first_broken == 15
    # checkpoints at entries 1 (the first write), 11 and 21; the newest names what was lost
    assert report.problem == (f"the log ends at entry 14 but the checkpoint written at "
                              f"{_checkpoint_at(tmp_path, 21)} records entry 21: the newest entries were deleted")


def _checkpoint_at(tmp_path, seq: int) -> str:
    lines = [json.loads(x) for x in (tmp_path / "anchors" / "audit_checkpoints.jsonl").read_text().splitlines()]
    return next(c["at"] for c in lines if c["seq"] == seq)


def test_an_altered_checkpoint_file_is_reported(tmp_path):
    store = _store(tmp_path, audit_keys=K1, checkpoint_dir=tmp_path / "anchors", checkpoint_every=3)
    _fill(store, 7)
    path = tmp_path / "anchors" / "audit_checkpoints.jsonl"
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    first["seq"] += 1  # moved to another entry without re-signing
    path.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    report = store.verify_audit()
    assert not report.intact and "wrong signature" in report.problem


def test_checkpoints_are_written_every_n_entries_and_anchor_an_existing_log(tmp_path):
    _fill(_store(tmp_path), 4)  # a log written before checkpoints were configured
    store = _store(tmp_path, checkpoint_dir=tmp_path / "anchors", checkpoint_every=3)
    path = tmp_path / "anchors" / "audit_checkpoints.jsonl"
    assert [json.loads(x)["seq"] for x in path.read_text().splitlines()] == [4]  # anchored on first start
    _fill(store, 7)
    assert [json.loads(x)["seq"] for x in path.read_text().splitlines()] == [4, 7, 10]
    report = store.verify_audit()
    assert report.intact and report.checkpoints == 3


def test_key_rotation_keeps_old_entries_verifiable_and_refuses_a_downgrade(tmp_path):
    _fill(_store(tmp_path, audit_keys=K1), 3)
    rotated = _store(tmp_path, audit_keys=f"{K2},{K1}")  # the new key first; the old one kept for verification
    _fill(rotated, 3)
    assert [r.key_id for r in _rows(rotated)] == ["k1"] * 3 + ["k2"] * 3
    assert rotated.verify_audit().intact and rotated.verify_audit().keyed_entries == 6
    report = _store(tmp_path, audit_keys=K2).verify_audit()  # the old key dropped too early
    assert report.first_broken == 1 and "key 'k1', which is not configured" in report.problem
    _fill(_store(tmp_path, audit_keys=K1), 1)  # a process still configured with the old key only
    report = rotated.verify_audit()
    assert report.first_broken == 7 and "older than key 'k2'" in report.problem


def test_malformed_keys_fail_in_one_line_without_the_secret():
    with pytest.raises(audit.AuditKeyError, match="shorter than 16") as exc:
        audit.AuditKeys("k1:tooshort")
    assert "tooshort" not in str(exc.value)
    with pytest.raises(audit.AuditKeyError, match="not ID:SECRET"):
        audit.AuditKeys("a-secret-without-an-id-at-all")
    with pytest.raises(audit.AuditKeyError, match="listed twice"):
        audit.AuditKeys(f"{K1},{K1}")


def _decided(store: CaseStore) -> str:
    store.escalate([customer_case()], sla_days=5)
    case_id = store.list_cases()[0]["case_id"]
    store.decide(case_id, decision="confirmed", reason="same person", analyst="alice")
    return case_id


@pytest.mark.parametrize("forgery, expected", [
    ("UPDATE decisions SET analyst = 'mallory'", "decisions row DEC-"),
    ("UPDATE cases SET status = 'closed', outcome = 'false_positive'", "cases row CASE-"),
    ("INSERT INTO decisions SELECT 'DEC-forged', case_id, 'escalate', 'x', 'bob', decided_at, 'final', status, "
     "NULL, NULL, NULL FROM decisions", "decisions row DEC-forged"),
    ("DELETE FROM decisions", "recorded in audit entry"),
])
def test_edits_of_decisions_and_cases_outside_the_product_are_reported(tmp_path, forgery, expected):
    store = _store(tmp_path, audit_keys=K1)
    case_id = _decided(store)
    report = store.verify_audit()
    assert report.intact and report.cases_checked == 1
    with store._write() as conn:
        conn.execute(sa.text(forgery))
    report = store.verify_audit()
    assert not report.intact and expected in report.problem and case_id in report.problem
    if "analyst" in forgery:  # the forged name is what the case page would show: verify is what catches it
        assert store.get_case(case_id)["decisions"][0]["analyst"] == "mallory"
        assert "differs from its state recorded in audit entry" in report.problem


def test_a_case_written_outside_the_product_is_reported(tmp_path):
    store = _store(tmp_path)
    _decided(store)
    with store._write() as conn:
        conn.execute(sa.text("INSERT INTO cases (case_id, subject_type, subject_id, status, priority, risk, reasons, "
                             "opened_at, updated_at, due_date, version) VALUES ('CASE-fake', 'customer', 'C-9', "
                             "'open', 4, 0.1, '[]', 'x', 'x', '2030-01-01', 1)"))
    assert store.verify_audit().problem == ("case CASE-fake is in the tables but no audit entry records it "
                                            "(written outside the product)")


def test_every_life_cycle_step_keeps_the_tables_and_the_log_in_agreement(tmp_path):
    from cryptography.fernet import Fernet

    old_key = Fernet.generate_key().decode()
    store = _store(tmp_path, audit_keys=K1, pii_keys=old_key)
    case_id = _decided(store)
    store.reject(case_id, analyst="bob", reason="needs more evidence")
    store.assign(case_id, to="carol", actor="bob")
    store.add_note(case_id, analyst="carol", text="called the branch")
    store.decide(case_id, decision="confirmed", reason="same person", analyst="carol")
    store.approve(case_id, analyst="dave")
    store.approve_report(case_id, analyst="erin")
    assert _store(tmp_path, audit_keys=K1, pii_keys=f"{Fernet.generate_key().decode()},{old_key}").rotate_pii_keys(
        actor="ops") == 1
    assert store.verify_audit().intact
    with store._write() as conn:
        conn.execute(sa.text("UPDATE cases SET retain_until = '2000-01-01'"))  # simulate the end of retention
    store.delete_case(case_id, actor="ops")
    report = store.verify_audit()
    assert report.intact, report.problem


def test_migration_0004_records_the_existing_cases_as_a_baseline(tmp_path):
    from alembic import command

    from kyc_assets.cases import migrations

    url = f"sqlite:///{tmp_path / 'cases.sqlite'}"
    old = sa.create_engine(url)
    with old.begin() as conn:
        command.upgrade(migrations.alembic_config(conn), "0003")
        conn.execute(sa.text("INSERT INTO cases (case_id, subject_type, subject_id, status, priority, risk, reasons, "
                             "opened_at, updated_at, due_date, version) VALUES ('CASE-old', 'customer', 'C-1', "
                             "'open', 2, 0.9, '[]', 'x', 'x', '2030-01-01', 1)"))
    old.dispose()
    store = CaseStore(url, audit_keys=K1)
    entry = store.audit_entries(limit=1)[0]
    assert (entry["actor"], entry["action"], list(entry["detail"]["cases"])) == (
        "system:migration-0004", "case_state", ["CASE-old"])
    report = store.verify_audit()
    assert report.intact and report.cases_checked == 1
    with store._write() as conn:
        conn.execute(sa.text("UPDATE cases SET priority = 4"))
    assert "cases row CASE-old differs" in store.verify_audit().problem


def test_kyc_audit_verify_reports_a_forged_analyst(tmp_path, monkeypatch, capsys):
    from kyc_assets.cli import main

    monkeypatch.setenv("KYC_HOME", str(tmp_path))
    monkeypatch.setenv("KYC_AUDIT_KEYS", K1)
    for var in ("KYC_DATABASE_URL", "KYC_ANALYSTS_FILE", "KYC_AUDIT_CHECKPOINT_DIR"):
        monkeypatch.delenv(var, raising=False)
    store = CaseStore.from_env()
    case_id = _decided(store)
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "keyed" in out and "1 cases match" in out and "checkpoints matched" in out
    assert (tmp_path / "audit_checkpoints" / "audit_checkpoints.jsonl").exists()  # the default folder
    with store._write() as conn:
        conn.execute(sa.text("UPDATE decisions SET analyst = 'mallory'"))
    assert main(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert f"of case {case_id} differs from its state recorded" in err


# -- PostgreSQL: the schema owner and the application role --------------------------------------------

@pytest.mark.postgres
def test_the_application_role_cannot_disable_the_trigger_update_or_delete_audit_rows():
    suffix = uuid.uuid4().hex[:8]
    owner, app, db = f"kyc_owner_{suffix}", f"kyc_app_{suffix}", f"kyc_roles_{suffix}"
    admin = pg_admin()
    with admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{owner}" LOGIN')
        cur.execute(f'CREATE ROLE "{app}" LOGIN')
        cur.execute(f'CREATE DATABASE "{db}" OWNER "{owner}"')
    host = f"{PG['host']}:{PG['port']}"
    store = None
    try:
        store = CaseStore(f"postgresql+psycopg2://{app}@{host}/{db}",
                          owner_url=f"postgresql+psycopg2://{owner}@{host}/{db}", audit_keys=K1)
        case_id = _decided(store)  # the application works with its grants: cases, decisions, audit entries
        store.approve(case_id, analyst="bob")
        assert store.verify_audit().intact
        for statement, message in [
            ("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete", "must be owner"),
            ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1", "permission denied"),
            ("DELETE FROM audit_log WHERE seq = 1", "permission denied"),
            ("TRUNCATE audit_log", "permission denied"),
            ("DROP TRIGGER audit_log_no_update_delete ON audit_log", "must be owner"),
            ("UPDATE alembic_version SET version_num = '0001'", "permission denied"),
        ]:
            with psycopg2.connect(dbname=db, **{**PG, "user": app}) as conn, conn.cursor() as cur, \
                    pytest.raises(psycopg2.Error, match=message):
                cur.execute(statement)
        with psycopg2.connect(dbname=db, **{**PG, "user": app}) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM audit_log")
            assert cur.fetchone()[0] >= 4
        # The owner's migrations ran and own the tables; the application's role owns nothing.
        with psycopg2.connect(dbname=db, **PG) as conn, conn.cursor() as cur:
            cur.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public' GROUP BY tableowner")
            assert [r[0] for r in cur.fetchall()] == [owner]
        assert store.verify_audit().intact
    finally:
        if store is not None:
            store.engine.dispose()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            cur.execute(f'DROP ROLE IF EXISTS "{app}"')
            cur.execute(f'DROP ROLE IF EXISTS "{owner}"')
        admin.close()


@pytest.mark.postgres
def test_keyed_chain_and_case_state_on_postgres(pg_database):
    store = CaseStore(pg_url(pg_database), audit_keys=K1)
    try:
        case_id = _decided(store)
        assert store.verify_audit().intact
        with psycopg2.connect(dbname=pg_database, **PG) as conn, conn.cursor() as cur:
            cur.execute("UPDATE decisions SET analyst = 'mallory'")
        report = store.verify_audit()
        assert not report.intact and f"of case {case_id} differs" in report.problem
    finally:
        store.engine.dispose()
