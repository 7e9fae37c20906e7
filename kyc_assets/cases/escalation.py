"""Turn screening hits, anomaly alerts and document failures into case candidates with evidence references.

Plain pandas, no Dagster. An evidence id is a hash of what the evidence *says* (not of the run
that produced it), so re-running escalation on the same inputs adds nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Evidence:
    kind: str  # screening_hit | anomaly_alert | document_failure
    risk: float
    reason: str
    reference: dict
    identity: tuple = ()

    @property
    def evidence_id(self) -> str:
        return hashlib.sha256(json.dumps([self.kind, *self.identity], default=str).encode()).hexdigest()


@dataclass
class CaseCandidate:
    subject_type: str  # customer | account | document
    subject_id: str
    evidence: list[Evidence] = field(default_factory=list)
    # subject_name, subject_dob, subject_document_number: stored encrypted (KYC_CASE_KEYS) or not at all.
    pii: dict = field(default_factory=dict, repr=False)


def _customer_pii(customers: pd.DataFrame) -> dict[str, dict]:
    """Per customer id: the PII the case store keeps (encrypted) for the case page."""
    if not len(customers):
        return {}
    out = {}
    for c in customers.to_dict("records"):
        out[c["customer_id"]] = {k: (None if pd.isna(v) else str(v)) for k, v in {
            "subject_name": c.get("full_name"), "subject_dob": c.get("date_of_birth"),
            "subject_document_number": c.get("document_number")}.items()}
    return out


def _json_list(value: object) -> list:
    return json.loads(value) if isinstance(value, str) and value else []


#: A PEP hit calls for enhanced due diligence, not a freeze: its case risk is the score times this
#: (its priority comes from its kind, see cases/triage.py: 3 or 4, after sanctions hits at 1 to 3).
PEP_RISK_FACTOR = 0.7


def screening_candidates(screening_results: pd.DataFrame, customers: pd.DataFrame) -> list[CaseCandidate]:
    """One candidate per customer with at least one `match` or `potential_match` that an analyst
    has not suppressed; PEP hits carry a lower risk (hence priority) than sanctions hits."""
    docs = dict(zip(customers["customer_id"], customers["document_sha256s"].map(_json_list), strict=False)) \
        if len(customers) else {}
    pii = _customer_pii(customers)
    hits = screening_results[screening_results["decision"].isin(["match", "potential_match"])]
    if "suppressed" in hits:
        hits = hits[~hits["suppressed"].fillna(False).astype(bool)]
    out: dict[str, CaseCandidate] = {}
    for h in hits.itertuples(index=False):
        hit_type = getattr(h, "hit_type", None) or "sanctions"
        # The entry's content hash identifies the evidence when present: an unchanged hit carried into
        # a new list version is the same evidence, not a new one.
        entry = getattr(h, "entry_hash", None) or h.list_version
        cand = out.setdefault(h.customer_id, CaseCandidate("customer", h.customer_id,
                                                            pii=pii.get(h.customer_id, {})))
        label = "PEP" if hit_type == "pep" else "sanctions"
        reason = f"{label} {h.decision}: {h.list_source} {h.list_entity_id} (score {h.score:.2f})"
        risk = float(h.score) * (PEP_RISK_FACTOR if hit_type == "pep" else 1.0)
        cand.evidence.append(Evidence(
            kind="screening_hit", risk=round(risk, 4), reason=reason,
            identity=(h.customer_id, h.list_entity_id, entry, round(float(h.score), 4)),
            reference={"asset_key": "screening_results", "run_id": h.run_id, "list_source": h.list_source,
                       "decision": h.decision, "score": round(float(h.score), 4),
                       "list_entity_id": h.list_entity_id, "list_version": h.list_version, "hit_type": hit_type,
                       "entry_hash": getattr(h, "entry_hash", None),
                       "explanation": h.explanation, "document_sha256s": docs.get(h.customer_id, []),
                       "upstream": ["customers", "watchlist_entries"]}))
    return list(out.values())


def _rule_list(value: object) -> list[str]:
    """Triggered rule names from a list or a ';'-joined string (empty for None/NaN)."""
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and not isinstance(value, str)):
        return [str(v) for v in list(value) if str(v)]
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    return []


# A model-only alert (no typology: no window rule fired and no graph typology among its reasons) opens a
# case only from this risk up and when the account was alerted so on at least MODEL_ONLY_CASE_MIN_DAYS days:
# the model's outliers stay visible in anomaly_scores, but analysts are not flooded with unexplained ones.
MODEL_ONLY_CASE_MIN_RISK = 0.9
MODEL_ONLY_CASE_MIN_DAYS = 3


#: Per typology: the days (ending on the alert day) and the legs whose transactions are shown as its evidence.
RULE_WINDOWS = {"structuring": (30, "both"), "fan_in": (30, "in"), "fan_out": (30, "out"),
                "rapid_pass_through": (7, "both"), "cycle": (30, "both"), "gather_scatter": (7, "both"),
                "velocity_spike": (7, "both"), "high_risk_corridor": (30, "both"), "scatter_gather": (30, "both"),
                "dormant_reactivation": (7, "both")}
MAX_RULE_TRANSACTIONS = 50


def _account_legs(transactions: pd.DataFrame | None, accounts: set[str]) -> dict[str, pd.DataFrame]:
    """Per account: its legs (``direction`` in/out, ``counterparty``, ``day``), from the transactions."""
    if transactions is None or not len(transactions) or not accounts:
        return {}
    tx = transactions[transactions["sender_account"].astype(str).isin(accounts)
                      | transactions["receiver_account"].astype(str).isin(accounts)].copy()
    if not len(tx):
        return {}
    tx["day"] = pd.to_datetime(tx["timestamp"], utc=True, errors="coerce").dt.strftime("%Y-%m-%d")
    tx["amount"] = pd.to_numeric(tx["amount"], errors="coerce")
    cols = [c for c in ("transaction_id", "timestamp", "day", "amount", "currency", "channel", "sender_country",
                        "receiver_country") if c in tx.columns]
    legs = []
    for direction, own, other in (("out", "sender_account", "receiver_account"),
                                  ("in", "receiver_account", "sender_account")):
        part = tx[tx[own].astype(str).isin(accounts)]
        legs.append(part[cols].assign(account=part[own].astype(str), counterparty=part[other].astype(str),
                                      direction=direction))
    allegs = pd.concat(legs, ignore_index=True)
    # a cash deposit/withdrawal (sender == receiver) is one leg only (see monitoring/features.py)
    own_cash = allegs["account"] == allegs["counterparty"]
    keep = ~own_cash | ((allegs["direction"] == "out") == (allegs.get("channel", "") == "cash_withdrawal"))
    return {a: g.sort_values("timestamp") for a, g in allegs[keep].groupby("account")}


def rule_transactions(legs: pd.DataFrame | None, day: str, rules: list[str], *, threshold: float = 10_000.0,
                      margin: float = 0.1, high_risk: tuple[str, ...] = ()) -> dict[str, list[dict]]:
    """Per typology: the account's transactions behind it on ``day`` (see RULE_WINDOWS; structuring: the
    amounts in [threshold * (1 - margin), threshold); high_risk_corridor: legs with a high-risk country),
    at most MAX_RULE_TRANSACTIONS each, oldest first."""
    out: dict[str, list[dict]] = {}
    if legs is None or not len(legs):
        return out
    end = pd.Timestamp(day)
    for rule in rules:
        if rule not in RULE_WINDOWS:
            continue
        days, direction = RULE_WINDOWS[rule]
        start = (end - pd.Timedelta(days=days - 1)).strftime("%Y-%m-%d")
        sel = legs[(legs["day"] >= start) & (legs["day"] <= day)]
        if direction != "both":
            sel = sel[sel["direction"] == direction]
        if rule == "structuring":
            sel = sel[(sel["amount"] >= threshold * (1 - margin)) & (sel["amount"] < threshold)]
        if rule == "high_risk_corridor" and high_risk:
            countries = [c for c in ("sender_country", "receiver_country") if c in sel.columns]
            sel = sel[sel[countries].isin(list(high_risk)).any(axis=1)] if countries else sel.iloc[0:0]
        rows = sel.tail(MAX_RULE_TRANSACTIONS).drop(columns=["account", "day"]).astype(object)
        out[rule] = [{k: (None if pd.isna(v) else (float(v) if k == "amount" else str(v))) for k, v in r.items()}
                     for r in rows.to_dict("records")]
    return out


def anomaly_candidates(anomaly_scores: pd.DataFrame,
                       model_only_min_risk: float = MODEL_ONLY_CASE_MIN_RISK, *,
                       model_only_min_days: int = MODEL_ONLY_CASE_MIN_DAYS,
                       features: pd.DataFrame | None = None, transactions: pd.DataFrame | None = None,
                       roles: dict[str, str] | None = None, threshold: float = 10_000.0, margin: float = 0.1,
                       currency: str = "USD", high_risk: tuple[str, ...] = ()) -> list[CaseCandidate]:
    """One candidate per alerted account, one evidence item per alerted day.

    Alerts with a typology (a triggered window rule, or a graph typology among the reasons) always count;
    model-only alerts need ``model_only_min_risk`` on at least ``model_only_min_days`` alerted days.
    ``roles`` (account -> merchant/payroll, see cases/roles.py): the typologies the role explains do not
    open a case by themselves, nor do model-only alerts of such an account. ``features`` (the
    transaction_features rows) and ``transactions``: the numbers and the transactions behind each reason,
    stored with the evidence (``features``, ``transactions``) and written into its reason in words
    (cases/reasons.py).
    """
    from kyc_assets.cases import reasons as words
    from kyc_assets.cases.roles import explained

    if not len(anomaly_scores):
        return []
    from kyc_assets.cases.triage import alert_typologies

    roles = roles or {}
    alert = anomaly_scores["alert"].astype(bool)
    rules = pd.Series([";".join(alert_typologies(r, q)) for r, q in zip(
        anomaly_scores["triggered_rules"] if "triggered_rules" in anomaly_scores else [None] * len(anomaly_scores),
        anomaly_scores["reasons"] if "reasons" in anomaly_scores else [None] * len(anomaly_scores), strict=True)],
        index=anomaly_scores.index, dtype=object)
    model_only = alert & (rules == "") & (anomaly_scores["risk_score"] >= model_only_min_risk)
    days = anomaly_scores.loc[model_only].groupby(anomaly_scores.loc[model_only, "account_id"].astype(str))[
        "as_of_date"].nunique() if model_only.any() else pd.Series(dtype=int)
    persistent = anomaly_scores["account_id"].astype(str).map(days).fillna(0) >= model_only_min_days
    alerts = anomaly_scores[alert & ((rules != "") | (model_only & persistent))]
    feature_rows: dict[tuple[str, str], dict] = {}
    if features is not None and len(features) and len(alerts):
        wanted = {(str(a), pd.Timestamp(d).strftime("%Y-%m-%d")) for a, d in zip(alerts["account_id"],
                                                                                   alerts["as_of_date"], strict=True)}
        f = features[features["account_id"].astype(str).isin({a for a, _ in wanted})]
        for row in f.to_dict("records"):
            key = (str(row["account_id"]), pd.Timestamp(row["as_of_date"]).strftime("%Y-%m-%d"))
            if key in wanted:
                feature_rows[key] = row
    legs = _account_legs(transactions, set(alerts["account_id"].astype(str)))
    out: dict[str, CaseCandidate] = {}
    for a in alerts.itertuples(index=False):
        account = str(a.account_id)
        day = pd.Timestamp(a.as_of_date).strftime("%Y-%m-%d")
        fired = alert_typologies(getattr(a, "triggered_rules", None), getattr(a, "reasons", None))
        role = roles.get(account)
        by_role = explained(role, fired)
        if role and len(by_role) == len(fired):
            continue  # the role explains every typology (or a model-only alert on a merchant/payroll account)
        row = feature_rows.get((account, day), {})
        values = {k: float(row[k]) for k in words.features_needed(a.reasons)
                  if k in row and row[k] is not None and not pd.isna(row[k])}
        behind = rule_transactions(legs.get(account), day, [r for r in fired if r not in by_role],
                                   threshold=threshold, margin=margin, high_risk=high_risk)
        said = words.sentences([r for r in fired if r not in by_role] or a.reasons, values, transactions=behind,
                               threshold=threshold, currency=currency)
        cand = out.setdefault(account, CaseCandidate("account", account))
        cand.evidence.append(Evidence(
            kind="anomaly_alert", risk=float(a.risk_score), reason=f"Monitoring alert {day}: " + " ".join(said[:3]),
            identity=(account, day, a.reasons),
            reference={"asset_key": "anomaly_scores", "partition": day, "run_id": getattr(a, "run_id", None),
                       "model_version": getattr(a, "model_version", None), "reasons": a.reasons,
                       "triggered_rules": fired, "features": values, "transactions": behind,
                       **({"account_role": role, "explained_by_role": by_role} if role else {}),
                       "upstream": ["transaction_features", "transactions"]}))
    return list(out.values())


# Document failures: the risk of each kind of failure (their priority: cases/triage.py).
DOCUMENT_FAILURE_RISK = {"invalid_mrz": 0.8, "expired_document": 0.6, "extraction_disagreement": 0.55}
IDENTITY_TYPES = ("passport", "id_card", "visa")


def document_failures(row: dict, today: str) -> list[tuple[str, str]]:
    """``(failure, reason)`` pairs of one extracted document: an identity document whose MRZ check
    digits fail, one that expired before ``today`` (YYYY-MM-DD), and extraction disagreements
    (the visual zone or the LLM disagreeing with the MRZ)."""
    out = []
    if row.get("status") != "ok" or row.get("document_type") not in IDENTITY_TYPES:
        return out
    if row.get("mrz_valid") is False:
        out.append(("invalid_mrz", "document failure: MRZ check digits invalid"))
    expiry = row.get("expiry_date")
    if isinstance(expiry, str) and expiry and expiry < today:
        out.append(("expired_document", f"document failure: {row['document_type']} expired"))
    warnings = row.get("warnings")
    warnings = _json_list(warnings) if isinstance(warnings, str) else list(warnings or [])
    if any("does not match" in str(w) or "disagree" in str(w) for w in warnings):
        out.append(("extraction_disagreement", "document failure: extracted fields disagree"))
    return out


def document_candidates(extracted_entities: pd.DataFrame, customers: pd.DataFrame, today: str) -> list[CaseCandidate]:
    """One candidate per customer (or, for a document matched to nobody, per document) with an
    identity document that failed: invalid MRZ, expired, or extraction disagreement. The evidence id
    is (document sha256, failure), so the same failure is never added twice."""
    if not len(extracted_entities):
        return []
    owner = {}
    if len(customers):
        for cid, shas in zip(customers["customer_id"], customers["document_sha256s"].map(_json_list), strict=True):
            for sha in shas:
                owner.setdefault(sha, cid)
    pii = _customer_pii(customers)
    out: dict[tuple[str, str], CaseCandidate] = {}
    for row in extracted_entities.astype(object).where(extracted_entities.notna(), None).to_dict("records"):
        for failure, reason in document_failures(row, today):
            sha = row["document_sha256"]
            subject = ("customer", owner[sha]) if sha in owner else ("document", sha)
            cand = out.setdefault(subject, CaseCandidate(*subject, pii=pii.get(subject[1], {})))
            cand.evidence.append(Evidence(
                kind="document_failure", risk=DOCUMENT_FAILURE_RISK[failure], reason=reason,
                identity=(sha, failure),
                reference={"asset_key": "extracted_entities", "partition": sha, "document_sha256s": [sha],
                           "failure": failure, "document_type": row.get("document_type"),
                           "method": row.get("method"), "upstream": ["document_text", "raw_documents"]}))
    return list(out.values())


def merge_candidates(*groups: list[CaseCandidate]) -> list[CaseCandidate]:
    """Candidates of the same subject merged (evidence concatenated, PII from the first that has it),
    so that a customer with a screening hit and a failed document gets one case."""
    out: dict[tuple[str, str], CaseCandidate] = {}
    for group in groups:
        for cand in group:
            key = (cand.subject_type, cand.subject_id)
            if key not in out:
                out[key] = CaseCandidate(cand.subject_type, cand.subject_id, list(cand.evidence), dict(cand.pii))
            else:
                out[key].evidence.extend(cand.evidence)
                out[key].pii = out[key].pii or dict(cand.pii)
    return list(out.values())
