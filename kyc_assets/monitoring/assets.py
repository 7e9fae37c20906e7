"""Monitoring assets: transactions -> per-account features -> anomaly model -> anomaly scores -> report.

- ``transactions`` / ``transaction_features`` / ``anomaly_scores`` are daily partitions (UTC) with
  single-run backfills: a backfill of months is one run that streams the source once.
- ``anomaly_model`` is unpartitioned: retrained on a cron (``KYC_MODEL_RETRAIN_CRON``, weekly by default)
  over the last ``model_training_days`` as-of dates of ``transaction_features``. Its artefact lives in the
  model registry (``$KYC_HOME/models/<version>.joblib``), not in the warehouse; every score row carries
  the ``model_version`` that produced it, and every version stays on disk.
- ``model_validation_report`` is the markdown evidence for the current model version.
"""

from datetime import UTC, datetime

import dagster as dg
import numpy as np
import pandas as pd

from kyc_assets.monitoring.model import MODEL_CODE_VERSION
from kyc_assets.quality import gx
from kyc_assets.quality.checks import gx_check, table_metadata
from kyc_assets.resources import CaseStoreResource, MonitoringSettingsResource, TransactionSourceResource

_MONITORING = {"group_name": "monitoring", "owners": ["team:aml-monitoring"]}
# The features of day D read transactions D-89..D: the graph typologies look at the flows of those 90 days
# (cycles, fan-in and fan-out bursts spread over weeks to months); the window features use the last 37 (the
# 30-day windows plus the 7 days in which a dormant account, inactive >= 30 days, can be seen waking up).
LOOKBACK_DAYS = 90


def feature_params(monitoring: MonitoringSettingsResource):
    """The feature configuration from the monitoring resource: the same :class:`FeatureParams` the CLI
    builds from the settings (``FeatureParams.from_settings``), with the resource's windows."""
    from kyc_assets.monitoring.features import FeatureParams

    return FeatureParams(windows=tuple(monitoring.windows), reporting_threshold=monitoring.reporting_threshold,
                         high_risk_countries=tuple(monitoring.high_risk_countries))


def daily_partitions(start_date: str) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=start_date, timezone="UTC")


DEFAULT_RETRAIN_CRON = "0 3 * * 1"
MODEL_KEY = dg.AssetKey("anomaly_model")


def current_model_version(instance: dg.DagsterInstance) -> str:
    """The version of the latest materialization of ``anomaly_model`` (the model scores must use)."""
    record = instance.get_latest_materialization_event(MODEL_KEY)
    if record is None or record.asset_materialization is None:
        raise dg.Failure("anomaly_model has not been materialized yet: materialize it before anomaly_scores")
    value = record.asset_materialization.metadata.get("model_version")
    if value is None:
        raise dg.Failure("the latest anomaly_model materialization records no model_version")
    return str(value.value)


def current_supervised_version(instance: dg.DagsterInstance) -> str | None:
    """The supervised model recorded by the latest ``anomaly_model`` materialization (None: not enough labels)."""
    record = instance.get_latest_materialization_event(MODEL_KEY)
    if record is None or record.asset_materialization is None:
        return None
    value = record.asset_materialization.metadata.get("supervised_version")
    return str(value.value) if value is not None and value.value else None


def _days(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["as_of_date"]).dt.strftime("%Y-%m-%d") if len(frame) else pd.Series([], dtype=str)


def feature_null_rates(features: pd.DataFrame, columns: list[str]) -> dict[str, float]:
    """Share of missing (NaN/None/inf) values per model feature."""
    if not len(features):
        return {}
    out = {}
    for col in columns:
        values = pd.to_numeric(features[col], errors="coerce") if col in features else pd.Series(np.nan, index=features.index)
        out[col] = float((~np.isfinite(values.to_numpy(dtype=float))).mean())
    return out


def drift_columns(columns: list[str]) -> list[str]:
    """The features the day-on-day drift check compares: the longest window's and the global ones.

    Short windows (1 and 7 days) follow the weekly and pay-day rhythm of the population, so a
    day-on-day PSI on them would alarm every Monday; the longest rolling window moves only when the
    population's behaviour really shifts.
    """
    windows = [int(c.rsplit("_", 1)[1][:-1]) for c in columns
               if "_" in c and c.endswith("d") and c.rsplit("_", 1)[1][:-1].isdigit()]
    longest = f"_{max(windows)}d" if windows else None
    return [c for c in columns if (longest and c.endswith(longest)) or not c.rsplit("_", 1)[-1][:-1].isdigit()]


def feature_drift(features: pd.DataFrame, days: list[str], columns: list[str], min_rows: int = 50) -> dict:
    """Per scored day, the feature with the largest PSI against the day before, and that PSI.

    Days where either side has fewer than ``min_rows`` account rows are not compared (too noisy).
    """
    from kyc_assets.monitoring.model import feature_matrix, psi

    if not len(features) or not columns:
        return {}
    day_of = _days(features).to_numpy()
    x = feature_matrix(features, columns)
    out = {}
    for day in days:
        before = (pd.Timestamp(day) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        today, yesterday = x[day_of == day], x[day_of == before]
        if len(today) < min_rows or len(yesterday) < min_rows:
            continue
        scores = [psi(yesterday[:, i], today[:, i]) for i in range(len(columns))]
        worst = int(np.argmax(scores))
        out[day] = (columns[worst], round(float(scores[worst]), 4))
    return out


def build_monitoring_assets(start_date: str, retrain_cron: str = DEFAULT_RETRAIN_CRON) -> list:
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
        from kyc_assets.monitoring.schema import REQUIRED_COLUMNS, TransactionSchemaError

        try:
            valid, quarantine = transaction_source.load_days(list(context.partition_keys))
        except TransactionSchemaError as exc:
            raise dg.Failure(str(exc)) from None
        yield dg.Output(valid, output_name="transactions", metadata=table_metadata(
            valid, amount_base_sum=float(valid["amount_base"].sum()) if len(valid) else 0.0,
            source=transaction_source.describe()))
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
        from kyc_assets.monitoring.features import compute_features, prepare_transactions
        from kyc_assets.monitoring.graph import GRAPH_FEATURES, graph_features_by_day
        from kyc_assets.monitoring.scoring import available_inputs, skipped_rules

        days = [pd.Timestamp(key).date() for key in context.partition_keys]
        params = feature_params(monitoring)
        features = compute_features(transactions, as_of=days, params=params)
        graph = graph_features_by_day(prepare_transactions(transactions) if len(transactions) else
                                      pd.DataFrame(columns=["ts", "s", "r", "amt"]), days, LOOKBACK_DAYS, params.graph)
        features = features.merge(graph, on=["account_id", "as_of_date"], how="left")
        features[list(GRAPH_FEATURES)] = features[list(GRAPH_FEATURES)].fillna(0.0)
        features["as_of_date"] = pd.to_datetime(features["as_of_date"])
        available = available_inputs(transactions) if len(transactions) else set()
        yield dg.Output(features, metadata=table_metadata(
            features, input_transactions=len(transactions), optional_inputs=", ".join(sorted(available)) or "none",
            rules_skipped=", ".join(skipped_rules(available)) or "none"))
        count_columns = [c for c in features.columns if c.endswith("_count_1d") or c.startswith("tx_")]
        yield gx_check(features, gx.not_null("account_id") + gx.unique("account_id", "as_of_date")
                       + [e for c in count_columns for e in gx.between(c, 0, None)],
                       check_name="transaction_features_valid")


    @dg.asset(
        deps=[transaction_features],
        kinds={"scikitlearn"},
        code_version=MODEL_CODE_VERSION,
        automation_condition=dg.AutomationCondition.on_cron(retrain_cron, cron_timezone="UTC"),
        check_specs=[dg.AssetCheckSpec("anomaly_model_trained", asset="anomaly_model", blocking=True,
                                       description="Trained on at least 50 account-days with a non-empty "
                                                   "feature list; artefact written and reloadable.")],
        **_MONITORING,
    )
    def anomaly_model(context: dg.AssetExecutionContext, monitoring: MonitoringSettingsResource,
                      case_store: CaseStoreResource):
        """The unsupervised anomaly detector (IsolationForest on log-scaled, robust-scaled features),
        trained on the last ``model_training_days`` as-of dates of transaction_features and stored as a
        versioned artefact in the model registry, with its parameters, feature list, training-data
        version (hash), code version and feature statistics recorded for model risk management.
        Once analysts have decided at least ``KYC_MODEL_MIN_LABELS`` alert cases (confirmed or false
        positive), a supervised gradient-boosting model on the same features (graph typologies included) is
        trained beside it, validated on the latest decisions (time-based split) and versioned too."""
        from kyc_assets.monitoring.model import fit_model, fit_supervised, read_feature_window
        from kyc_assets.monitoring.scoring import inputs_from_features, score_with_model
        from kyc_assets.monitoring.validation import alert_decisions

        try:
            training = read_feature_window(monitoring.warehouse_path, last_days=monitoring.model_training_days)
        except LookupError as exc:
            raise dg.Failure(str(exc)) from None
        available = inputs_from_features(training)
        model = fit_model(training, contamination=monitoring.contamination, seed=monitoring.seed,
                          max_training_rows=monitoring.model_max_training_rows, available=available)
        registry = monitoring.registry()
        path = registry.save(model)
        reloaded = registry.load(model.version)
        engine = case_store.store().engine
        try:
            decisions = alert_decisions(engine)
        finally:
            engine.dispose()
        decided = decisions[decisions["decided"]].rename(columns={"confirmed": "confirmed"})
        latest = training.sort_values("as_of_date").drop_duplicates("account_id", keep="last") if len(training) \
            else training
        previous_supervised = registry.latest("supervised")
        if len(decided) and len(latest):
            latest = latest.assign(unsupervised_risk=score_with_model(
                latest.reset_index(drop=True), model, available=available)["risk_score"].to_numpy())
        supervised = fit_supervised(latest, decided[["account_id", "confirmed", "decided_at"]],
                                    min_labels=monitoring.model_min_labels, seed=monitoring.seed,
                                    available=available,
                                    previous=registry.load(previous_supervised) if previous_supervised else None) \
            if len(decided) else None
        if supervised is not None:
            registry.save(supervised)
            context.log.info(f"supervised model {supervised.version} trained on {supervised.training_rows} decisions")
        context.log.info(f"anomaly model {model.version} trained on {model.training_rows} account-days")
        enough = model.training_rows >= 50 and bool(model.feature_columns) and reloaded.forest is not None
        yield dg.MaterializeResult(
            metadata={
                "model_version": model.version,
                "artefact": dg.MetadataValue.path(str(path)),
                "code_version": model.code_version,
                "training_data_version": model.training_data_version,
                "training_window": f"{model.training_window[0]} .. {model.training_window[1]}",
                "training_rows": model.training_rows,
                "training_accounts": int(training["account_id"].nunique()) if len(training) else 0,
                "trained_at": model.trained_at,
                "previous_version": registry.previous_version(model.version) or "",
                "params": dg.MetadataValue.json(model.params),
                "feature_columns": dg.MetadataValue.json(model.feature_columns),
                "feature_summary": dg.MetadataValue.json(model.summary),
                "decided_cases": len(decided),
                "min_labels": monitoring.model_min_labels,
                "supervised_version": supervised.version if supervised is not None else "",
                "supervised_validation": dg.MetadataValue.json(supervised.validation if supervised is not None
                                                               else {}),
            },
            check_results=[dg.AssetCheckResult(
                check_name="anomaly_model_trained", passed=enough,
                metadata={"training_rows": model.training_rows, "features": len(model.feature_columns)})],
        )

    drift_window = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=0,
                                                 allow_nonexistent_upstream_partitions=True)

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[anomaly_model],
        # The day before is loaded too: the drift check compares each day with the previous partition.
        ins={"transaction_features": dg.AssetIn(partition_mapping=drift_window)},
        kinds={"scikitlearn", "duckdb"},
        code_version="2",
        metadata={"partition_expr": "as_of_date"},
        check_specs=[
            dg.AssetCheckSpec("anomaly_scores_valid", asset="anomaly_scores", blocking=True,
                              description="Risk scores in [0, 1], one row per account, reasons on alerts, "
                                          "model_version on every row (GX)."),
            dg.AssetCheckSpec("alert_volume_in_bounds", asset="anomaly_scores",
                              description="Warns when a day's alert share is outside "
                                          "[KYC_ALERT_SHARE_MIN, KYC_ALERT_SHARE_MAX]."),
            dg.AssetCheckSpec("feature_null_rates", asset="anomaly_scores",
                              description="Fails when a model feature is missing (NaN/inf, scored as 0) in more "
                                          "than KYC_FEATURE_MAX_NULL_RATE of the account-days."),
            dg.AssetCheckSpec("feature_drift_psi", asset="anomaly_scores",
                              description="Warns when a feature's population stability index against the "
                                          "previous day exceeds KYC_FEATURE_DRIFT_PSI (longest-window and "
                                          "global features; days with >= 50 accounts)."),
            dg.AssetCheckSpec("anomaly_model_not_stale", asset="anomaly_scores",
                              description="Warns when the model was trained more than KYC_MODEL_MAX_AGE_DAYS "
                                          "ago, or its training data ends that long before the scored day."),
        ],
        **_MONITORING,
    )
    def anomaly_scores(context: dg.AssetExecutionContext, transaction_features: pd.DataFrame,
                       monitoring: MonitoringSettingsResource):
        """A risk score in [0, 1] per account per day from the current anomaly_model (one version for
        the whole run, recorded in ``model_version``) combined with explainable typology rules
        (structuring, fan-in/out, cycles, pass-through, high-risk corridors, velocity), an alert flag
        under the configured policy (threshold or daily alert budget), and the reasons: triggered
        typologies first, then the features that contributed most."""
        from kyc_assets.monitoring.scoring import inputs_from_features, score_with_model, skipped_rules

        version = current_model_version(context.instance)
        supervised_version = current_supervised_version(context.instance)
        try:
            model = monitoring.registry().load(version)
            supervised = monitoring.registry().load(supervised_version) if supervised_version else None
        except FileNotFoundError as exc:
            raise dg.Failure(f"{exc}; rematerialize anomaly_model") from None
        days = sorted(context.partition_keys)
        day_of = _days(transaction_features)
        todays = transaction_features[day_of.isin(days).to_numpy()].reset_index(drop=True)
        available = inputs_from_features(transaction_features)
        scores = score_with_model(todays, model, alert_threshold=monitoring.alert_threshold,
                                  alert_policy=monitoring.alert_policy, alert_budget=monitoring.alert_budget,
                                  available=available, supervised=supervised)
        scores["as_of_date"] = pd.to_datetime(scores["as_of_date"])
        scores["triggered_rules"] = scores["triggered_rules"].map(
            lambda v: ";".join(v) if isinstance(v, (list, tuple)) else (v or ""))
        scores["run_id"] = context.run_id
        alerts = int(scores["alert"].sum()) if len(scores) else 0
        yield dg.Output(scores, metadata=table_metadata(scores, alerts=alerts, model_version=version,
                                                        supervised_version=supervised_version or "",
                                                        alert_policy=monitoring.alert_policy,
                                                        rules_skipped=", ".join(skipped_rules(available)) or "none"))

        alerted_without_reason = int((scores["alert"] & (scores["reasons"].fillna("") == "")).sum()) \
            if len(scores) else 0
        yield gx_check(scores, gx.required_columns("account_id", "as_of_date", "risk_score", "alert", "reasons",
                                                   "model_version")
                       + gx.not_null("account_id", "risk_score", "model_version")
                       + gx.unique("account_id", "as_of_date") + gx.between("risk_score", 0, 1),
                       check_name="anomaly_scores_valid",
                       extra_failures=[f"{alerted_without_reason} alerts without reasons"]
                       if alerted_without_reason else None)

        per_day = scores.groupby(_days(scores).to_numpy())["alert"].agg(["size", "mean"]) if len(scores) \
            else pd.DataFrame(columns=["size", "mean"])
        outside = per_day[(per_day["mean"] < monitoring.alert_share_min) | (per_day["mean"] > monitoring.alert_share_max)]
        yield dg.AssetCheckResult(
            check_name="alert_volume_in_bounds", passed=outside.empty, severity=dg.AssetCheckSeverity.WARN,
            metadata={"alerts": alerts, "accounts": len(scores), "days": len(per_day),
                      "days_outside_bounds": len(outside),
                      "bounds": f"[{monitoring.alert_share_min}, {monitoring.alert_share_max}]",
                      "max_daily_share": round(float(per_day["mean"].max()), 4) if len(per_day) else 0.0,
                      "min_daily_share": round(float(per_day["mean"].min()), 4) if len(per_day) else 0.0})

        nulls = feature_null_rates(todays, model.feature_columns)
        worst_null = max(nulls, key=nulls.get) if nulls else None
        yield dg.AssetCheckResult(
            check_name="feature_null_rates", severity=dg.AssetCheckSeverity.ERROR,
            passed=not nulls or nulls[worst_null] <= monitoring.feature_max_null_rate,
            metadata={"max_null_rate": round(nulls[worst_null], 4) if nulls else 0.0,
                      "worst_feature": worst_null or "", "limit": monitoring.feature_max_null_rate,
                      "features_over_limit": sum(v > monitoring.feature_max_null_rate for v in nulls.values())})

        drift = feature_drift(transaction_features, days, drift_columns(model.feature_columns))
        drifted = {d: v for d, v in drift.items() if v[1] > monitoring.feature_drift_psi}
        yield dg.AssetCheckResult(
            check_name="feature_drift_psi", passed=not drifted, severity=dg.AssetCheckSeverity.WARN,
            metadata={"days_compared": len(drift), "days_drifted": len(drifted),
                      "threshold": monitoring.feature_drift_psi,
                      "max_psi": max((v[1] for v in drift.values()), default=0.0),
                      "drifted": dg.MetadataValue.json({d: {"feature": f, "psi": p} for d, (f, p) in drifted.items()})})

        trained = datetime.fromisoformat(model.trained_at)
        age_days = (datetime.now(UTC) - trained).total_seconds() / 86400
        lag_days = (pd.Timestamp(days[-1]) - pd.Timestamp(model.training_window[1])).days \
            if model.training_window[1] else 0
        yield dg.AssetCheckResult(
            check_name="anomaly_model_not_stale", severity=dg.AssetCheckSeverity.WARN,
            passed=age_days <= monitoring.model_max_age_days and lag_days <= monitoring.model_max_age_days,
            metadata={"model_version": version, "model_age_days": round(age_days, 2),
                      "days_since_training_data": lag_days, "max_age_days": monitoring.model_max_age_days})

    @dg.asset(
        deps=[anomaly_model, anomaly_scores],
        kinds={"duckdb"},
        code_version="1",
        automation_condition=dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
        .with_label("eager_allow_missing"),
        check_specs=[dg.AssetCheckSpec("model_validation_report_complete", asset="model_validation_report",
                                       description="Every section present and the training data still "
                                                   "hashes to the model's recorded training-data version.")],
        **_MONITORING,
    )
    def model_validation_report(context: dg.AssetExecutionContext, monitoring: MonitoringSettingsResource,
                                case_store: CaseStoreResource):
        """Model validation report of the current anomaly_model version (markdown, readable in the UI):
        training data summary, parameters, feature contributions, stability against the previous
        version (PSI), alert volume, and precision of past alerts against analysts' case decisions."""
        from kyc_assets.monitoring.model import read_feature_window, read_scores_by_day
        from kyc_assets.monitoring.validation import SECTIONS, alert_decisions, build_report

        version = current_model_version(context.instance)
        registry = monitoring.registry()
        model = registry.load(version)
        start, end = model.training_window
        training = read_feature_window(monitoring.warehouse_path, start=start, end=end)
        previous = previous_training = None
        previous_version = registry.previous_version(version)
        if previous_version:
            previous = registry.load(previous_version)
            previous_training = read_feature_window(monitoring.warehouse_path, start=previous.training_window[0],
                                                    end=previous.training_window[1])
        engine = case_store.store().engine
        try:
            decisions = alert_decisions(engine)
        finally:
            engine.dispose()
        supervised_version = current_supervised_version(context.instance)
        report = build_report(model, training, previous=previous, previous_training=previous_training,
                              scores_by_day=read_scores_by_day(monitoring.warehouse_path, version),
                              decisions=decisions, alert_threshold=monitoring.alert_threshold,
                              psi_threshold=monitoring.feature_drift_psi,
                              supervised=registry.load(supervised_version) if supervised_version else None)
        path = registry.root / f"{version}.validation.md"
        path.write_text(report.markdown, encoding="utf-8")
        m = report.metrics
        frame = pd.DataFrame([{
            "model_version": version, "previous_version": m.get("previous_version") or "",
            "generated_at": pd.Timestamp.now(tz="UTC"), "training_rows": m["training_rows"],
            "training_data_reproduced": m["training_data_reproduced"], "alerts": m["alerts"],
            "decided_cases": m["decided_cases"], "precision": m["precision"], "report_markdown": report.markdown}])
        yield dg.Output(frame, metadata={
            "report": dg.MetadataValue.md(report.markdown), "model_version": version,
            "report_path": dg.MetadataValue.path(str(path)), "decided_cases": m["decided_cases"],
            "precision": float(m["precision"]) if m["precision"] is not None else dg.MetadataValue.null(),
            "training_data_reproduced": m["training_data_reproduced"]})
        missing = [s for s in SECTIONS if f"## {s}" not in report.markdown]
        yield dg.AssetCheckResult(
            check_name="model_validation_report_complete", severity=dg.AssetCheckSeverity.WARN,
            passed=not missing and m["training_data_reproduced"],
            metadata={"missing_sections": ", ".join(missing), "training_data_reproduced": m["training_data_reproduced"]})

    return [transactions, transaction_features, anomaly_model, anomaly_scores, model_validation_report]
