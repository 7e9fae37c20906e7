"""The ratings table: the engine's ratings with overrides, next review dates and the inputs (no Dagster).

Columns: ``customer_id``, ``score``, ``computed_tier`` (the methodology's), ``tier`` (in force: an approved
override's, else the computed one), ``override_tier`` and ``override_id`` (empty without one),
``hard_rules``, ``reasons``, ``next_review_date``, ``methodology_version``, ``country_lists_version``,
``rated_on``, per factor ``f_<factor>`` (category) and ``c_<factor>`` (contribution), then the inputs as
rated (:data:`~kyc_assets.risk.engine.INPUT_COLUMNS`, as text) so that a rating can be explained and
re-rated under another methodology (``kyc risk what-if``) without re-reading every source.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from kyc_assets.risk.engine import FACTOR_NAMES, INPUT_COLUMNS, rate
from kyc_assets.risk.methodology import TIER_RANK, TIERS, CountryLists, RiskMethodology
from kyc_assets.risk.reviews import CustomerState, add_years

FRONT = ["customer_id", "score", "computed_tier", "tier", "override_tier", "override_id", "hard_rules", "reasons",
         "next_review_date", "methodology_version", "country_lists_version", "rated_on"]


def ratings_table(inputs: pd.DataFrame, methodology: RiskMethodology, lists: CountryLists, *, as_of: date,
                  overrides: dict[str, dict] | None = None,
                  states: dict[str, CustomerState] | None = None) -> pd.DataFrame:
    rated = rate(inputs, methodology, lists, as_of=as_of)
    overrides = overrides or {}
    states = states or {}
    ids = rated["customer_id"]
    rated["override_tier"] = ids.map({c: o["override_tier"] for c, o in overrides.items()}).fillna("")
    rated["override_id"] = ids.map({c: o["override_id"] for c, o in overrides.items()}).fillna("")
    rated["tier"] = np.where(rated["override_tier"] != "", rated["override_tier"], rated["computed_tier"])
    cadence = methodology.review.cadence_years
    bases = {c: (s.last_review_on or s.first_rated_on) for c, s in states.items()}
    rated["next_review_date"] = [add_years(bases.get(c, as_of), cadence[t]).isoformat()
                                 for c, t in zip(ids, rated["tier"], strict=True)]
    rated["country_lists_version"] = lists.version
    rated["rated_on"] = as_of.isoformat()
    rest = [c for c in rated.columns if c not in FRONT]
    out = rated[FRONT + rest].copy()
    for col in INPUT_COLUMNS[1:]:
        values = inputs[col] if col in inputs else pd.Series([None] * len(inputs))
        out[col] = _as_text(values.reset_index(drop=True))
    return out


def _as_text(values: pd.Series) -> pd.Series:
    """Inputs stored as text (booleans as true/false), None for missing: one column type whatever came in."""
    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
            return None
        if isinstance(v, bool | np.bool_):
            return "true" if v else "false"
        return str(v)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([one(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], dtype=object)


def inputs_of(ratings: pd.DataFrame) -> pd.DataFrame:
    """The inputs a ratings table was computed from (to re-rate them)."""
    return ratings[[c for c in INPUT_COLUMNS if c in ratings]].copy()


def distribution_shift(previous: dict[str, int] | None, current: dict[str, int], *, max_share_change: float = 0.15,
                       min_customers: int = 20) -> tuple[bool, dict]:
    """Whether the tier distribution collapsed or jumped against the previous one: a tier's share moved by
    more than ``max_share_change``, or a tier holding at least 5 % of customers emptied. Small books (fewer
    than ``min_customers`` either time) and a first materialization pass. Returns (ok, the numbers)."""
    total = sum(current.values())
    info = {"current": current, "previous": previous or {}, "max_share_change": max_share_change}
    if not previous or sum(previous.values()) < min_customers or total < min_customers:
        return True, {**info, "compared": False}
    before = sum(previous.values())
    shares = {t: (previous.get(t, 0) / before, current.get(t, 0) / total) for t in TIERS}
    moved = {t: round(b - a, 4) for t, (a, b) in shares.items()}
    collapsed = [t for t, (a, b) in shares.items() if a >= 0.05 and b == 0]
    jumped = [t for t, d in moved.items() if abs(d) > max_share_change]
    return not (collapsed or jumped), {**info, "compared": True, "share_change": moved, "collapsed": collapsed,
                                       "jumped": jumped}


def unrated(customer_ids: pd.Series, ratings: pd.DataFrame) -> int:
    """Customers without a valid rating (none, or an unknown tier)."""
    valid = ratings[ratings["tier"].isin(TIERS) & ratings["computed_tier"].isin(TIERS)]
    return int((~customer_ids.astype(str).isin(set(valid["customer_id"]))).sum())


def tier_at_least(tiers: pd.Series, tier: str) -> pd.Series:
    return tiers.map(TIER_RANK) >= TIER_RANK[tier]


__all__ = ["FACTOR_NAMES", "FRONT", "distribution_shift", "inputs_of", "ratings_table", "tier_at_least", "unrated"]
