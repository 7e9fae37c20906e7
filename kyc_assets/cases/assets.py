"""The escalation asset: screening hits, anomaly alerts and document failures become cases for human review."""


import json
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from kyc_assets.cases.escalation import (
    anomaly_candidates,
    document_candidates,
    merge_candidates,
    screening_candidates,
)
from kyc_assets.quality import gx
from kyc_assets.quality.checks import gx_check, table_metadata
from kyc_assets.resources import CaseStoreResource

CASE_COLUMNS = ["case_id", "subject_type", "subject_id", "status", "priority", "risk", "reasons", "due_date",
                "opened_at", "evidence_count", "evidence"]


DATA_VERSION_TAG = "dagster/data_version"
CODE_VERSION_TAG = "dagster/code_version"


def annotate_versions(instance: dg.DagsterInstance, candidates: list) -> int:
    """Add ``data_version`` and ``code_version`` (and the run id when missing) of the materialization
    each evidence reference points to (asset key + partition, the newest one, or the one of the
    referenced run); returns how many references were annotated. Evidence ids are unaffected."""
    cache: dict[tuple[str, str | None], list] = {}
    done = 0
    for cand in candidates:
        for evidence in cand.evidence:
            ref = evidence.reference
            key = (ref.get("asset_key"), ref.get("partition"))
            if not key[0]:
                continue
            if key not in cache:
                records_filter = dg.AssetRecordsFilter(asset_key=dg.AssetKey(key[0]),
                                                       asset_partitions=[key[1]] if key[1] else None)
                cache[key] = list(instance.fetch_materializations(records_filter, limit=20).records)
            records = cache[key]
            record = next((r for r in records if r.run_id == ref.get("run_id")), records[0] if records else None)
            if record is None:
                continue
            tags = record.asset_materialization.tags or {}
            ref.update({"data_version": tags.get(DATA_VERSION_TAG), "code_version": tags.get(CODE_VERSION_TAG),
                        "materialized_at": datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds")})
            ref.setdefault("run_id", record.run_id)
            ref["run_id"] = ref["run_id"] or record.run_id
            done += 1
    return done


def build_escalated_cases(sla_days) -> dg.AssetsDefinition:
    """The escalation asset; ``sla_days`` is the service level (days) for all priorities, or a
    mapping priority -> days (Settings.case_service_level)."""
    @dg.asset(
        group_name="cases",
        owners=["team:aml-investigations"],
        kinds={"sqlite", "duckdb"},
        code_version="2",
        automation_condition=dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
        .with_label("eager_allow_missing"),
        check_specs=[
            dg.AssetCheckSpec("escalated_cases_valid", asset="escalated_cases", blocking=True,
                              description="case ids unique, priorities 1-4, risk in [0, 1] (GX)."),
            dg.AssetCheckSpec("cases_have_evidence", asset="escalated_cases", blocking=True,
                              description="Every case has evidence; no subject has two open cases."),
        ],
    )
    def escalated_cases(context: dg.AssetExecutionContext, screening_results: pd.DataFrame,
                        customers: pd.DataFrame, anomaly_scores: pd.DataFrame, extracted_entities: pd.DataFrame,
                        case_store: CaseStoreResource):
        """Open cases for review: one per subject (customer, account, or an unmatched document),
        gathering new evidence instead of duplicating: screening hits that no analyst suppressed,
        anomaly alerts, and identity-document failures (invalid MRZ, expired, extraction
        disagreement). Priority from the combined risk, the reasons, a due date from the service
        level of that priority, and references back to the evidence (asset, partition, run id, data
        and code version, document sha256, list version, model version). Cases live in the case
        store (SQL); this table mirrors the active ones."""
        store = case_store.store()
        today = datetime.now(UTC).date().isoformat()
        candidates = merge_candidates(screening_candidates(screening_results, customers),
                                      document_candidates(extracted_entities, customers, today),
                                      anomaly_candidates(anomaly_scores))
        annotate_versions(context.instance, candidates)
        summary = store.escalate(candidates, sla_days=sla_days, actor=f"dagster:run:{context.run_id}")
        rows = [{**{k: c[k] for k in CASE_COLUMNS if k in c}, "evidence_count": len(c["evidence"]),
                 "evidence": json.dumps([{"kind": e["kind"], **json.loads(e["reference"])} for e in c["evidence"]],
                                        sort_keys=True)}
                for c in store.open_cases()]
        df = pd.DataFrame(rows, columns=CASE_COLUMNS)
        yield dg.Output(df, metadata=table_metadata(
            df, **{k: int(v) for k, v in summary.items()}, pii_stored=store.stores_pii,
            by_priority=dg.MetadataValue.json({str(k): int(v) for k, v in df["priority"].value_counts().items()})))
        yield gx_check(df, gx.required_columns(*CASE_COLUMNS) + gx.not_null("case_id", "subject_id", "priority")
                       + gx.unique("case_id") + gx.between("priority", 1, 4) + gx.between("risk", 0, 1),
                       check_name="escalated_cases_valid")
        no_evidence = int((df["evidence_count"] == 0).sum())
        duplicates = int(df.duplicated(["subject_type", "subject_id"]).sum())
        yield dg.AssetCheckResult(check_name="cases_have_evidence", passed=no_evidence == 0 and duplicates == 0,
                                  metadata={"cases_without_evidence": no_evidence,
                                            "duplicate_open_cases": duplicates})

    return escalated_cases
