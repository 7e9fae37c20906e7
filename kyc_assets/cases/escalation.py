"""Turn screening hits and anomaly alerts into case candidates with evidence references.

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
    kind: str  # screening_hit | anomaly_alert
    risk: float
    reason: str
    reference: dict
    identity: tuple = ()

    @property
    def evidence_id(self) -> str:
        return hashlib.sha256(json.dumps([self.kind, *self.identity], default=str).encode()).hexdigest()


@dataclass
class CaseCandidate:
    subject_type: str  # customer | account
    subject_id: str
    evidence: list[Evidence] = field(default_factory=list)


def _json_list(value: object) -> list:
    return json.loads(value) if isinstance(value, str) and value else []


def screening_candidates(screening_results: pd.DataFrame, customers: pd.DataFrame) -> list[CaseCandidate]:
    """One candidate per customer with at least one `match` or `potential_match`."""
    docs = dict(zip(customers["customer_id"], customers["document_sha256s"].map(_json_list), strict=False)) \
        if len(customers) else {}
    hits = screening_results[screening_results["decision"].isin(["match", "potential_match"])]
    out: dict[str, CaseCandidate] = {}
    for h in hits.itertuples(index=False):
        cand = out.setdefault(h.customer_id, CaseCandidate("customer", h.customer_id))
        reason = f"sanctions {h.decision}: {h.list_source} {h.list_entity_id} (score {h.score:.2f})"
        cand.evidence.append(Evidence(
            kind="screening_hit", risk=float(h.score), reason=reason,
            identity=(h.customer_id, h.list_entity_id, h.list_version, round(float(h.score), 4)),
            reference={"asset_key": "screening_results", "run_id": h.run_id, "list_source": h.list_source,
                       "list_entity_id": h.list_entity_id, "list_version": h.list_version,
                       "explanation": h.explanation, "document_sha256s": docs.get(h.customer_id, []),
                       "upstream": ["customers", "watchlist_entries"]}))
    return list(out.values())


# A model-only alert (no typology rule fired) opens a case only from this risk up: the model's
# outliers stay visible in anomaly_scores, but analysts are not flooded with unexplained ones.
MODEL_ONLY_CASE_MIN_RISK = 0.9


def anomaly_candidates(anomaly_scores: pd.DataFrame,
                       model_only_min_risk: float = MODEL_ONLY_CASE_MIN_RISK) -> list[CaseCandidate]:
    """One candidate per alerted account, one evidence item per alerted day.

    Alerts with a triggered typology rule always count; model-only alerts need ``model_only_min_risk``.
    """
    if not len(anomaly_scores):
        return []
    alert = anomaly_scores["alert"].astype(bool)
    rules = anomaly_scores["triggered_rules"].fillna("").astype(str) if "triggered_rules" in anomaly_scores \
        else pd.Series("", index=anomaly_scores.index)
    alerts = anomaly_scores[alert & ((rules != "") | (anomaly_scores["risk_score"] >= model_only_min_risk))]
    out: dict[str, CaseCandidate] = {}
    for a in alerts.itertuples(index=False):
        day = pd.Timestamp(a.as_of_date).strftime("%Y-%m-%d")
        cand = out.setdefault(str(a.account_id), CaseCandidate("account", str(a.account_id)))
        cand.evidence.append(Evidence(
            kind="anomaly_alert", risk=float(a.risk_score), reason=f"transaction monitoring alert: {a.reasons}",
            identity=(str(a.account_id), day, a.reasons),
            reference={"asset_key": "anomaly_scores", "partition": day, "run_id": getattr(a, "run_id", None),
                       "model_version": getattr(a, "model_version", None), "reasons": a.reasons,
                       "upstream": ["transaction_features", "transactions"]}))
    return list(out.values())
