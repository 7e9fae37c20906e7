"""The case store: cases, evidence, events, decisions, reports, suppressions and the audit log in SQL.

SQLite by default, PostgreSQL in production (``KYC_DATABASE_URL``), through SQLAlchemy; the schema
is managed by Alembic (``kyc_assets/cases/migrations``) and upgraded to head when a store starts.

Escalation is idempotent: a subject has at most one active case, which gathers new evidence
instead of being duplicated, and evidence is identified by a hash of its content, so running
escalation again on the same inputs changes nothing. Every change lands in the audit log in the
same transaction; refused requests land there too (action ``<action>_refused``).

The case-work API (used by the review dashboard, ``kyc serve``, and the ``kyc case`` commands) is
stable: add keyword arguments freely, never rename. Every method raises a :class:`CaseError`
subclass with a one-line, PII-free message on refusal.

Case life cycle::

    open --assign--> open (assigned)          open/escalated --decide(escalate)--> escalated (priority 1)
    open/escalated --decide(false_positive)--> closed, outcome false_positive (+ a suppression per hit)
    open/escalated --decide(confirmed)--> pending_approval --approve (another analyst)--> closed,
        outcome confirmed, SAR draft prepared   |  --reject (another analyst)--> back to open/escalated
    SAR draft --approve_report (an analyst other than its preparer)--> approved

Writes are serialised per subject (``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL a transaction-level
advisory lock per case subject, so writers on different cases run in parallel, while store-wide
operations such as key rotation take the store lock exclusively) and every case row carries a
``version``: of two concurrent decisions on one case exactly one wins; the other is refused (the case
is no longer in a state that allows it, or its version moved when the caller passed the
``expected_version`` it displayed). A transaction's audit entries are appended when it ends, so the
audit chain's own lock is held only for those inserts. Each process keeps one pooled engine per
database URL (:func:`shared_engine`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from kyc_assets.audit import log as audit
from kyc_assets.audit import state as audit_state
from kyc_assets.cases.escalation import CaseCandidate
from kyc_assets.cases.pii import PII_FIELDS, PiiCipher, PiiKeyError
from kyc_assets.cases.triage import case_priority, priority_for  # noqa: F401  (priority_for: public API)

metadata = audit.metadata  # the schema as of the newest migration (queries only; Alembic creates it)
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
    sa.Column("outcome", sa.String(20)),
    sa.Column("closed_at", sa.String(40)),
    sa.Column("retain_until", sa.String(10)),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("subject_name_enc", sa.Text),
    sa.Column("subject_dob_enc", sa.Text),
    sa.Column("subject_document_number_enc", sa.Text),
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
case_events = sa.Table(
    "case_events", metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.case_id"), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)
decisions = sa.Table(
    "decisions", metadata,
    sa.Column("decision_id", sa.String(40), primary_key=True),
    sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.case_id"), nullable=False),
    sa.Column("decision", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("analyst", sa.String(200), nullable=False),
    sa.Column("decided_at", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("previous_status", sa.String(20), nullable=False),
    sa.Column("approved_by", sa.String(200)),
    sa.Column("approved_at", sa.String(40)),
    sa.Column("approval_reason", sa.Text),
)
reports = sa.Table(
    "reports", metadata,
    sa.Column("report_id", sa.String(40), primary_key=True),
    sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.case_id"), nullable=False, unique=True),
    sa.Column("format", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("prepared_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("approved_by", sa.String(200)),
    sa.Column("approved_at", sa.String(40)),
)
# False positives cleared by an analyst, keyed by customer, list entity and the entity's content hash:
# a suppression applies only while the list entry is unchanged (see kyc_assets/screening/suppressions.py).
suppressions = sa.Table(
    "suppressions", metadata,
    sa.Column("suppression_id", sa.String(40), primary_key=True),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("list_entity_id", sa.String(200), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
    sa.Column("list_source", sa.String(100)),
    sa.Column("status", sa.String(20), nullable=False),  # active | lifted
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("lifted_at", sa.String(40)),
    sa.Column("lifted_reason", sa.Text),
    sa.UniqueConstraint("customer_id", "list_entity_id", "entry_hash", name="uq_suppressions_key"),
)

# Case statuses. A subject has at most one case in an ACTIVE status.
OPEN = "open"
ESCALATED = "escalated"
PENDING_APPROVAL = "pending_approval"
CLOSED = "closed"
ACTIVE_STATUSES = (OPEN, ESCALATED, PENDING_APPROVAL)
DECISIONS = ("false_positive", "confirmed", "escalate")
QUEUE_SORTS = ("priority", "due_date", "opened_at", "updated_at", "risk")
CASE_STATUS_FILTERS = (OPEN, ESCALATED, PENDING_APPROVAL, CLOSED, "active")  # active: every status but closed
SUBJECT_TYPES = ("customer", "account", "document")
# Suppression statuses.
ACTIVE = "active"
LIFTED = "lifted"
DEFAULT_RETENTION_YEARS = 5  # FATF Recommendation 11: at least five years after the relationship ends
# Store-wide writes (key rotation, suppression sweeps) take this one exclusively, case writes share it.
_PG_STORE_LOCK = 727_274_007
_PENDING_AUDIT = "kyc_audit_pending"  # conn.info key: audit entries of case events, appended at commit


class CaseError(ValueError):
    """A refused case operation; ``str(exc)`` is a one-line message safe to show an analyst."""


class CaseNotFound(CaseError):
    """No case with that id."""


class CaseClosed(CaseError):
    """The case is closed, or not in a state that allows the action."""


class FourEyesViolation(CaseError):
    """The analyst who proposed a decision (or prepared a report) tried to approve it."""


class ConcurrentUpdate(CaseError):
    """Someone else changed the case first (its version moved); reload and retry."""


class InvalidRequest(CaseError):
    """A bad argument: unknown decision, empty reason, invalid or unknown analyst, ..."""


class RetentionError(CaseError):
    """A deletion inside the retention period (or of an active case)."""


def sla_days_for(priority: int, sla_days: int | Mapping[int, int]) -> int:
    """Days to decide a case of ``priority``: one number for all, or a mapping priority -> days."""
    if isinstance(sla_days, Mapping):
        return int(sla_days.get(priority, max(sla_days.values())))
    return int(sla_days)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _retain_until(closed: datetime, years: int) -> str:
    try:
        return closed.replace(year=closed.year + years).date().isoformat()
    except ValueError:  # 29 February
        return (closed.replace(day=28, year=closed.year + years)).date().isoformat()


def make_engine(database_url: str) -> sa.Engine:
    """An engine for the case store. SQLite: WAL, a 30 s busy timeout, and ``BEGIN IMMEDIATE`` for
    write transactions (``engine.execution_options(kyc_write=True)``) so that writers queue instead of
    failing; the folder of the file is created."""
    if not database_url.startswith("sqlite"):
        return sa.create_engine(database_url, future=True, pool_pre_ping=True)
    if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(database_url, future=True, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event below emits BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("kyc_write") else "BEGIN")

    return engine


_ENGINES: dict[tuple[int, str], sa.Engine] = {}
_AT_HEAD: set[tuple[int, str]] = set()
_ENGINES_LOCK = threading.Lock()


def shared_engine(database_url: str) -> sa.Engine:
    """The process's pooled engine for ``database_url`` (created on first use; a forked child makes its own).
    An in-memory SQLite database gets a fresh engine each time (each store is its own database)."""
    if database_url in ("sqlite://", "sqlite:///:memory:"):
        return make_engine(database_url)
    key = (os.getpid(), database_url)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = make_engine(database_url)
        return engine


@functools.lru_cache(maxsize=1)
def _head_revision() -> str:
    from kyc_assets.cases import migrations

    return migrations.head_revision()


def _lock_id(key: str) -> int:
    """A signed 64-bit advisory-lock id for one lock key (stable across processes and machines)."""
    return int.from_bytes(hashlib.sha256(f"kyc-case:{key}".encode()).digest()[:8], "big", signed=True)


class CaseStore:
    """Cases and everything recorded about them; see the module docstring for the life cycle."""

    def __init__(self, database_url: str, *, pii_keys: str | None = None,
                 retention_years: int = DEFAULT_RETENTION_YEARS, analysts=None, migrate: bool = True,
                 audit_keys: str | None = None, checkpoint_dir: str | Path | None = None,
                 checkpoint_every: int = 1000, checkpoint_minutes: float = 60.0, owner_url: str | None = None):
        """``pii_keys``: Fernet keys, newest first (KYC_CASE_KEYS); without them no PII is stored.
        ``analysts``: an ``AnalystDirectory``; when it has a configured list, only its analysts may act.
        ``audit_keys``: HMAC keys of the audit chain (KYC_AUDIT_KEYS); ``checkpoint_dir``: where signed
        checkpoints of the audit head are written (KYC_AUDIT_CHECKPOINT_DIR; None = none);
        ``owner_url``: the schema owner's URL (KYC_DATABASE_OWNER_URL): migrations run through it and
        grant ``database_url``'s role only what the application needs (cases/migrations/roles.py)."""
        from kyc_assets.audit.checkpoints import CheckpointLog
        from kyc_assets.cases import migrations

        self.engine = shared_engine(database_url)
        self.audit_keys = audit.AuditKeys.maybe(audit_keys) if not isinstance(audit_keys, audit.AuditKeys) \
            else audit_keys
        self._writer = self.engine.execution_options(kyc_write=True, **{audit.KEYS_OPTION: self.audit_keys})
        self.checkpoints = CheckpointLog(checkpoint_dir, self.audit_keys, every_entries=checkpoint_every,
                                         every_minutes=checkpoint_minutes) if checkpoint_dir else None
        self.cipher = PiiCipher.maybe(pii_keys)
        self.retention_years = int(retention_years)
        self.analysts = analysts
        if migrate:
            # Once per process and PostgreSQL database (SQLite files are cheap to check, and tests recreate
            # them); the upgrade itself is serialised across processes by the migrations' advisory lock.
            key = (os.getpid(), database_url, owner_url or "")
            if key not in _AT_HEAD:
                at_head = False
                if not owner_url:  # with an owner role the grants are (re)applied once per process
                    with self.engine.connect() as conn:
                        at_head = migrations.current_revision(conn) == _head_revision()
                if not at_head:
                    migrations.upgrade_as_owner(self._writer, owner_url, database_url)
                if not database_url.startswith("sqlite"):
                    _AT_HEAD.add(key)
        if migrate and self.checkpoints is not None and self.checkpoints.due(0):
            self._anchor_head()  # a log that predates its checkpoints is anchored on first start

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs) -> CaseStore:
        """The store configured by the environment (KYC_DATABASE_URL, KYC_CASE_KEYS,
        KYC_CASE_RETENTION_YEARS, KYC_ANALYSTS_FILE), as the CLI and the dashboard use it."""
        import os

        from kyc_assets.cases.analysts import AnalystDirectory
        from kyc_assets.settings import Settings, audit_keys, case_keys, database_owner_url

        env = os.environ if env is None else env
        settings = Settings.from_env(env)
        kwargs.setdefault("analysts", AnalystDirectory.from_env(env))
        return cls(settings.database_url, pii_keys=case_keys(env), retention_years=settings.case_retention_years,
                   audit_keys=audit_keys(env), checkpoint_dir=settings.audit_checkpoint_dir,
                   checkpoint_every=settings.audit_checkpoint_every,
                   checkpoint_minutes=settings.audit_checkpoint_minutes, owner_url=database_owner_url(env), **kwargs)

    @property
    def stores_pii(self) -> bool:
        """Whether PII columns are written (only with a key, KYC_CASE_KEYS)."""
        return self.cipher is not None

    # -- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self, subjects: list[str] | None = None, *, case_id: str | None = None) -> Iterator[sa.Connection]:
        """A write transaction (see the module docstring). ``subjects`` (``type:id`` keys) or ``case_id`` (its
        subject): only writers of the same subjects wait for each other; with neither, the transaction
        excludes every other writer. Audit entries of case events are appended at the end."""
        with self._writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                keys = set(subjects or ())
                if case_id is not None:
                    subject = conn.execute(sa.select(cases.c.subject_type, cases.c.subject_id)
                                           .where(cases.c.case_id == str(case_id))).first()
                    keys.add(f"{subject.subject_type}:{subject.subject_id}" if subject else f"case:{case_id}")
                if subjects is None and case_id is None:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_STORE_LOCK})
                else:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock_shared(:id)"), {"id": _PG_STORE_LOCK})
                    for lock in sorted(_lock_id(k) for k in keys):  # one order everywhere: no deadlock
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock})
            conn.info.pop(audit.HEAD_INFO, None)
            conn.info.pop(audit.TOUCHED_INFO, None)
            conn.info[_PENDING_AUDIT] = pending = []
            try:
                yield conn
                for entry in pending:  # the audit chain's lock is taken here, held only until commit
                    audit.append(conn, **entry)
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.info.pop(_PENDING_AUDIT, None)
                raise
            conn.info.pop(_PENDING_AUDIT, None)
            touched = conn.info.pop(audit.TOUCHED_INFO, None)
            if touched:  # the changed cases' rows, covered by the chain (audit/state.py)
                audit_state.record(conn, touched)
            head = conn.info.pop(audit.HEAD_INFO, None)
        if head is not None and self.checkpoints is not None:
            self.checkpoints.after_commit(*head)

    def _anchor_head(self) -> None:
        with self.engine.connect() as conn:
            head = conn.execute(sa.select(audit.audit_log.c.seq, audit.audit_log.c.entry_hash)
                                .order_by(audit.audit_log.c.seq.desc()).limit(1)).first()
        if head is not None:
            self.checkpoints.write(head.seq, head.entry_hash)

    def _refuse(self, *, actor: str, action: str, subject: str, error: str) -> None:
        with self._write([]) as conn:
            audit.append(conn, actor=actor or "unknown", action=f"{action}_refused", subject=subject or "-",
                         detail={"error": error})

    @contextlib.contextmanager
    def _audited(self, action: str, actor: str, subject: str) -> Iterator[None]:
        """Run a case operation; a refusal (CaseError) is written to the audit log, then re-raised."""
        try:
            yield
        except CaseError as exc:
            self._refuse(actor=str(actor or "")[:200], action=action, subject=str(subject or "")[:200],
                         error=str(exc))
            raise

    def record_refusal(self, *, actor: str, action: str, subject: str, error: str) -> None:
        """Audit a refusal decided outside the store (e.g. a failed CSRF check or login in the dashboard)."""
        self._refuse(actor=str(actor or "anonymous")[:200], action=action, subject=str(subject or "-")[:200],
                     error=str(error).splitlines()[0][:500] if error else "refused")

    def append_audit(self, *, actor: str, action: str, subject: str, detail: dict) -> int:
        """Append one audit entry in its own write transaction (e.g. ``notification_sent``)."""
        with self._write([]) as conn:
            return audit.append(conn, actor=actor, action=action, subject=subject, detail=detail)

    def _event(self, conn: sa.Connection, case_id: str, actor: str, action: str, detail: dict, at: str) -> None:
        detail_json = json.dumps(detail, sort_keys=True, default=str)
        conn.execute(case_events.insert().values(case_id=case_id, at=at, actor=actor, action=action,
                                                 detail=detail_json))
        entry = {"actor": actor, "action": action, "subject": case_id, "detail": detail}
        pending = conn.info.get(_PENDING_AUDIT)
        if pending is None:
            audit.append(conn, **entry)
        else:
            pending.append(entry)  # appended in order when the transaction ends (see _write)
        audit.touch(conn, case_id)

    # -- escalation ---------------------------------------------------------------------------

    def _pii_values(self, cand: CaseCandidate) -> dict:
        pii = getattr(cand, "pii", None) or {}
        if self.cipher is None or not pii:
            return {}
        return {f"{f}_enc": self.cipher.encrypt(pii.get(f)) for f in PII_FIELDS if pii.get(f)}

    def escalate(self, candidates: list[CaseCandidate], *, sla_days: int | Mapping[int, int],
                 actor: str = "system:escalation") -> dict:
        """Open or update one active case per subject with the candidates' evidence; returns counts.

        Evidence already recorded for the subject (in any of its cases, closed ones included) is not
        added again, so a decided case is not reopened by the same evidence. The due date is the
        opening day plus the service level of the case's priority (brought forward when it rises)."""
        opened = updated = added = 0
        with self._write([f"{c.subject_type}:{c.subject_id}" for c in candidates]) as conn:
            for cand in candidates:
                subject_cases = conn.execute(sa.select(cases).where(
                    cases.c.subject_type == cand.subject_type, cases.c.subject_id == cand.subject_id)).all()
                row = next((r for r in subject_cases if r.status in ACTIVE_STATUSES), None)
                known = set() if not subject_cases else set(conn.execute(
                    sa.select(case_evidence.c.evidence_id).where(
                        case_evidence.c.case_id.in_([r.case_id for r in subject_cases]))).scalars())
                fresh = list({e.evidence_id: e for e in cand.evidence if e.evidence_id not in known}.values())
                if not fresh:
                    continue
                now = _now()
                pii = self._pii_values(cand)
                if row is None:
                    case_id = "CASE-" + hashlib.sha256(
                        f"{cand.subject_type}:{cand.subject_id}:{fresh[0].evidence_id}".encode()).hexdigest()[:10]
                    risk = max(e.risk for e in fresh)
                    priority = case_priority(fresh)
                    conn.execute(cases.insert().values(
                        case_id=case_id, subject_type=cand.subject_type, subject_id=cand.subject_id, status=OPEN,
                        priority=priority, risk=risk, reasons=json.dumps(sorted({e.reason for e in fresh})),
                        opened_at=now, updated_at=now, version=1,
                        due_date=(datetime.now(UTC) + timedelta(days=sla_days_for(priority, sla_days)))
                        .date().isoformat(), **pii))
                    self._event(conn, case_id, actor, "case_opened",
                                {"subject_type": cand.subject_type, "evidence": len(fresh), "risk": risk}, now)
                    opened += 1
                else:
                    case_id = row.case_id
                    risk = max([row.risk] + [e.risk for e in fresh])
                    priority = min(row.priority, case_priority(fresh))
                    reasons = sorted(set(json.loads(row.reasons)) | {e.reason for e in fresh})
                    due = (datetime.fromisoformat(row.opened_at)
                           + timedelta(days=sla_days_for(priority, sla_days))).date().isoformat()
                    pii = {k: v for k, v in pii.items() if getattr(row, k) is None}
                    conn.execute(cases.update().where(cases.c.case_id == case_id).values(
                        risk=risk, priority=priority, reasons=json.dumps(reasons), updated_at=now,
                        due_date=min(row.due_date, due), version=row.version + 1, **pii))
                    self._event(conn, case_id, actor, "case_evidence_added", {"evidence": len(fresh), "risk": risk},
                                now)
                    updated += 1
                for e in fresh:
                    conn.execute(case_evidence.insert().values(
                        case_id=case_id, evidence_id=e.evidence_id, kind=e.kind, risk=e.risk, reason=e.reason,
                        reference=json.dumps(e.reference, sort_keys=True, default=str), added_at=now))
                    added += 1
                if any(e.kind == "anomaly_alert" for e in fresh):
                    self._summarise_alerts(conn, case_id)
        return {"opened": opened, "updated": updated, "evidence_added": added}

    @staticmethod
    def _summarise_alerts(conn: sa.Connection, case_id: str) -> None:
        """The case's reasons with its monitoring alerts as one sentence group (the riskiest day's reasons
        in words and the span of alert days, see cases/reasons.py), not one line per alert day."""
        from kyc_assets.cases.reasons import case_sentences

        evidence = [{"kind": r.kind, "risk": r.risk, "reason": r.reason, "reference": json.loads(r.reference)}
                    for r in conn.execute(sa.select(case_evidence.c.kind, case_evidence.c.risk, case_evidence.c.reason,
                                                    case_evidence.c.reference)
                                          .where(case_evidence.c.case_id == case_id)
                                          .order_by(case_evidence.c.added_at, case_evidence.c.evidence_id))]
        conn.execute(cases.update().where(cases.c.case_id == case_id)
                     .values(reasons=json.dumps(case_sentences({"evidence": evidence}))))

    def known_evidence_ids(self, evidence_ids: list[str]) -> set[str]:
        """Those of ``evidence_ids`` already recorded in some case (escalation skips their lineage)."""
        wanted, known = sorted(set(evidence_ids)), set()
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), 500):
                known.update(conn.execute(sa.select(case_evidence.c.evidence_id).where(
                    case_evidence.c.evidence_id.in_(wanted[i:i + 500]))).scalars())
        return known

    def open_cases(self) -> list[dict]:
        """Every active case (open, escalated or pending approval) with its evidence rows (reference as
        JSON text), in queue order: priority, due date, risk (highest first), id."""
        order = (cases.c.priority, cases.c.due_date, cases.c.risk.desc(), cases.c.case_id)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*self._plain_columns()).where(cases.c.status.in_(ACTIVE_STATUSES))
                                .order_by(*order)).mappings().all()
            evidence = conn.execute(
                sa.select(case_evidence).join(cases, cases.c.case_id == case_evidence.c.case_id)
                .where(cases.c.status.in_(ACTIVE_STATUSES))
                .order_by(case_evidence.c.added_at, case_evidence.c.evidence_id)).mappings().all()
        by_case: dict[str, list[dict]] = {}
        for e in evidence:
            by_case.setdefault(e["case_id"], []).append(dict(e))
        return [{**dict(r), "evidence": by_case.get(r["case_id"], [])} for r in rows]

    # -- reading ------------------------------------------------------------------------------

    @staticmethod
    def _plain_columns() -> list[sa.Column]:
        return [c for c in cases.c if not c.name.endswith("_enc")]

    def _queue_row(self, r: Mapping, evidence_count: int | None = None) -> dict:
        out = {k: r[k] for k in ("case_id", "subject_type", "subject_id", "status", "outcome", "priority", "risk",
                                 "opened_at", "updated_at", "due_date", "assigned_to", "version", "closed_at",
                                 "retain_until")}
        out["reasons"] = json.loads(r["reasons"])
        out["overdue"] = r["status"] in ACTIVE_STATUSES and r["due_date"] < date.today().isoformat()
        # days left against the service level (negative: overdue by that many); None once closed
        out["days_left"] = (date.fromisoformat(r["due_date"]) - date.today()).days \
            if r["status"] in ACTIVE_STATUSES else None
        out["subject_name"] = self._decrypt(r.get("subject_name_enc"))
        if evidence_count is not None:
            out["evidence_count"] = int(evidence_count)
        return out

    def _decrypt(self, token: str | None) -> str | None:
        if token is None or self.cipher is None:
            return None
        try:
            return self.cipher.decrypt(token)
        except PiiKeyError:
            return None

    def _filtered(self, query, *, status, assigned_to, subject_type, min_priority, search):
        if status and status not in CASE_STATUS_FILTERS:
            raise InvalidRequest(f"unknown status {str(status)[:40]!r}; valid: {', '.join(CASE_STATUS_FILTERS)}")
        if subject_type and subject_type not in SUBJECT_TYPES:
            raise InvalidRequest(f"unknown subject type {str(subject_type)[:40]!r}; valid: {', '.join(SUBJECT_TYPES)}")
        if status == "active":
            query = query.where(cases.c.status.in_(ACTIVE_STATUSES))
        elif status:
            query = query.where(cases.c.status == status)
        if assigned_to is not None:
            query = query.where(cases.c.assigned_to == assigned_to) if assigned_to else \
                query.where(cases.c.assigned_to.is_(None))
        if subject_type:
            query = query.where(cases.c.subject_type == subject_type)
        if min_priority is not None:
            query = query.where(cases.c.priority <= int(min_priority))
        if search:
            like = f"%{search.strip()}%"
            query = query.where(sa.or_(cases.c.case_id.ilike(like), cases.c.subject_id.ilike(like),
                                       cases.c.case_id.in_(self._name_matches(search))))
        return query

    def _name_matches(self, search: str) -> list[str]:
        """Case ids whose subject name (decrypted; only with the key, KYC_CASE_KEYS) contains ``search``
        (case and accents folded). Names are encrypted, so this decrypts them in memory, never in SQL."""
        if self.cipher is None:
            return []
        import unicodedata

        def fold(text: str) -> str:
            return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))

        wanted = fold(search.strip())
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(cases.c.case_id, cases.c.subject_name_enc)
                                .where(cases.c.subject_name_enc.is_not(None))).all()
        return [r.case_id for r in rows if wanted and wanted in fold(self._decrypt(r.subject_name_enc) or "")]

    def list_cases(self, *, status: str | None = None, assigned_to: str | None = None,
                   subject_type: str | None = None, min_priority: int | None = None, search: str | None = None,
                   sort: str = "priority", descending: bool = False, limit: int = 100,
                   offset: int = 0) -> list[dict]:
        """The queue: rows of case_id, subject_type, subject_id, subject_name (decrypted; None without
        a key), status, outcome, priority (1 highest .. 4), risk, reasons (list), opened_at, updated_at,
        due_date, overdue, assigned_to, version, closed_at, retain_until, evidence_count.

        ``status``: a status, "active" (every non-closed one) or None (all); ``assigned_to``: an analyst,
        "" for unassigned, None for any; ``min_priority``: 2 keeps priorities 1 and 2; ``search``:
        part of a case or subject id, or of the subject's name (with the PII key only). ``days_left``:
        days until the due date (negative when overdue; None for closed cases). Sorted by ``sort`` (one of QUEUE_SORTS; priority sorts by
        priority, then due date, then risk, highest first), ties by case id; paged by ``limit``/``offset``."""
        if sort not in QUEUE_SORTS:
            raise InvalidRequest(f"sort must be one of {', '.join(QUEUE_SORTS)}")
        count = (sa.select(sa.func.count()).where(case_evidence.c.case_id == cases.c.case_id)
                 .correlate(cases).scalar_subquery().label("evidence_count"))
        query = self._filtered(sa.select(cases, count), status=status, assigned_to=assigned_to,
                               subject_type=subject_type, min_priority=min_priority, search=search)
        keys = [cases.c[sort]] + ([cases.c.due_date] if sort == "priority" else [])
        order = [k.desc() if descending else k for k in keys]
        if sort == "priority":  # within a priority and due date, the riskiest first
            order.append(cases.c.risk.asc() if descending else cases.c.risk.desc())
        order.append(cases.c.case_id)
        query = query.order_by(*order).limit(max(0, int(limit))).offset(max(0, int(offset)))
        with self.engine.connect() as conn:
            return [self._queue_row(r, r["evidence_count"]) for r in conn.execute(query).mappings()]

    def count_cases(self, *, status: str | None = None, assigned_to: str | None = None,
                    subject_type: str | None = None, min_priority: int | None = None,
                    search: str | None = None) -> int:
        """How many cases ``list_cases`` would return without paging."""
        query = self._filtered(sa.select(sa.func.count()).select_from(cases), status=status,
                               assigned_to=assigned_to, subject_type=subject_type, min_priority=min_priority,
                               search=search)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def get_case(self, case_id: str) -> dict:
        """One case: its queue row plus subject_dob and subject_document_number (decrypted or None),
        pii_available, evidence (evidence_id, kind, risk, reason, reference (dict), added_at), events
        (at, actor, action, detail (dict)), decisions (decision_id, decision, reason, analyst, decided_at,
        status final|proposed|approved|rejected, approved_by, approved_at, approval_reason) and report
        (None, or report_id, format, status draft|approved, prepared_by, created_at, approved_by,
        approved_at). CaseNotFound when there is no such case."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(cases).where(cases.c.case_id == str(case_id))).mappings().first()
            if row is None:
                raise CaseNotFound(f"no case {str(case_id)[:60]!r}")
            evidence = conn.execute(sa.select(case_evidence).where(case_evidence.c.case_id == row["case_id"])
                                    .order_by(case_evidence.c.added_at, case_evidence.c.evidence_id)).mappings().all()
            events = conn.execute(sa.select(case_events).where(case_events.c.case_id == row["case_id"])
                                  .order_by(case_events.c.event_id)).mappings().all()
            decided = conn.execute(sa.select(decisions).where(decisions.c.case_id == row["case_id"])
                                   .order_by(decisions.c.decided_at, decisions.c.decision_id)).mappings().all()
            report = conn.execute(sa.select(reports).where(reports.c.case_id == row["case_id"])).mappings().first()
        out = self._queue_row(row, len(evidence))
        out["subject_dob"] = self._decrypt(row["subject_dob_enc"])
        out["subject_document_number"] = self._decrypt(row["subject_document_number_enc"])
        out["pii_available"] = out["subject_name"] is not None
        out["evidence"] = [{**dict(e), "reference": json.loads(e["reference"])} for e in evidence]
        out["events"] = [{"at": e["at"], "actor": e["actor"], "action": e["action"],
                          "detail": json.loads(e["detail"])} for e in events]
        out["notes"] = [{"at": e["at"], "analyst": e["actor"], "text": e["detail"].get("note", "")}
                        for e in out["events"] if e["action"] == "case_note_added"]
        out["decisions"] = [{k: v for k, v in dict(d).items() if k != "case_id"} for d in decided]
        out["report"] = None if report is None else {k: v for k, v in dict(report).items() if k != "case_id"}
        return out

    def audit_entries(self, *, subject: str | None = None, limit: int = 100) -> list[dict]:
        """Audit entries, newest first, optionally of one subject (e.g. a case id); detail as a dict."""
        query = sa.select(audit.audit_log).order_by(audit.audit_log.c.seq.desc()).limit(int(limit))
        if subject is not None:
            query = query.where(audit.audit_log.c.subject == subject)
        with self.engine.connect() as conn:
            return [{**dict(r), "detail": json.loads(r["detail"])} for r in conn.execute(query).mappings()]

    # -- case work ----------------------------------------------------------------------------

    def _analyst(self, name: str) -> str:
        from kyc_assets.cases.analysts import AnalystDirectory, AuthenticationError

        directory = self.analysts or AnalystDirectory(None)
        try:
            return directory.get(name).username
        except AuthenticationError as exc:
            raise InvalidRequest(str(exc)) from exc

    @staticmethod
    def _load(conn: sa.Connection, case_id: str, expected_version: int | None) -> sa.Row:
        row = conn.execute(sa.select(*CaseStore._plain_columns()).where(cases.c.case_id == str(case_id))).first()
        if row is None:
            raise CaseNotFound(f"no case {str(case_id)[:60]!r}")
        if expected_version is not None and int(expected_version) != row.version:
            raise ConcurrentUpdate(f"case {row.case_id} was changed by someone else (version {row.version}, "
                                   f"you saw {int(expected_version)}); reload it")
        return row

    @staticmethod
    def _require_active(row: sa.Row) -> None:
        if row.status == CLOSED:
            raise CaseClosed(f"case {row.case_id} is closed ({row.outcome}); no further decisions")
        if row.status == PENDING_APPROVAL:
            raise CaseClosed(f"case {row.case_id} has a confirmation awaiting a second analyst's approval")

    @staticmethod
    def _update(conn: sa.Connection, row: sa.Row, **values) -> None:
        """Update the case if nobody else did since ``row`` was read (optimistic version)."""
        done = conn.execute(cases.update().where(cases.c.case_id == row.case_id, cases.c.version == row.version)
                            .values(version=row.version + 1, updated_at=_now(), **values)).rowcount
        if done != 1:
            raise ConcurrentUpdate(f"case {row.case_id} was changed by someone else; reload it")

    def assign(self, case_id: str, *, to: str, actor: str, expected_version: int | None = None) -> dict:
        """Assign an active case to analyst ``to`` (``actor`` did it); returns the case."""
        with self._audited("case_assign", actor, case_id):
            actor, to = self._analyst(actor), self._analyst(to)
            with self._write(case_id=case_id) as conn:
                row = self._load(conn, case_id, expected_version)
                if row.status == CLOSED:
                    raise CaseClosed(f"case {row.case_id} is closed ({row.outcome}); it cannot be assigned")
                self._update(conn, row, assigned_to=to)
                self._event(conn, row.case_id, actor, "case_assigned", {"to": to, "from": row.assigned_to}, _now())
        return self.get_case(case_id)

    def add_note(self, case_id: str, *, analyst: str, text: str) -> dict:
        """An analyst's note on a case (any status), kept with the case's events and in the audit log;
        notes do not change the case's version (they never race a decision). Returns the case."""
        with self._audited("case_note", analyst, case_id):
            analyst = self._analyst(analyst)
            text = (text or "").strip()
            if not text:
                raise InvalidRequest("a note needs some text")
            if len(text) > 4000:
                raise InvalidRequest("a note has at most 4000 characters")
            with self._write(case_id=case_id) as conn:
                row = self._load(conn, case_id, None)
                self._event(conn, row.case_id, analyst, "case_note_added", {"note": text}, _now())
        return self.get_case(case_id)

    def decide(self, case_id: str, *, decision: str, reason: str, analyst: str,
               expected_version: int | None = None) -> dict:
        """Record an analyst's decision (one of DECISIONS) on an active case; returns the case.

        false_positive closes the case and suppresses each of its screening hits (through
        ``screening.suppressions.create_suppression``, in the same transaction); escalate marks the
        case escalated with priority 1; confirmed proposes the confirmation, which a second analyst
        must approve (:meth:`approve`)."""
        with self._audited("case_decide", analyst, case_id):
            analyst = self._analyst(analyst)
            if decision not in DECISIONS:
                raise InvalidRequest(f"decision must be one of {', '.join(DECISIONS)}, not {str(decision)[:40]!r}")
            reason = (reason or "").strip()
            if not reason:
                raise InvalidRequest("a decision needs a reason")
            with self._write(case_id=case_id) as conn:
                row = self._load(conn, case_id, expected_version)
                self._require_active(row)
                now = _now()
                status = {"false_positive": "final", "escalate": "final", "confirmed": "proposed"}[decision]
                decision_id = "DEC-" + hashlib.sha256(f"{row.case_id}:{row.version}:{decision}:{analyst}:{now}"
                                                      .encode()).hexdigest()[:12]
                conn.execute(decisions.insert().values(
                    decision_id=decision_id, case_id=row.case_id, decision=decision, reason=reason,
                    analyst=analyst, decided_at=now, status=status, previous_status=row.status))
                detail = {"decision_id": decision_id, "decision": decision, "reason": reason}
                if decision == "false_positive":
                    closed = datetime.now(UTC)
                    self._update(conn, row, status=CLOSED, outcome="false_positive", closed_at=now,
                                 retain_until=_retain_until(closed, self.retention_years))
                    detail["suppressions"] = self._suppress_hits(conn, row, analyst=analyst, reason=reason)
                elif decision == "escalate":
                    self._update(conn, row, status=ESCALATED, priority=1)
                else:
                    self._update(conn, row, status=PENDING_APPROVAL)
                self._event(conn, row.case_id, analyst, f"case_decided_{decision}", detail, now)
        return self.get_case(case_id)

    def _suppress_hits(self, conn: sa.Connection, row: sa.Row, *, analyst: str, reason: str) -> list[str]:
        """A suppression for every screening hit of a dismissed customer case (same transaction)."""
        from kyc_assets.screening.suppressions import create_suppression

        if row.subject_type != "customer":
            return []
        bound = _BoundStore(self, conn)
        out = []
        for ref_json in conn.execute(sa.select(case_evidence.c.reference).where(
                case_evidence.c.case_id == row.case_id, case_evidence.c.kind == "screening_hit")).scalars():
            ref = json.loads(ref_json)
            if not ref.get("entry_hash") or not ref.get("list_entity_id"):
                continue  # a hit without the entry's content hash cannot be keyed (older list formats)
            out.append(create_suppression(bound, customer_id=row.subject_id, list_entity_id=ref["list_entity_id"],
                                          entry_hash=ref["entry_hash"], analyst=analyst, reason=reason,
                                          list_source=ref.get("list_source"))["suppression_id"])
        return sorted(set(out))

    def _proposal(self, conn: sa.Connection, row: sa.Row) -> sa.Row:
        if row.status != PENDING_APPROVAL:
            raise CaseClosed(f"case {row.case_id} has no confirmation awaiting approval (status {row.status})")
        return conn.execute(sa.select(decisions).where(decisions.c.case_id == row.case_id,
                                                       decisions.c.status == "proposed")
                            .order_by(decisions.c.decided_at.desc())).first()

    def approve(self, case_id: str, *, analyst: str, reason: str = "",
                expected_version: int | None = None) -> dict:
        """A second analyst approves the proposed confirmation: the case closes as confirmed and a SAR
        draft is prepared (prepared_by = the proposing analyst). FourEyesViolation if ``analyst``
        proposed the confirmation."""
        with self._audited("case_approve", analyst, case_id):
            analyst = self._analyst(analyst)
            with self._write(case_id=case_id) as conn:
                row = self._load(conn, case_id, expected_version)
                proposal = self._proposal(conn, row)
                if proposal.analyst == analyst:
                    raise FourEyesViolation(f"four-eyes: {analyst} proposed the confirmation of {row.case_id} "
                                            "and cannot also approve it")
                now = _now()
                conn.execute(decisions.update().where(decisions.c.decision_id == proposal.decision_id).values(
                    status="approved", approved_by=analyst, approved_at=now, approval_reason=(reason or "").strip()))
                self._update(conn, row, status=CLOSED, outcome="confirmed", closed_at=now,
                             retain_until=_retain_until(datetime.now(UTC), self.retention_years))
                report_id = "SAR-" + row.case_id.removeprefix("CASE-")
                conn.execute(reports.insert().values(report_id=report_id, case_id=row.case_id,
                                                     format="kyc-sar-json/1", status="draft",
                                                     prepared_by=proposal.analyst, created_at=now))
                self._event(conn, row.case_id, analyst, "case_confirmation_approved",
                            {"decision_id": proposal.decision_id, "proposed_by": proposal.analyst,
                             "report_id": report_id}, now)
        return self.get_case(case_id)

    def reject(self, case_id: str, *, analyst: str, reason: str, expected_version: int | None = None) -> dict:
        """A second analyst rejects the proposed confirmation: the case returns to its previous status."""
        with self._audited("case_reject", analyst, case_id):
            analyst = self._analyst(analyst)
            reason = (reason or "").strip()
            if not reason:
                raise InvalidRequest("a rejection needs a reason")
            with self._write(case_id=case_id) as conn:
                row = self._load(conn, case_id, expected_version)
                proposal = self._proposal(conn, row)
                if proposal.analyst == analyst:
                    raise FourEyesViolation(f"four-eyes: {analyst} proposed the confirmation of {row.case_id} "
                                            "and cannot also review it")
                now = _now()
                conn.execute(decisions.update().where(decisions.c.decision_id == proposal.decision_id).values(
                    status="rejected", approved_by=analyst, approved_at=now, approval_reason=reason))
                self._update(conn, row, status=proposal.previous_status)
                self._event(conn, row.case_id, analyst, "case_confirmation_rejected",
                            {"decision_id": proposal.decision_id, "reason": reason}, now)
        return self.get_case(case_id)

    def approve_report(self, case_id: str, *, analyst: str, expected_version: int | None = None) -> dict:
        """Approve the case's SAR draft; FourEyesViolation if ``analyst`` prepared it."""
        with self._audited("report_approve", analyst, case_id):
            analyst = self._analyst(analyst)
            with self._write(case_id=case_id) as conn:
                row = self._load(conn, case_id, expected_version)
                report = conn.execute(sa.select(reports).where(reports.c.case_id == row.case_id)).first()
                if report is None:
                    raise CaseClosed(f"case {row.case_id} has no report (only confirmed cases do)")
                if report.status != "draft":
                    raise CaseClosed(f"report {report.report_id} is already {report.status}")
                if report.prepared_by == analyst:
                    raise FourEyesViolation(f"four-eyes: {analyst} prepared report {report.report_id} "
                                            "and cannot also approve it")
                now = _now()
                conn.execute(reports.update().where(reports.c.report_id == report.report_id)
                             .values(status="approved", approved_by=analyst, approved_at=now))
                self._update(conn, row)
                self._event(conn, row.case_id, analyst, "report_approved", {"report_id": report.report_id}, now)
        return self.get_case(case_id)

    def delete_case(self, case_id: str, *, actor: str) -> None:
        """Delete a closed case whose retention period has ended (its audit entries stay).
        RetentionError for an active case or one inside retention (PostgreSQL also refuses in a trigger)."""
        with self._audited("case_delete", actor, case_id), self._write(case_id=case_id) as conn:
            row = self._load(conn, case_id, None)
            if row.status != CLOSED or not row.retain_until or row.retain_until > date.today().isoformat():
                raise RetentionError(f"case {row.case_id} is retained until "
                                     f"{row.retain_until or 'it is closed and its retention ends'}; "
                                     "it cannot be deleted")
            for table in (case_events, decisions, reports, case_evidence):
                conn.execute(table.delete().where(table.c.case_id == row.case_id))
            conn.execute(cases.delete().where(cases.c.case_id == row.case_id))
            audit.append(conn, actor=actor, action="case_deleted", subject=row.case_id,
                         detail={"retain_until": row.retain_until})
            audit.touch(conn, row.case_id)

    def rotate_pii_keys(self, *, actor: str) -> int:
        """Re-encrypt every PII value under the newest key of KYC_CASE_KEYS; returns how many cases changed."""
        if self.cipher is None:
            raise InvalidRequest("KYC_CASE_KEYS is not set: there is nothing to rotate")
        columns = [cases.c[f"{f}_enc"] for f in PII_FIELDS]
        changed = 0
        with self._write() as conn:
            for row in conn.execute(sa.select(cases.c.case_id, *columns).where(
                    sa.or_(*[c.is_not(None) for c in columns]))).all():
                values = {c.name: self.cipher.rotate(getattr(row, c.name)) for c in columns}
                conn.execute(cases.update().where(cases.c.case_id == row.case_id).values(**values))
                audit.touch(conn, row.case_id)
                changed += 1
            audit.append(conn, actor=actor, action="pii_keys_rotated", subject="cases", detail={"cases": changed})
        return changed

    # -- suppressions (kyc_assets/screening/suppressions.py) -----------------------------------

    def suppress(self, customer_id: str, list_entity_id: str, entry_hash: str, *, analyst: str, reason: str,
                 list_source: str | None = None) -> dict:
        """Record an analyst's false-positive decision (idempotent); returns the suppression row and
        whether this call created or reactivated it. Audited in the same transaction."""
        with self._write() as conn:
            return self._suppress(conn, customer_id, list_entity_id, entry_hash, analyst=analyst, reason=reason,
                                  list_source=list_source)

    def _suppress(self, conn: sa.Connection, customer_id: str, list_entity_id: str, entry_hash: str, *,
                  analyst: str, reason: str, list_source: str | None = None) -> dict:
        key = f"{customer_id}\0{list_entity_id}\0{entry_hash}"
        suppression_id = "SUP-" + hashlib.sha256(key.encode()).hexdigest()[:16]
        row = conn.execute(sa.select(suppressions).where(
            suppressions.c.suppression_id == suppression_id)).mappings().first()
        if row is not None and row["status"] == ACTIVE:
            return {**dict(row), "changed": False}
        now = _now()
        values = {"status": ACTIVE, "reason": reason, "created_by": analyst, "created_at": now,
                  "lifted_at": None, "lifted_reason": None, "list_source": list_source}
        if row is None:
            conn.execute(suppressions.insert().values(suppression_id=suppression_id, customer_id=customer_id,
                                                      list_entity_id=list_entity_id, entry_hash=entry_hash,
                                                      **values))
        else:
            conn.execute(suppressions.update().where(suppressions.c.suppression_id == suppression_id)
                         .values(**values))
        audit.append(conn, actor=analyst, action="suppression_created" if row is None
                     else "suppression_reactivated", subject=suppression_id,
                     detail={"customer_id": customer_id, "list_entity_id": list_entity_id,
                             "entry_hash": entry_hash, "list_source": list_source, "reason": reason})
        out = conn.execute(sa.select(suppressions).where(
            suppressions.c.suppression_id == suppression_id)).mappings().one()
        return {**dict(out), "changed": True}

    def suppressions(self, status: str | None = None) -> list[dict]:
        """Suppressions (all, or those with ``status`` 'active' / 'lifted'), oldest first."""
        query = sa.select(suppressions).order_by(suppressions.c.created_at, suppressions.c.suppression_id)
        if status is not None:
            query = query.where(suppressions.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def active_suppression_keys(self) -> set[tuple[str, str, str]]:
        """(customer_id, list_entity_id, entry_hash) of every active suppression."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(suppressions.c.customer_id, suppressions.c.list_entity_id,
                                          suppressions.c.entry_hash).where(suppressions.c.status == ACTIVE))
            return {(r.customer_id, r.list_entity_id, r.entry_hash) for r in rows}

    def lift_changed_suppressions(self, current_hashes: dict[str, str], *, actor: str) -> int:
        """Lift every active suppression whose list entity is present with a different content hash
        (the entry changed, so the analyst's decision no longer covers it); returns how many."""
        lifted = 0
        with self._write() as conn:
            active = conn.execute(sa.select(suppressions).where(suppressions.c.status == ACTIVE)).mappings().all()
            for row in active:
                current = current_hashes.get(row["list_entity_id"])
                if current is None or current == row["entry_hash"]:
                    continue
                conn.execute(suppressions.update().where(suppressions.c.suppression_id == row["suppression_id"])
                             .values(status=LIFTED, lifted_at=_now(), lifted_reason="list entry changed"))
                audit.append(conn, actor=actor, action="suppression_lifted", subject=row["suppression_id"],
                             detail={"customer_id": row["customer_id"], "list_entity_id": row["list_entity_id"],
                                     "entry_hash": row["entry_hash"], "new_entry_hash": current,
                                     "reason": "list entry changed"})
                lifted += 1
        return lifted

    def lift_suppression(self, suppression_id: str, *, analyst: str, reason: str) -> bool:
        """An analyst withdraws a suppression; returns False when it was not active."""
        with self._write() as conn:
            done = conn.execute(suppressions.update().where(
                suppressions.c.suppression_id == suppression_id, suppressions.c.status == ACTIVE)
                .values(status=LIFTED, lifted_at=_now(), lifted_reason=reason)).rowcount
            if done:
                audit.append(conn, actor=analyst, action="suppression_lifted", subject=suppression_id,
                             detail={"reason": reason})
        return bool(done)

    # -- audit --------------------------------------------------------------------------------

    def verify_audit(self) -> audit.ChainReport:
        """Recompute the audit log's hash chain (HMACs with KYC_AUDIT_KEYS), check it against the signed
        checkpoints and the case tables against their recorded states; the report names the first
        problem. A checkpoint file that cannot be trusted is a problem too."""
        from kyc_assets.audit.checkpoints import CheckpointError

        checkpoints = []
        if self.checkpoints is not None:
            try:
                checkpoints = self.checkpoints.read_verified(self.audit_keys)
            except CheckpointError as exc:
                return audit.ChainReport(0, 0, str(exc))
        with self.engine.connect() as conn:
            report = audit.verify_chain(conn, keys=self.audit_keys, checkpoints=checkpoints)
        if self.audit_keys is None:
            report.notes.append("unkeyed chain (KYC_AUDIT_KEYS not set): it shows accidental change, not "
                                "tampering by someone who can write the database")
        if self.checkpoints is None:
            report.notes.append("no checkpoints (KYC_AUDIT_CHECKPOINT_DIR off): deleting the newest entries "
                                "is not detectable")
        return report


class _BoundStore:
    """The suppression API of a store, bound to an open write transaction (used by decide)."""

    def __init__(self, store: CaseStore, conn: sa.Connection):
        self._store, self._conn = store, conn

    def suppress(self, customer_id, list_entity_id, entry_hash, **kwargs) -> dict:
        return self._store._suppress(self._conn, customer_id, list_entity_id, entry_hash, **kwargs)
