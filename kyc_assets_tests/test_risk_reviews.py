"""Perpetual KYC: three simulated years of daily review planning, EDD before closing, four-eyes overrides."""

import itertools
from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from kyc_assets.cases.store import CaseStore, FourEyesViolation, InvalidRequest
from kyc_assets.risk.methodology import load_methodology
from kyc_assets.risk.reviews import add_years, plan_reviews
from kyc_assets.risk.reviews_store import ReviewStore, risk_review_events, risk_reviews

START = date(2027, 1, 1)
DAYS = 3 * 365 + 1


@pytest.fixture
def reviews(tmp_path):
    return ReviewStore(CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}"))


def _customer_rows() -> list[dict]:
    return [{"customer_id": f"C{i:02d}", "tier": tier, "score": 0.1, "f_sanctions": "none", "f_pep": "none",
             "f_dormancy": "active", "document_expiry": "2035-01-01"}
            for i, tier in enumerate(["low"] * 4 + ["medium"] * 4 + ["high"] * 3)]


def _customers() -> pd.DataFrame:
    return pd.DataFrame(_customer_rows())


PASSPORT_EXPIRY = START + timedelta(days=400)
TIER_UP_DAY, PEP_DAY, WAKE_DAY = 500, 700, 800
NEW_PASSPORT_DAY = PASSPORT_EXPIRY.toordinal() - START.toordinal() - 10  # the customer brings a new passport


def _ratings_on(day: int) -> pd.DataFrame:
    rows = {r["customer_id"]: r for r in _customer_rows()}
    rows["C01"]["document_expiry"] = PASSPORT_EXPIRY.isoformat() if day < NEW_PASSPORT_DAY else "2037-05-01"
    if day >= TIER_UP_DAY:
        rows["C02"]["tier"] = "high"
    if day >= PEP_DAY:
        rows["C05"].update(f_pep="foreign", tier="high")
    rows["C06"]["f_dormancy"] = "dormant" if day < WAKE_DAY else "active"
    return pd.DataFrame(list(rows.values()))


def _close_due_reviews(reviews: ReviewStore, today: date, methodology, after_days: int = 10) -> list[dict]:
    closed = []
    for review in reviews.open_reviews().values():
        if date.fromisoformat(review["opened_on"]) + timedelta(days=after_days) > today:
            continue
        if review["tier"] in methodology.review.edd_tiers:
            for item in methodology.review.edd_items:
                analyst = "mia" if item == "senior_management_approval" else "ana"
                reviews.record_edd(review["review_id"], item=item, analyst=analyst, note=f"{item} evidence on file")
        reviews.close_review(review["review_id"], analyst="ana", outcome="reviewed, no change", methodology=methodology,
                             on=today)
        closed.append({**review, "closed_on": today})
    return closed


def test_three_years_of_daily_partitions_review_everyone_on_time_and_never_twice(reviews):
    methodology = load_methodology()
    opened_each_day: list[set] = []
    closed = []
    for day in range(DAYS):
        today = START + timedelta(days=day)
        triggers, states = plan_reviews(_ratings_on(day), reviews.states(), as_of=today, methodology=methodology,
                                        open_reviews=reviews.open_reviews(), done_keys=reviews.done_keys(),
                                        rating_ref={"methodology_version": methodology.label})
        reviews.apply(triggers, states, as_of=today, actor="test")
        open_now = reviews.open_reviews()
        opened_each_day.append(set(open_now))
        closed += _close_due_reviews(reviews, today, methodology)
        # replaying the same day (a re-run of the partition) changes nothing
        if day in (0, 400, 500):
            again, states = plan_reviews(_ratings_on(day), reviews.states(), as_of=today, methodology=methodology,
                                         open_reviews=reviews.open_reviews(), done_keys=reviews.done_keys())
            assert reviews.apply(again, states, as_of=today, actor="test")["events_added"] == 0

    with reviews.engine.connect() as conn:
        all_reviews = [dict(r) for r in conn.execute(sa.select(risk_reviews)).mappings()]
        events = [dict(r) for r in conn.execute(sa.select(risk_review_events)).mappings()]
    # every periodic cycle and event opened once per customer
    keys = [(e["customer_id"], e["event_key"]) for e in events]
    assert len(keys) == len(set(keys))
    # never two reviews open for one customer
    per_customer: dict[str, list] = {}
    for r in all_reviews:
        per_customer.setdefault(r["customer_id"], []).append(r)
    for cid, rs in per_customer.items():
        spans = sorted((r["opened_on"], r["closed_on"] or "9999") for r in rs)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), cid
    # on time: every review closed by its due date, and no customer ever went longer than its cadence
    assert all(r["closed_on"] <= r["due_date"] for r in all_reviews if r["closed_on"])
    for cid, rs in per_customer.items():
        closes = sorted(date.fromisoformat(r["closed_on"]) for r in rs if r["closed_on"])
        previous = START
        tiers = _ratings_on(DAYS).set_index("customer_id")["tier"]
        for c in closes:
            cadence = methodology.review.cadence_years["low"]  # the longest cadence bounds every gap
            assert c <= add_years(previous, cadence)
            previous = c
        if tiers[cid] == "high":  # high-risk customers: reviewed at least every year
            assert add_years(previous, 1) >= START + timedelta(days=DAYS - 1) - timedelta(days=30), cid
    # nobody is overdue at the end: those never reviewed (low risk, five-year cadence) are not yet due
    end = START + timedelta(days=DAYS - 1)
    states = reviews.states()
    assert all(s.next_review_on > end or cid in reviews.open_reviews() for cid, s in states.items())
    for cid in set(_customers()["customer_id"]) - set(per_customer):
        assert _ratings_on(DAYS).set_index("customer_id")["tier"][cid] == "low"
        assert states[cid].next_review_on == add_years(START, 5)
    high_first = [r for r in per_customer["C08"] if r["kind"] == "periodic_review"]
    assert high_first and len(high_first) >= 2  # yearly cycle of a high-risk customer within three years

    by_kind = {}
    for e in events:
        by_kind.setdefault((e["customer_id"], e["kind"]), []).append(e)
    # the expiring passport opened a review 60 days before expiry, closed before the passport expired
    expiry = by_kind[("C01", "document_expiry")]
    assert len(expiry) == 1 and expiry[0]["added_on"] == (PASSPORT_EXPIRY - timedelta(days=60)).isoformat()
    review = next(r for r in all_reviews if r["review_id"] == expiry[0]["review_id"])
    assert review["closed_on"] < PASSPORT_EXPIRY.isoformat()
    # the tier change, the new PEP and the woken dormant account each opened one event review on their day
    assert [e["added_on"] for e in by_kind[("C02", "tier_change")]] == [(START + timedelta(TIER_UP_DAY)).isoformat()]
    assert [e["added_on"] for e in by_kind[("C05", "new_pep")]] == [(START + timedelta(PEP_DAY)).isoformat()]
    assert [e["added_on"] for e in by_kind[("C06", "reactivated")]] == [(START + timedelta(WAKE_DAY)).isoformat()]
    # a customer that became high risk is then reviewed yearly
    c02 = sorted(date.fromisoformat(r["closed_on"]) for r in per_customer["C02"] if r["closed_on"])
    after = [d for d in c02 if d >= START + timedelta(TIER_UP_DAY)]
    assert all((b - a).days <= 366 for a, b in itertools.pairwise(after)) and len(after) >= 2


def test_a_high_risk_review_needs_every_edd_item_and_another_approver(reviews):
    methodology = load_methodology()
    ratings = _customers().iloc[[8]]  # a high-risk customer
    triggers, states = plan_reviews(ratings.assign(tier="prohibited"), {}, as_of=START, methodology=methodology)
    reviews.apply(triggers, states, as_of=START, actor="test")
    review = next(iter(reviews.open_reviews().values()))
    assert review["kind"] == "event_review"  # a prohibited customer gets a review at once
    with pytest.raises(InvalidRequest, match="source_of_funds, source_of_wealth, senior_management_approval"):
        reviews.close_review(review["review_id"], analyst="ana", outcome="ok", methodology=methodology)
    reviews.record_edd(review["review_id"], item="source_of_funds", analyst="ana", note="salary slips")
    reviews.record_edd(review["review_id"], item="source_of_wealth", analyst="ana", note="inheritance deed")
    with pytest.raises(InvalidRequest, match="senior_management_approval"):
        reviews.close_review(review["review_id"], analyst="ana", outcome="ok", methodology=methodology)
    reviews.record_edd(review["review_id"], item="senior_management_approval", analyst="ana", note="approved")
    with pytest.raises(FourEyesViolation):
        reviews.close_review(review["review_id"], analyst="ana", outcome="ok", methodology=methodology)
    reviews.record_edd(review["review_id"], item="senior_management_approval", analyst="head", note="approved")
    assert reviews.close_review(review["review_id"], analyst="ana", outcome="ok", methodology=methodology)["status"] \
        == "closed"
    actions = [e["action"] for e in reviews.store.audit_entries(limit=50)]
    assert "review_close_refused" in actions and "review_closed" in actions


def test_overrides_need_a_reason_and_a_second_analyst_and_expire_at_the_next_review(reviews):
    methodology = load_methodology()
    ratings = _customers().iloc[[0]]
    triggers, states = plan_reviews(ratings, {}, as_of=START, methodology=methodology)
    reviews.apply(triggers, states, as_of=START, actor="test")
    with pytest.raises(InvalidRequest, match="reason"):
        reviews.request_override("C00", tier="high", computed_tier="low", reason="", analyst="ana")
    req = reviews.request_override("C00", tier="high", computed_tier="low",
                                   reason="adverse press not yet in the media feed", analyst="ana")
    assert reviews.active_overrides(START) == {}  # pending: not in force
    with pytest.raises(FourEyesViolation):
        reviews.decide_override(req["override_id"], analyst="ana", approve=True)
    decided = reviews.decide_override(req["override_id"], analyst="bob", approve=True)
    assert decided["status"] == "active" and decided["expires_on"] == add_years(START, 5).isoformat()
    assert reviews.active_overrides(START)["C00"]["override_tier"] == "high"
    assert reviews.active_overrides(add_years(START, 5) + timedelta(days=1)) == {}  # expired at the review date
    actions = [e["action"] for e in reviews.store.audit_entries(limit=50)]
    assert {"override_requested", "override_approve_refused", "override_approved"} <= set(actions)
    # a review of the customer closes: the override expires with it
    triggers, states = plan_reviews(ratings.assign(tier="high"), reviews.states(), as_of=START + timedelta(1),
                                    methodology=methodology, open_reviews=reviews.open_reviews(),
                                    done_keys=reviews.done_keys())
    reviews.apply(triggers, states, as_of=START + timedelta(1), actor="test")
    review = reviews.open_reviews()["C00"]
    for item in methodology.review.edd_items:
        reviews.record_edd(review["review_id"], item=item, analyst="head" if "senior" in item else "ana", note="on file")
    assert reviews.close_review(review["review_id"], analyst="ana", outcome="done", methodology=methodology)[
        "overrides_expired"] == 1
    assert reviews.active_overrides(START) == {}
