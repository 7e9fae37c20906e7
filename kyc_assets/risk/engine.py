"""The rating engine: one rating per customer, vectorised (pandas/numpy), no Dagster.

Input: a frame of :data:`INPUT_COLUMNS` (only ``customer_id`` required; a missing column or value is
unknown, which never lowers a rating). Output (:func:`rate`): per customer the category of every factor
(``f_<factor>``), its contribution to the score (``c_<factor>``), the ``score`` (0..1), the ``computed_tier``
(the score's band raised by the hard rules), the hard rules that applied, the reasons (non-zero
contributions, largest first) and the methodology version. A factor's contribution is
``weight * value(category) / sum(weights)``, so the contributions add up to the score.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from kyc_assets.risk.countries import to_iso2
from kyc_assets.risk.methodology import FACTORS, TIER_RANK, TIERS, CountryLists, RiskMethodology

INPUT_COLUMNS = ("customer_id", "customer_type", "nationality", "residence_country", "corridor_countries",
                 "sanctions_status", "open_potential_matches", "is_pep", "pep_class", "adverse_media",
                 "onboarding_channel", "document_status", "document_expiry", "has_account", "anomaly_max_score",
                 "typology_alerts", "account_opened", "last_activity", "reactivated")
ENGINE_VERSION = "1"
FACTOR_NAMES = tuple(FACTORS)

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
_CHANNELS = {"in_person": "in_person", "branch": "in_person", "face_to_face": "in_person",
             "remote": "remote", "online": "remote", "non_face_to_face": "remote", "video": "remote"}
_CUSTOMER_TYPES = {"person": "person", "individual": "person", "natural_person": "person",
                   "company": "company", "organization": "company", "organisation": "company",
                   "legal_entity": "company", "trust": "trust"}
_PEP_CLASSES = {"domestic": "domestic", "foreign": "foreign", "international_organisation": "international_organisation",
                "international_organization": "international_organisation", "close_associate": "close_associate",
                "rca": "close_associate", "family": "close_associate"}
_SANCTIONS = {"none", "suppressed", "potential", "confirmed"}
_DOC_ORDER = ("ok", "extraction_disagreement", "inconsistent", "expired", "missing")


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _by_value(series: pd.Series, func) -> np.ndarray:
    """``func`` applied once per distinct value (None for missing ones), spread back over the rows: a column
    of a million customers holds a handful of distinct values."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    for i, value in enumerate(uniques):
        mapped[i] = func(value)
    mapped[-1] = func(None)
    return mapped[codes]


def _norm(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().lower()
    return text or None


def _text_map(series: pd.Series, table: dict) -> np.ndarray:
    return _by_value(series, lambda v: table.get(_norm(v)))


def _flag_value(value: object) -> bool | None:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = _norm(value)
    return True if text in _TRUE else False if text in _FALSE else None


def _codes(categories: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Index of each category in ``names`` (unknown for anything else)."""
    lookup = {n: i for i, n in enumerate(names)}
    unknown = lookup["unknown"]
    return _by_value(pd.Series(categories, dtype=object), lambda v: lookup.get(v, unknown)).astype(np.int16)


def _country_levels(values: pd.Series, levels: dict[str, str]) -> np.ndarray:
    """Geography level per row: the lists' level of the ISO code, standard for a known code, unknown else."""
    def level(v):
        code = to_iso2(v) if isinstance(v, str) else None
        return "unknown" if code is None else levels.get(code, "standard")
    return _by_value(values, level)


_CORRIDOR_ORDER = ("none", "standard", "eu_high_risk", "increased_monitoring", "call_for_action")


def _corridor_levels(values: pd.Series, levels: dict[str, str], known: np.ndarray) -> np.ndarray:
    """The highest level among the ';'-separated corridor countries; none when the customer has accounts
    but no foreign corridor, unknown when it is not known."""
    def level(v):
        if not isinstance(v, str) or not v.strip():
            return None
        best = 0
        for p in v.replace(",", ";").split(";"):
            if p.strip():
                code = to_iso2(p)
                best = max(best, _CORRIDOR_ORDER.index(levels.get(code, "standard")) if code else 1)
        return _CORRIDOR_ORDER[best]
    out = _by_value(values, level)
    empty = pd.isna(out)
    out[empty] = np.where(known[empty], "none", "unknown")
    return out


def _days_before(series: pd.Series, today: pd.Timestamp) -> np.ndarray:
    """Days from each date (ISO text, date or timestamp) to ``today``; NaN when missing or unreadable. The
    distinct values are parsed in one call."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    text = pd.Series([str(u)[:10] for u in uniques], dtype=object)
    parsed = pd.to_datetime(text, errors="coerce", format="%Y-%m-%d")
    days = np.append(((today - parsed).dt.days).to_numpy(dtype=float), np.nan)
    return days[codes]


def categorise(inputs: pd.DataFrame, methodology: RiskMethodology, lists: CountryLists,
               as_of: date) -> dict[str, np.ndarray]:
    """Per factor, each customer's category as an index into ``FACTORS[factor]``."""
    b = methodology.behaviour
    levels = lists.levels()
    today = pd.Timestamp(as_of)
    cats: dict[str, np.ndarray] = {}

    cats["customer_type"] = _text_map(_column(inputs, "customer_type"), _CUSTOMER_TYPES)
    cats["nationality"] = _country_levels(_column(inputs, "nationality"), levels)
    cats["residence"] = _country_levels(_column(inputs, "residence_country"), levels)
    has_account = _by_value(_column(inputs, "has_account"), _flag_value)
    account = (has_account == True)
    cats["corridors"] = _corridor_levels(_column(inputs, "corridor_countries"), levels, account)

    sanctions = _text_map(_column(inputs, "sanctions_status"), {s: s for s in _SANCTIONS})
    potential = pd.to_numeric(_column(inputs, "open_potential_matches"), errors="coerce").to_numpy(dtype=float)
    # open potential matches count as potential unless a confirmed hit says more
    upgrade = (np.nan_to_num(potential) > 0) & np.isin(sanctions, ["none", "suppressed"])
    sanctions[upgrade] = "potential"
    cats["sanctions"] = sanctions

    is_pep = _by_value(_column(inputs, "is_pep"), _flag_value)
    pep_class = _text_map(_column(inputs, "pep_class"), _PEP_CLASSES)
    pep_class[pd.isna(pep_class)] = "unknown_class"
    cats["pep"] = np.where(is_pep == True, pep_class, np.where(is_pep == False, "none", "unknown"))

    cats["adverse_media"] = _by_value(_column(inputs, "adverse_media"), lambda v: (
        "found" if _norm(v) in _TRUE or _norm(v) == "found" else "none" if _norm(v) in _FALSE or _norm(v) == "none"
        else "not_enabled" if _norm(v) in ("not_enabled", "disabled") else None))
    cats["onboarding_channel"] = _text_map(_column(inputs, "onboarding_channel"), _CHANNELS)

    doc = _text_map(_column(inputs, "document_status"), {d: d for d in _DOC_ORDER})
    expired = _days_before(_column(inputs, "document_expiry"), today) > 0
    doc_rank = _by_value(pd.Series(doc, dtype=object), lambda v: _DOC_ORDER.index(v) if v else 99).astype(int)
    doc[expired & (doc_rank < _DOC_ORDER.index("expired"))] = "expired"
    cats["document_quality"] = doc

    score = pd.to_numeric(_column(inputs, "anomaly_max_score"), errors="coerce").to_numpy(dtype=float)
    anomaly = np.where(np.isnan(score), "no_activity",
                       np.where(score >= b.anomaly_high_from, "high",
                                np.where(score >= b.anomaly_elevated_from, "elevated", "low")))
    cats["anomaly"] = np.where(account | ~np.isnan(score), anomaly, "unknown")
    alerts = pd.to_numeric(_column(inputs, "typology_alerts"), errors="coerce").to_numpy(dtype=float)
    alert_cat = np.where(alerts >= b.typology_alerts_several_from, "several",
                         np.where(alerts >= 1, "one", "none"))
    cats["typology_alerts"] = np.where(~np.isnan(alerts), alert_cat, np.where(account, "none", "unknown"))

    age = _days_before(_column(inputs, "account_opened"), today)
    cats["account_age"] = np.where(np.isnan(age), "unknown",
                                   np.where(age < b.account_new_below_days, "new",
                                            np.where(age < b.account_young_below_days, "young", "established")))
    idle = _days_before(_column(inputs, "last_activity"), today)
    reactivated = _by_value(_column(inputs, "reactivated"), _flag_value) == True
    dormancy = np.where(np.isnan(idle), "unknown", np.where(idle > b.dormant_after_days, "dormant", "active"))
    cats["dormancy"] = np.where(reactivated, "reactivated", dormancy)

    return {f: _codes(np.asarray(cats[f], dtype=object), FACTORS[f]) for f in FACTOR_NAMES}


def _contribution_tables(methodology: RiskMethodology) -> dict[str, np.ndarray]:
    """Per factor, the contribution of each of its categories (weight * value / total weight)."""
    total = methodology.total_weight
    return {f: np.array([methodology.factors[f].weight * methodology.factors[f].values[c] / total
                         for c in FACTORS[f]]) for f in FACTOR_NAMES}


def score_tiers(score: np.ndarray, methodology: RiskMethodology) -> np.ndarray:
    """The tier rank (0 low .. 3 prohibited) of each score by the cut-offs alone."""
    cut = methodology.tiers.cutoffs
    bounds = [cut.medium, cut.high] + ([cut.prohibited] if cut.prohibited is not None else [np.inf])
    # round away float noise so that a score exactly at a cut-off reaches it
    return np.searchsorted(np.array(bounds), np.round(score, 9), side="right").astype(np.int8)


def rate(inputs: pd.DataFrame, methodology: RiskMethodology, lists: CountryLists, *, as_of: date,
         reasons: bool = True) -> pd.DataFrame:
    """One rating per input row (see the module docstring). ``reasons=False`` skips the reasons text."""
    if "customer_id" not in inputs:
        raise ValueError("the rating input needs a customer_id column")
    inputs = inputs.reset_index(drop=True)
    codes = categorise(inputs, methodology, lists, as_of)
    tables = _contribution_tables(methodology)
    n = len(inputs)
    contrib = np.zeros((n, len(FACTOR_NAMES)), dtype=np.float64)
    for i, f in enumerate(FACTOR_NAMES):
        contrib[:, i] = tables[f][codes[f]]
    score = np.clip(contrib.sum(axis=1), 0.0, 1.0)
    rank = score_tiers(score, methodology)
    rules = np.full(n, "", dtype=object)
    for rule in methodology.hard_rules:
        hit = np.zeros(n, dtype=bool)
        for f in rule.factors:
            wanted = [FACTORS[f].index(v) for v in rule.values if v in FACTORS[f]]
            hit |= np.isin(codes[f], wanted)
        rank = np.where(hit, np.maximum(rank, TIER_RANK[rule.min_tier]), rank)
        if hit.any():
            rules[hit] = rules[hit] + (rule.id + ";")
    tier_names = np.array(TIERS, dtype=object)
    out = pd.DataFrame({"customer_id": inputs["customer_id"].astype(str).to_numpy(),
                        "score": np.round(score, 6), "computed_tier": tier_names[rank]})
    out["hard_rules"] = pd.Series(rules).str.rstrip(";").to_numpy()
    for i, f in enumerate(FACTOR_NAMES):
        out[f"f_{f}"] = pd.Categorical.from_codes(codes[f], categories=list(FACTORS[f]))
        out[f"c_{f}"] = np.round(contrib[:, i], 6)
    out["methodology_version"] = methodology.label
    if reasons:
        out["reasons"] = reasons_text(codes, contrib, tables)
    return out


def reasons_text(codes: dict[str, np.ndarray], contrib: np.ndarray, tables: dict[str, np.ndarray]) -> np.ndarray:
    """``factor=category (0.123)`` for each non-zero contribution, largest first, ';'-joined. A reason depends
    only on the customer's categories: it is built once per distinct combination."""
    n = contrib.shape[0]
    key = np.zeros(n, dtype=np.int64)
    for f in FACTOR_NAMES:
        key = key * len(FACTORS[f]) + codes[f]
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    texts = np.empty(len(uniq), dtype=object)
    for j, row in enumerate(first):
        parts = sorted(((tables[f][codes[f][row]], f, FACTORS[f][codes[f][row]]) for f in FACTOR_NAMES),
                       key=lambda t: -t[0])
        texts[j] = ";".join(f"{f}={c} ({v:.3f})" for v, f, c in parts if v > 0)
    return texts[inverse.reshape(-1)] if n else np.array([], dtype=object)


def explain(rating: dict) -> list[dict]:
    """One rating row (dict) as its factors: category and contribution, largest first."""
    factors = [{"factor": f, "category": str(rating.get(f"f_{f}")), "contribution": float(rating.get(f"c_{f}") or 0)}
               for f in FACTOR_NAMES if f"f_{f}" in rating]
    return sorted(factors, key=lambda r: -r["contribution"])


def tier_counts(tiers: pd.Series) -> dict[str, int]:
    counts = tiers.value_counts()
    return {t: int(counts.get(t, 0)) for t in TIERS}
