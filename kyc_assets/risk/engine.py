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


def _text(series: pd.Series) -> pd.Series:
    """Lower-cased stripped text, None for missing values (vectorised)."""
    out = series.astype("string").str.strip().str.lower()
    return out.where(out.notna() & (out != ""), None).astype(object)


def _flag(series: pd.Series) -> pd.Series:
    """True/False/None from booleans or text (true/false/yes/no/1/0)."""
    if series.dtype == bool:
        return series.astype(object)
    text = _text(series)
    return text.map(lambda v: True if v in _TRUE else False if v in _FALSE else None, na_action="ignore") \
        .astype(object).where(text.notna(), None)


def _codes(categories: pd.Series, names: tuple[str, ...]) -> np.ndarray:
    """Index of each category in ``names`` (unknown for anything else)."""
    cat = pd.Categorical(categories.astype(object).where(categories.notna(), "unknown"), categories=list(names))
    codes = cat.codes.astype(np.int16)
    codes[codes < 0] = names.index("unknown")
    return codes


def _country_levels(values: pd.Series, levels: dict[str, str]) -> pd.Series:
    """Geography level per row: the lists' level of the ISO code, standard for a known code, unknown else."""
    uniq = pd.unique(values.astype(object).where(values.notna(), None))
    table = {}
    for v in uniq:
        code = to_iso2(v) if v is not None else None
        table[v] = "unknown" if code is None else levels.get(code, "standard")
    return values.map(table).where(values.notna(), "unknown")


def _corridor_levels(values: pd.Series, levels: dict[str, str], known: pd.Series) -> pd.Series:
    """The highest level among the ';'-separated corridor countries; none when the customer has accounts
    but no foreign corridor, unknown when it is not known."""
    order = {"none": 0, "standard": 1, "eu_high_risk": 2, "increased_monitoring": 3, "call_for_action": 4,
             "unknown": -1}
    names = {v: k for k, v in order.items()}
    text = values.astype(object).where(values.notna(), None)
    table = {}
    for v in pd.unique(text):
        if v is None or not str(v).strip():
            continue
        parts = [p for p in str(v).replace(",", ";").split(";") if p.strip()]
        best = 0
        for p in parts:
            code = to_iso2(p)
            best = max(best, order[levels.get(code, "standard")] if code else 1)
        table[v] = names[best]
    out = text.map(table)
    empty = out.isna()
    fallback = pd.Series(np.where(known.eq(True).to_numpy(dtype=bool), "none", "unknown"), index=values.index)
    return out.astype(object).where(~empty, fallback)


def _dates(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, errors="coerce", utc=False, format="mixed") if len(series) else \
        pd.Series([], dtype="datetime64[ns]")


def categorise(inputs: pd.DataFrame, methodology: RiskMethodology, lists: CountryLists,
               as_of: date) -> dict[str, np.ndarray]:
    """Per factor, each customer's category as an index into ``FACTORS[factor]``."""
    b = methodology.behaviour
    levels = lists.levels()
    n = len(inputs)
    today = pd.Timestamp(as_of)
    cats: dict[str, pd.Series | np.ndarray] = {}

    cats["customer_type"] = _text(_column(inputs, "customer_type")).map(_CUSTOMER_TYPES)
    cats["nationality"] = _country_levels(_column(inputs, "nationality"), levels)
    cats["residence"] = _country_levels(_column(inputs, "residence_country"), levels)
    has_account = _flag(_column(inputs, "has_account"))
    cats["corridors"] = _corridor_levels(_column(inputs, "corridor_countries"), levels, has_account)

    sanctions = _text(_column(inputs, "sanctions_status"))
    sanctions = sanctions.where(sanctions.isin(_SANCTIONS), None)
    potential = pd.to_numeric(_column(inputs, "open_potential_matches"), errors="coerce")
    # open potential matches count as potential unless a confirmed hit says more
    sanctions = sanctions.where(~((potential.fillna(0) > 0) & sanctions.isin(["none", "suppressed"])), "potential")
    cats["sanctions"] = sanctions

    is_pep = _flag(_column(inputs, "is_pep"))
    pep_class = _text(_column(inputs, "pep_class")).map(_PEP_CLASSES)
    cats["pep"] = pd.Series(np.where(is_pep.eq(True), pep_class.fillna("unknown_class"),
                                     np.where(is_pep.eq(False), "none", "unknown")), index=inputs.index)

    media = _text(_column(inputs, "adverse_media"))
    media = media.map(lambda v: "found" if v in _TRUE or v == "found" else "none" if v in _FALSE or v == "none"
                      else "not_enabled" if v in ("not_enabled", "disabled") else None, na_action="ignore")
    cats["adverse_media"] = media

    cats["onboarding_channel"] = _text(_column(inputs, "onboarding_channel")).map(_CHANNELS)

    doc = _text(_column(inputs, "document_status"))
    doc = doc.where(doc.isin(_DOC_ORDER), None)
    expiry = _dates(_column(inputs, "document_expiry"))
    expired = (expiry < today).fillna(False).to_numpy(dtype=bool)
    doc_rank = doc.map({d: i for i, d in enumerate(_DOC_ORDER)})
    worse = expired & (doc_rank.fillna(99).to_numpy() < _DOC_ORDER.index("expired"))
    cats["document_quality"] = doc.where(~worse, "expired")

    account = has_account.eq(True).to_numpy(dtype=bool)
    score = pd.to_numeric(_column(inputs, "anomaly_max_score"), errors="coerce").to_numpy(dtype=float)
    anomaly = np.where(np.isnan(score), "no_activity",
                       np.where(score >= b.anomaly_high_from, "high",
                                np.where(score >= b.anomaly_elevated_from, "elevated", "low")))
    cats["anomaly"] = np.where(account | ~np.isnan(score), anomaly, "unknown")
    alerts = pd.to_numeric(_column(inputs, "typology_alerts"), errors="coerce").to_numpy(dtype=float)
    alert_cat = np.where(alerts >= b.typology_alerts_several_from, "several",
                         np.where(alerts >= 1, "one", "none"))
    cats["typology_alerts"] = np.where(~np.isnan(alerts), alert_cat, np.where(account, "none", "unknown"))

    opened = _dates(_column(inputs, "account_opened"))
    age = (today - opened).dt.days.to_numpy(dtype=float) if n else np.array([], dtype=float)
    cats["account_age"] = np.where(np.isnan(age), "unknown",
                                   np.where(age < b.account_new_below_days, "new",
                                            np.where(age < b.account_young_below_days, "young", "established")))
    last = _dates(_column(inputs, "last_activity"))
    idle = (today - last).dt.days.to_numpy(dtype=float) if n else np.array([], dtype=float)
    reactivated = _flag(_column(inputs, "reactivated")).eq(True).to_numpy(dtype=bool)
    dormancy = np.where(np.isnan(idle), "unknown", np.where(idle > b.dormant_after_days, "dormant", "active"))
    cats["dormancy"] = np.where(reactivated, "reactivated", dormancy)

    return {f: _codes(pd.Series(cats[f], index=inputs.index) if not isinstance(cats[f], pd.Series) else cats[f],
                      FACTORS[f]) for f in FACTOR_NAMES}


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


def reasons_text(codes: dict[str, np.ndarray], contrib: np.ndarray, tables: dict[str, np.ndarray]) -> list[str]:
    """``factor=category (0.123)`` for each non-zero contribution, largest first, ';'-joined."""
    labels = []
    for f in FACTOR_NAMES:
        labels.append(np.array([f"{f}={c} ({v:.3f})" if v > 0 else "" for c, v in zip(FACTORS[f], tables[f],
                                                                                       strict=True)], dtype=object))
    order = np.argsort(-contrib, axis=1, kind="stable")
    matrix = np.empty(contrib.shape, dtype=object)
    for i, f in enumerate(FACTOR_NAMES):
        matrix[:, i] = labels[i][codes[f]]
    ordered = np.take_along_axis(matrix, order, axis=1)
    return [";".join(x for x in row if x) for row in ordered.tolist()]


def explain(rating: dict) -> list[dict]:
    """One rating row (dict) as its factors: category and contribution, largest first."""
    factors = [{"factor": f, "category": str(rating.get(f"f_{f}")), "contribution": float(rating.get(f"c_{f}") or 0)}
               for f in FACTOR_NAMES if f"f_{f}" in rating]
    return sorted(factors, key=lambda r: -r["contribution"])


def tier_counts(tiers: pd.Series) -> dict[str, int]:
    counts = tiers.value_counts()
    return {t: int(counts.get(t, 0)) for t in TIERS}
