"""Server-side sign-in state of the case store: revocable dashboard sessions and per-account sign-in
throttling (plain Python + SQLAlchemy, no Dagster; tables from migration 0005).

Sessions: a signed-in dashboard session is a random id (in the signed cookie) whose sha256 is a row of
``analyst_sessions``; every request checks the row: ended (logout), idle for longer than the idle
timeout, or older than the absolute maximum means signed out. Logout ends the row, so a copied
cookie stops working at once.

Throttling: ``login_failures`` counts failed sign-ins per account (the canonical attempted name, known
or not, so that a lock-out says nothing about which names exist) within the lock-out window; at
``max_failures`` the account is locked for the window, even for the right password, and the
lock-out is audited (``login_locked``). The dashboard and the CLI share the rows.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import sqlalchemy as sa

from kyc_assets.audit import log as audit

metadata = audit.metadata
analyst_sessions = sa.Table(
    "analyst_sessions", metadata,
    sa.Column("session_hash", sa.String(64), primary_key=True),  # sha256 of the id in the cookie
    sa.Column("analyst", sa.String(200), nullable=False),
    sa.Column("created", sa.Float, nullable=False),  # epoch seconds
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("ended", sa.Float),
    sa.Column("ended_reason", sa.String(40)),
    extend_existing=True,
)
login_failures = sa.Table(
    "login_failures", metadata,
    sa.Column("account", sa.String(200), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("first_failure", sa.Float, nullable=False),
    sa.Column("locked_until", sa.Float),
    extend_existing=True,
)
SESSION_MAX_AGE_SECONDS = 12 * 3600
TOUCH_EVERY_SECONDS = 30  # last_seen is written at most this often per session


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class AccessControl:
    """Sessions and sign-in throttling over a case store's database."""

    def __init__(self, store, *, idle_seconds: float = 30 * 60, max_failures: int = 5,
                 lockout_seconds: float = 15 * 60, max_age_seconds: float = SESSION_MAX_AGE_SECONDS):
        self.store = store
        self.idle_seconds = float(idle_seconds)
        self.max_failures = int(max_failures)
        self.lockout_seconds = float(lockout_seconds)
        self.max_age_seconds = float(max_age_seconds)

    @classmethod
    def from_settings(cls, store, settings) -> AccessControl:
        return cls(store, idle_seconds=settings.session_idle_minutes * 60, max_failures=settings.login_max_failures,
                   lockout_seconds=settings.login_lockout_minutes * 60)

    # -- sessions -------------------------------------------------------------------------------

    def open_session(self, analyst: str, now: float | None = None) -> str:
        """A new session id for ``analyst`` (only its hash is stored)."""
        now = time.time() if now is None else now
        session_id = secrets.token_urlsafe(32)
        with self.store._write() as conn:
            conn.execute(analyst_sessions.insert().values(session_hash=_hash(session_id), analyst=analyst,
                                                          created=now, last_seen=now))
        return session_id

    def check_session(self, session_id: str | None, analyst: str | None, now: float | None = None) -> bool:
        """Whether the session is live for ``analyst`` (and mark it seen); an idle or too old one ends."""
        if not session_id or not analyst:
            return False
        now = time.time() if now is None else now
        key = _hash(session_id)
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(analyst_sessions).where(analyst_sessions.c.session_hash == key)).first()
        if row is None or row.ended is not None or row.analyst != analyst:
            return False
        expired = "idle" if now - row.last_seen > self.idle_seconds else \
            "expired" if now - row.created > self.max_age_seconds else None
        if expired:
            self.end_session(session_id, reason=expired, now=now)
            return False
        if now - row.last_seen >= TOUCH_EVERY_SECONDS:
            with self.store._write() as conn:
                conn.execute(analyst_sessions.update().where(analyst_sessions.c.session_hash == key,
                                                             analyst_sessions.c.ended.is_(None))
                             .values(last_seen=now))
        return True

    def end_session(self, session_id: str | None, *, reason: str = "logout", now: float | None = None) -> None:
        if not session_id:
            return
        now = time.time() if now is None else now
        with self.store._write() as conn:
            conn.execute(analyst_sessions.update().where(analyst_sessions.c.session_hash == _hash(session_id),
                                                         analyst_sessions.c.ended.is_(None))
                         .values(ended=now, ended_reason=reason))
            # ended sessions are kept a day (who was signed in when), then dropped
            conn.execute(analyst_sessions.delete().where(analyst_sessions.c.ended < now - 86400))

    # -- sign-in throttling ---------------------------------------------------------------------

    def locked_for(self, account: str, now: float | None = None) -> float:
        """Seconds the account stays locked (0 when it is not)."""
        now = time.time() if now is None else now
        with self.store.engine.connect() as conn:
            until = conn.execute(sa.select(login_failures.c.locked_until)
                                 .where(login_failures.c.account == account[:200])).scalar()
        return max(0.0, (until or 0.0) - now)

    def failed(self, account: str, now: float | None = None) -> bool:
        """Count a failed sign-in; True when it locks the account (the caller audits the lock-out)."""
        now = time.time() if now is None else now
        account = account[:200]
        with self.store._write() as conn:
            row = conn.execute(sa.select(login_failures).where(login_failures.c.account == account)).first()
            if row is None or now - row.first_failure > self.lockout_seconds:
                failures, first = 1, now
            else:
                failures, first = row.failures + 1, row.first_failure
            locked = failures >= self.max_failures
            values = {"failures": 0 if locked else failures, "first_failure": now if locked else first,
                      "locked_until": now + self.lockout_seconds if locked else (row.locked_until if row else None)}
            if row is None:
                conn.execute(login_failures.insert().values(account=account, **values))
            else:
                conn.execute(login_failures.update().where(login_failures.c.account == account).values(**values))
        return locked

    def succeeded(self, account: str) -> None:
        with self.store._write() as conn:
            conn.execute(login_failures.delete().where(login_failures.c.account == account[:200]))
