"""The append-only, hash-chained audit log.

Each entry stores the hash of the previous entry and its own hash over a canonical JSON of its
content; changing or deleting any past entry breaks every later hash, and ``verify_chain``
names the first entry that no longer matches.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

GENESIS = "0" * 64

metadata = sa.MetaData()
audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
)


def entry_hash(seq: int, at: str, actor: str, action: str, subject: str, detail: str, prev_hash: str) -> str:
    canonical = json.dumps([seq, at, actor, action, subject, detail, prev_hash], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def append(conn: sa.Connection, *, actor: str, action: str, subject: str, detail: dict) -> int:
    """Append one entry inside the caller's transaction; returns its sequence number."""
    last = conn.execute(sa.select(audit_log.c.seq, audit_log.c.entry_hash)
                        .order_by(audit_log.c.seq.desc()).limit(1)).first()
    seq, prev = (last.seq + 1, last.entry_hash) if last else (1, GENESIS)
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    detail_json = json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str)
    conn.execute(audit_log.insert().values(
        seq=seq, at=at, actor=actor, action=action, subject=subject, detail=detail_json, prev_hash=prev,
        entry_hash=entry_hash(seq, at, actor, action, subject, detail_json, prev)))
    return seq


@dataclass
class ChainReport:
    entries: int
    first_broken: int | None
    problem: str | None

    @property
    def intact(self) -> bool:
        return self.first_broken is None


def verify_chain(conn: sa.Connection) -> ChainReport:
    prev, expected_seq, count = GENESIS, 1, 0
    for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)):
        count += 1
        if row.seq != expected_seq:
            return ChainReport(count, expected_seq, f"entry {expected_seq} is missing (next is {row.seq})")
        if row.prev_hash != prev:
            return ChainReport(count, row.seq, f"entry {row.seq} does not point to the hash of entry {row.seq - 1}")
        if entry_hash(row.seq, row.at, row.actor, row.action, row.subject, row.detail, row.prev_hash) \
                != row.entry_hash:
            return ChainReport(count, row.seq, f"entry {row.seq} was modified after it was written")
        prev, expected_seq = row.entry_hash, row.seq + 1
    return ChainReport(count, None, None)
