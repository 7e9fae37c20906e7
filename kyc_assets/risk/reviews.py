"""Perpetual KYC: when each customer is next reviewed, and what opens a review early (no Dagster).

Every customer has a next review date: its last review (or, before the first one, the day it was first
rated) plus the cadence of its tier (``review.cadence_years``). A periodic review opens ``lead_days``
before that date and is due on it. Between reviews, an event opens an event review (due after
``event_review_days``):

- a tier change (either way);
- a new screening hit (open potential or confirmed sanctions match) or a new PEP status;
- an identity document that expires within ``document_expiry_window_days`` (the MRZ expiry date);
- a dormant account that becomes active;
- a case confirmed by analysts (alert or screening);
- a prohibited tier with no review open.

Every trigger has a key (``periodic:<due date>``, ``document_expiry:<date>``, ``confirmed_case:<id>``...):
it is acted on once per customer, so a review is never opened twice for the same cycle or event. While a
customer has a review open, new triggers join it (as events with their evidence) instead of opening a
second one. Closing a review resets the cycle: the next review is the closing day plus the cadence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from kyc_assets.risk.methodology import TIER_RANK, RiskMethodology

PERIODIC = "periodic_review"
EVENT = "event_review"
KINDS = (PERIODIC, EVENT)
_HIT = {"potential", "confirmed"}
_PEP = {"domestic", "international_organisation", "close_associate", "foreign", "unknown_class"}


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@dataclass
class Trigger:
    customer_id: str
    kind: str  # periodic_review | event_review
    event_key: str
    event: str  # periodic, tier_change, new_hit, new_pep, document_expiry, reactivated, confirmed_case, prohibited
    reason: str
    due_date: date
    tier: str
    evidence: dict = field(default_factory=dict)


@dataclass
class CustomerState:
    first_rated_on: date
    last_review_on: date | None
    next_review_on: date
    tier: str
    flags: dict

    def as_row(self, customer_id: str, today: date) -> dict:
        return {"customer_id": customer_id, "first_rated_on": self.first_rated_on.isoformat(),
                "last_review_on": self.last_review_on.isoformat() if self.last_review_on else None,
                "next_review_on": self.next_review_on.isoformat(), "tier": self.tier,
                "flags": json.dumps(self.flags, sort_keys=True), "updated_on": today.isoformat()}

    @classmethod
    def from_row(cls, row: dict) -> CustomerState:
        return cls(first_rated_on=date.fromisoformat(row["first_rated_on"]),
                   last_review_on=date.fromisoformat(row["last_review_on"]) if row.get("last_review_on") else None,
                   next_review_on=date.fromisoformat(row["next_review_on"]), tier=row["tier"],
                   flags=json.loads(row["flags"]) if isinstance(row["flags"], str) else dict(row["flags"]))


def next_review_date(tier: str, base: date, methodology: RiskMethodology) -> date:
    return add_years(base, methodology.review.cadence_years[tier])


def _expiry(value: object) -> date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def plan_reviews(ratings: pd.DataFrame, states: dict[str, CustomerState], *, as_of: date,
                 methodology: RiskMethodology, open_reviews: dict[str, dict] | None = None,
                 confirmed_cases: dict[str, list[str]] | None = None, done_keys: set[tuple[str, str]] | None = None,
                 rating_ref: dict | None = None) -> tuple[list[Trigger], dict[str, CustomerState]]:
    """The triggers of ``as_of`` and every customer's new state (see the module docstring).

    ``ratings``: one row per customer with ``customer_id``, ``tier`` (effective), ``score``, ``f_sanctions``,
    ``f_pep``, ``f_dormancy`` and ``document_expiry``. ``open_reviews``: customer -> its open review;
    ``confirmed_cases``: customer -> ids of its confirmed cases; ``done_keys``: (customer, event key) already
    acted on. ``rating_ref``: what every trigger's evidence names as its rating (run, methodology, inputs).
    The states returned are those that changed (only they need writing)."""
    r = methodology.review
    open_reviews = open_reviews or {}
    confirmed_cases = confirmed_cases or {}
    done_keys = done_keys or set()
    ref = rating_ref or {}
    triggers: list[Trigger] = []
    new_states: dict[str, CustomerState] = {}
    event_due = as_of + timedelta(days=r.event_review_days)
    columns = ["customer_id", "tier", "score", "f_sanctions", "f_pep", "f_dormancy", "document_expiry"]
    frame = ratings.reindex(columns=columns)
    for cid, tier, score, sanctions, pep, dormancy, expiry in frame.itertuples(index=False, name=None):
        cid = str(cid)
        sanctions, pep, dormancy = str(sanctions), str(pep), str(dormancy)
        prev = states.get(cid)
        first = prev.first_rated_on if prev else as_of
        base = prev.last_review_on if prev and prev.last_review_on else first
        due = next_review_date(tier, base, methodology)
        evidence = {**ref, "customer_id": cid, "tier": tier, "score": None if pd.isna(score) else float(score),
                    "as_of": as_of.isoformat()}

        def add(kind: str, event: str, key: str, reason: str, when: date, extra: dict | None = None,
                cid: str = cid, tier: str = tier, evidence: dict = evidence) -> None:
            if (cid, key) in done_keys:
                return
            triggers.append(Trigger(cid, kind, key, event, reason, when, tier, {**evidence, "event": event,
                                                                                 **(extra or {})}))

        if prev is not None:
            if prev.tier != tier:
                direction = "up" if TIER_RANK[tier] > TIER_RANK[prev.tier] else "down"
                add(EVENT, "tier_change", f"tier_change:{prev.tier}>{tier}:{as_of.isoformat()}",
                    f"risk tier changed {direction} from {prev.tier} to {tier}", event_due,
                    {"previous_tier": prev.tier})
            if sanctions in _HIT and prev.flags.get("sanctions") not in _HIT:
                add(EVENT, "new_hit", f"new_hit:{sanctions}:{as_of.isoformat()}",
                    f"new screening hit ({sanctions} sanctions match)", event_due)
            if pep in _PEP and prev.flags.get("pep") not in _PEP:
                add(EVENT, "new_pep", f"new_pep:{pep}:{as_of.isoformat()}", f"new PEP status ({pep})", event_due)
            if prev.flags.get("dormancy") == "dormant" and dormancy in ("active", "reactivated"):
                add(EVENT, "reactivated", f"reactivated:{as_of.isoformat()}",
                    "a dormant account became active", event_due)
        elif dormancy == "reactivated":
            add(EVENT, "reactivated", f"reactivated:{as_of.isoformat()}", "a dormant account became active",
                event_due)
        expires = _expiry(expiry)
        if expires is not None and expires <= as_of + timedelta(days=r.document_expiry_window_days):
            add(EVENT, "document_expiry", f"document_expiry:{expires.isoformat()}",
                f"identity document {'expired' if expires < as_of else 'expires'} on {expires.isoformat()}",
                min(event_due, max(as_of, expires)), {"expiry_date": expires.isoformat()})
        for case_id in confirmed_cases.get(cid, []):
            add(EVENT, "confirmed_case", f"confirmed_case:{case_id}", f"case {case_id} was confirmed", event_due,
                {"case_id": case_id})
        if tier == "prohibited" and cid not in open_reviews:
            add(EVENT, "prohibited", f"prohibited:{base.isoformat()}",
                "prohibited tier: exit the relationship or record why not", event_due)
        if as_of >= due - timedelta(days=r.lead_days):
            # a cycle already overdue (the tier rose) gets the usual lead time from today
            add(PERIODIC, "periodic", f"periodic:{due.isoformat()}", f"periodic {tier}-risk review due {due}",
                max(due, as_of + timedelta(days=r.lead_days)), {"cadence_years": r.cadence_years[tier]})
        state = CustomerState(first_rated_on=first, last_review_on=prev.last_review_on if prev else None,
                              next_review_on=due, tier=tier, flags={"sanctions": sanctions, "pep": pep,
                                                                     "dormancy": dormancy})
        if state != prev:  # only what changed is written
            new_states[cid] = state
    return triggers, new_states
