"""The inbox sensor: each new document becomes a dynamic partition and a run."""


import json
import time
from pathlib import Path

import dagster as dg

from kyc_assets.onboarding.assets import document_text, documents_partitions, extracted_entities, raw_documents
from kyc_assets.onboarding.intake import InboxState, ingest, scan_inbox
from kyc_assets.resources import DocumentStoreResource

onboarding_job = dg.define_asset_job(
    "onboarding_job",
    selection=dg.AssetSelection.assets(raw_documents, document_text, extracted_entities),
    partitions_def=documents_partitions,
    description="Read one received document: detect its type, OCR it, extract its fields.",
)


def build_inbox_sensor(settle_seconds: float, max_files_per_tick: int) -> dg.SensorDefinition:
    @dg.sensor(
        job=onboarding_job,
        minimum_interval_seconds=10,
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
        quarantined = 0
        for path in ready:
            outcome = ingest(path, inbox, state, store, Path(documents.quarantine_dir))
            if outcome is None:  # changed while we read it: look again next tick
                continue
            if outcome.sha256 is None:
                quarantined += 1
            elif outcome.sha256 not in known and outcome.sha256 not in new_keys:
                new_keys.append(outcome.sha256)
        if quarantined:
            context.log.warning(f"quarantined {quarantined} unsupported file(s) into {documents.quarantine_dir}")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(partition_key=k, run_key=f"document:{k}") for k in new_keys],
            dynamic_partitions_requests=[documents_partitions.build_add_request(new_keys)] if new_keys else [],
            cursor=json.dumps(state.to_json()),
        )

    return inbox_sensor


def tick_inbox_sensor(sensor: dg.SensorDefinition, instance: dg.DagsterInstance,
                      documents: DocumentStoreResource, cursor: str | None) -> dg.SensorResult:
    """Evaluate one tick outside the daemon (demo, tests) and apply its partition requests as the daemon would."""
    defs = dg.Definitions(assets=[raw_documents, document_text, extracted_entities], jobs=[onboarding_job],
                          sensors=[sensor], resources={"documents": documents})
    # The instance ref lets the context validate run requests against the partitions the tick adds.
    ctx = dg.build_sensor_context(instance=instance, instance_ref=instance.get_ref(), cursor=cursor,
                                  resources={"documents": documents}, definitions=defs)
    result = sensor.evaluate_tick(ctx)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result
