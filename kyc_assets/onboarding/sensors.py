"""The inbox sensor: each new document becomes a dynamic partition; the new ones of a tick share one run.

A run per document paid a run worker's start-up (about 20 s on 2 cores under ``dagster dev``) for 2 s of
reading, so onboarding crawled at 3 documents a minute. Now each tick asks for one run per batch of up to
``run_batch_size`` new documents, as a partition key range over the ``documents`` dynamic partitions: the
documents a tick adds are registered together, so they are contiguous in the partitions' order and a
range names exactly them. Every document keeps its own partition (materializations, lineage, re-runs of
one document), and the run reads the batch in one process with the OCR spread over the cores.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg

from kyc_assets.onboarding.assets import (
    document_text,
    documents_partitions,
    extracted_entities,
    raw_documents,
)
from kyc_assets.onboarding.intake import InboxState, IngestOutcome, ingest, intake_reason, scan_inbox
from kyc_assets.onboarding.store import DocumentStoreError
from kyc_assets.resources import DocumentStoreResource

# The run tags Dagster reads a partition key range from (what a single-run backfill sets).
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"

# Documents per run when the sensor does not say otherwise (KYC_SENSOR_RUN_BATCH_SIZE in settings.py).
DEFAULT_RUN_BATCH_SIZE = 50

# Stop taking files after this long in one tick (validation decodes images); the daemon's tick
# timeout is 60 s and the rest of the ready files are taken on the next tick.
TICK_TIME_BUDGET_SECONDS = 20.0

def build_onboarding_job(executor_def: dg.ExecutorDefinition | None = None) -> dg.UnresolvedAssetJobDefinition:
    """The onboarding job on the deployment's executor (definitions.py); in one process by default:
    a process per step costs ~2.5 s of start-up each on 2 cores, and the OCR threads use the cores."""
    return dg.define_asset_job(
        "onboarding_job",
        selection=dg.AssetSelection.assets(raw_documents, document_text, extracted_entities),
        partitions_def=documents_partitions,
        description="Read received documents (one partition each, a batch per run): detect their type, OCR "
                    "them, extract their fields.",
        executor_def=executor_def or dg.in_process_executor,
    )


onboarding_job = build_onboarding_job()


def batch_run_requests(new_keys: list[str], run_batch_size: int) -> list[dg.RunRequest]:
    """One run request per batch of new documents, each a partition key range over the keys in the order
    they are registered. The run key names the range, so a tick evaluated twice launches nothing twice."""
    size = max(1, run_batch_size)
    requests = []
    for start in range(0, len(new_keys), size):
        batch = new_keys[start:start + size]
        first, last = batch[0], batch[-1]
        requests.append(dg.RunRequest(
            run_key=f"documents:{first}" if first == last else f"documents:{first}..{last}",
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last,
                  "kyc/documents": str(len(batch))}))
    return requests


def requested_document_keys(result: dg.SensorResult) -> list[str]:
    """The document partitions a tick registered (in order): what its run requests cover."""
    return [key for request in result.dynamic_partitions_requests or [] for key in request.partition_keys]


def build_inbox_sensor(settle_seconds: float, max_files_per_tick: int,
                       run_batch_size: int = DEFAULT_RUN_BATCH_SIZE,
                       job: dg.UnresolvedAssetJobDefinition = onboarding_job) -> dg.SensorDefinition:
    @dg.sensor(
        job=job,
        minimum_interval_seconds=5,  # a file is taken on its second sighting: 5-10 s after it lands
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches the inbox (KYC_INBOX_DIR, or <KYC_STORAGE_URL>/inbox on an object store); each new document (by sha256) gets a partition; the new documents of "
                    "a tick are read together, one run per batch (KYC_SENSOR_RUN_BATCH_SIZE). "
                    "Unsupported files are moved to the quarantine folder with a reason file.",
    )
    def inbox_sensor(context: dg.SensorEvaluationContext, documents: DocumentStoreResource):
        from kyc_assets.storage.options import is_remote

        state = InboxState.from_json(json.loads(context.cursor) if context.cursor else None)
        store = documents.store()
        if is_remote(documents.inbox_dir):  # an object-store prefix (s3://, gs://, az://)
            inbox_files, quarantine_files = documents.files("inbox"), documents.files("quarantine")
            ready = [lambda entry=entry, signature=signature: ingest_object(
                         entry.name, signature, inbox_files, quarantine_files, state, store)
                     for entry, signature in scan_object_inbox(inbox_files, state, now=time.time(),
                                                               settle_seconds=settle_seconds,
                                                               max_files=max_files_per_tick)]
        else:
            inbox = Path(documents.inbox_dir)
            archive = Path(documents.archive_dir) if documents.archive_dir else None
            ready = [lambda path=path: ingest(path, inbox, state, store, Path(documents.quarantine_dir),
                                              archive_dir=archive)
                     for path in scan_inbox(inbox, state, now=time.time(), settle_seconds=settle_seconds,
                                            max_files=max_files_per_tick)]
        new_keys: list[str] = []
        quarantined: dict[str, int] = {}
        failed = deferred = 0
        started = time.monotonic()
        for take in ready:
            if time.monotonic() - started > TICK_TIME_BUDGET_SECONDS:
                deferred += 1  # still pending: taken on the next tick
                continue
            try:
                outcome = take()
            except (OSError, DocumentStoreError) as exc:  # unreadable file, full disk...: retried next tick
                failed += 1
                context.log.warning(f"could not take an inbox file this tick ({type(exc).__name__}); will retry")
                continue
            if outcome is None:  # changed while we read it: look again next tick
                continue
            if outcome.sha256 is None:
                kind = (outcome.reason or "").split(":")[0].split("(")[0].strip()
                quarantined[kind] = quarantined.get(kind, 0) + 1
            elif outcome.sha256 not in new_keys and not context.instance.has_dynamic_partition(
                    documents_partitions.name, outcome.sha256):
                # one indexed look-up per new file: listing every registered partition costs ~1 s per
                # 100,000 documents on every tick (README, partitions at scale)
                new_keys.append(outcome.sha256)
        if quarantined:  # counts by kind only: file names may carry personal data
            summary = ", ".join(f"{n} {kind}" for kind, n in sorted(quarantined.items()))
            context.log.warning(f"quarantined {sum(quarantined.values())} file(s) into {documents.quarantine_dir} "
                                f"({summary}); each has a .reason.txt")
        if failed or deferred:
            context.log.info(f"{failed} inbox file(s) failed and {deferred} were deferred; retried next tick")
        return dg.SensorResult(
            run_requests=batch_run_requests(new_keys, run_batch_size),
            dynamic_partitions_requests=[documents_partitions.build_add_request(new_keys)] if new_keys else [],
            cursor=json.dumps(state.to_json()),
        )

    return inbox_sensor


def scan_object_inbox(files, state: InboxState, *, now: float, settle_seconds: float,
                      max_files: int) -> list[tuple]:
    """The object-store twin of ``intake.scan_inbox``: objects under the inbox prefix whose size and
    modification time were the same on two consecutive ticks and that are ``settle_seconds`` old (an upload
    is visible whole, but a client may still replace it). Returns ``(entry, signature)`` pairs."""
    ready, seen = [], set()
    for entry in files.list():
        if entry.name.endswith((".tmp", ".part", ".crdownload")):
            continue
        modified = entry.modified.timestamp() if entry.modified else now
        signature = [entry.size, int(modified * 1e9)]
        seen.add(entry.name)
        if state.done.get(entry.name) == f"{signature[0]}:{signature[1]}":
            continue
        stable = state.pending.get(entry.name) == signature and now - modified >= settle_seconds
        if stable and len(ready) < max_files:
            ready.append((entry, signature))
        else:
            state.pending[entry.name] = signature
    state.pending = {k: v for k, v in state.pending.items() if k in seen}
    return ready


def ingest_object(name: str, signature: list, inbox_files, quarantine_files, state: InboxState,
                  store) -> IngestOutcome | None:
    """The object-store twin of ``intake.ingest``: store the object under its sha256, or move it to the
    quarantine prefix with a ``.reason.txt`` beside it (moved, never deleted). None when it changed."""
    from datetime import UTC, datetime

    try:
        data = inbox_files.read_bytes(name)
    except FileNotFoundError:
        return None
    if len(data) != signature[0]:
        return None
    reason = intake_reason(data, name)
    state.pending.pop(name, None)
    if reason is not None:
        target = name
        if quarantine_files.exists(target):
            target = f"{name}.{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
        inbox_files.move(name, quarantine_files, target)
        quarantine_files.write_text(f"{target}.reason.txt", f"{reason}\nquarantined_at: "
                                    f"{datetime.now(UTC).isoformat(timespec='seconds')}\noriginal: {name}\n")
        return IngestOutcome(None, None, reason)
    sha = store.put(data, original_name=name)
    state.done[name] = f"{signature[0]}:{signature[1]}"
    # As for a folder inbox (intake.retire): the store is the record, so the inbox copy leaves once the
    # store's copy reads back whole (decrypted, sha256 checked); a failure leaves it for the next tick.
    if store.get(sha) == data:
        inbox_files.delete(name)
    return IngestOutcome(sha)


def tick_inbox_sensor(sensor: dg.SensorDefinition, instance: dg.DagsterInstance,
                      documents: DocumentStoreResource, cursor: str | None) -> dg.SensorResult:
    """Evaluate one tick outside the daemon (demo, tests) and apply its partition requests as the daemon would."""
    assets = [raw_documents, document_text, extracted_entities]
    # A tick runs no asset: other resources the job's assets need (the LLM...) are placeholders here.
    needed = set().union(*(a.required_resource_keys for a in assets)) - {"documents", "io_manager"}
    placeholders = {key: dg.ResourceDefinition.none_resource() for key in needed}
    defs = dg.Definitions(assets=assets, sensors=[sensor],  # the sensor brings its own job
                          resources={"documents": documents, **placeholders})
    # The instance ref lets the context validate run requests against the partitions the tick adds.
    # A context manager: the documents resource may hold nested resources (the object store) to tear down.
    with dg.build_sensor_context(instance=instance, instance_ref=instance.get_ref(), cursor=cursor,
                                 resources={"documents": documents}, definitions=defs) as ctx:
        result = sensor.evaluate_tick(ctx)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result
