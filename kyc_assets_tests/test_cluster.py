"""The proof of scale-out: a loopback cluster with two Celery workers that share nothing but the services.

PostgreSQL (Dagster instance + case store), moto's S3 server (documents, inbox, Delta tables), the Redis
broker, ``dagster-daemon`` with the code location, and two ``kyc worker`` processes, each in its own working
folder with its own ``KYC_HOME`` (cluster_harness.py). Documents dropped into the inbox prefix are taken by
the sensor, read by runs whose steps land on both workers and overlap in time; a worker killed in the
middle of a step shows as a failed run that the daemon retries to completion, and every document is
extracted exactly once (nothing lost, nothing duplicated). Customers, screening, cases and a case's trace
on the cluster are not proven yet (see the note at the end of the test). Marked ``cluster``: ``pytest -m 'not cluster'`` skips it for a quick unit run.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time

import pytest

from kyc_assets_tests.bench_cluster import render_documents
from kyc_assets_tests.cluster_harness import BUCKET, LoopbackCluster, drop_database, new_database
from kyc_assets_tests.conftest import pg_admin

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.postgres]

DOCUMENTS = 30
TIMEOUT = 1500  # seconds for the whole flow on a loaded 2-core CI machine


@pytest.fixture
def cluster(tmp_path):
    admin = pg_admin()
    dagster_db, cases_db = new_database(admin, "kyc_cluster_dagster"), new_database(admin, "kyc_cluster_cases")
    c = LoopbackCluster(root=tmp_path, dagster_db=dagster_db, cases_db=cases_db, workers=2, run_batch_size=10)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        drop_database(admin, dagster_db)
        drop_database(admin, cases_db)
        admin.close()


def wait_for(what: str, check, cluster: LoopbackCluster, timeout: float = TIMEOUT, every: float = 2.0):
    started = time.monotonic()
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() - started > timeout:
            tail = "\n".join(f"--- {n}\n{cluster.log(n)[-1500:]}" for n in ("daemon", "worker0", "worker1"))
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        for name, process in cluster.processes.items():
            if name != "s3" and process.poll() is not None and not name.startswith("worker"):
                raise AssertionError(f"{name} exited: {cluster.log(name)[-2000:]}")
        time.sleep(every)


def celery_hosts(instance, run_ids) -> dict[str, set[str]]:
    """Which Celery worker executed which step, from the runs' engine events ("Executing steps ... in
    celery worker", metadata "Celery worker")."""
    import dagster as dg

    hosts: dict[str, set[str]] = {}
    for run_id in run_ids:
        for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records:
            event = record.event_log_entry.dagster_event
            metadata = event.engine_event_data.metadata if event and event.engine_event_data else {}
            if "Celery worker" in metadata:
                hosts.setdefault(str(metadata["Celery worker"].value), set()).add(event.step_key)
    return hosts


def materialize(cluster: LoopbackCluster, *selection: str) -> subprocess.Popen:
    """``dagster asset materialize`` from an operator's shell (started, not awaited): the steps run on the
    Celery workers."""
    return subprocess.Popen([str(cluster_bin("dagster")), "asset", "materialize", "-m", "kyc_assets.definitions",
                             "--select", ",".join(selection)], cwd=cluster.root, env=cluster.process_env("operator"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def cluster_bin(name: str):
    from kyc_assets_tests.cluster_harness import BIN

    return BIN / name


def test_documents_flow_through_two_workers_and_survive_a_killed_worker(cluster):
    import dagster as dg

    instance = cluster.instance()
    s3 = cluster.s3()

    # the watchlist (screening needs it), from an operator's shell while documents arrive
    lists = materialize(cluster, "watchlist_us_ofac_sdn", "watchlist_entries", "risk_country_lists")

    documents = [listed_passport(), *render_documents(DOCUMENTS - 1, seed=23)]
    shas = {hashlib.sha256(d).hexdigest() for d in documents}
    for i, data in enumerate(documents):
        s3.put_object(Bucket=BUCKET, Key=f"kyc/inbox/batch/doc{i:03d}.png", Body=data)

    # kill worker 0 in the middle of a document_text step: its pool process dies, the step fails
    def step_running_on_worker0():
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="onboarding_job",
                                                       statuses=[dg.DagsterRunStatus.STARTED]))
        for run in runs:
            for host, steps in celery_hosts(instance, [run.run_id]).items():
                if host.startswith("worker0@") and "document_text" in steps:
                    return run.run_id
        return None

    killed_run = wait_for("a document_text step on worker0", step_running_on_worker0, cluster, every=0.5)
    pool = cluster.pool_pids(0)
    assert pool, "worker0 has a pool process"
    for pid in pool:
        os.kill(pid, signal.SIGKILL)

    key = dg.AssetKey("extracted_entities")
    wait_for("every document extracted", lambda: set(instance.get_materialized_partitions(key)) >= shas, cluster)

    # the failure is visible in Dagster, and the daemon's retry of that run succeeded
    killed = instance.get_run_by_id(killed_run)
    wait_for("the killed run to end", lambda: instance.get_run_by_id(killed_run).is_finished, cluster)
    killed = instance.get_run_by_id(killed_run)
    assert killed.status == dg.DagsterRunStatus.FAILURE
    def finished_retry():
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": killed_run}))
        return runs[0] if runs and runs[0].is_finished else None

    retry = wait_for("the daemon's retry of the killed run to end", finished_retry, cluster)
    assert retry.status == dg.DagsterRunStatus.SUCCESS, "retried from the failure, to success"

    # runs overlapped and steps landed on both workers
    onboarding = instance.get_runs(filters=dg.RunsFilter(job_name="onboarding_job"))
    hosts = celery_hosts(instance, [r.run_id for r in onboarding])
    assert {h.split("@")[0] for h in hosts} == {"worker0", "worker1"}, hosts
    spans = []
    for run in onboarding:
        record = instance.get_run_record_by_id(run.run_id)
        if record.start_time and record.end_time:
            spans.append((record.start_time, record.end_time))
    assert any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1:]), \
        "at least two onboarding runs executed at the same time"

    output, _ = lists.communicate(timeout=TIMEOUT)
    assert lists.returncode == 0, output[-3000:]

    # every document becomes exactly one row of extracted_entities: none lost, none doubled
    warehouse = cluster_warehouse(cluster)
    extracted = warehouse.read("extracted_entities")
    assert set(extracted["document_sha256"]) == shas and len(extracted) == len(shas), "no document lost or doubled"
    # Not asserted yet (issue 13, open): customers, screening, escalation (the scenario scores no monitoring
    # partition, and escalated_cases needs anomaly_scores) and `kyc trace` of a case to the bytes in S3. In the
    # runs tried, the eager runs after onboarding failed reading Delta tables on the moto server
    # ("No files in log segment"); see the README's known limits.


def listed_passport() -> bytes:
    """A passport in the name of an OFAC-listed person from the bundled list: screening hits it, a case opens."""
    import io
    import random

    from kyc_assets.sample_data.documents import MRZ_FORMATS, render_identity_document
    from kyc_assets.sample_data.world import _listed_people
    from kyc_assets_tests.bench_documents import make_person

    (_, given, surname, dob), = _listed_people(random.Random(5), 1)
    person = {**make_person(random.Random(5)), "surname": surname, "given_names": given, "date_of_birth": dob}
    buffer = io.BytesIO()
    render_identity_document(person, MRZ_FORMATS[0], seed=5).save(buffer, "PNG")
    return buffer.getvalue()


def cluster_warehouse(cluster: LoopbackCluster):
    from kyc_assets.storage.options import ObjectStoreOptions
    from kyc_assets.storage.warehouse import Warehouse

    options = ObjectStoreOptions(endpoint_url=cluster.s3_endpoint, region="us-east-1", access_key_id="testing",
                                 secret_access_key="testing", allow_http=True)
    return Warehouse(f"s3://{BUCKET}/kyc/warehouse", options)


