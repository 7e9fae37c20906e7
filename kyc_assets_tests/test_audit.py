"""The audit log: hash chain, tamper evidence, append-only on PostgreSQL, verification speed."""

from __future__ import annotations

import psycopg2
import pytest
import sqlalchemy as sa

from kyc_assets.audit import log as audit
from kyc_assets.cases.store import CaseStore
from kyc_assets_tests.case_helpers import opened, sqlite_store
from kyc_assets_tests.conftest import PG, pg_url


def _fill(store: CaseStore, n: int) -> None:
    with store._write() as conn:
        for i in range(n):
            audit.append(conn, actor="bench", action="test", subject=f"S-{i}", detail={"i": i})


def test_chain_names_the_first_broken_entry_for_each_kind_of_tampering(tmp_path):
    store = sqlite_store(tmp_path)
    _fill(store, 50)
    assert store.verify_audit().intact and store.verify_audit().entries == 50
    with store._write() as conn:
        conn.execute(sa.update(audit.audit_log).where(audit.audit_log.c.seq == 30).values(detail='{"i":999}'))
    report = store.verify_audit()
    assert (report.first_broken, report.problem) == (30, "entry 30 was modified after it was written")
    with store._write() as conn:  # an attacker also recomputes entry 30's own hash: 31 no longer points to it
        row = conn.execute(sa.select(audit.audit_log).where(audit.audit_log.c.seq == 30)).one()
        conn.execute(sa.update(audit.audit_log).where(audit.audit_log.c.seq == 30).values(entry_hash=audit.entry_hash(
            30, row.at, row.actor, row.action, row.subject, row.detail, row.prev_hash)))
    assert store.verify_audit().problem == "entry 31 does not point to the hash of entry 30"
    with store._write() as conn:
        conn.execute(sa.delete(audit.audit_log).where(audit.audit_log.c.seq == 10))
    assert store.verify_audit().problem == "entry 10 is missing (next is 11)"


def test_verification_streams_a_large_log(tmp_path):
    store = sqlite_store(tmp_path)
    with store._write() as conn:  # 100,000 entries written in bulk, hashes chained as append() does
        prev, rows = audit.GENESIS, []
        for seq in range(1, 100_001):
            detail = f'{{"i":{seq}}}'
            h = audit.entry_hash(seq, "2026-01-01T00:00:00.000000+00:00", "bench", "test", "S", detail, prev)
            rows.append({"seq": seq, "at": "2026-01-01T00:00:00.000000+00:00", "actor": "bench", "action": "test",
                         "subject": "S", "detail": detail, "prev_hash": prev, "entry_hash": h})
            prev = h
        conn.execute(audit.audit_log.insert(), rows)
    report = store.verify_audit()  # its speed is measured in make bench, not asserted here
    assert report.intact and report.entries == 100_000
    with store._write() as conn:  # and a change near the end of a long log is still found
        conn.execute(sa.update(audit.audit_log).where(audit.audit_log.c.seq == 99_990).values(actor="mallory"))
    assert store.verify_audit().first_broken == 99_990


def test_postgres_refuses_update_delete_and_truncate_of_audit_rows(pg_database):
    store = CaseStore(pg_url(pg_database))
    try:
        opened(store)
        store.append_audit(actor="ops", action="test", subject="x", detail={})
        for statement in ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 2",
                          "TRUNCATE audit_log"):
            with psycopg2.connect(dbname=pg_database, **PG) as conn, conn.cursor() as cur, \
                    pytest.raises(psycopg2.Error, match="audit_log is append-only"):
                cur.execute(statement)
        report = store.verify_audit()
        assert report.intact and report.entries == 3  # case_opened, its case_state entry, the test entry
        # Cases inside retention cannot be deleted by SQL either.
        with psycopg2.connect(dbname=pg_database, **PG) as conn, conn.cursor() as cur, \
                pytest.raises(psycopg2.Error, match="inside its retention period"):
            cur.execute("DELETE FROM cases")
    finally:
        store.engine.dispose()


def test_postgres_chain_detects_tampering_by_a_superuser_who_disables_the_trigger(pg_database):
    store = CaseStore(pg_url(pg_database))
    try:
        _fill(store, 5)
        with psycopg2.connect(dbname=pg_database, **PG) as conn, conn.cursor() as cur:
            cur.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")
            cur.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
        report = store.verify_audit()
        assert (report.first_broken, report.entries) == (3, 3)
    finally:
        store.engine.dispose()


def test_concurrent_appends_on_postgres_keep_one_chain(pg_database):
    import threading

    store = CaseStore(pg_url(pg_database))
    try:
        threads = [threading.Thread(target=_fill, args=(store, 25)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        report = store.verify_audit()
        assert report.intact and report.entries == 100
    finally:
        store.engine.dispose()
