"""The single transaction-monitoring path shared by the Dagster assets and ``kyc monitor``.

validate -> features (as of the last transaction date) -> scores.
"""

from __future__ import annotations

import inspect
from typing import Any

import pandas as pd

from kyc_assets.monitoring.features import compute_features
from kyc_assets.monitoring.schema import validate_transactions
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


def _options(func) -> set[str]:
    return {
        name
        for name, p in inspect.signature(func).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


_STAGES = {
    "validate": _options(validate_transactions),
    "features": _options(compute_features) - {"as_of"},
    "scoring": _options(score_accounts),
}


def split_config(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Route monitoring options to the stage that takes them; an unknown option raises ValueError."""
    known = set().union(*_STAGES.values())
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"unknown monitoring option(s): {', '.join(unknown)}")
    return {stage: {k: v for k, v in config.items() if k in names} for stage, names in _STAGES.items()}


def monitor_transactions(raw: pd.DataFrame, **config: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monitor a raw transaction batch: returns ``(results, quarantine)``.

    ``results`` has one row per account active in the lookback before the last transaction date:
    ``account_id``, ``risk_score`` (0..1), ``alert`` (bool), ``reasons`` (';'-separated), then
    ``as_of_date``, ``model_score`` and ``triggered_rules`` (';'-separated string), sorted by risk
    descending (ties by account_id). ``quarantine`` is the rows that broke the schema, with ``reason``.
    ``config`` takes any keyword option of ``validate_transactions``, ``compute_features`` (except
    ``as_of``) and ``score_accounts``.
    """
    options = split_config(config)
    valid, quarantine = validate_transactions(raw, **options["validate"])
    if valid.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RESULT_COLUMNS}).astype(
            {"risk_score": float, "model_score": float, "alert": bool}
        ), quarantine
    last_day = valid["timestamp"].max().date()
    features = compute_features(valid, as_of=[last_day], **options["features"])
    scores = score_accounts(features, **options["scoring"])
    scores["triggered_rules"] = scores["triggered_rules"].map(";".join)
    results = scores.sort_values(["risk_score", "account_id"], ascending=[False, True], kind="stable")
    return results[RESULT_COLUMNS].reset_index(drop=True), quarantine
