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
- ``alert``: under the ``threshold`` policy ``risk_score >= T``; under the ``budget`` policy the
  ``ceil(budget * n)`` highest risk scores of each as-of date (ties by account_id), whatever their level
  (a fixed daily review capacity).

``reasons``: triggered rule names (in ``RULES`` order), then the 3 features with the highest positive
robust z-score ``(x - median) / scale`` against the model's training population (scale = 1.4826 * MAD,
else IQR / 1.349, else std, else 1).

Graph typologies: when the feature rows carry the whole-horizon graph features (``g_*``, see
:mod:`kyc_assets.monitoring.graph`), their structural risk ``g`` (the structural model of
:mod:`kyc_assets.monitoring.structural`, boosted trees trained on the tuning worlds, explained by tree-path
contributions; the noisy-or of ``graph.structural_risk`` without the artefact) combines with the window risk
``w`` above as ``1 - (1 - g) * (1 - GRAPH_WINDOW_WEIGHT * w)``: the shape of the flows carries the ranking,
the window rules and the anomaly model add to it (on the tuning worlds a rule that decides alone costs
about 0.05 of average precision). Under the ``threshold`` policy a triggered rule stays decisive: the risk
is ``max(w, combined)``. The graph typologies found lead the reasons.

Learning from decisions: with a trained :class:`~kyc_assets.monitoring.model.SupervisedModel` (analysts'
confirmed and false-positive cases), its probability ``p`` and the unsupervised risk ``u`` combine as
``(1 - a) * u + a * p``, with the weight ``a`` the model chose on its held-out decisions, and
``learned_from_decisions`` joins the reasons when ``p >= 0.5``.

Optional columns are optional: a rule that needs an input column the data lacks (countries for
``high_risk_corridor``) is skipped, never scored as a silent zero, and :func:`skipped_rules` names it.

:func:`score_with_model` scores with a trained :class:`~kyc_assets.monitoring.model.AnomalyModel` (the
assets: one model version for every day, recorded in ``model_version``); :func:`score_accounts` fits a
model on the batch itself and scores it (``kyc monitor``: a batch is its own population).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kyc_assets.monitoring.graph import GRAPH_FEATURES
from kyc_assets.monitoring.model import (
    ID_COLUMNS,
    OPTIONAL_FEATURES,
    AnomalyModel,
    feature_matrix,
    fit_model,
    model_feature_columns,
)
from kyc_assets.monitoring.structural import structural_score

__all__ = ["ID_COLUMNS", "RULES", "AlertPolicy", "Rule", "alert_flags", "available_inputs", "evaluate_rules",
           "inputs_from_features", "model_feature_columns", "score_accounts", "score_with_model", "skipped_rules"]


GRAPH_WINDOW_WEIGHT = 0.35
# Input data the optional parts need: "country" (sender or receiver country), "channel" (cash movements).
OPTIONAL_INPUTS: tuple[str, ...] = ("country", "channel")


@dataclass(frozen=True)
class AlertPolicy:
    """Which accounts are alerted: ``budget`` (default: the top ``budget`` share of the accounts active on a
    day, a review capacity) or ``threshold`` (risk >= ``threshold``)."""

    policy: str = "budget"
    threshold: float = 0.7
    budget: float = 0.005

    def __post_init__(self) -> None:
        if self.policy not in ("threshold", "budget"):
            raise ValueError("alert_policy must be 'threshold' or 'budget'")
        if not 0 < self.threshold < 1:
            raise ValueError("alert_threshold must be in (0, 1)")
        if not 0 < self.budget <= 1:
            raise ValueError("alert_budget must be in (0, 1]")

    @classmethod
    def from_settings(cls, settings) -> AlertPolicy:
        return cls(settings.alert_policy, settings.alert_threshold, settings.alert_budget)


@dataclass(frozen=True)
class Rule:
    """An explainable typology rule: a vectorised predicate over the feature frame, and the optional input
    data it needs (see ``OPTIONAL_INPUTS``)."""

    name: str
    description: str
    predicate: Callable[[pd.DataFrame], pd.Series]
    requires: tuple[str, ...] = ()

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
        requires=("country",),
    ),
    Rule(
        "velocity_spike",
        "Activity in the last 7 days at >= 3x the 30-day daily rate, with >= 10 legs and earlier history.",
        lambda f: (_col(f, "velocity_change") >= 3) & (_legs(f, 7) >= 10) & (_legs(f, 30) > _legs(f, 7)),
    ),
    Rule(
        "scatter_gather",
        "Money split over >= 3 intermediaries and gathered again at one account within 30 days.",
        lambda f: _col(f, "scatter_gather_paths") >= 3,
    ),
    Rule(
        "gather_scatter",
        "Funds from >= 4 senders leave to >= 4 receivers within 7 days, in and out within 20% and >= 10,000.",
        lambda f: (_col(f, "distinct_counterparties_in_7d") >= 4) & (_col(f, "distinct_counterparties_out_7d") >= 4)
        & (_col(f, "amount_in_sum_7d") >= 10_000)
        & _col(f, "amount_out_sum_7d").between(0.8 * _col(f, "amount_in_sum_7d"), 1.2 * _col(f, "amount_in_sum_7d")),
    ),
    Rule(
        "dormant_reactivation",
        "Inactive >= 30 days, then >= 5 transactions or >= 10,000 within 7 days.",
        lambda f: _col(f, "dormant_reactivation") >= 1,
    ),
]


def _top_feature_names(z: np.ndarray, names: list[str], top: int = 3) -> np.ndarray:
    """Per row, ';'-joined names of up to ``top`` features with the highest positive robust z-score."""
    n = z.shape[0]
    if n == 0 or not names:
        return np.full(n, "", dtype=object)
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


def skipped_rules(available: set[str] | None) -> list[str]:
    """The rules that cannot run on data with only the ``available`` optional inputs (None: all available)."""
    if available is None:
        return []
    return [r.name for r in RULES if any(req not in available for req in r.requires)]


def available_inputs(frame: pd.DataFrame) -> set[str]:
    """The optional inputs (``OPTIONAL_INPUTS``) a validated transaction frame actually carries (any value)."""
    out = set()
    if any(c in frame.columns and frame[c].notna().any() for c in ("sender_country", "receiver_country")):
        out.add("country")
    if "channel" in frame.columns and frame["channel"].notna().any():
        out.add("channel")
    return out


def inputs_from_features(features: pd.DataFrame) -> set[str]:
    """Optional inputs inferred from a feature frame (assets): a feature family that is zero for every
    account-day says its input column was absent."""
    out = set()
    for prefix, need in OPTIONAL_FEATURES.items():
        cols = [c for c in features.columns if c.startswith(prefix)]
        if cols and len(features) and (features[cols].fillna(0).to_numpy() != 0).any():
            out.add(need)
    return out


def evaluate_rules(features: pd.DataFrame, available: set[str] | None = None) -> np.ndarray:
    """Boolean matrix (rows x RULES): which typology rules fire for each feature row. Rules that need an
    optional input outside ``available`` (None: everything is available) are skipped (never fire)."""
    if not len(features):
        return np.zeros((0, len(RULES)), dtype=bool)
    skip = set(skipped_rules(available))
    return np.column_stack([np.zeros(len(features), dtype=bool) if rule.name in skip else rule.evaluate(features)
                            for rule in RULES])


def alert_flags(risk: np.ndarray, dates: pd.Series | None, account_ids: pd.Series, *, policy: str,
                threshold: float, budget: float) -> np.ndarray:
    """The alert flag under the policy: ``threshold`` (risk >= T) or ``budget`` (top share per day)."""
    if policy == "threshold":
        return risk >= threshold
    if policy != "budget":
        raise ValueError("alert_policy must be 'threshold' or 'budget'")
    if not 0 < budget <= 1:
        raise ValueError("alert_budget must be in (0, 1]")
    frame = pd.DataFrame({"risk": risk, "account": account_ids.astype(str).to_numpy(),
                          "day": dates.to_numpy() if dates is not None else 0})
    frame = frame.sort_values(["day", "risk", "account"], ascending=[True, False, True], kind="stable")
    rank = frame.groupby("day", sort=False).cumcount().to_numpy()
    size = frame.groupby("day", sort=False)["risk"].transform("size").to_numpy()
    flags = np.zeros(len(frame), dtype=bool)
    flags[frame.index.to_numpy()] = rank < np.ceil(budget * size)
    return flags


def score_with_model(
    features: pd.DataFrame,
    model: AnomalyModel,
    *,
    alert_threshold: float = 0.7,
    alert_policy: str = "threshold",
    alert_budget: float = 0.02,
    available: set[str] | None = None,
    supervised=None,
) -> pd.DataFrame:
    """Risk-score every (account_id, as_of_date) feature row with the typology rules and a trained model.

    Returns ``account_id``, ``as_of_date``, ``model_score``, ``triggered_rules`` (list of rule names),
    ``risk_score`` (0..1), ``alert`` (bool), ``reasons`` and ``model_version`` (see the module docstring).
    NaN and infinite features count as 0.
    """
    if not 0 < alert_threshold < 1:
        raise ValueError("alert_threshold must be in (0, 1)")
    if "account_id" not in features.columns:
        raise ValueError("score_with_model: features need an account_id column")
    features = features.reset_index(drop=True)
    n = len(features)
    x = feature_matrix(features, model.feature_columns)
    s = model.raw_scores(x)
    m = model.calibrated(s, alert_threshold)
    fired = evaluate_rules(features, available)
    k = fired.sum(axis=1)
    risk = np.where(k > 0, alert_threshold + (1 - alert_threshold) * (1 - (1 - m) / 2.0 ** k), m)
    risk = np.clip(risk, 0.0, 1.0)

    rule_names = np.asarray([r.name for r in RULES], dtype=object)
    triggered = [list(rule_names[row]) for row in fired]
    rule_text = np.array([";".join(t) for t in triggered], dtype=object) if n else np.array([], dtype=object)
    top = _top_feature_names(model.robust_z(x), model.feature_columns)
    graph_text = np.full(n, "", dtype=object)
    if n and set(GRAPH_FEATURES) <= set(features.columns):
        g, graph_text = structural_score(features)
        combined = 1.0 - (1.0 - g) * (1.0 - GRAPH_WINDOW_WEIGHT * risk)
        # under the threshold policy a triggered rule stays decisive (risk >= T + (1 - T) / 2)
        risk = np.maximum(risk, combined) if alert_policy == "threshold" else combined
    if supervised is not None and n:
        p = supervised.predict_proba(features)
        risk = (1.0 - supervised.weight) * risk + supervised.weight * p
        graph_text = _join(graph_text, np.where(p >= 0.5, "learned_from_decisions", ""))
    reasons = _join(_join(graph_text, rule_text), top) if n else rule_text
    dates = features["as_of_date"] if "as_of_date" in features.columns else None

    return pd.DataFrame(
        {
            "account_id": features["account_id"].astype(str),
            "as_of_date": dates,
            "model_score": s.astype(float),
            "triggered_rules": pd.Series(triggered, dtype=object),
            "risk_score": risk.astype(float),
            "alert": alert_flags(risk, dates, features["account_id"], policy=alert_policy,
                                 threshold=alert_threshold, budget=alert_budget),
            "reasons": pd.Series(reasons, dtype=object),
            "model_version": model.version,
        }
    )


def _join(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Element-wise ';'-join of two reason arrays, skipping empty parts."""
    return left + np.where((left != "") & (right != ""), ";", "") + right


def score_accounts(
    features: pd.DataFrame, *, contamination: float = 0.01, seed: int = 0, alert_threshold: float = 0.7,
    available: set[str] | None = None,
) -> pd.DataFrame:
    """Fit the anomaly model on this batch of feature rows and score the same rows (``kyc monitor``).

    Same columns as :func:`score_with_model` minus ``model_version`` (a batch model is not kept).
    Fewer than 2 rows: ``model_score`` is 0 and only rules decide.
    """
    if not 0 < alert_threshold < 1:
        raise ValueError("alert_threshold must be in (0, 1)")
    if "account_id" not in features.columns:
        raise ValueError("score_accounts: features need an account_id column")
    model = fit_model(features, contamination=contamination, seed=seed, available=available)
    return score_with_model(features, model, alert_threshold=alert_threshold,
                            available=available).drop(columns="model_version")
