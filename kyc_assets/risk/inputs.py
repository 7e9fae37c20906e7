"""The rating's inputs, one row per customer, gathered from the platform's own tables (no Dagster).

- ``customers``: nationality, identity document (type, expiry), warnings and status -> document quality;
  an identity document (passport, ID card, visa) makes the customer a person.
- ``screening_results``: unsuppressed sanctions hits (open potential matches), suppressed hits, PEP hits;
  the PEP entry's countries (``watchlist_entries``) against the methodology's ``home_country`` give
  the PEP's class. A customer without any screening row is unknown, never clean.
- confirmed cases (case store): a confirmed screening case makes the sanctions status ``confirmed``.
- ``adverse_media_results``: found / none / not enabled.
- the customer reference file (``KYC_CUSTOMER_REFERENCE_PATH``: the core banking system's extract):
  accounts, customer type, onboarding channel, residence, account opening date; matched on
  ``customer_id`` or, failing that, ``document_number``.
- ``anomaly_scores`` of the customer's accounts over the lookback: highest risk score, typology alerts,
  dormant-account reactivation; ``transactions``: corridors (the counterparties' countries) and the last
  activity.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from kyc_assets.risk.countries import to_iso2
from kyc_assets.risk.engine import INPUT_COLUMNS

IDENTITY_TYPES = ("passport", "id_card", "visa")
REFERENCE_COLUMNS = ("customer_id", "document_number", "account_id", "customer_type", "onboarding_channel",
                     "residence_country", "account_opened")
_INCONSISTENT = ("differs between documents", "does not match the MRZ")
_DISAGREEMENT = ("disagree", "could not be parsed")


class ReferenceFileError(ValueError):
    """The customer reference file cannot be used (one line)."""


def load_reference(path: Path | str | None) -> pd.DataFrame:
    """The customer reference CSV (empty frame without a path or file); ReferenceFileError on a bad one."""
    if not path or not Path(path).is_file():
        return pd.DataFrame(columns=list(REFERENCE_COLUMNS))
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise ReferenceFileError(f"KYC_CUSTOMER_REFERENCE_PATH: cannot read {path}: {type(exc).__name__}") from None
    if not ({"customer_id", "document_number"} & set(frame.columns)):
        raise ReferenceFileError(f"KYC_CUSTOMER_REFERENCE_PATH: {Path(path).name} needs a customer_id or "
                                 "document_number column")
    for col in REFERENCE_COLUMNS:
        if col not in frame:
            frame[col] = ""
    return frame[list(REFERENCE_COLUMNS)].replace("", None)


def _warnings(value: object) -> list[str]:
    if isinstance(value, str) and value:
        try:
            return list(json.loads(value))
        except ValueError:
            return [value]
    return list(value) if isinstance(value, list | tuple) else []


def document_status(customers: pd.DataFrame) -> pd.Series:
    """ok / extraction_disagreement / inconsistent / missing per customer (expiry is judged by the engine)."""
    out = []
    for doc_type, status, warnings in zip(customers.get("document_type", pd.Series([None] * len(customers))),
                                          customers.get("kyc_status", pd.Series([None] * len(customers))),
                                          customers.get("warnings", pd.Series([None] * len(customers))),
                                          strict=True):
        words = " ".join(_warnings(warnings))
        if doc_type not in IDENTITY_TYPES or status == "incomplete":
            out.append("missing")
        elif any(w in words for w in _INCONSISTENT):
            out.append("inconsistent")
        elif any(w in words for w in _DISAGREEMENT):
            out.append("extraction_disagreement")
        elif status == "needs_review" and "expired" not in words:
            out.append("extraction_disagreement")  # an MRZ that fails its check digits
        else:
            out.append("ok")
    return pd.Series(out, index=customers.index, dtype=object)


def _pep_classes(pep_hits: pd.DataFrame, entries: pd.DataFrame | None, home: str) -> dict[str, str]:
    """customer_id -> the class of its strongest PEP hit's entry (foreign wins over domestic)."""
    countries: dict[str, list[str]] = {}
    topics: dict[str, list[str]] = {}
    if entries is not None and len(entries):
        for eid, nat, top in zip(entries["entity_id"].astype(str), entries.get("nationalities", [None] * len(entries)),
                                 entries.get("topics", [None] * len(entries)), strict=True):
            countries[eid] = [to_iso2(c) for c in _warnings(nat)]
            topics[eid] = _warnings(top)
    order = {"domestic": 0, "close_associate": 1, "international_organisation": 2, "unknown_class": 3, "foreign": 4}
    out: dict[str, str] = {}
    for cid, eid in zip(pep_hits["customer_id"].astype(str), pep_hits["list_entity_id"].astype(str), strict=True):
        t = topics.get(eid, [])
        c = [x for x in countries.get(eid, []) if x]
        if any(x.startswith("role.pep.intl") for x in t):
            cls = "international_organisation"
        elif any(x.startswith("role.rca") for x in t):
            cls = "close_associate"
        elif not c:
            cls = "unknown_class"
        else:
            cls = "domestic" if home in c else "foreign"
        if cid not in out or order[cls] > order[out[cid]]:
            out[cid] = cls
    return out


def _link_accounts(customers: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Reference rows with the platform's customer_id (by customer_id, else by document number)."""
    if not len(reference):
        return pd.DataFrame(columns=[*REFERENCE_COLUMNS, "kyc_customer_id"])
    known = set(customers["customer_id"].astype(str))
    by_doc = {str(d): str(c) for d, c in zip(customers.get("document_number", []), customers["customer_id"],
                                             strict=True) if isinstance(d, str) and d}
    ref = reference.copy()
    direct = ref["customer_id"].where(ref["customer_id"].isin(known))
    ref["kyc_customer_id"] = direct.fillna(ref["document_number"].map(by_doc))
    return ref[ref["kyc_customer_id"].notna()]


def _first(series: pd.Series) -> object:
    values = series.dropna()
    return values.iloc[0] if len(values) else None


def build_inputs(customers: pd.DataFrame, screening_results: pd.DataFrame | None, *, as_of: date, home_country: str,
                 lookback_days: int = 90, watchlist_entries: pd.DataFrame | None = None,
                 adverse_media: pd.DataFrame | None = None, reference: pd.DataFrame | None = None,
                 anomaly_scores: pd.DataFrame | None = None, transactions: pd.DataFrame | None = None,
                 confirmed: dict[str, dict] | None = None) -> pd.DataFrame:
    """One row of :data:`INPUT_COLUMNS` per customer (see the module docstring)."""
    customers = customers.reset_index(drop=True)
    ids = customers["customer_id"].astype(str)
    out = pd.DataFrame({"customer_id": ids})
    out["nationality"] = customers.get("nationality")
    out["document_status"] = document_status(customers).to_numpy()
    out["document_expiry"] = customers.get("expiry_date")
    out["customer_type"] = np.where(customers.get("document_type", pd.Series([None] * len(customers)))
                                    .isin(IDENTITY_TYPES), "person", None)

    # -- screening --------------------------------------------------------------------------------
    screened = set()
    sanctions = {}
    potential = {}
    pep = {}
    if screening_results is not None and len(screening_results):
        sr = screening_results
        screened = set(sr["customer_id"].astype(str))
        hits = sr[sr["decision"].isin(["match", "potential_match"])]
        suppressed = hits["suppressed"].fillna(False).astype(bool) if "suppressed" in hits else \
            pd.Series(False, index=hits.index)
        hit_type = hits["hit_type"].fillna("sanctions") if "hit_type" in hits else \
            pd.Series("sanctions", index=hits.index)
        s_open = hits[(hit_type == "sanctions") & ~suppressed]
        s_supp = hits[(hit_type == "sanctions") & suppressed]
        potential = s_open.groupby(s_open["customer_id"].astype(str)).size().to_dict()
        sanctions.update({c: "suppressed" for c in s_supp["customer_id"].astype(str)})
        sanctions.update({c: "potential" for c in potential})
        pep_hits = hits[(hit_type == "pep") & ~suppressed]
        pep = _pep_classes(pep_hits, watchlist_entries, home_country)
    for cid, info in (confirmed or {}).items():
        if info.get("sanctions"):
            sanctions[cid] = "confirmed"
            screened.add(cid)
        if info.get("pep") and cid not in pep:
            pep[cid] = "unknown_class"
    is_screened = ids.isin(screened)
    out["sanctions_status"] = np.where(is_screened, ids.map(sanctions).fillna("none"), None)
    out["open_potential_matches"] = np.where(is_screened, ids.map(potential).fillna(0), np.nan)
    out["is_pep"] = np.where(ids.isin(pep), True, np.where(is_screened, False, None))
    out["pep_class"] = ids.map(pep)

    # -- adverse media ----------------------------------------------------------------------------
    if adverse_media is None or not len(adverse_media):
        out["adverse_media"] = "not_enabled"
    else:
        am = adverse_media.groupby(adverse_media["customer_id"].astype(str))["status"].agg(set)
        status = am.map(lambda s: "found" if "article" in s else "none" if "no_articles" in s
                        else "not_enabled" if "disabled" in s else None)
        out["adverse_media"] = ids.map(status)

    # -- reference data and accounts --------------------------------------------------------------
    ref = _link_accounts(customers, reference if reference is not None else pd.DataFrame(columns=REFERENCE_COLUMNS))
    per = ref.groupby("kyc_customer_id") if len(ref) else None
    for col in ("customer_type", "onboarding_channel", "residence_country"):
        values = per[col].agg(_first) if per is not None else pd.Series(dtype=object)
        mapped = ids.map(values)
        out[col] = mapped.where(mapped.notna(), out.get(col, None))
    accounts = ref[ref["account_id"].notna()][["kyc_customer_id", "account_id"]].drop_duplicates() if len(ref) else \
        pd.DataFrame(columns=["kyc_customer_id", "account_id"])
    accounts = accounts.astype({"account_id": str})
    out["has_account"] = ids.isin(set(accounts["kyc_customer_id"]))
    opened = per["account_opened"].agg(lambda s: s.dropna().min() if s.notna().any() else None) \
        if per is not None else pd.Series(dtype=object)
    out["account_opened"] = ids.map(opened)

    start = pd.Timestamp(as_of - timedelta(days=lookback_days - 1))
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    out["anomaly_max_score"] = np.nan
    out["typology_alerts"] = np.nan
    out["reactivated"] = False
    out["corridor_countries"] = None
    out["last_activity"] = None
    if len(accounts) and anomaly_scores is not None and len(anomaly_scores):
        sc = anomaly_scores
        days = pd.to_datetime(sc["as_of_date"])
        sc = sc[((days >= start) & (days < end)).to_numpy()]
        sc = sc.assign(account_id=sc["account_id"].astype(str)).merge(accounts, on="account_id")
        if len(sc):
            rules = sc["triggered_rules"].fillna("").astype(str) if "triggered_rules" in sc else \
                pd.Series("", index=sc.index)
            alerted = sc["alert"].fillna(False).astype(bool) & (rules != "")
            g = sc.assign(_typology=alerted, _reactivated=rules.str.contains("dormant_reactivation")) \
                .groupby("kyc_customer_id")
            out["anomaly_max_score"] = ids.map(g["risk_score"].max()).astype(float)
            out["typology_alerts"] = ids.map(g["_typology"].sum()).astype(float)
            out["reactivated"] = ids.isin(set(g["_reactivated"].any().loc[lambda v: v].index))
    if len(accounts) and transactions is not None and len(transactions):
        _add_activity(out, ids, accounts, transactions, start, end)
    out["account_opened"] = out["account_opened"].where(out["account_opened"].notna(),
                                                        out.pop("_first_activity") if "_first_activity" in out
                                                        else None)
    return out[list(INPUT_COLUMNS)]


def _add_activity(out: pd.DataFrame, ids: pd.Series, accounts: pd.DataFrame, tx: pd.DataFrame,
                  start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Corridors over the lookback, and the first and last activity ever, from the transactions."""
    ts = pd.to_datetime(tx["timestamp"], utc=True, errors="coerce").dt.tz_localize(None)
    legs = []
    for own, other in (("sender", "receiver"), ("receiver", "sender")):
        cols = {f"{own}_account": "account_id"}
        frame = pd.DataFrame({"account_id": tx[f"{own}_account"].astype(str), "ts": ts,
                              "country": tx.get(f"{other}_country", None)})
        legs.append(frame.rename(columns=cols))
    legs = pd.concat(legs, ignore_index=True).merge(accounts, on="account_id")
    if not len(legs):
        return
    g = legs.groupby("kyc_customer_id")
    out["last_activity"] = ids.map(g["ts"].max().dt.strftime("%Y-%m-%d"))
    out["_first_activity"] = ids.map(g["ts"].min().dt.strftime("%Y-%m-%d"))
    recent = legs[(legs["ts"] >= start) & (legs["ts"] < end) & legs["country"].notna()]
    if len(recent):
        corridors = recent.groupby("kyc_customer_id")["country"].agg(lambda s: ";".join(sorted(set(map(str, s)))))
        out["corridor_countries"] = ids.map(corridors)
