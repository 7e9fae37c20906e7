"""The escalation asset: screening hits and anomaly alerts become cases for human review."""


import json

import dagster as dg
import pandas as pd

from kyc_assets.cases.escalation import anomaly_candidates, screening_candidates
from kyc_assets.quality import gx
from kyc_assets.quality.checks import gx_check, table_metadata
from kyc_assets.resources import CaseStoreResource

CASE_COLUMNS = ["case_id", "subject_type", "subject_id", "status", "priority", "risk", "reasons", "due_date",
                "opened_at", "evidence_count", "evidence"]


def build_escalated_cases(sla_days: int) -> dg.AssetsDefinition:
    @dg.asset(
        group_name="cases",
        owners=["team:aml-investigations"],
        kinds={"sqlite", "duckdb"},
        code_version="1",
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
                        customers: pd.DataFrame, anomaly_scores: pd.DataFrame, case_store: CaseStoreResource):
        """Open cases for review: one per subject (customer or account), gathering new evidence instead
        of duplicating, with a priority from the combined risk, the reasons, a due date from the
        service level, and references back to the evidence (asset, partition, run id, document
        sha256, list version). Cases live in the case store (SQL); this table mirrors the open ones."""
        store = case_store.store()
        candidates = screening_candidates(screening_results, customers) + anomaly_candidates(anomaly_scores)
        summary = store.escalate(candidates, sla_days=sla_days, actor=f"dagster:run:{context.run_id}")
        rows = [{**{k: c[k] for k in CASE_COLUMNS if k in c}, "evidence_count": len(c["evidence"]),
                 "evidence": json.dumps([{"kind": e["kind"], **json.loads(e["reference"])} for e in c["evidence"]],
                                        sort_keys=True)}
                for c in store.open_cases()]
        df = pd.DataFrame(rows, columns=CASE_COLUMNS)
        yield dg.Output(df, metadata=table_metadata(
            df, **{k: int(v) for k, v in summary.items()},
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
