"""Review cases, EDD items, tier overrides and the rating history, in the case store's database.

The tables come from migration 0006 (beside ``cases``). Every change is written to the case store's
hash-chained audit log in the same transaction, refusals included (``<action>_refused``), through the
case store's serialised writer. Rules enforced here, not in the callers:

- a review is opened once per customer and trigger key (``risk_review_events`` primary key); a customer
  with an open review gets new triggers added to it, never a second open review;
- a review of an EDD tier (``review.edd_tiers``: high and prohibited by default) cannot close until every
  EDD item (source of funds, source of wealth, senior-management approval) is recorded, and the
  senior-management approval must come from someone other than the analyst who closes it;
- a tier override needs a reason and a second analyst's approval (four eyes); it is audited, and expires
  at the customer's next review (when a review closes, or on its ``expires_on`` date).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa

from kyc_assets.audit import log as audit
from kyc_assets.cases.store import (
    ACTIVE_STATUSES,
    CaseClosed,
    CaseError,
    CaseNotFound,
    CaseStore,
    FourEyesViolation,
    InvalidRequest,
    case_evidence,
    cases,
)
from kyc_assets.risk.methodology import EDD_ITEMS, TIERS, RiskMethodology
from kyc_assets.risk.reviews import EVENT, PERIODIC, CustomerState, Trigger

metadata = sa.MetaData()
risk_reviews = sa.Table(
    "risk_reviews", metadata,
    sa.Column("review_id", sa.String(40), primary_key=True),
    sa.Column("customer_id", sa.String(200)), sa.Column("kind", sa.String(20)), sa.Column("status", sa.String(20)),
    sa.Column("tier", sa.String(20)), sa.Column("reasons", sa.Text), sa.Column("rating", sa.Text),
    sa.Column("opened_on", sa.String(10)), sa.Column("opened_at", sa.String(40)), sa.Column("due_date", sa.String(10)),
    sa.Column("assigned_to", sa.String(200)), sa.Column("closed_on", sa.String(10)),
    sa.Column("closed_by", sa.String(200)), sa.Column("outcome", sa.Text), sa.Column("version", sa.Integer),
)
risk_review_events = sa.Table(
    "risk_review_events", metadata,
    sa.Column("customer_id", sa.String(200), primary_key=True), sa.Column("event_key", sa.String(200), primary_key=True),
    sa.Column("review_id", sa.String(40)), sa.Column("kind", sa.String(40)), sa.Column("reason", sa.Text),
    sa.Column("evidence", sa.Text), sa.Column("added_on", sa.String(10)),
)
risk_review_edd = sa.Table(
    "risk_review_edd", metadata,
    sa.Column("review_id", sa.String(40), primary_key=True), sa.Column("item", sa.String(40), primary_key=True),
    sa.Column("note", sa.Text), sa.Column("recorded_by", sa.String(200)), sa.Column("recorded_at", sa.String(40)),
)
risk_overrides = sa.Table(
    "risk_overrides", metadata,
    sa.Column("override_id", sa.String(40), primary_key=True), sa.Column("customer_id", sa.String(200)),
    sa.Column("computed_tier", sa.String(20)), sa.Column("override_tier", sa.String(20)), sa.Column("reason", sa.Text),
    sa.Column("status", sa.String(20)), sa.Column("requested_by", sa.String(200)),
    sa.Column("requested_at", sa.String(40)), sa.Column("decided_by", sa.String(200)),
    sa.Column("decided_at", sa.String(40)), sa.Column("expires_on", sa.String(10)),
)
risk_customer_state = sa.Table(
    "risk_customer_state", metadata,
    sa.Column("customer_id", sa.String(200), primary_key=True), sa.Column("first_rated_on", sa.String(10)),
    sa.Column("last_review_on", sa.String(10)), sa.Column("next_review_on", sa.String(10)),
    sa.Column("tier", sa.String(20)), sa.Column("flags", sa.Text), sa.Column("updated_on", sa.String(10)),
)
risk_rating_history = sa.Table(
    "risk_rating_history", metadata,
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True), sa.Column("customer_id", sa.String(200)),
    sa.Column("rated_at", sa.String(40)), sa.Column("run_id", sa.String(64)), sa.Column("score", sa.Float),
    sa.Column("computed_tier", sa.String(20)), sa.Column("tier", sa.String(20)),
    sa.Column("methodology_version", sa.String(60)), sa.Column("reasons", sa.Text),
)

OPEN, CLOSED = "open", "closed"
PENDING, ACTIVE, REJECTED, EXPIRED = "pending", "active", "rejected", "expired"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _id(prefix: str, *parts: object) -> str:
    return prefix + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:10]


class ReviewStore:
    """Perpetual-KYC records in the case store's database (see the module docstring)."""

    def __init__(self, store: CaseStore):
        self.store = store
        self.engine = store.engine

    # -- plumbing ---------------------------------------------------------------------------------

    def _analyst(self, name: str) -> str:
        if not name or not str(name).strip():
            raise InvalidRequest("an analyst name is required")
        return self.store._analyst(str(name).strip())  # the case store's directory (when configured)

    def _guarded(self, action: str, actor: str, subject: str, work):
        """Run ``work(conn)`` in one serialised write transaction; a refusal is audited, then re-raised."""
        try:
            with self.store._write() as conn:
                return work(conn)
        except CaseError as exc:
            self.store.record_refusal(actor=actor, action=action, subject=subject, error=str(exc))
            raise

    # -- reviews ----------------------------------------------------------------------------------

    def states(self) -> dict[str, CustomerState]:
        with self.engine.connect() as conn:
            return {r["customer_id"]: CustomerState.from_row(dict(r))
                    for r in conn.execute(sa.select(risk_customer_state)).mappings()}

    def open_reviews(self) -> dict[str, dict]:
        with self.engine.connect() as conn:
            return {r["customer_id"]: dict(r) for r in conn.execute(
                sa.select(risk_reviews).where(risk_reviews.c.status == OPEN)).mappings()}

    def done_keys(self) -> set[tuple[str, str]]:
        with self.engine.connect() as conn:
            return {(r.customer_id, r.event_key) for r in conn.execute(
                sa.select(risk_review_events.c.customer_id, risk_review_events.c.event_key))}

    def apply(self, triggers: Iterable[Trigger], states: dict[str, CustomerState], *, as_of: date,
              actor: str) -> dict:
        """Open or extend review cases for ``triggers`` and save ``states``; returns counts. Idempotent: a
        trigger key already recorded for the customer is skipped."""
        triggers = list(triggers)
        counts = {"opened_periodic": 0, "opened_event": 0, "events_added": 0, "skipped": 0}
        today = as_of.isoformat()

        def work(conn):
            done = {(r.customer_id, r.event_key) for r in conn.execute(
                sa.select(risk_review_events.c.customer_id, risk_review_events.c.event_key).where(
                    risk_review_events.c.customer_id.in_({t.customer_id for t in triggers})))} if triggers else set()
            open_by_customer = {r["customer_id"]: dict(r) for r in conn.execute(
                sa.select(risk_reviews).where(risk_reviews.c.status == OPEN,
                                              risk_reviews.c.customer_id.in_({t.customer_id for t in triggers})))
                .mappings()} if triggers else {}
            for t in triggers:
                if (t.customer_id, t.event_key) in done:
                    counts["skipped"] += 1
                    continue
                review = open_by_customer.get(t.customer_id)
                if review is None:
                    review_id = _id("REV-", t.customer_id, t.event_key)
                    review = {"review_id": review_id, "customer_id": t.customer_id, "kind": t.kind, "status": OPEN,
                              "tier": t.tier, "reasons": json.dumps([t.reason]),
                              "rating": json.dumps({k: t.evidence.get(k) for k in (
                                  "run_id", "methodology_version", "input_versions", "score", "tier", "as_of",
                                  "storage_id", "country_lists_version") if k in t.evidence}, sort_keys=True,
                                  default=str),
                              "opened_on": today, "opened_at": _now(), "due_date": t.due_date.isoformat(),
                              "version": 1}
                    conn.execute(risk_reviews.insert().values(**review))
                    open_by_customer[t.customer_id] = review
                    counts["opened_periodic" if t.kind == PERIODIC else "opened_event"] += 1
                    audit.append(conn, actor=actor, action="review_opened", subject=review_id,
                                 detail={"kind": t.kind, "event": t.event, "tier": t.tier,
                                         "due_date": t.due_date.isoformat()})
                else:
                    reasons = json.loads(review["reasons"]) + [t.reason]
                    tier = max(review["tier"], t.tier, key=TIERS.index)
                    kind = EVENT if EVENT in (review["kind"], t.kind) else PERIODIC
                    due = min(review["due_date"], t.due_date.isoformat())
                    conn.execute(risk_reviews.update().where(risk_reviews.c.review_id == review["review_id"]).values(
                        reasons=json.dumps(reasons), tier=tier, kind=kind, due_date=due,
                        version=int(review["version"]) + 1))
                    review.update(reasons=json.dumps(reasons), tier=tier, kind=kind, due_date=due,
                                  version=int(review["version"]) + 1)
                    audit.append(conn, actor=actor, action="review_event_added", subject=review["review_id"],
                                 detail={"event": t.event, "tier": t.tier})
                conn.execute(risk_review_events.insert().values(
                    customer_id=t.customer_id, event_key=t.event_key, review_id=review["review_id"], kind=t.event,
                    reason=t.reason, evidence=json.dumps(t.evidence, sort_keys=True, default=str), added_on=today))
                done.add((t.customer_id, t.event_key))
                counts["events_added"] += 1
            self._save_states(conn, states, as_of)

        if triggers or states:  # a quiet day writes nothing
            with self.store._write() as conn:
                work(conn)
        return counts

    @staticmethod
    def _save_states(conn: sa.Connection, states: dict[str, CustomerState], as_of: date) -> None:
        if not states:
            return
        existing = {r.customer_id: r.last_review_on for r in conn.execute(
            sa.select(risk_customer_state.c.customer_id, risk_customer_state.c.last_review_on))}
        rows = [s.as_row(cid, as_of) for cid, s in states.items()]
        for row in rows:  # a review closed meanwhile keeps its date
            if existing.get(row["customer_id"]):
                row["last_review_on"] = max(existing[row["customer_id"]], row["last_review_on"] or "")
        conn.execute(risk_customer_state.delete().where(risk_customer_state.c.customer_id.in_(
            [r["customer_id"] for r in rows if r["customer_id"] in existing])))
        conn.execute(risk_customer_state.insert(), rows)

    def list_reviews(self, *, status: str | None = OPEN, customer_id: str | None = None, limit: int = 200) -> list[dict]:
        query = sa.select(risk_reviews).order_by(risk_reviews.c.due_date, risk_reviews.c.review_id).limit(limit)
        if status:
            query = query.where(risk_reviews.c.status == status)
        if customer_id:
            query = query.where(risk_reviews.c.customer_id == customer_id)
        with self.engine.connect() as conn:
            return [self._review_row(dict(r)) for r in conn.execute(query).mappings()]

    def count_reviews(self, *, status: str | None = OPEN) -> int:
        query = sa.select(sa.func.count()).select_from(risk_reviews)
        if status:
            query = query.where(risk_reviews.c.status == status)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    @staticmethod
    def _review_row(r: dict) -> dict:
        r["reasons"] = json.loads(r["reasons"])
        r["rating"] = json.loads(r["rating"])
        r["overdue"] = r["status"] == OPEN and r["due_date"] < date.today().isoformat()
        return r

    def get_review(self, review_id: str) -> dict:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(risk_reviews).where(risk_reviews.c.review_id == str(review_id))) \
                .mappings().first()
            if row is None:
                raise CaseNotFound(f"no review {str(review_id)[:60]!r}")
            events = [dict(e) for e in conn.execute(sa.select(risk_review_events).where(
                risk_review_events.c.review_id == row["review_id"]).order_by(risk_review_events.c.added_on,
                                                                              risk_review_events.c.event_key))
                      .mappings()]
            edd = [dict(e) for e in conn.execute(sa.select(risk_review_edd).where(
                risk_review_edd.c.review_id == row["review_id"]).order_by(risk_review_edd.c.item)).mappings()]
        review = self._review_row(dict(row))
        review["events"] = [{**e, "evidence": json.loads(e["evidence"])} for e in events]
        review["edd"] = edd
        return review

    def record_edd(self, review_id: str, *, item: str, analyst: str, note: str) -> dict:
        """Record one EDD item (source_of_funds, source_of_wealth, senior_management_approval) with its note."""
        def work(conn):
            who = self._analyst(analyst)
            if item not in EDD_ITEMS:
                raise InvalidRequest(f"unknown EDD item {str(item)[:40]!r} (valid: {', '.join(EDD_ITEMS)})")
            if not note or not note.strip():
                raise InvalidRequest("an EDD item needs a note (what was obtained and where it is kept)")
            review = self._open_review(conn, review_id)
            conn.execute(risk_review_edd.delete().where(risk_review_edd.c.review_id == review["review_id"],
                                                        risk_review_edd.c.item == item))
            conn.execute(risk_review_edd.insert().values(review_id=review["review_id"], item=item, note=note.strip(),
                                                         recorded_by=who, recorded_at=_now()))
            audit.append(conn, actor=who, action="review_edd_recorded", subject=review["review_id"],
                         detail={"item": item})
            return {"review_id": review["review_id"], "item": item}
        return self._guarded("review_edd_record", analyst, review_id, work)

    @staticmethod
    def _open_review(conn: sa.Connection, review_id: str) -> dict:
        row = conn.execute(sa.select(risk_reviews).where(risk_reviews.c.review_id == str(review_id))).mappings().first()
        if row is None:
            raise CaseNotFound(f"no review {str(review_id)[:60]!r}")
        if row["status"] != OPEN:
            raise CaseClosed(f"review {row['review_id']} is closed")
        return dict(row)

    def close_review(self, review_id: str, *, analyst: str, outcome: str, methodology: RiskMethodology,
                     on: date | None = None) -> dict:
        """Close a review with its outcome; the customer's next review is counted from ``on`` (today).
        Refused while an EDD tier's review lacks an EDD item; active overrides of the customer expire."""
        on = on or date.today()

        def work(conn):
            who = self._analyst(analyst)
            if not outcome or not outcome.strip():
                raise InvalidRequest("closing a review needs an outcome (what was reviewed and concluded)")
            review = self._open_review(conn, review_id)
            if review["tier"] in methodology.review.edd_tiers:
                recorded = {r.item: r.recorded_by for r in conn.execute(sa.select(
                    risk_review_edd.c.item, risk_review_edd.c.recorded_by).where(
                    risk_review_edd.c.review_id == review["review_id"]))}
                missing = [i for i in methodology.review.edd_items if i not in recorded]
                if missing:
                    raise InvalidRequest(f"a {review['tier']}-risk review needs enhanced due diligence before it "
                                         f"closes: {', '.join(missing)} not recorded")
                if recorded.get("senior_management_approval") == who:
                    raise FourEyesViolation("senior-management approval must come from someone other than the "
                                            "analyst who closes the review")
            conn.execute(risk_reviews.update().where(risk_reviews.c.review_id == review["review_id"]).values(
                status=CLOSED, closed_on=on.isoformat(), closed_by=who, outcome=outcome.strip(),
                version=int(review["version"]) + 1))
            conn.execute(risk_customer_state.update().where(
                risk_customer_state.c.customer_id == review["customer_id"]).values(last_review_on=on.isoformat()))
            expired = conn.execute(risk_overrides.update().where(
                risk_overrides.c.customer_id == review["customer_id"], risk_overrides.c.status == ACTIVE)
                .values(status=EXPIRED)).rowcount
            audit.append(conn, actor=who, action="review_closed", subject=review["review_id"],
                         detail={"tier": review["tier"], "overrides_expired": int(expired or 0)})
            return {"review_id": review["review_id"], "status": CLOSED, "overrides_expired": int(expired or 0)}
        return self._guarded("review_close", analyst, review_id, work)

    # -- overrides --------------------------------------------------------------------------------

    def request_override(self, customer_id: str, *, tier: str, computed_tier: str, reason: str, analyst: str) -> dict:
        def work(conn):
            who = self._analyst(analyst)
            if tier not in TIERS or computed_tier not in TIERS:
                raise InvalidRequest(f"tiers must be among {', '.join(TIERS)}")
            if tier == computed_tier:
                raise InvalidRequest(f"the computed tier is already {tier}")
            if not reason or len(reason.strip()) < 10:
                raise InvalidRequest("an override needs a reason (at least 10 characters)")
            at = _now()
            override_id = _id("OVR-", customer_id, tier, who, at)
            conn.execute(risk_overrides.insert().values(
                override_id=override_id, customer_id=str(customer_id), computed_tier=computed_tier,
                override_tier=tier, reason=reason.strip(), status=PENDING, requested_by=who, requested_at=at))
            audit.append(conn, actor=who, action="override_requested", subject=override_id,
                         detail={"customer_id": str(customer_id), "computed_tier": computed_tier, "tier": tier})
            return {"override_id": override_id, "status": PENDING}
        return self._guarded("override_request", analyst, customer_id, work)

    def decide_override(self, override_id: str, *, analyst: str, approve: bool, reason: str = "") -> dict:
        """A second analyst approves (active until the next review) or rejects a pending override."""
        def work(conn):
            who = self._analyst(analyst)
            row = conn.execute(sa.select(risk_overrides).where(risk_overrides.c.override_id == str(override_id))) \
                .mappings().first()
            if row is None:
                raise CaseNotFound(f"no override {str(override_id)[:60]!r}")
            if row["status"] != PENDING:
                raise CaseClosed(f"override {row['override_id']} is {row['status']}, not pending")
            if row["requested_by"] == who:
                raise FourEyesViolation("an override must be approved or rejected by an analyst other than the one "
                                        "who requested it")
            state = conn.execute(sa.select(risk_customer_state.c.next_review_on).where(
                risk_customer_state.c.customer_id == row["customer_id"])).scalar()
            status = ACTIVE if approve else REJECTED
            if approve:  # one active override per customer: the newer replaces the older
                conn.execute(risk_overrides.update().where(risk_overrides.c.customer_id == row["customer_id"],
                                                           risk_overrides.c.status == ACTIVE).values(status=EXPIRED))
            conn.execute(risk_overrides.update().where(risk_overrides.c.override_id == row["override_id"]).values(
                status=status, decided_by=who, decided_at=_now(), expires_on=state if approve else None))
            audit.append(conn, actor=who, action="override_approved" if approve else "override_rejected",
                         subject=row["override_id"], detail={"customer_id": row["customer_id"], "reason": reason,
                                                             "expires_on": state})
            return {"override_id": row["override_id"], "status": status, "expires_on": state}
        return self._guarded("override_approve" if approve else "override_reject", analyst, override_id, work)

    def active_overrides(self, as_of: date) -> dict[str, dict]:
        """customer -> its approved override still in force on ``as_of``."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(risk_overrides).where(risk_overrides.c.status == ACTIVE)).mappings().all()
        return {r["customer_id"]: dict(r) for r in rows
                if not r["expires_on"] or r["expires_on"] >= as_of.isoformat()}

    def overrides(self, customer_id: str | None = None) -> list[dict]:
        query = sa.select(risk_overrides).order_by(risk_overrides.c.requested_at.desc())
        if customer_id:
            query = query.where(risk_overrides.c.customer_id == customer_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # -- ratings history and cases ----------------------------------------------------------------

    def record_history(self, ratings: pd.DataFrame, *, run_id: str | None, at: str | None = None) -> int:
        """Append a history entry for each customer whose tier, computed tier, score or methodology changed."""
        at = at or _now()
        with self.engine.connect() as conn:
            last = {}
            for r in conn.execute(sa.select(risk_rating_history).order_by(risk_rating_history.c.entry_id)):
                last[r.customer_id] = (r.tier, r.computed_tier, round(r.score, 6), r.methodology_version)
        rows = []
        for cid, score, computed, tier, version, reasons in ratings[
                ["customer_id", "score", "computed_tier", "tier", "methodology_version", "reasons"]].itertuples(
                index=False, name=None):
            if last.get(cid) != (tier, computed, round(float(score), 6), version):
                rows.append({"customer_id": cid, "rated_at": at, "run_id": run_id, "score": float(score),
                             "computed_tier": computed, "tier": tier, "methodology_version": version,
                             "reasons": reasons or ""})
        if rows:
            with self.store._write() as conn:
                for i in range(0, len(rows), 5000):
                    conn.execute(risk_rating_history.insert(), rows[i:i + 5000])
        return len(rows)

    def history(self, customer_id: str, limit: int = 50) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(risk_rating_history).where(
                risk_rating_history.c.customer_id == customer_id).order_by(risk_rating_history.c.entry_id.desc())
                .limit(limit)).mappings()]

    def state_of(self, customer_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(risk_customer_state).where(
                risk_customer_state.c.customer_id == customer_id)).mappings().first()
        return dict(row) if row else None

    def confirmed_cases(self) -> dict[str, dict]:
        """customer -> its confirmed cases: ``case_ids``, and whether a sanctions or a PEP hit was confirmed."""
        out: dict[str, dict] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(cases.c.case_id, cases.c.subject_id, case_evidence.c.kind,
                                          case_evidence.c.reference)
                                .join(case_evidence, case_evidence.c.case_id == cases.c.case_id, isouter=True)
                                .where(cases.c.subject_type == "customer", cases.c.outcome == "confirmed")).all()
        for case_id, cid, kind, reference in rows:
            info = out.setdefault(cid, {"case_ids": [], "sanctions": False, "pep": False})
            if case_id not in info["case_ids"]:
                info["case_ids"].append(case_id)
            if kind == "screening_hit":
                hit_type = json.loads(reference or "{}").get("hit_type") or "sanctions"
                info["pep" if hit_type == "pep" else "sanctions"] = True
        return out

    def customers_with_open_cases(self) -> set[str]:
        """Customers with an active alert case (``cases``) or an open review."""
        with self.engine.connect() as conn:
            alert = set(conn.execute(sa.select(cases.c.subject_id).where(
                cases.c.subject_type == "customer", cases.c.status.in_(ACTIVE_STATUSES))).scalars())
            review = set(conn.execute(sa.select(risk_reviews.c.customer_id).where(
                risk_reviews.c.status == OPEN)).scalars())
        return alert | review
