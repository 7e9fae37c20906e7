"""The single transaction-monitoring path shared by the Dagster assets and ``kyc monitor``.

validate -> graph typologies over the whole period + window features at several as-of dates -> scores ->
per account, the as-of date of its highest risk -> the alert policy over the period.

An account's result covers the whole input, not only its last days: the graph typologies
(:mod:`kyc_assets.monitoring.graph`) look at every transfer of the period at once; the window features are
computed as of every ``as_of_step_days`` (7) days counting back from the last transaction date (windows
ending there) over the accounts active since the previous as-of date, all scored by one anomaly model (a
registered one, or one fitted on the batch and said so in the notes), with the same rules and the same
combination as the assets (:func:`~kyc_assets.monitoring.scoring.score_with_model`). Each account keeps its
highest-risk date with that date's reasons, so a pattern early in the period is still alerted.

The alert policy is applied once over the period: under the default ``budget`` policy the
``ceil(budget * active account-days)`` highest-risk accounts are alerted (the daily budget summed over the
period's days); under ``threshold``, :func:`period_calibrate`. :class:`MonitorConfig` holds every choice
(features, model, policy) and is built from the platform settings by ``MonitorConfig.from_settings``.

:func:`monitor_file` streams a file of any size: chunks are validated (duplicates found across chunks)
and appended to a DuckDB table that spills to disk past ``memory_limit``, so a multi-GB file never sits
in a pandas frame.
"""

from __future__ import annotations

import inspect
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import duckdb
import numpy as np
import pandas as pd

from kyc_assets.monitoring.features import (
    FeatureEngine,
    FeatureParams,
    prepare_transactions,
    transaction_dates,
)
from kyc_assets.monitoring.graph import GRAPH_FEATURES, edges_from_duckdb, graph_features
from kyc_assets.monitoring.model import fit_model
from kyc_assets.monitoring.schema import iter_transactions, validate_transactions
from kyc_assets.monitoring.scoring import AlertPolicy, score_with_model, skipped_rules

RESULT_COLUMNS: list[str] = [
    "account_id",
    "risk_score",
    "alert",
    "reasons",
    "as_of_date",
    "model_score",
    "triggered_rules",
]


@dataclass(frozen=True)
class MonitorConfig:
    """Everything that decides a monitoring answer, shared by ``kyc monitor``, the assets and the bench:
    the features (:class:`FeatureParams`), the anomaly model's contamination and seed, the alert policy, and
    how the period is cut into as-of dates. :meth:`from_settings` reads the platform settings."""

    features: FeatureParams = field(default_factory=FeatureParams)
    policy: AlertPolicy = field(default_factory=AlertPolicy)
    contamination: float = 0.01
    seed: int = 0
    as_of_step_days: int = 7
    memory_limit: str = "2GB"

    @classmethod
    def from_settings(cls, settings) -> MonitorConfig:
        return cls(features=FeatureParams.from_settings(settings), policy=AlertPolicy.from_settings(settings),
                   contamination=settings.model_contamination)

    def with_options(self, **options: Any) -> MonitorConfig:
        """A copy with options replaced: ``alert_policy``, ``alert_threshold``, ``alert_budget``, the fields of
        this class, and any feature or graph option (see :meth:`FeatureParams.with_options`)."""
        policy = {k.removeprefix("alert_"): options.pop(k) for k in ("alert_policy", "alert_threshold",
                                                                     "alert_budget") if k in options}
        own = {k: options.pop(k) for k in list(options) if k in {f.name for f in fields(self)}}
        out = replace(self, **own)
        if policy:
            out = replace(out, policy=replace(out.policy, **policy))
        if options:
            out = replace(out, features=out.features.with_options(**options))
        return out


def _options(func) -> set[str]:
    return {
        name
        for name, p in inspect.signature(func).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


_VALIDATE = _options(validate_transactions) - {"ledger"}
_EXTRA = {"known_bad", "anomaly_model", "supervised", "config"}


def split_config(config: dict[str, Any]) -> dict[str, Any]:
    """Route monitoring options: validation options, the :class:`MonitorConfig` (from ``config=`` or the
    defaults, with every other option applied to it) and the scoring extras (``known_bad``,
    ``anomaly_model``, ``supervised``). An unknown option raises ValueError."""
    config = dict(config)
    base = config.pop("config", None) or MonitorConfig()
    validate = {k: config.pop(k) for k in list(config) if k in _VALIDATE}
    extras = {k: config.pop(k) for k in list(config) if k in _EXTRA}
    try:
        monitor = base.with_options(**config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"unknown monitoring option(s): {', '.join(sorted(config))} ({exc})") from None
    return {"validate": validate, "config": monitor, **extras}


def as_of_dates(first: date, last: date, step_days: int = 7) -> list[date]:
    """The as-of dates covering [first, last]: ``last``, ``last - step``, ... down to the first >= ``first``."""
    if step_days < 1:
        raise ValueError("as_of_step_days must be at least 1")
    out, day = [], last
    while day >= first:
        out.append(day)
        day -= timedelta(days=step_days)
    return sorted(out)


def _empty_results() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in RESULT_COLUMNS}).astype(
        {"risk_score": float, "model_score": float, "alert": bool})


def _keep_max(best: pd.DataFrame | None, scores: pd.DataFrame) -> pd.DataFrame:
    """Per account, the row of highest risk (ties: the later as-of date, then the higher model score)."""
    both = scores if best is None else pd.concat([best, scores], ignore_index=True)
    both = both.sort_values(["account_id", "risk_score", "as_of_date", "model_score"], kind="stable")
    return both.drop_duplicates("account_id", keep="last").reset_index(drop=True)


def available_scan_inputs(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """The optional inputs present in the scan table: ``country`` and ``channel`` when any row has one."""
    countries, channels = con.execute(f"SELECT count(sc) + count(rc), count(channel) FROM {table}").fetchone()
    return ({"country"} if countries else set()) | ({"channel"} if channels else set())


def active_account_days(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Sum over the days of the period of the accounts active that day (the base of the daily alert budget)."""
    return int(con.execute(
        f"SELECT count(*) FROM (SELECT DISTINCT a, CAST(ts AS DATE) FROM (SELECT s AS a, ts FROM {table} "
        f"WHERE ts IS NOT NULL AND amt IS NOT NULL UNION ALL SELECT r, ts FROM {table} "
        f"WHERE ts IS NOT NULL AND amt IS NOT NULL))").fetchone()[0])


@dataclass
class MonitorRun:
    """A monitoring answer: ``results`` (``RESULT_COLUMNS``, one row per account), the account-level
    features behind each result (window features of its highest-risk date and the graph features), and
    ``notes``: skipped rules, the models used, the alert budget, timings."""

    results: pd.DataFrame
    features: pd.DataFrame
    notes: dict


def run_period(con: duckdb.DuckDBPyConnection, table: str, config: MonitorConfig | None = None, *,
               dates: Sequence[date] | None = None, known_bad: Sequence[str] | None = None,
               anomaly_model=None, supervised=None) -> MonitorRun:
    """Monitor the scan table ``table`` over its whole period (see the module docstring).

    ``anomaly_model``: a registered :class:`~kyc_assets.monitoring.model.AnomalyModel` used for every as-of
    date; None fits one per as-of date on that date's accounts (said in ``notes["anomaly_model"]``).
    ``supervised``: a :class:`~kyc_assets.monitoring.model.SupervisedModel` (analysts' decisions) whose
    probability joins the risk. ``known_bad``: confirmed accounts (personalised PageRank).
    """
    config = config or MonitorConfig()
    notes: dict = {"alert_policy": config.policy.policy}
    started = time.perf_counter()
    available = available_scan_inputs(con, table)
    notes["optional_inputs"] = sorted(available)
    notes["skipped_rules"] = skipped_rules(available)
    if dates is None:
        days = transaction_dates(con, table)
        if not days:
            return MonitorRun(_empty_results(), pd.DataFrame({"account_id": []}), notes)
        dates = as_of_dates(days[0], days[-1], int(config.as_of_step_days))
    graph = graph_features(edges_from_duckdb(con, table), config.features.graph, known_bad=known_bad)
    notes["graph"] = graph.notes
    notes["graph_seconds"] = round(time.perf_counter() - started, 2)
    engine = FeatureEngine(con, table, dates, **config.features.engine_options())
    step = int(config.as_of_step_days)
    notes["anomaly_model"] = anomaly_model.version if anomaly_model is not None else "fitted on this batch"
    notes["supervised_model"] = supervised.version if supervised is not None else None
    parts = []
    for i, day in enumerate(dates):
        # an account is scored on the dates after which it was active (the first date: any activity in the
        # lookback); between two of its active dates its windows only age, they gain nothing new
        features = engine.features([day], active_within=step if i else None)
        if not features.empty:
            parts.append(features)
    best: pd.DataFrame | None = None
    if parts:
        features = pd.concat(parts, ignore_index=True).merge(graph.features, on="account_id", how="left")
        features[list(GRAPH_FEATURES)] = features[list(GRAPH_FEATURES)].fillna(0.0)
        # one anomaly model for the whole period, as the assets use one model version for every day
        model = anomaly_model or fit_model(features, contamination=config.contamination, seed=config.seed,
                                           available=available, max_training_rows=20_000,
                                           n_estimators=100)
        scores = score_with_model(features, model, alert_threshold=config.policy.threshold, available=available,
                                  supervised=supervised, alert_policy=config.policy.policy,
                                  alert_budget=config.policy.budget)
        scores["triggered_rules"] = scores["triggered_rules"].map(";".join)
        best = _keep_max(None, pd.concat([scores[RESULT_COLUMNS],
                                          features.drop(columns=["account_id", "as_of_date"])], axis=1))
    notes["seconds"] = round(time.perf_counter() - started, 2)
    if best is None:
        return MonitorRun(_empty_results(), pd.DataFrame({"account_id": []}), notes)
    if config.policy.policy == "budget":
        account_days = active_account_days(con, table)
        budget = min(len(best), int(np.ceil(config.policy.budget * account_days)))
        notes["alert_budget"] = {"share_per_day": config.policy.budget, "active_account_days": account_days,
                                 "alerts": budget}
        order = best.sort_values(["risk_score", "account_id"], ascending=[False, True], kind="stable").index
        best["alert"] = False
        best.loc[order[:budget], "alert"] = True
    else:
        best = period_calibrate(best, config.contamination, config.policy.threshold)
    best = best.sort_values(["risk_score", "account_id"], ascending=[False, True], kind="stable")
    best = best.reset_index(drop=True)
    feature_cols = [c for c in best.columns if c not in RESULT_COLUMNS]
    return MonitorRun(best[RESULT_COLUMNS].copy(), best[["account_id", "as_of_date", *feature_cols]].copy(), notes)


def score_period(
    con: duckdb.DuckDBPyConnection, table: str, options: dict[str, Any],
    dates: Sequence[date] | None = None,
) -> pd.DataFrame:
    """Results (``RESULT_COLUMNS``, one row per account) for the scan table ``table`` in ``con`` with the
    routed ``options`` of :func:`split_config` (see :func:`run_period`)."""
    return run_period(con, table, options["config"], dates=dates, known_bad=options.get("known_bad"),
                      anomaly_model=options.get("anomaly_model"), supervised=options.get("supervised")).results


def period_calibrate(best: pd.DataFrame, contamination: float, threshold: float) -> pd.DataFrame:
    """Apply the threshold policy once over the whole period (keeps ``alert == risk_score >= threshold``).

    Each as-of date's model puts its own ``contamination`` share of accounts at or above the threshold;
    over many dates those model-only alerts would add up (13 dates x 2% is about a quarter of the accounts).
    Accounts whose highest-risk date triggered no rule are therefore re-calibrated together: if more than
    ``ceil(contamination * accounts)`` of them are at or above the threshold, their risk is mapped
    monotonically (the same piecewise-linear map as the scoring) so that exactly that many remain above
    it. Rule-triggered accounts keep their score and alert.
    """
    best = best.copy()
    model_only = (best["triggered_rules"].fillna("") == "").to_numpy()
    risk = best["risk_score"].to_numpy(dtype=float).copy()
    budget = int(np.ceil(contamination * len(best)))
    ranked = np.sort(risk[model_only])[::-1]
    if budget < len(ranked) and ranked[budget] >= threshold:
        cut = float(ranked[budget - 1]) if budget > 0 else 1.0
        # strictly between the last alert kept and the first one dropped
        cut = (cut + float(ranked[budget])) / 2 if budget > 0 else 1.0
        r = risk[model_only]
        mapped = np.clip(np.where(r < cut, threshold * r / max(cut, 1e-12),
                                  threshold + (1 - threshold) * (r - cut) / max(1 - cut, 1e-12)), 0.0, 1.0)
        # ties at the cut (accounts with the same graph evidence): the first ``budget`` by account id stay
        ids = best["account_id"].astype(str).to_numpy()[model_only]
        order = np.lexsort((ids, -r))
        beyond = np.zeros(len(r), dtype=bool)
        beyond[order[budget:]] = True
        mapped = np.where(beyond, np.minimum(mapped, np.nextafter(threshold, 0)), mapped)
        risk[model_only] = mapped
    best["risk_score"] = risk
    best["alert"] = risk >= threshold
    return best


def _connect(memory_limit: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/kyc_monitor_spill'")
    con.execute("SET preserve_insertion_order = false")
    return con


def monitor_transactions(raw: pd.DataFrame, **config: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monitor a raw transaction batch over its whole period: returns ``(results, quarantine)``.

    ``results`` has one row per account active in the period: ``account_id``, ``risk_score`` (0..1, the
    account's maximum over the as-of dates), ``alert`` (bool), ``reasons`` (';'-separated), then
    ``as_of_date`` (the date of that maximum), ``model_score`` and ``triggered_rules`` (';'-separated
    string), sorted by risk descending (ties by account_id). ``quarantine`` is the rows that broke the schema,
    with ``reason``. ``config`` takes any keyword option of ``validate_transactions``, ``compute_features``
    (except ``as_of``), ``score_accounts``, plus ``as_of_step_days`` and ``memory_limit``.
    """
    run, quarantine = monitor_run(raw, **config)
    return run.results, quarantine


def monitor_run(raw: pd.DataFrame, **config: Any) -> tuple[MonitorRun, pd.DataFrame]:
    """:func:`monitor_transactions` with the whole answer: ``(MonitorRun, quarantine)``."""
    options = split_config(config)
    valid, quarantine = validate_transactions(raw, **options["validate"])
    if valid.empty:
        return MonitorRun(_empty_results(), pd.DataFrame({"account_id": []}), {}), quarantine
    con = _connect(options["config"].memory_limit)
    try:
        con.register("tx_frame", prepare_transactions(valid))
        con.execute("CREATE TEMP TABLE tx_scan AS SELECT * FROM tx_frame")
        con.unregister("tx_frame")
        return run_period(con, "tx_scan", options["config"], known_bad=options.get("known_bad"),
                          anomaly_model=options.get("anomaly_model"), supervised=options.get("supervised")), quarantine
    finally:
        con.close()


def monitor_file(
    path: str | Path | IO,
    *,
    chunk_rows: int = 500_000,
    on_quarantine: Callable[[pd.DataFrame], None] | None = None,
    notes: dict | None = None,
    **config: Any,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Monitor a transaction file of any size, streamed in chunks of ``chunk_rows`` rows.

    Returns ``(results, quarantined)``: results as :func:`monitor_transactions`, and the number of
    quarantined rows per reason. Each quarantined chunk is passed to ``on_quarantine`` (e.g. to write it
    out) and not kept in memory. ``notes``, when given, receives the run's notes (skipped rules, models used,
    alert budget, timings: see :class:`MonitorRun`). Raises ``TransactionSchemaError`` for an unreadable file or a missing
    required column, before any row is processed.
    """
    options = split_config(config)
    counts: dict[str, int] = {}
    con = _connect(options["config"].memory_limit)
    try:
        con.execute("CREATE TEMP TABLE tx_scan (ts TIMESTAMP, s VARCHAR, r VARCHAR, amt DOUBLE, amt_orig DOUBLE, "
                    "channel VARCHAR, sc VARCHAR, rc VARCHAR)")
        rows = 0
        for valid, quarantine in iter_transactions(path, chunk_rows, **options["validate"]):
            if len(quarantine):
                for reason, n in quarantine["reason"].value_counts().items():
                    counts[str(reason)] = counts.get(str(reason), 0) + int(n)
                if on_quarantine is not None:
                    on_quarantine(quarantine)
            if len(valid):
                con.register("chunk", prepare_transactions(valid))
                con.execute("INSERT INTO tx_scan SELECT * FROM chunk")
                con.unregister("chunk")
                rows += len(valid)
        if not rows:
            return _empty_results(), counts
        run = run_period(con, "tx_scan", options["config"], known_bad=options.get("known_bad"),
                         anomaly_model=options.get("anomaly_model"), supervised=options.get("supervised"))
        if notes is not None:
            notes.update(run.notes)
        return run.results, counts
    finally:
        con.close()


