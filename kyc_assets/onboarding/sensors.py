"""The inbox sensor: each new document becomes a dynamic partition and a run."""


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
from kyc_assets.onboarding.intake import InboxState, ingest, scan_inbox
from kyc_assets.onboarding.store import DocumentStoreError
from kyc_assets.resources import DocumentStoreResource

# Stop taking files after this long in one tick (validation decodes images); the daemon's tick
# timeout is 60 s and the rest of the ready files are taken on the next tick.
TICK_TIME_BUDGET_SECONDS = 20.0

onboarding_job = dg.define_asset_job(
    "onboarding_job",
    selection=dg.AssetSelection.assets(raw_documents, document_text, extracted_entities),
    partitions_def=documents_partitions,
    description="Read one received document: detect its type, OCR it, extract its fields.",
    # One process for the three steps: a process per step costs ~2.5 s of start-up each on 2 cores.
    executor_def=dg.in_process_executor,
)


def build_inbox_sensor(settle_seconds: float, max_files_per_tick: int) -> dg.SensorDefinition:
    @dg.sensor(
        job=onboarding_job,
        minimum_interval_seconds=5,  # a file is taken on its second sighting: 5-10 s after it lands
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches KYC_INBOX_DIR; each new document (by sha256) gets a partition and a run. "
                    "Unsupported files are moved to the quarantine folder with a reason file.",
    )
    def inbox_sensor(context: dg.SensorEvaluationContext, documents: DocumentStoreResource):
        inbox = Path(documents.inbox_dir)
        state = InboxState.from_json(json.loads(context.cursor) if context.cursor else None)
        ready = scan_inbox(inbox, state, now=time.time(), settle_seconds=settle_seconds,
                           max_files=max_files_per_tick)
        store = documents.store()
        known = set(context.instance.get_dynamic_partitions(documents_partitions.name))
        new_keys: list[str] = []
        quarantined: dict[str, int] = {}
        failed = deferred = 0
        started = time.monotonic()
        for path in ready:
            if time.monotonic() - started > TICK_TIME_BUDGET_SECONDS:
                deferred += 1  # still pending: taken on the next tick
                continue
            try:
                outcome = ingest(path, inbox, state, store, Path(documents.quarantine_dir),
                                 archive_dir=Path(documents.archive_dir) if documents.archive_dir else None)
            except (OSError, DocumentStoreError) as exc:  # unreadable file, full disk...: retried next tick
                failed += 1
                context.log.warning(f"could not take an inbox file this tick ({type(exc).__name__}); will retry")
                continue
            if outcome is None:  # changed while we read it: look again next tick
                continue
            if outcome.sha256 is None:
                kind = (outcome.reason or "").split(":")[0].split("(")[0].strip()
                quarantined[kind] = quarantined.get(kind, 0) + 1
            elif outcome.sha256 not in known and outcome.sha256 not in new_keys:
                new_keys.append(outcome.sha256)
        if quarantined:  # counts by kind only: file names may carry personal data
            summary = ", ".join(f"{n} {kind}" for kind, n in sorted(quarantined.items()))
            context.log.warning(f"quarantined {sum(quarantined.values())} file(s) into {documents.quarantine_dir} "
                                f"({summary}); each has a .reason.txt")
        if failed or deferred:
            context.log.info(f"{failed} inbox file(s) failed and {deferred} were deferred; retried next tick")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(partition_key=k, run_key=f"document:{k}") for k in new_keys],
            dynamic_partitions_requests=[documents_partitions.build_add_request(new_keys)] if new_keys else [],
            cursor=json.dumps(state.to_json()),
        )

    return inbox_sensor


def tick_inbox_sensor(sensor: dg.SensorDefinition, instance: dg.DagsterInstance,
                      documents: DocumentStoreResource, cursor: str | None) -> dg.SensorResult:
    """Evaluate one tick outside the daemon (demo, tests) and apply its partition requests as the daemon would."""
    assets = [raw_documents, document_text, extracted_entities]
    # A tick runs no asset: other resources the job's assets need (the LLM...) are placeholders here.
    needed = set().union(*(a.required_resource_keys for a in assets)) - {"documents", "io_manager"}
    placeholders = {key: dg.ResourceDefinition.none_resource() for key in needed}
    defs = dg.Definitions(assets=assets, jobs=[onboarding_job], sensors=[sensor],
                          resources={"documents": documents, **placeholders})
    # The instance ref lets the context validate run requests against the partitions the tick adds.
    ctx = dg.build_sensor_context(instance=instance, instance_ref=instance.get_ref(), cursor=cursor,
                                  resources={"documents": documents}, definitions=defs)
    result = sensor.evaluate_tick(ctx)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result
