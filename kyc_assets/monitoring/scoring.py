"""Account risk scoring: explainable typology rules plus an IsolationForest anomaly score.

Formula (``T`` = ``alert_threshold``, ``k`` = number of triggered rules):

- ``model_score`` = the IsolationForest anomaly score ``s`` in [0, 1] (``-score_samples``; the paper's
  ``2^(-E[h]/c(n))``), fitted on log1p-transformed, robust-scaled features.
- the model part ``m`` calibrates ``s`` so that the forest's own outlier cut ``s*`` (set by
  ``contamination``) lands on ``T``: ``m = T * s / s*`` below the cut, ``T + (1 - T) * (s - s*) / (1 - s*)``
  above it.
- ``risk_score = m`` when no rule fires, else ``T + (1 - T) * (1 - (1 - m) / 2**k)``: any triggered rule
  puts the score above ``T`` (at least ``T + (1 - T) / 2``), more rules and a higher model score push it
  towards 1.
- ``alert = risk_score >= T``.

``reasons``: triggered rule names (in ``RULES`` order), then the 3 features with the highest positive
robust z-score ``(x - median) / scale`` (scale = 1.4826 * MAD, else IQR / 1.349, else std, else 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from kyc_assets.monitoring.features import GLOBAL_FEATURES, WINDOW_FEATURES

ID_COLUMNS = ("account_id", "as_of_date")


@dataclass(frozen=True)
class Rule:
    """An explainable typology rule: a vectorised predicate over the feature frame."""

    name: str
    description: str
    predicate: Callable[[pd.DataFrame], pd.Series]

    def evaluate(self, features: pd.DataFrame) -> np.ndarray:
        """Boolean array, one per feature row (NaN features never trigger)."""
        result = self.predicate(features)
        return np.asarray(pd.Series(result, index=features.index).fillna(False).astype(bool))


def _col(features: pd.DataFrame, name: str) -> pd.Series:
    """A feature column, or zeros when it was not computed (e.g. other windows were requested)."""
    if name in features.columns:
        return pd.to_numeric(features[name], errors="coerce").fillna(0.0)
    return pd.Series(0.0, index=features.index)


def _mean_in(f: pd.DataFrame, w: int) -> pd.Series:
    return _col(f, f"amount_in_sum_{w}d") / _col(f, f"tx_in_count_{w}d").clip(lower=1)


def _legs(f: pd.DataFrame, w: int) -> pd.Series:
    return _col(f, f"tx_in_count_{w}d") + _col(f, f"tx_out_count_{w}d")


def _hr_count(f: pd.DataFrame, w: int) -> pd.Series:
    return _col(f, f"high_risk_share_{w}d") * _legs(f, w)


RULES: list[Rule] = [
    Rule(
        "structuring",
        "Several amounts just below the reporting threshold: >= 3 within 7 days or >= 4 within 30 days.",
        lambda f: (_col(f, "structuring_count_7d") >= 3) | (_col(f, "structuring_count_30d") >= 4),
    ),
    Rule(
        "fan_in",
        "Funds collected from many senders: >= 10 distinct senders in 30 days, averaging >= 1,000 per credit "
        "or >= 30,000 in total.",
        lambda f: (_col(f, "distinct_counterparties_in_30d") >= 10)
        & ((_mean_in(f, 30) >= 1_000) | (_col(f, "amount_in_sum_30d") >= 30_000)),
    ),
    Rule(
        "fan_out",
        "Received funds dispersed to many receivers: >= 10 distinct receivers in 30 days, averaging >= 1,000 "
        "or >= 30,000 in total, with inflows of at least half the outflows.",
        lambda f: (_col(f, "distinct_counterparties_out_30d") >= 10)
        & ((_col(f, "amount_out_mean_30d") >= 1_000) | (_col(f, "amount_out_sum_30d") >= 30_000))
        & (_col(f, "amount_in_sum_30d") >= 0.5 * _col(f, "amount_out_sum_30d")),
    ),
    Rule(
        "cycle",
        "Money sent by the account comes back to it through 2-4 transfers within the lookback.",
        lambda f: _col(f, "cycle_flag") >= 1,
    ),
    Rule(
        "rapid_pass_through",
        "Significant incoming funds leave again within the pass-through window (in/out ratio >= 0.9).",
        lambda f: _col(f, "passthrough_ratio") >= 0.9,
    ),
    Rule(
        "high_risk_corridor",
        "Transactions with high-risk jurisdictions in 30 days: >= 3, or >= 2 making up >= 5% of the legs.",
        lambda f: (_hr_count(f, 30) >= 2.5) | ((_hr_count(f, 30) >= 1.5) & (_col(f, "high_risk_share_30d") >= 0.05)),
    ),
    Rule(
        "velocity_spike",
        "Activity in the last 7 days at >= 3x the 30-day daily rate, with >= 10 legs and earlier history.",
        lambda f: (_col(f, "velocity_change") >= 3) & (_legs(f, 7) >= 10) & (_legs(f, 30) > _legs(f, 7)),
    ),
]


def model_feature_columns(features: pd.DataFrame) -> list[str]:
    """The numeric feature columns the model uses (every known feature present in the frame)."""
    known = set(GLOBAL_FEATURES)
    cols = []
    for col in features.columns:
        if col in ID_COLUMNS:
            continue
        base = col.rsplit("_", 1)[0] if col.endswith("d") and "_" in col else col
        if col in known or base in WINDOW_FEATURES:
            cols.append(col)
    return cols


def _robust_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column medians and robust scales (MAD, then IQR, then std, then 1)."""
    median = np.median(x, axis=0)
    scale = 1.4826 * np.median(np.abs(x - median), axis=0)
    q75, q25 = np.percentile(x, [75, 25], axis=0)
    scale = np.where(scale > 0, scale, (q75 - q25) / 1.349)
    scale = np.where(scale > 0, scale, x.std(axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    return median, scale


def _model_scores(
    x: np.ndarray, contamination: float, seed: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """(raw anomaly score s in [0, 1], calibrated model part m in [0, 1])."""
    n = x.shape[0]
    if n < 2:
        return np.zeros(n), np.zeros(n)
    transformed = np.sign(x) * np.log1p(np.abs(x))
    median, scale = _robust_scale(transformed)
    scaled = np.clip((transformed - median) / scale, -50, 50)
    forest = IsolationForest(
        n_estimators=200, contamination=contamination, random_state=seed, max_samples=min(256, n)
    )
    forest.fit(scaled)
    s = np.clip(-forest.score_samples(scaled), 0.0, 1.0)
    cut = float(np.clip(-forest.offset_, 1e-9, 1 - 1e-9))
    m = np.where(s < cut, threshold * s / cut, threshold + (1 - threshold) * (s - cut) / (1 - cut))
    return s, np.clip(m, 0.0, 1.0)


def _top_feature_names(x: np.ndarray, names: list[str], top: int = 3) -> np.ndarray:
    """Per row, ';'-joined names of up to ``top`` features with the highest positive robust z-score."""
    n = x.shape[0]
    if n == 0 or not names:
        return np.full(n, "", dtype=object)
    median, scale = _robust_scale(x)
    z = (x - median) / scale
    top = min(top, len(names))
    order = np.argsort(-z, axis=1, kind="stable")[:, :top]
    best = np.take_along_axis(z, order, axis=1)
    name_arr = np.asarray(names, dtype=object)
    out = np.full(n, "", dtype=object)
    for rank in range(top):  # loop over the 3 ranks, vectorised over rows
        part = np.where(best[:, rank] > 0, name_arr[order[:, rank]], "")
        sep = np.where((out != "") & (part != ""), ";", "")
        out = out + sep + part
    return out


def score_accounts(
    features: pd.DataFrame, *, contamination: float = 0.02, seed: int = 0, alert_threshold: float = 0.7
) -> pd.DataFrame:
    """Risk-score every (account_id, as_of_date) feature row with rules and the anomaly model.

    Returns ``account_id``, ``as_of_date``, ``model_score``, ``triggered_rules`` (list of rule names),
    ``risk_score`` (0..1), ``alert`` (bool) and ``reasons`` (see the module docstring for the formula).
    Fewer than 2 rows: ``model_score`` is 0 and only rules decide. NaN features count as 0.
    """
    if not 0 < contamination <= 0.5:
        raise ValueError("contamination must be in (0, 0.5]")
    if not 0 < alert_threshold < 1:
        raise ValueError("alert_threshold must be in (0, 1)")
    if "account_id" not in features.columns:
        raise ValueError("score_accounts: features need an account_id column")
    features = features.reset_index(drop=True)
    cols = model_feature_columns(features)
    x = features[cols].apply(pd.to_numeric, errors="coerce").fillna(0.0).to_numpy(dtype=float)
    x = np.where(np.isfinite(x), x, 0.0)
    n = len(features)

    s, m = _model_scores(x, contamination, seed, alert_threshold)
    fired = np.column_stack([rule.evaluate(features) for rule in RULES]) if n else np.zeros((0, len(RULES)), bool)
    k = fired.sum(axis=1)
    risk = np.where(k > 0, alert_threshold + (1 - alert_threshold) * (1 - (1 - m) / 2.0 ** k), m)
    risk = np.clip(risk, 0.0, 1.0)

    rule_names = np.asarray([r.name for r in RULES], dtype=object)
    triggered = [list(rule_names[row]) for row in fired]
    rule_text = np.array([";".join(t) for t in triggered], dtype=object) if n else np.array([], dtype=object)
    top = _top_feature_names(x, cols)
    sep = np.where((rule_text != "") & (top != ""), ";", "")
    reasons = rule_text + sep + top if n else rule_text

    return pd.DataFrame(
        {
            "account_id": features["account_id"].astype(str),
            "as_of_date": features["as_of_date"] if "as_of_date" in features.columns else None,
            "model_score": s.astype(float),
            "triggered_rules": pd.Series(triggered, dtype=object),
            "risk_score": risk.astype(float),
            "alert": risk >= alert_threshold,
            "reasons": pd.Series(reasons, dtype=object),
        }
    )
