"""Benchmark: `kyc audit verify` over 1,000,000 audit entries (SQLite, and PostgreSQL when reachable),
unkeyed (SHA-256) and keyed (HMAC-SHA256, KYC_AUDIT_KEYS) side by side.

    .venv/bin/python -m kyc_assets_tests.bench_audit [--entries N] [--postgres]

Entries are written in bulk with the same chaining as ``audit.append`` (realistic sizes: an ISO
timestamp, an actor, an action, a case id and a ~120-byte JSON detail), then the chain is verified
through ``CaseStore.verify_audit`` (what the command runs); prints entries, seconds and entries/s.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid

from kyc_assets.audit import log as audit
from kyc_assets.cases.store import CaseStore


BENCH_KEYS = "bench1:" + "k" * 43


def fill(store: CaseStore, n: int, batch: int = 50_000) -> None:
    """``n`` entries chained as ``audit.append`` does (keyed when the store has keys)."""
    keys = store.audit_keys
    key_id = keys.current_id if keys is not None else None
    prev = audit.GENESIS
    with store._write() as conn:
        for start in range(1, n + 1, batch):
            rows = []
            for seq in range(start, min(n, start + batch - 1) + 1):
                at = f"2026-01-01T00:00:{seq % 60:02d}.{seq % 1_000_000:06d}+00:00"
                detail = json.dumps({"decision_id": f"DEC-{seq:012x}", "decision": "escalate",
                                     "reason": "structuring pattern over 7 days", "risk": 0.87},
                                    sort_keys=True, separators=(",", ":"))
                subject = f"CASE-{seq % 100_000:010x}"
                h = audit.entry_hash(seq, at, "analyst42", "case_decided_escalate", subject, detail, prev, key_id, keys)
                rows.append({"seq": seq, "at": at, "actor": "analyst42", "action": "case_decided_escalate",
                             "subject": subject, "detail": detail, "prev_hash": prev, "entry_hash": h,
                             "key_id": key_id})
                prev = h
            conn.execute(audit.audit_log.insert(), rows)


def measure(store: CaseStore, label: str) -> float:
    started = time.perf_counter()
    report = store.verify_audit()
    seconds = time.perf_counter() - started
    assert report.intact, report
    print(f"{label}: audit verify {report.entries:,} entries in {seconds:.1f} s ({report.entries / seconds:,.0f}/s)")
    return seconds


def bench_audit_verify(entries: int = 1_000_000) -> dict:
    """The figure for `make bench`: verify a keyed chain of ``entries`` entries on SQLite."""
    with tempfile.TemporaryDirectory() as tmp:
        store = CaseStore(f"sqlite:///{tmp}/bench.sqlite", audit_keys=BENCH_KEYS)
        fill(store, entries)
        seconds = measure(store, "sqlite keyed")
        store.engine.dispose()
    return {"entries": entries, "seconds": round(seconds, 1), "rate": f"{entries / seconds:,.0f} entries/s"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    for label, keys in (("sqlite unkeyed", None), ("sqlite keyed", BENCH_KEYS)):
        with tempfile.TemporaryDirectory() as tmp:
            store = CaseStore(f"sqlite:///{tmp}/bench.sqlite", audit_keys=keys)
            started = time.perf_counter()
            fill(store, args.entries)
            print(f"{label}: wrote {args.entries:,} entries in {time.perf_counter() - started:.1f} s")
            measure(store, label)
            store.engine.dispose()
    if args.postgres:
        import psycopg2

        from kyc_assets_tests.conftest import PG, pg_url

        name = f"kyc_bench_{uuid.uuid4().hex[:8]}"
        admin = psycopg2.connect(dbname="postgres", **PG)
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        try:
            store = CaseStore(pg_url(name), audit_keys=BENCH_KEYS)
            started = time.perf_counter()
            fill(store, args.entries, batch=20_000)
            print(f"postgres: wrote {args.entries:,} entries in {time.perf_counter() - started:.1f} s")
            measure(store, "postgres")
            store.engine.dispose()
        finally:
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.close()


if __name__ == "__main__":
    main()
