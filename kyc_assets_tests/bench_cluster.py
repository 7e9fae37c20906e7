"""Scale-out figures for `make bench` (never asserted in tests).

- Inbox throughput on the embedded default: documents per minute from the inbox to ``extracted_entities``
  under a real ``dagster dev`` (webserver + daemon + code server) against a temporary DAGSTER_HOME, with
  the sensor's batching and, side by side in the same run, with one run per document (batch size 1, what
  the platform did before).
- The partitions-at-scale figures (inbox sensor tick, partition-status GraphQL query) with 100,000 and
  1,000,000 document partitions registered in a PostgreSQL-backed instance.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def render_documents(n: int, seed: int = 11) -> list[bytes]:
    """``n`` distinct synthetic identity documents (all MRZ formats) and utility bills as PNG bytes."""
    from kyc_assets.sample_data.documents import MRZ_FORMATS, render_identity_document, render_utility_bill
    from kyc_assets_tests.bench_documents import BENCH_TODAY, make_person

    rng = random.Random(seed)
    out = []
    for i in range(n):
        person = make_person(rng)
        if i % 4 == 3:
            image = render_utility_bill(person, issuer="Northwind Energy Ltd", issue_date=BENCH_TODAY, seed=i)
        else:
            image = render_identity_document(person, MRZ_FORMATS[i % len(MRZ_FORMATS)], seed=seed * 1000 + i)
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


def drop_into_inbox(inbox: Path, documents: list[bytes], prefix: str = "doc") -> float:
    """Each document lands whole (written aside, then renamed into the inbox); returns the wall time."""
    inbox.mkdir(parents=True, exist_ok=True)
    staging = inbox.parent / f".{inbox.name}.staging"
    staging.mkdir(exist_ok=True)
    for i, data in enumerate(documents):
        (staging / f"{prefix}{i:04d}.png").write_bytes(data)
    landed = time.time()
    for i in range(len(documents)):
        os.replace(staging / f"{prefix}{i:04d}.png", inbox / f"{prefix}{i:04d}.png")
    return landed


@contextlib.contextmanager
def dagster_dev(env: dict, dagster_home: Path, port: int, log_path: Path) -> Iterator[subprocess.Popen]:
    """``dagster dev`` in its own session (it ignores SIGTERM when backgrounded): yields once the
    daemon's sensor loop beats; the whole process group is stopped afterwards, SIGKILL after 30 s."""
    import dagster as dg

    log = log_path.open("wb")
    dev = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
                            "-w", str(REPO / "workspace.yaml")], cwd=REPO, env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        instance = dg.DagsterInstance.from_config(str(dagster_home))
        started = time.monotonic()
        while "SENSOR" not in instance.get_daemon_heartbeats():
            if time.monotonic() - started > 240 or dev.poll() is not None:
                raise RuntimeError(f"dagster dev did not start: {log_path.read_text()[-800:]}")
            time.sleep(1)
        yield dev
    finally:
        stop_group(dev)
        log.close()


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def bench_inbox_throughput(documents: int = 30, run_batch_size: int = 50, timeout: float = 900.0,
                           port: int = 3319) -> dict:
    """Documents per minute from the inbox to ``extracted_entities`` under ``dagster dev`` (embedded
    default: SQLite instance, DuckDB warehouse, one run at a time), ``documents`` dropped at once."""
    import dagster as dg

    docs = render_documents(documents)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        home = Path(tmp) / "kyc"
        dagster_home = home / "dagster_home"
        dagster_home.mkdir(parents=True)
        (dagster_home / "dagster.yaml").write_text((REPO / "kyc_assets/deploy/dagster_local.yaml").read_text())
        env = {**os.environ, "KYC_HOME": str(home), "DAGSTER_HOME": str(dagster_home), "OMP_THREAD_LIMIT": "1",
               "KYC_SENSOR_SETTLE_SECONDS": "1", "KYC_SENSOR_RUN_BATCH_SIZE": str(run_batch_size)}
        with dagster_dev(env, dagster_home, port, Path(tmp) / "dev.log"):
            instance = dg.DagsterInstance.from_config(str(dagster_home))
            landed = drop_into_inbox(home / "inbox", docs)
            key = dg.AssetKey("extracted_entities")
            first = None
            done = 0
            while time.time() - landed < timeout:
                done = len(instance.get_materialized_partitions(key))
                if done and first is None:
                    first = time.time() - landed
                if done >= documents:
                    break
                time.sleep(1)
            seconds = time.time() - landed
            runs = instance.get_runs(filters=dg.RunsFilter(job_name="onboarding_job"))
        return {"figure": f"inbox -> extracted_entities, {documents} documents dropped at once, dagster dev "
                          f"(embedded default, batch size {run_batch_size})",
                "documents_per_minute": round(done / seconds * 60, 1), "seconds": round(seconds, 1),
                "first_document_seconds": round(first, 1) if first else None, "documents_done": done,
                "onboarding_runs": len(runs), "load_average_1m": round(os.getloadavg()[0], 1),
                "timed_out": done < documents}


# --------------------------------------------------------------------------- partitions at scale

PARTITIONS_QUERY = """
query AssetPartitions($assetKey: AssetKeyInput!) {
  assetNodes(assetKeys: [$assetKey]) {
    id
    partitionKeysByDimension { name partitionKeys }
    assetPartitionStatuses {
      ... on DefaultPartitionStatuses { materializedPartitions failedPartitions materializingPartitions }
    }
  }
}
"""


def _register_partitions(dsn: dict, database: str, count: int) -> None:
    """``count`` document partitions registered straight into the instance's table (COPY: the fixture, not
    what is measured); the keys look like sha256 digests."""
    import hashlib

    import psycopg2

    with psycopg2.connect(dbname=database, **dsn) as conn, conn.cursor() as cur:
        buffer = io.StringIO()
        for i in range(count):
            buffer.write(f"documents\t{hashlib.sha256(str(i).encode()).hexdigest()}\t2026-12-01 00:00:00\n")
        buffer.seek(0)
        cur.copy_from(buffer, "dynamic_partitions", columns=("partitions_def_name", "partition", "create_timestamp"))


def bench_partitions_at_scale(counts: tuple = (100_000, 1_000_000), port: int = 3321) -> dict:
    """With ``counts`` document partitions registered in a PostgreSQL-backed instance: one inbox sensor tick
    (one new document), the old per-tick listing of every partition, and the partition-status GraphQL query
    the UI issues for ``raw_documents`` through a running ``dagster-webserver``."""
    import urllib.request
    import uuid

    import dagster as dg
    import psycopg2
    import yaml

    from kyc_assets.onboarding.sensors import build_inbox_sensor, tick_inbox_sensor
    from kyc_assets.resources import DocumentStoreResource

    dsn = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
    out: dict = {"figure": "partitions at scale (PostgreSQL instance)"}
    for count in counts:
        database = f"kyc_bench_parts_{uuid.uuid4().hex[:8]}"
        admin = psycopg2.connect(dbname="postgres", **dsn)
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{database}"')
        web = None
        try:
            with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
                home = Path(tmp)
                config = yaml.safe_load((REPO / "dagster.yaml").read_text())
                (home / "dagster.yaml").write_text(yaml.safe_dump(config))
                env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": dsn["host"],
                       "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": dsn["user"], "DAGSTER_PG_PASSWORD": "",
                       "DAGSTER_PG_DB": database, "KYC_HOME": str(home / "kyc")}
                os.environ.update({k: v for k, v in env.items() if k.startswith("DAGSTER_PG_")})
                instance = dg.DagsterInstance.from_config(str(home))  # creates the schema
                started = time.perf_counter()
                _register_partitions(dsn, database, count)
                register_s = time.perf_counter() - started

                started = time.perf_counter()
                listed = len(instance.get_dynamic_partitions("documents"))
                list_s = time.perf_counter() - started

                inbox = home / "inbox"
                inbox.mkdir()
                (inbox / "new.png").write_bytes(render_documents(1, seed=99)[0])
                documents = DocumentStoreResource(store_dir=str(home / "docs"), inbox_dir=str(inbox),
                                                  quarantine_dir=str(home / "q"))
                sensor = build_inbox_sensor(settle_seconds=0, max_files_per_tick=100)
                cursor = tick_inbox_sensor(sensor, instance, documents, None).cursor  # first sighting
                started = time.perf_counter()
                result = tick_inbox_sensor(sensor, instance, documents, cursor)
                tick_s = time.perf_counter() - started
                assert len(result.run_requests) == 1

                log = (home / "web.log").open("wb")
                web = subprocess.Popen([str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1",
                                        "-p", str(port), "-w", str(REPO / "workspace.yaml")], cwd=REPO, env=env,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                body = json.dumps({"query": PARTITIONS_QUERY,
                                   "variables": {"assetKey": {"path": ["raw_documents"]}}}).encode()
                deadline = time.monotonic() + 300
                timings = []
                while len(timings) < 3:
                    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body,
                                                     headers={"Content-Type": "application/json"})
                    started = time.perf_counter()
                    try:
                        with urllib.request.urlopen(request, timeout=300) as response:
                            payload = json.loads(response.read())
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(2)
                        continue
                    nodes = payload.get("data", {}).get("assetNodes") or []
                    if not nodes:  # the code location is still loading
                        time.sleep(2)
                        continue
                    keys = nodes[0]["partitionKeysByDimension"][0]["partitionKeys"]
                    timings.append((time.perf_counter() - started, len(keys)))
                out[f"{count:,} partitions"] = {
                    "register_s": round(register_s, 1), "old_tick_listing_s": round(list_s, 2),
                    "listed": listed, "sensor_tick_s": round(tick_s, 2),
                    "graphql_partition_status_s": round(min(t for t, _ in timings), 2),
                    "graphql_partition_keys": timings[-1][1]}
        finally:
            if web is not None:
                stop_group(web)
            admin.cursor().execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                                   (database,))
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}"')
            admin.close()
    out["load_average_1m"] = round(os.getloadavg()[0], 1)
    return out


# --------------------------------------------------------------------------- loopback cluster throughput


def _cluster_run(workers: int, documents: list[bytes], timeout: float) -> dict:
    """One loopback cluster (cluster_harness.py) with ``workers`` Celery workers: the documents dropped into
    the inbox prefix at once, timed until every one is in ``extracted_entities``."""
    import hashlib

    import dagster as dg
    import psycopg2

    from kyc_assets_tests.cluster_harness import BUCKET, LoopbackCluster, drop_database, new_database

    admin = psycopg2.connect(dbname="postgres", host="127.0.0.1", port=5432, user="postgres")
    admin.autocommit = True
    dagster_db, cases_db = new_database(admin, "kyc_bench_dagster"), new_database(admin, "kyc_bench_cases")
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        cluster = LoopbackCluster(root=Path(tmp), dagster_db=dagster_db, cases_db=cases_db, workers=workers,
                                  run_batch_size=max(1, len(documents) // 4))
        try:
            cluster.start()
            instance = cluster.instance()
            shas = {hashlib.sha256(d).hexdigest() for d in documents}
            s3 = cluster.s3()
            landed = time.time()
            for i, data in enumerate(documents):
                s3.put_object(Bucket=BUCKET, Key=f"kyc/inbox/doc{i:03d}.png", Body=data)
            key = dg.AssetKey("extracted_entities")
            first = None
            while time.time() - landed < timeout:
                done = set(instance.get_materialized_partitions(key)) & shas
                if done and first is None:
                    first = time.time() - landed
                if len(done) == len(shas):
                    break
                time.sleep(1)
            seconds = time.time() - landed
            return {"documents_per_minute": round(len(done) / seconds * 60, 1), "seconds": round(seconds, 1),
                    "first_document_seconds": round(first, 1) if first else None, "done": len(done)}
        finally:
            cluster.stop()
            drop_database(admin, dagster_db)
            drop_database(admin, cases_db)
            admin.close()


def bench_cluster_workers(documents: int = 20, timeout: float = 1800.0) -> dict:
    """Documents per minute through the loopback cluster with 1 and with 2 Celery workers (one step at a
    time each), and one document alone (the production path's per-run overhead)."""
    docs = render_documents(documents, seed=31)
    return {"figure": f"loopback cluster, {documents} documents, inbox prefix -> extracted_entities",
            "one_worker": _cluster_run(1, docs, timeout), "two_workers": _cluster_run(2, docs, timeout),
            "one_document_two_workers": _cluster_run(2, render_documents(1, seed=32), timeout),
            "load_average_1m": round(os.getloadavg()[0], 1)}
