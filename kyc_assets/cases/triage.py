"""Triage: a case's priority from the kind of its evidence and its risk (plain Python, no Dagster).

The queue's order is the order an analyst should work in. Each evidence item gets a priority from its
kind first, then its strength within the kind; a case takes the highest (lowest number) of its items,
and within a priority the queue sorts by due date, then by the combined risk (highest first).

=========  ==================================================================================
priority   evidence
=========  ==================================================================================
1          a sanctions ``match`` that confirms the identity (the date of birth or an identifier
           agrees, see the screening explanation) or is exact (score >= ``EXACT_SCORE``)
2          another sanctions ``match``, a sanctions ``potential_match`` with score >=
           ``STRONG_SCORE``; an identity document whose MRZ check digits fail; a monitoring alert
           with a high-severity typology (``HIGH_SEVERITY``) that is backed by a second typology
           or a risk >= ``SEVERE_ALERT_RISK``
3          a PEP ``match`` (enhanced due diligence, not a freeze); a weaker sanctions hit; an
           expired document or extraction disagreement; a monitoring alert with any typology
4          a PEP ``potential_match``; a model-only monitoring alert (no typology); an alert whose
           typologies are all explained by the account's known role (merchant, payroll: see
           :mod:`kyc_assets.cases.roles`)
=========  ==================================================================================

Escalating a case (an analyst's decision) makes it priority 1 whatever its evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

EXACT_SCORE = 0.97
STRONG_SCORE = 0.85
SEVERE_ALERT_RISK = 0.9
#: Typologies that by themselves point at laundering (placement, layering); the others (fan-in/out,
#: pass-through, velocity, dormancy) are also what some legitimate businesses look like.
HIGH_SEVERITY = frozenset({"structuring", "cycle", "scatter_gather", "high_risk_corridor", "layering_chain",
                           "graph_cycle", "value_relay", "bipartite_layering"})
DOCUMENT_PRIORITY = {"invalid_mrz": 2, "expired_document": 3, "extraction_disagreement": 3}
#: Words of the screening explanation that say the identity is confirmed beyond the name.
_IDENTITY_CONFIRMED = ("dob matches", "date of birth matches", "identifier matches", "id number matches",
                       "passport matches", "document number matches")
PRIORITIES = (1, 2, 3, 4)


def priority_for(risk: float) -> int:
    """1 (act today) .. 4 (routine), from a risk in [0, 1] alone (evidence of an unknown kind)."""
    return 1 if risk >= 0.9 else 2 if risk >= 0.75 else 3 if risk >= 0.5 else 4


#: Typology names (monitoring rules and graph typologies) that may appear among an alert's reasons.
TYPOLOGIES = frozenset({"structuring", "fan_in", "fan_out", "cycle", "rapid_pass_through", "high_risk_corridor",
                        "velocity_spike", "scatter_gather", "gather_scatter", "dormant_reactivation",
                        "fan_in_burst", "fan_out_burst", "fan_in_feeder", "fan_out_receiver", "value_relay",
                        "relay_counterparty", "layering_chain", "graph_cycle", "bipartite_layering",
                        "fan_in_unexplained", "fan_out_unexplained", "gather_scatter_burst", "suspicious_community"})


def _rules(reference: Mapping) -> list[str]:
    """The typologies of an alert: its ``triggered_rules`` (window rules), then the typology names among its
    reasons (graph typologies found by the structural model are typologies too, not model-only evidence)."""
    rules = reference.get("triggered_rules")
    if isinstance(rules, str):
        rules = [r for r in rules.replace(",", ";").split(";") if r.strip()]
    elif hasattr(rules, "tolist"):
        rules = rules.tolist()
    elif not isinstance(rules, (list, tuple)):
        rules = []  # None, NaN
    out = [str(r).strip() for r in rules if str(r).strip()]
    return out + [r.strip() for r in str(reference.get("reasons") or "").split(";")
                  if r.strip() in TYPOLOGIES and r.strip() not in out]


def alert_typologies(triggered_rules: object, reasons: object = None) -> list[str]:
    """The typologies of an alert row (see :func:`_rules`)."""
    return _rules({"triggered_rules": triggered_rules, "reasons": reasons})


def evidence_priority(kind: str, risk: float, reference: Mapping) -> int:
    """The priority (1 highest .. 4) one evidence item asks for; see the module docstring."""
    if kind == "screening_hit":
        hit_type = reference.get("hit_type") or "sanctions"
        score = float(reference.get("score", risk) or 0.0)
        decision = reference.get("decision")
        if decision is None:  # evidence recorded before triage knew the decision: by its risk alone
            return priority_for(risk)
        if hit_type == "pep":
            return 3 if decision == "match" else 4
        if hit_type != "sanctions":  # adverse media and other list kinds
            return 3
        explanation = str(reference.get("explanation") or "").lower()
        if decision == "match" and (score >= EXACT_SCORE or any(w in explanation for w in _IDENTITY_CONFIRMED)):
            return 1
        return 2 if decision == "match" or score >= STRONG_SCORE else 3
    if kind == "anomaly_alert":
        explained = set(reference.get("explained_by_role") or [])
        rules = [r for r in _rules(reference) if r not in explained]
        if not rules:
            return 4
        if HIGH_SEVERITY & set(rules) and (len(rules) >= 2 or risk >= SEVERE_ALERT_RISK):
            return 2
        return 3
    if kind == "document_failure":
        return DOCUMENT_PRIORITY.get(str(reference.get("failure")), priority_for(risk))
    return priority_for(risk)


def case_priority(evidence: Iterable) -> int:
    """The priority of a case from its evidence items (objects or dicts with kind, risk, reference)."""
    best = 4
    for e in evidence:
        get = e.get if isinstance(e, Mapping) else lambda k, e=e: getattr(e, k)
        best = min(best, evidence_priority(get("kind"), float(get("risk")), get("reference") or {}))
    return best


def distribution(priorities: Iterable[int]) -> dict[int, int]:
    """How many cases per priority 1..4 (zeros included)."""
    out = dict.fromkeys(PRIORITIES, 0)
    for p in priorities:
        out[int(p)] = out.get(int(p), 0) + 1
    return out


def spread_ok(priorities: list[int], min_cases: int) -> bool:
    """False when a queue of at least ``min_cases`` cases puts them all at one priority: triage that
    ranks nothing. Smaller queues pass (three exact sanctions matches may all be priority 1)."""
    return len(priorities) < min_cases or len(set(priorities)) > 1
