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
