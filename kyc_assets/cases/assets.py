"""The escalation asset: screening hits, anomaly alerts and document failures become cases for human review."""


import contextlib
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
from kyc_assets.cases.triage import distribution, spread_ok
from kyc_assets.quality import gx
from kyc_assets.quality.checks import gx_check, table_metadata
from kyc_assets.resources import CaseStoreResource, WarehouseIOManager, warehouse_io_manager_fields

CASE_COLUMNS = ["case_id", "subject_type", "subject_id", "status", "priority", "risk", "reasons", "due_date",
                "opened_at", "evidence_count", "evidence"]


# The priorities_spread check judges queues of at least this many open cases.
TRIAGE_MIN_CASES = 10
DATA_VERSION_TAG = "dagster/data_version"
CODE_VERSION_TAG = "dagster/code_version"
# Lineage stops at these: every upstream materialization behind a case is reached from its evidence.
LINEAGE_STOP = frozenset({"escalated_cases"})


def annotate_versions(instance: dg.DagsterInstance, candidates: list, asset_graph=None,
                      skip: set[str] | frozenset[str] = frozenset()) -> int:
    """Record on each evidence reference the exact materialization it came from and everything behind it.

    The root is the materialization of the run recorded on the evidence row (``run_id``), never
    another run's; evidence without a run id (a document failure) is the partition's materialization
    this escalation read. Each reference gets ``storage_id``, ``data_version``, ``code_version``,
    ``materialized_at`` and ``lineage`` (asset key -> storage ids, see audit/lineage.py; partitions come
    from ``asset_graph``), or ``lineage_error`` when the referenced run has no such materialization.
    Evidence ids are unaffected; references of evidence ids in ``skip`` (already stored) are left alone.
    Returns how many references were annotated."""
    from kyc_assets.audit.lineage import (
        evidence_scope,
        latest_at_or_before,
        materialization_of_run,
        walker,
    )

    walk = walker(instance, asset_graph)
    roots: dict[tuple, object] = {}
    done = 0
    for cand in candidates:
        for evidence in cand.evidence:
            ref = evidence.reference
            if not ref.get("asset_key") or evidence.evidence_id in skip:
                continue
            key = (ref["asset_key"], ref.get("partition"), ref.get("run_id"))
            if key not in roots:
                roots[key] = (materialization_of_run(instance, key[0], key[2], key[1]) if key[2]
                              else latest_at_or_before(instance, key[0], key[1], None))
            record = roots[key]
            if record is None:
                ref["lineage_error"] = (f"no materialization of {key[0]}{f'[{key[1]}]' if key[1] else ''}"
                                        f"{f' in run {key[2]}' if key[2] else ''}")
                continue
            tags = record.asset_materialization.tags or {}
            ref.update({"data_version": tags.get(DATA_VERSION_TAG), "code_version": tags.get(CODE_VERSION_TAG),
                        "materialized_at": datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds"),
                        "run_id": record.run_id,
                        **walk.walk(record, evidence_scope(ref), stop_at=LINEAGE_STOP).as_reference()})
            done += 1
    return done


def _summary(reference: dict) -> dict:
    """An evidence reference for the table (the lineage's storage ids stay in the case store)."""
    return {k: v for k, v in reference.items() if k not in ("lineage", "lineage_unresolved")}


def _lineage_graph(context: dg.AssetExecutionContext, lineage_assets, cache: list):
    """The asset graph the evidence's lineage is walked through: the code location's (a run launched by
    the Dagster daemon or UI), else one built once from ``lineage_assets`` (``dg.materialize``, e.g. the
    demo), else the run's own job graph (its selection and their direct parents only)."""
    with contextlib.suppress(Exception):  # dagster raises a bare CheckError when a run has no repository
        return context.repository_def.asset_graph
    if lineage_assets:
        if not cache:
            # The graph alone (dg.Definitions would also demand every resource the assets require).
            from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

            cache.append(AssetGraph.from_assets(list(lineage_assets)))
        return cache[0]
    return context.job_def.asset_layer.asset_graph


EVIDENCE_INPUTS = "escalation_evidence_inputs"


class _OptionalInputs(dg.IOManager):
    """Loads through the warehouse; a table that was never materialized loads as an empty frame, with a
    warning (a deployment that screens but does not monitor transactions still escalates)."""

    def __init__(self, inner):
        self.inner = inner

    def handle_output(self, context, obj):  # pragma: no cover - inputs only
        raise NotImplementedError("an input manager")

    def load_input(self, context):
        try:
            return self.inner.load_input(context)
        except Exception as exc:
            if "does not exist" not in str(exc):
                raise
            context.log.warning(f"{context.upstream_output.asset_key.to_user_string() if context.upstream_output else 'input'}"
                                " is not in the warehouse: alerts escalate without the numbers and transactions "
                                "behind them, and no counterparty roles are inferred")
            return pd.DataFrame()


class OptionalWarehouseInputs(WarehouseIOManager):
    """The warehouse as an input manager for escalation's evidence inputs (see _OptionalInputs)."""

    def create_io_manager(self, context):
        return _OptionalInputs(super().create_io_manager(context))


def build_escalated_cases(sla_days, lineage_assets=None, *, evidence_inputs: bool = False,
                          settings=None) -> dg.AssetsDefinition:
    """The escalation asset; ``sla_days`` is the service level (days) for all priorities, or a
    mapping priority -> days (Settings.case_service_level). ``lineage_assets``: every other asset of the
    code location, used to walk the evidence's lineage when a run has no repository (``dg.materialize``).
    ``evidence_inputs``: also read ``transaction_features`` and ``transactions`` (the code location does):
    the numbers and transactions behind each alert, and the merchant/payroll roles the transactions show
    (cases/roles.py). ``settings``: the reporting threshold, currency, high-risk countries and the roles
    file (KYC_ACCOUNT_ROLES_PATH); the environment's when None."""
    from kyc_assets.cases.roles import infer_roles, load_roles_file
    from kyc_assets.settings import Settings

    settings = settings or Settings.from_env()
    roles_file = load_roles_file(settings.account_roles_path)  # a bad file fails at load, in one line
    graph_cache: list = []
    extra_ins = {"transaction_features": dg.AssetIn(input_manager_key=EVIDENCE_INPUTS), "transactions": dg.AssetIn(
        input_manager_key=EVIDENCE_INPUTS,
        metadata={"columns": ["transaction_id", "timestamp", "sender_account", "receiver_account", "amount",
                              "currency", "channel", "sender_country", "receiver_country"]})} \
        if evidence_inputs else {}
    extra_resources = {EVIDENCE_INPUTS: OptionalWarehouseInputs(**warehouse_io_manager_fields(settings))} \
        if evidence_inputs else None

    @dg.asset(
        ins=extra_ins or None,
        resource_defs=extra_resources,
        required_resource_keys={"case_store"},
        group_name="cases",
        owners=["team:aml-investigations"],
        kinds={"sqlite", "duckdb"},
        code_version="3",
        automation_condition=dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
        .with_label("eager_allow_missing"),
        check_specs=[
            dg.AssetCheckSpec("escalated_cases_valid", asset="escalated_cases", blocking=True,
                              description="case ids unique, priorities 1-4, risk in [0, 1] (GX)."),
            dg.AssetCheckSpec("cases_have_evidence", asset="escalated_cases", blocking=True,
                              description="Every case has evidence; no subject has two open cases."),
            dg.AssetCheckSpec("priorities_spread", asset="escalated_cases",
                              description=f"Triage ranks the queue: a queue of {TRIAGE_MIN_CASES} or more open "
                                          "cases does not put them all at one priority (cases/triage.py)."),
        ],
    )
    def escalated_cases(context: dg.AssetExecutionContext, screening_results: pd.DataFrame,
                        customers: pd.DataFrame, anomaly_scores: pd.DataFrame, extracted_entities: pd.DataFrame,
                        **evidence: pd.DataFrame):
        """Open cases for review: one per subject (customer, account, or an unmatched document),
        gathering new evidence instead of duplicating: screening hits that no analyst suppressed,
        anomaly alerts, and identity-document failures (invalid MRZ, expired, extraction
        disagreement). Priority from the combined risk, the reasons, a due date from the service
        level of that priority, and references back to the evidence (asset, partition, run id, data
        and code version, document sha256, list version, model version). Cases live in the case
        store (SQL); this table mirrors the active ones."""
        case_store: CaseStoreResource = context.resources.case_store
        store = case_store.store()
        today = datetime.now(UTC).date().isoformat()
        candidates = merge_candidates(screening_candidates(screening_results, customers),
                                      document_candidates(extracted_entities, customers, today),
                                      anomaly_candidates(
                                          anomaly_scores, features=evidence.get("transaction_features"),
                                          transactions=evidence.get("transactions"),
                                          roles={**infer_roles(evidence.get("transactions", pd.DataFrame())),
                                                 **roles_file},
                                          threshold=settings.reporting_threshold, currency=settings.base_currency,
                                          high_risk=tuple(settings.high_risk_countries)))
        annotate_versions(context.instance, candidates, _lineage_graph(context, lineage_assets, graph_cache),
                          skip=store.known_evidence_ids([e.evidence_id for c in candidates for e in c.evidence]))
        summary = store.escalate(candidates, sla_days=sla_days, actor=f"dagster:run:{context.run_id}")
        rows = [{**{k: c[k] for k in CASE_COLUMNS if k in c}, "evidence_count": len(c["evidence"]),
                 "evidence": json.dumps([{"kind": e["kind"], **_summary(json.loads(e["reference"]))}
                                         for e in c["evidence"]], sort_keys=True)}
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
        priorities = [int(p) for p in df["priority"]]
        yield dg.AssetCheckResult(check_name="priorities_spread", passed=spread_ok(priorities, TRIAGE_MIN_CASES),
                                  metadata={"open_cases": len(priorities), "min_cases": TRIAGE_MIN_CASES,
                                            "by_priority": dg.MetadataValue.json(
                                                {str(k): v for k, v in distribution(priorities).items()})})
        yield dg.AssetCheckResult(check_name="cases_have_evidence", passed=no_evidence == 0 and duplicates == 0,
                                  metadata={"cases_without_evidence": no_evidence,
                                            "duplicate_open_cases": duplicates})

    return escalated_cases
