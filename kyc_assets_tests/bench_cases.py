"""Case-work figures for `make bench` (called from bench.py).

``bench_case_queue``: the dashboard's case queue with 100,000 cases in PostgreSQL. A temporary database
on 127.0.0.1:5432 (user postgres, trust) is seeded with the cases (one evidence row each), `kyc serve`
runs in its own process on 127.0.0.1 (analyst named by the trusted proxy header, so the load generator
needs no login), and a small concurrent HTTP client requests the queue pages an analyst uses: the
default queue (active cases by priority then due date), a filtered one and a deep page. Reports p50 and
p99 latency per concurrency level and the rate. The database is dropped afterwards.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta

PG = {"host": os.environ.get("KYC_TEST_PG_HOST", "127.0.0.1"), "port": int(os.environ.get("KYC_TEST_PG_PORT", "5432")),
      "user": os.environ.get("KYC_TEST_PG_USER", "postgres")}
QUEUE_PATHS = ("/cases", "/cases?status=active&priority=2&sort=due_date", "/cases?status=all&page=200")


def _admin():
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    conn.autocommit = True
    return conn


def seed_cases(url: str, n: int, seed: int = 11) -> float:
    """``n`` cases (a realistic mix of statuses and priorities, one evidence row each) written with COPY
    after the store's migrations created the schema; returns the seconds it took."""
    import io

    import psycopg2

    from kyc_assets.cases.store import CaseStore

    started = time.perf_counter()
    CaseStore(url)  # Alembic migrations create the schema
    rng = random.Random(seed)
    today = date.today()
    cases, evidence = io.StringIO(), io.StringIO()
    for i in range(n):
        case_id = f"CASE-{i:010d}"
        status = rng.choices(["open", "escalated", "pending_approval", "closed"], [60, 5, 5, 30])[0]
        risk = rng.random()
        priority = 1 if risk >= 0.9 else 2 if risk >= 0.75 else 3 if risk >= 0.5 else 4
        opened = today - timedelta(days=rng.randrange(0, 365))
        due = opened + timedelta(days=5)
        assigned = rng.choice(["\\N", "\\N", "alice", "bob", "carol"])
        kind = rng.choice(["customer", "account"])
        reason = "sanctions match: ofac_sdn OFAC-1 (score 0.91)" if kind == "customer" else \
            "transaction monitoring alert: structuring"
        outcome = "false_positive" if status == "closed" else "\\N"
        cases.write("\t".join([case_id, kind, f"{kind[:4].upper()}-{i}", status, str(priority), f"{risk:.4f}",
                               json.dumps([reason]), f"{opened.isoformat()}T09:00:00+00:00",
                               f"{opened.isoformat()}T09:00:00+00:00", due.isoformat(), assigned, outcome, "1"]) + "\n")
        evidence.write("\t".join([case_id, f"{i:064x}", "screening_hit" if kind == "customer" else "anomaly_alert",
                                  f"{risk:.4f}", reason, json.dumps({"asset_key": "screening_results"}),
                                  f"{opened.isoformat()}T09:00:00+00:00"]) + "\n")
    cases.seek(0)
    evidence.seek(0)
    dbname = url.rsplit("/", 1)[1]
    with psycopg2.connect(dbname=dbname, **PG) as conn, conn.cursor() as cur:
        cur.copy_from(cases, "cases", columns=("case_id", "subject_type", "subject_id", "status", "priority", "risk",
                                               "reasons", "opened_at", "updated_at", "due_date", "assigned_to",
                                               "outcome", "version"))
        cur.copy_from(evidence, "case_evidence", columns=("case_id", "evidence_id", "kind", "risk", "reason",
                                                          "reference", "added_at"))
    with psycopg2.connect(dbname=dbname, **PG) as conn:
        conn.autocommit = True
        conn.cursor().execute("ANALYZE")
    return time.perf_counter() - started


def _wait_up(base: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(f"{base}/healthz", timeout=2)
            return
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("kyc serve did not start") from None
            time.sleep(0.2)


def load(base: str, paths: tuple[str, ...], *, requests_total: int, concurrency: int, header: dict) -> dict:
    """GET ``paths`` round-robin from ``concurrency`` threads until ``requests_total`` are done; every
    response must be a 200 with the queue in it. Returns p50/p99/max latency in ms and the rate."""
    import requests

    latencies: list[float] = []
    by_path: dict[str, list[float]] = {p: [] for p in paths}
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(requests_total))

    def worker() -> None:
        session = requests.Session()
        session.headers.update(header)
        for i in counter:
            started = time.perf_counter()
            path = paths[i % len(paths)]
            response = session.get(base + path, timeout=30)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                by_path[path].append(elapsed)
                if response.status_code != 200 or 'id="queue"' not in response.text:
                    errors.append(f"{response.status_code}")

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} bad responses, first: {errors[0]}")
    q = statistics.quantiles(latencies, n=100)
    per_path = {}
    for path, values in by_path.items():
        pq = statistics.quantiles(values, n=100)
        per_path[path] = {"p50_ms": round(pq[49], 1), "p99_ms": round(pq[98], 1)}
    return {"requests": len(latencies), "concurrency": concurrency, "p50_ms": round(q[49], 1),
            "p99_ms": round(q[98], 1), "max_ms": round(max(latencies), 1),
            "requests_per_second": round(len(latencies) / wall, 1), "per_page": per_path}


def bench_case_queue(n_cases: int = 100_000, requests_total: int = 600, concurrency: tuple[int, ...] = (1, 4)) -> dict:
    """The case queue's latency with ``n_cases`` cases in PostgreSQL (see the module docstring)."""
    import requests

    from kyc_assets_tests.local_servers import free_port

    name = f"kyc_bench_{uuid.uuid4().hex[:10]}"
    admin = _admin()
    admin.cursor().execute(f'CREATE DATABASE "{name}"')  # generated name, never input
    url = f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    proc = None
    try:
        seed_seconds = seed_cases(url, n_cases)
        port = free_port()
        home = tempfile.mkdtemp(prefix="kyc-bench-")
        env = {**os.environ, "KYC_HOME": home, "KYC_DATABASE_URL": url, "KYC_TRUSTED_USER_HEADER": "X-Forwarded-User",
               "PYTHONWARNINGS": "ignore"}
        env.pop("KYC_ANALYSTS_FILE", None)
        proc = subprocess.Popen([sys.executable, "-m", "kyc_assets.cli", "serve", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        _wait_up(base, proc)
        header = {"X-Forwarded-User": "alice"}
        first = requests.get(base + "/cases", headers=header, timeout=30)
        shown = first.text.count('class="case-link"')
        load(base, QUEUE_PATHS, requests_total=30, concurrency=1, header=header)  # warm-up
        runs = {f"c{c}": load(base, QUEUE_PATHS, requests_total=requests_total, concurrency=c, header=header)
                for c in concurrency}
        return {"cases": n_cases, "seed_seconds": round(seed_seconds, 1), "rows_per_page": shown,
                "pages": list(QUEUE_PATHS), **runs,
                "under_200ms_p99": all(r["p99_ms"] < 200 for r in runs.values()),
                "default_queue_under_200ms_p99": all(r["per_page"]["/cases"]["p99_ms"] < 200 for r in runs.values())}
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        cur = admin.cursor()
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


# -- escalation throughput with concurrent writers ----------------------------------------------------------

_ESCALATION_WORKER = """
import json, sys, time
from kyc_assets.cases.escalation import CaseCandidate, Evidence
from kyc_assets.cases.store import CaseStore
url, worker, n, start_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
CaseStore(url)  # warm: imports done, schema at head
while time.time() < start_at:
    time.sleep(0.01)
began = time.time()
for i in range(n):
    subject = f"ACC-{worker}-{i:05d}"
    evidence = [Evidence("anomaly_alert", 0.8, "structuring", {"as_of_date": f"2026-01-{d:02d}"},
                         identity=(subject, d)) for d in (1, 2)]
    # As the escalation asset does: the resource's .store() per run, then one escalate call.
    CaseStore(url).escalate([CaseCandidate("account", subject, evidence)], sla_days=5)
print(json.dumps({"began": began, "ended": time.time(), "n": n}))
"""


def bench_escalation_writers(writers: int = 4, per_writer: int = 60, code_root: str | None = None) -> dict:
    """Escalation throughput with ``writers`` concurrent processes, each opening ``per_writer`` cases for its
    own subjects (a fresh ``CaseStore`` per escalation, as ``CaseStoreResource.store()`` gives one per run),
    on a temporary PostgreSQL database. ``code_root``: the checkout whose ``kyc_assets`` runs (to compare
    branches side by side in one load). Reports cases per second over the writers' common window and
    checks that every case opened once and the audit chain is intact."""
    from pathlib import Path

    from kyc_assets.cases.store import CaseStore

    root = code_root or str(Path(__file__).resolve().parent.parent)
    name = f"kyc_bench_esc_{uuid.uuid4().hex[:8]}"
    admin = _admin()
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    try:
        CaseStore(url)
        env = {**os.environ, "PYTHONPATH": root, "PYTHONWARNINGS": "ignore"}
        start_at = time.time() + 8.0  # every worker imported and connected before the clock starts
        procs = [subprocess.Popen([sys.executable, "-c", _ESCALATION_WORKER, url, str(w), str(per_writer),
                                   str(start_at)], env=env, cwd=root, stdout=subprocess.PIPE, text=True)
                 for w in range(writers)]
        results = [json.loads(p.communicate(timeout=1800)[0].strip().splitlines()[-1]) for p in procs]
        began, ended = min(r["began"] for r in results), max(r["ended"] for r in results)
        total = sum(r["n"] for r in results)
        store = CaseStore(url)
        opened = store.count_cases(status="active") if hasattr(store, "count_cases") else None
        chain = store.verify_audit()
        store.engine.dispose()
        return {"code": root, "writers": writers, "escalations": total, "seconds": round(ended - began, 2),
                "cases_per_second": round(total / (ended - began), 1), "cases_open": opened,
                "audit_intact": chain.intact, "audit_entries": chain.entries}
    finally:
        cur = admin.cursor()
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(json.dumps(bench_case_queue(n), indent=1))
