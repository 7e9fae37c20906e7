"""Monitoring assets: transactions → per-account features → anomaly scores, per day."""


from pathlib import Path

import dagster as dg
import pandas as pd

from kyc_assets.monitoring.partitioning import partition_dates
from kyc_assets.quality import gx
from kyc_assets.quality.checks import gx_check, table_metadata
from kyc_assets.resources import MonitoringSettingsResource, TransactionSourceResource

_MONITORING = {"group_name": "monitoring", "owners": ["team:aml-monitoring"]}
# Feature windows reach back this many days; the features of day D read transactions D-29..D.
LOOKBACK_DAYS = 30


def daily_partitions(start_date: str) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=start_date, timezone="UTC")


def _source_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".parquet") and p.is_file())
    return [path]


def load_partitions(source: TransactionSourceResource, days: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the configured source, validate it, and keep the rows of ``days`` (valid and quarantined)."""
    from kyc_assets.monitoring.schema import read_transactions, validate_transactions

    path = Path(source.path)
    if not path.exists():
        raise dg.Failure(f"transactions source {path} does not exist (set KYC_TRANSACTIONS_PATH)")
    files = _source_files(path)
    raw = pd.concat([read_transactions(f) for f in files], ignore_index=True) if files else pd.DataFrame()
    valid, quarantine = validate_transactions(raw, default_currency=source.default_currency,
                                              base_currency=source.base_currency)
    valid_days, quarantine_days = partition_dates(valid, quarantine)
    quarantine = quarantine.assign(partition_date=pd.to_datetime(quarantine_days.to_numpy(), utc=True))
    return (valid[valid_days.isin(days).to_numpy()].reset_index(drop=True),
            quarantine[quarantine_days.isin(days).to_numpy()].reset_index(drop=True))


def build_monitoring_assets(start_date: str) -> list:
    partitions = daily_partitions(start_date)
    window = dg.TimeWindowPartitionMapping(start_offset=-(LOOKBACK_DAYS - 1), end_offset=0,
                                           allow_nonexistent_upstream_partitions=True)

    @dg.multi_asset(
        outs={
            "transactions": dg.AssetOut(
                kinds={"pandas", "duckdb"}, code_version="1", metadata={"partition_expr": '"timestamp"'},
                description="Validated transactions of the day in the canonical schema, amounts also in the "
                            "base currency.", **_MONITORING),
            "transactions_quarantine": dg.AssetOut(
                kinds={"pandas", "duckdb"}, code_version="1", metadata={"partition_expr": "partition_date"},
                description="Rows of the day that broke the schema, as received, with the reason. "
                            "Never silently dropped.", **_MONITORING),
        },
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec("transactions_valid", asset="transactions", blocking=True,
                              description="Required columns, ids unique and not null, amounts > 0 (GX)."),
            dg.AssetCheckSpec("transactions_quarantine_small", asset="transactions_quarantine",
                              description="Warns when more than 5% of the day's rows were quarantined."),
        ],
    )
    def transactions(context: dg.AssetExecutionContext, transaction_source: TransactionSourceResource):
        """Daily partitions of the canonical transaction schema, bad rows quarantined with a reason."""
        from kyc_assets.monitoring.schema import REQUIRED_COLUMNS

        valid, quarantine = load_partitions(transaction_source, context.partition_keys)
        yield dg.Output(valid, output_name="transactions", metadata=table_metadata(
            valid, amount_base_sum=float(valid["amount_base"].sum()) if len(valid) else 0.0))
        yield dg.Output(quarantine, output_name="transactions_quarantine", metadata=table_metadata(
            quarantine, reasons=dg.MetadataValue.json(quarantine["reason"].value_counts().to_dict()
                                                      if len(quarantine) else {})))
        yield gx_check(valid, gx.required_columns(*REQUIRED_COLUMNS, "amount_base")
                       + gx.not_null(*REQUIRED_COLUMNS) + gx.unique("transaction_id")
                       + gx.between("amount", 0.01, None), check_name="transactions_valid",
                       asset_key="transactions")
        total = len(valid) + len(quarantine)
        share = len(quarantine) / total if total else 0.0
        yield dg.AssetCheckResult(check_name="transactions_quarantine_small", asset_key="transactions_quarantine",
                                  passed=share <= 0.05, severity=dg.AssetCheckSeverity.WARN,
                                  metadata={"quarantined": len(quarantine), "share": round(share, 4)})

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={"transactions": dg.AssetIn(partition_mapping=window)},
        kinds={"duckdb"},
        code_version="1",
        metadata={"partition_expr": "as_of_date"},
        check_specs=[dg.AssetCheckSpec("transaction_features_valid", asset="transaction_features", blocking=True,
                                       description="One row per account, no null or negative counts (GX).")],
        **_MONITORING,
    )
    def transaction_features(context: dg.AssetExecutionContext, transactions: pd.DataFrame,
                             monitoring: MonitoringSettingsResource):
        """Per-account aggregates as of the day over rolling windows (1, 7, 30 days by default):
        flows in and out, fan-in and fan-out, cash share, structuring, round amounts, high-risk
        corridors, pass-through, velocity change and cycles."""
        from kyc_assets.monitoring.features import compute_features

        days = [pd.Timestamp(key).date() for key in context.partition_keys]
        features = compute_features(transactions, as_of=days, windows=tuple(monitoring.windows),
                                    reporting_threshold=monitoring.reporting_threshold,
                                    high_risk_countries=tuple(monitoring.high_risk_countries))
        features["as_of_date"] = pd.to_datetime(features["as_of_date"])
        yield dg.Output(features, metadata=table_metadata(features, input_transactions=len(transactions)))
        count_columns = [c for c in features.columns if c.endswith("_count_1d") or c.startswith("tx_")]
        yield gx_check(features, gx.not_null("account_id") + gx.unique("account_id", "as_of_date")
                       + [e for c in count_columns for e in gx.between(c, 0, None)],
                       check_name="transaction_features_valid")

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"scikitlearn", "duckdb"},
        code_version="1",
        metadata={"partition_expr": "as_of_date"},
        check_specs=[
            dg.AssetCheckSpec("anomaly_scores_valid", asset="anomaly_scores", blocking=True,
                              description="Risk scores in [0, 1], one row per account, reasons on alerts (GX)."),
            dg.AssetCheckSpec("alert_volume_in_bounds", asset="anomaly_scores",
                              description="Warns when more than 20% of accounts are alerted in a day."),
        ],
        **_MONITORING,
    )
    def anomaly_scores(context: dg.AssetExecutionContext, transaction_features: pd.DataFrame,
                       monitoring: MonitoringSettingsResource):
        """A risk score in [0, 1] per account for the day: an IsolationForest over the features
        combined with explainable typology rules (structuring, fan-in/out, cycles, pass-through,
        high-risk corridors), an alert flag, and the reasons."""
        from kyc_assets.monitoring.scoring import score_accounts

        # One model per day: an account is compared with the population of the same day.
        scores = pd.concat([score_accounts(day_features, contamination=monitoring.contamination,
                                           seed=monitoring.seed, alert_threshold=monitoring.alert_threshold)
                            for _, day_features in transaction_features.groupby("as_of_date", sort=True)]
                           or [score_accounts(transaction_features)], ignore_index=True)
        scores["as_of_date"] = pd.to_datetime(scores["as_of_date"])
        if "triggered_rules" in scores:
            scores["triggered_rules"] = scores["triggered_rules"].map(lambda v: ";".join(v) if isinstance(
                v, (list, tuple)) else (v or ""))
        scores["run_id"] = context.run_id
        alerts = int(scores["alert"].sum()) if len(scores) else 0
        yield dg.Output(scores, metadata=table_metadata(scores, alerts=alerts))
        alerted_without_reason = int((scores["alert"] & (scores["reasons"].fillna("") == "")).sum()) \
            if len(scores) else 0
        yield gx_check(scores, gx.required_columns("account_id", "as_of_date", "risk_score", "alert", "reasons")
                       + gx.not_null("account_id", "risk_score") + gx.unique("account_id", "as_of_date")
                       + gx.between("risk_score", 0, 1), check_name="anomaly_scores_valid",
                       extra_failures=[f"{alerted_without_reason} alerts without reasons"]
                       if alerted_without_reason else None)
        rate = alerts / len(scores) if len(scores) else 0.0
        yield dg.AssetCheckResult(check_name="alert_volume_in_bounds", passed=rate <= 0.2,
                                  severity=dg.AssetCheckSeverity.WARN,
                                  metadata={"alerts": alerts, "accounts": len(scores), "alert_rate": round(rate, 4)})

    return [transactions, transaction_features, anomaly_scores]
