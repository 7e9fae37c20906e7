"""The case store: cases, their evidence and events, in SQLite or PostgreSQL via SQLAlchemy.

Escalation is idempotent: a subject has at most one open case, which gathers new evidence
instead of being duplicated, and evidence is identified by a hash of its content, so running
escalation again on the same inputs changes nothing. Every change lands in the audit log in
the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from kyc_assets.audit import log as audit
from kyc_assets.cases.escalation import CaseCandidate

metadata = audit.metadata  # one schema, one create_all
cases = sa.Table(
    "cases", metadata,
    sa.Column("case_id", sa.String(40), primary_key=True),
    sa.Column("subject_type", sa.String(20), nullable=False),
    sa.Column("subject_id", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("risk", sa.Float, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("opened_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("due_date", sa.String(10), nullable=False),
    sa.Column("assigned_to", sa.String(200)),
    sa.Index("ix_cases_subject_status", "subject_type", "subject_id", "status"),
)
case_evidence = sa.Table(
    "case_evidence", metadata,
    sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.case_id"), primary_key=True),
    sa.Column("evidence_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("risk", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("reference", sa.Text, nullable=False),  # JSON: asset_key, partition, run_id, sha256s, versions
    sa.Column("added_at", sa.String(40), nullable=False),
)

OPEN = "open"


def priority_for(risk: float) -> int:
    """1 (act today) .. 4 (routine), from the combined risk in [0, 1]."""
    return 1 if risk >= 0.9 else 2 if risk >= 0.75 else 3 if risk >= 0.5 else 4


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class CaseStore:
    def __init__(self, database_url: str):
        if database_url.startswith("sqlite:///"):
            Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(database_url, future=True)
        metadata.create_all(self.engine)

    def escalate(self, candidates: list[CaseCandidate], *, sla_days: int, actor: str = "system:escalation") -> dict:
        """Open or update one case per subject with the candidates' evidence; returns counts."""
        opened = updated = added = 0
        with self.engine.begin() as conn:
            for cand in candidates:
                row = conn.execute(sa.select(cases).where(
                    cases.c.subject_type == cand.subject_type, cases.c.subject_id == cand.subject_id,
                    cases.c.status == OPEN)).first()
                known = set() if row is None else set(conn.execute(
                    sa.select(case_evidence.c.evidence_id).where(case_evidence.c.case_id == row.case_id)).scalars())
                fresh = [e for e in cand.evidence if e.evidence_id not in known]
                if not fresh:
                    continue
                now = _now()
                if row is None:
                    case_id = "CASE-" + hashlib.sha256(
                        f"{cand.subject_type}:{cand.subject_id}:{fresh[0].evidence_id}".encode()).hexdigest()[:10]
                    risk = max(e.risk for e in fresh)
                    conn.execute(cases.insert().values(
                        case_id=case_id, subject_type=cand.subject_type, subject_id=cand.subject_id, status=OPEN,
                        priority=priority_for(risk), risk=risk, reasons=json.dumps(sorted({e.reason for e in fresh})),
                        opened_at=now, updated_at=now,
                        due_date=(datetime.now(UTC) + timedelta(days=sla_days)).date().isoformat()))
                    audit.append(conn, actor=actor, action="case_opened", subject=case_id,
                                 detail={"subject_type": cand.subject_type, "evidence": len(fresh), "risk": risk})
                    opened += 1
                else:
                    case_id = row.case_id
                    risk = max([row.risk] + [e.risk for e in fresh])
                    reasons = sorted(set(json.loads(row.reasons)) | {e.reason for e in fresh})
                    conn.execute(cases.update().where(cases.c.case_id == case_id).values(
                        risk=risk, priority=priority_for(risk), reasons=json.dumps(reasons), updated_at=now))
                    audit.append(conn, actor=actor, action="case_evidence_added", subject=case_id,
                                 detail={"evidence": len(fresh), "risk": risk})
                    updated += 1
                for e in fresh:
                    conn.execute(case_evidence.insert().values(
                        case_id=case_id, evidence_id=e.evidence_id, kind=e.kind, risk=e.risk, reason=e.reason,
                        reference=json.dumps(e.reference, sort_keys=True, default=str), added_at=now))
                    added += 1
        return {"opened": opened, "updated": updated, "evidence_added": added}

    def open_cases(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(cases).where(cases.c.status == OPEN)
                                .order_by(cases.c.priority, cases.c.due_date, cases.c.case_id)).mappings().all()
            evidence = conn.execute(sa.select(case_evidence).order_by(case_evidence.c.added_at,
                                                                      case_evidence.c.evidence_id)).mappings().all()
        by_case: dict[str, list[dict]] = {}
        for e in evidence:
            by_case.setdefault(e["case_id"], []).append(dict(e))
        return [{**dict(r), "evidence": by_case.get(r["case_id"], [])} for r in rows]

    def verify_audit(self) -> audit.ChainReport:
        with self.engine.connect() as conn:
            return audit.verify_chain(conn)
