"""The single transaction-monitoring path shared by the Dagster assets and ``kyc monitor``.

validate -> features at several as-of dates across the whole period -> scores -> per account, the
as-of date of its highest risk.

An account's result covers the whole input, not only its last days: features are computed as of every
``as_of_step_days`` (7) days counting back from the last transaction date (windows ending there), each
as-of date is scored on its own (one model per date, as the daily assets do) over the accounts active since
the previous as-of date, and each account keeps its highest-risk date with that date's reasons. A pattern early in the period is therefore still alerted.
The alert policy is applied once over the period: :func:`period_calibrate`.

:func:`monitor_file` streams a file of any size: chunks are validated (duplicates found across chunks)
and appended to a DuckDB table that spills to disk past ``memory_limit``, so a multi-GB file never sits
in a pandas frame.
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import duckdb
import numpy as np
import pandas as pd

from kyc_assets.monitoring.features import (
    FeatureEngine,
    compute_features,
    prepare_transactions,
    transaction_dates,
)
from kyc_assets.monitoring.schema import iter_transactions, validate_transactions
from kyc_assets.monitoring.scoring import score_accounts

RESULT_COLUMNS: list[str] = [
    "account_id",
    "risk_score",
    "alert",
    "reasons",
    "as_of_date",
    "model_score",
    "triggered_rules",
]
MONITOR_OPTIONS = {"as_of_step_days": 7, "memory_limit": "2GB"}


def _options(func) -> set[str]:
    return {
        name
        for name, p in inspect.signature(func).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


_STAGES = {
    "validate": _options(validate_transactions) - {"ledger"},
    "features": _options(compute_features) - {"as_of"},
    "scoring": _options(score_accounts),
    "monitor": set(MONITOR_OPTIONS),
}


def split_config(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Route monitoring options to the stage that takes them; an unknown option raises ValueError."""
    known = set().union(*_STAGES.values())
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"unknown monitoring option(s): {', '.join(unknown)}")
    routed = {stage: {k: v for k, v in config.items() if k in names} for stage, names in _STAGES.items()}
    routed["monitor"] = {**MONITOR_OPTIONS, **routed["monitor"]}
    return routed


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


def score_period(
    con: duckdb.DuckDBPyConnection, table: str, options: dict[str, dict[str, Any]],
    dates: Sequence[date] | None = None,
) -> pd.DataFrame:
    """Results (``RESULT_COLUMNS``, one row per account) for the scan table ``table`` in ``con``: features as
    of each date of ``dates`` (default: every ``as_of_step_days`` across the data), scored per date, and the
    maximum risk per account."""
    if dates is None:
        days = transaction_dates(con, table)
        if not days:
            return _empty_results()
        dates = as_of_dates(days[0], days[-1], int(options["monitor"]["as_of_step_days"]))
    engine = FeatureEngine(con, table, dates, **options["features"])
    step = int(options["monitor"]["as_of_step_days"])
    best: pd.DataFrame | None = None
    for i, day in enumerate(dates):
        # an account is scored on the dates after which it was active (the first date: any activity in the
        # lookback); between two of its active dates its windows only age, they gain nothing new
        features = engine.features([day], active_within=step if i else None)
        if features.empty:
            continue
        scores = score_accounts(features, **options["scoring"])
        scores["triggered_rules"] = scores["triggered_rules"].map(";".join)
        best = _keep_max(best, scores[RESULT_COLUMNS])
    if best is None:
        return _empty_results()
    best = period_calibrate(best, float(options["scoring"].get("contamination", _default("contamination"))),
                            float(options["scoring"].get("alert_threshold", _default("alert_threshold"))))
    results = best.sort_values(["risk_score", "account_id"], ascending=[False, True], kind="stable")
    return results[RESULT_COLUMNS].reset_index(drop=True)


def _default(name: str) -> float:
    return float(inspect.signature(score_accounts).parameters[name].default)


def period_calibrate(best: pd.DataFrame, contamination: float, threshold: float) -> pd.DataFrame:
    """Apply the alert policy once over the whole period (keeps ``alert == risk_score >= threshold``).

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
        mapped = np.where(r < cut, threshold * r / max(cut, 1e-12),
                          threshold + (1 - threshold) * (r - cut) / max(1 - cut, 1e-12))
        risk[model_only] = np.clip(mapped, 0.0, 1.0)
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
    options = split_config(config)
    valid, quarantine = validate_transactions(raw, **options["validate"])
    if valid.empty:
        return _empty_results(), quarantine
    con = _connect(options["monitor"]["memory_limit"])
    try:
        con.register("tx_frame", prepare_transactions(valid))
        con.execute("CREATE TEMP TABLE tx_scan AS SELECT * FROM tx_frame")
        con.unregister("tx_frame")
        return score_period(con, "tx_scan", options), quarantine
    finally:
        con.close()


def monitor_file(
    path: str | Path | IO,
    *,
    chunk_rows: int = 500_000,
    on_quarantine: Callable[[pd.DataFrame], None] | None = None,
    **config: Any,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Monitor a transaction file of any size, streamed in chunks of ``chunk_rows`` rows.

    Returns ``(results, quarantined)``: results as :func:`monitor_transactions`, and the number of
    quarantined rows per reason. Each quarantined chunk is passed to ``on_quarantine`` (e.g. to write it
    out) and not kept in memory. Raises ``TransactionSchemaError`` for an unreadable file or a missing
    required column, before any row is processed.
    """
    options = split_config(config)
    counts: dict[str, int] = {}
    con = _connect(options["monitor"]["memory_limit"])
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
        results = score_period(con, "tx_scan", options) if rows else _empty_results()
        return results, counts
    finally:
        con.close()


