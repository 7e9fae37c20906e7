"""The append-only, hash-chained audit log, keyed and anchored outside the database.

Each entry stores the hash of the previous entry and its own hash over a canonical JSON of its
content; changing or deleting any past entry breaks every later hash, and ``verify_chain`` names
the first entry that no longer matches.

An unkeyed SHA-256 chain only catches accidents: whoever can write rows can recompute every hash.
So, when ``KYC_AUDIT_KEYS`` is set (``id:secret`` pairs, newest first, kept apart from the database
credentials), each entry's hash is an HMAC-SHA256 under the newest key and the entry records that
key's id (``key_id``); verification accepts every listed key, refuses an entry under an unknown key,
an unkeyed entry after a keyed one and an entry under an older key after a newer one (a downgrade).
Without keys (local/demo mode) entries are unkeyed (``key_id`` NULL), as before.

Deleting the newest rows and recomputing the whole chain without the key are caught by the signed
checkpoints of ``kyc_assets.audit.checkpoints`` (written outside the database), and edits of the
``cases``, ``decisions`` and ``reports`` tables by the ``case_state`` entries of
``kyc_assets.audit.state``: ``verify_chain`` checks both while it streams the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
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
    # The id of the KYC_AUDIT_KEYS key whose HMAC is entry_hash; NULL: unkeyed SHA-256 (migration 0004).
    sa.Column("key_id", sa.String(40)),
)

# Execution option / connection-info names through which the case store hands its keys to append()
# and learns what a transaction appended (see CaseStore._write).
KEYS_OPTION = "kyc_audit_keys"
HEAD_INFO = "kyc_audit_head"
TOUCHED_INFO = "kyc_audit_touched_cases"
STATE_ACTION = "case_state"  # entries recording the rows of the cases a transaction changed (audit/state.py)

# The canonical JSON of an entry (same output as json.dumps(..., separators=(",", ":")), built once:
# json.dumps with non-default separators constructs a new encoder per call, which dominates verify time).
_canonical = json.JSONEncoder(separators=(",", ":")).encode
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
MIN_SECRET_CHARS = 16


class AuditKeyError(ValueError):
    """KYC_AUDIT_KEYS is malformed; the message never contains a secret."""


class AuditKeys:
    """The audit HMAC keys (``KYC_AUDIT_KEYS``): ``id:secret`` pairs, comma-separated, newest first.

    New entries and checkpoints use the first key; verification accepts every listed key. To rotate,
    prepend a new pair; keep the old ones listed for as long as their entries must verify."""

    def __init__(self, spec: str):
        self._keys: dict[str, bytes] = {}
        self._rank: dict[str, int] = {}
        for i, part in enumerate(p.strip() for p in spec.split(",") if p.strip()):
            key_id, sep, secret = part.partition(":")
            key_id, secret = key_id.strip(), secret.strip()
            if not sep or not _KEY_ID.fullmatch(key_id):
                raise AuditKeyError(f"KYC_AUDIT_KEYS: entry {i + 1} is not ID:SECRET (id: letters, digits, _ . -)")
            if len(secret) < MIN_SECRET_CHARS:
                raise AuditKeyError(f"KYC_AUDIT_KEYS: the secret of key {key_id!r} is shorter than "
                                    f"{MIN_SECRET_CHARS} characters")
            if key_id in self._keys:
                raise AuditKeyError(f"KYC_AUDIT_KEYS: key id {key_id!r} is listed twice")
            self._keys[key_id], self._rank[key_id] = secret.encode(), i
        if not self._keys:
            raise AuditKeyError("KYC_AUDIT_KEYS is set but holds no key")
        self.current_id = next(iter(self._keys))
        self._macs = {k: hmac.new(v, digestmod=hashlib.sha256) for k, v in self._keys.items()}

    @classmethod
    def maybe(cls, spec: str | None) -> AuditKeys | None:
        return cls(spec) if spec and spec.strip() else None

    def __contains__(self, key_id: str) -> bool:
        return key_id in self._keys

    def rank(self, key_id: str) -> int:
        """0 for the newest key, larger for older ones."""
        return self._rank[key_id]

    def mac(self, key_id: str, message: bytes) -> str:
        h = self._macs[key_id].copy()
        h.update(message)
        return h.hexdigest()

    def __repr__(self) -> str:  # never the secrets
        return f"AuditKeys({', '.join(self._keys)})"


def new_key(key_id: str | None = None) -> str:
    """A fresh ``id:secret`` pair for KYC_AUDIT_KEYS (``python -m kyc_assets.audit.log new-key``)."""
    return f"{key_id or 'k' + datetime.now(UTC).strftime('%Y%m%d')}:{secrets.token_urlsafe(32)}"


def entry_hash(seq: int, at: str, actor: str, action: str, subject: str, detail: str, prev_hash: str,
               key_id: str | None = None, keys: AuditKeys | None = None) -> str:
    """SHA-256 of the canonical entry (unkeyed), or its HMAC under ``keys``' key ``key_id``."""
    if key_id is None:
        return hashlib.sha256(_canonical([seq, at, actor, action, subject, detail, prev_hash]).encode()).hexdigest()
    if keys is None or key_id not in keys:
        raise AuditKeyError(f"audit key {key_id!r} is not configured (KYC_AUDIT_KEYS)")
    return keys.mac(key_id, _canonical([seq, at, actor, action, subject, detail, prev_hash, key_id]).encode())


# pg_advisory_xact_lock id serialising appends on PostgreSQL (two writers never compute the same seq).
_PG_APPEND_LOCK = 727_274_002  # the case store's write lock: one lock, so no lock-order deadlock


def append(conn: sa.Connection, *, actor: str, action: str, subject: str, detail: dict) -> int:
    """Append one entry inside the caller's transaction; returns its sequence number.

    Keyed with the newest key of the ``AuditKeys`` in the connection's ``kyc_audit_keys`` execution
    option (the case store's write engine carries it), unkeyed without. Appends are serialised: on
    PostgreSQL by a transaction-level advisory lock (held until the caller commits), on SQLite by the
    database's write lock. Nothing here updates or deletes; on PostgreSQL a trigger (migration 0002)
    refuses UPDATE, DELETE and TRUNCATE of audit rows, and the application's role has only INSERT
    and SELECT on the table (migration roles, see kyc_assets/cases/migrations/roles.py)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_APPEND_LOCK})
    keys: AuditKeys | None = conn.get_execution_options().get(KEYS_OPTION)
    last = conn.execute(sa.select(audit_log.c.seq, audit_log.c.entry_hash)
                        .order_by(audit_log.c.seq.desc()).limit(1)).first()
    seq, prev = (last.seq + 1, last.entry_hash) if last else (1, GENESIS)
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    detail_json = json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str)
    key_id = keys.current_id if keys is not None else None
    digest = entry_hash(seq, at, actor, action, subject, detail_json, prev, key_id, keys)
    conn.execute(audit_log.insert().values(seq=seq, at=at, actor=actor, action=action, subject=subject,
                                           detail=detail_json, prev_hash=prev, entry_hash=digest, key_id=key_id))
    conn.info[HEAD_INFO] = (seq, digest)
    return seq


def touch(conn: sa.Connection, case_id: str) -> None:
    """Note that this transaction changed case ``case_id`` (its rows are recorded before it commits)."""
    conn.info.setdefault(TOUCHED_INFO, set()).add(case_id)


@dataclass
class ChainReport:
    entries: int
    first_broken: int | None
    problem: str | None
    keyed_entries: int = 0
    checkpoints: int = 0  # checkpoints checked against the chain
    cases_checked: int = 0  # cases whose rows were compared with their last case_state entry
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify_chain(conn: sa.Connection, *, keys: AuditKeys | None = None, checkpoints: list | None = None,
                 tables: bool = True, batch: int = 20_000) -> ChainReport:
    """Recompute the chain from the first entry; the report names the first entry that is missing,
    points to the wrong predecessor, no longer hashes (or HMACs) to its stored hash, or differs from
    a signed checkpoint. Then: a checkpoint beyond the last entry (the newest rows were deleted), and,
    with ``tables``, the ``cases``/``decisions``/``reports`` rows against their last ``case_state`` entry.

    ``checkpoints``: the already signature-checked checkpoints (``Checkpoint`` objects, see
    audit/checkpoints.py). Streams the log in ``batch``-sized fetches (a server-side cursor on
    PostgreSQL), so memory stays flat apart from the recorded case states."""
    raw = conn.connection.dbapi_connection
    cursor = raw.cursor(name="kyc_audit_verify") if conn.dialect.name == "postgresql" else raw.cursor()
    states: dict[str, tuple[int, dict | None]] = {}
    try:
        report = _verify_rows(cursor, batch, keys, checkpoints or [], states)
    finally:
        cursor.close()
    if report.intact and tables:
        from kyc_assets.audit.state import compare_tables

        seq, problem, checked = compare_tables(conn, states)
        report.cases_checked = checked
        if problem:
            report.first_broken, report.problem = seq, problem
    return report


def _verify_rows(cursor, batch: int, keys: AuditKeys | None, checkpoints: list,
                 states: dict[str, tuple[int, dict | None]]) -> ChainReport:
    prev, expected_seq, count, keyed = GENESIS, 1, 0, 0
    sha256, canonical = hashlib.sha256, _canonical
    anchors = {c.seq: c for c in checkpoints}
    newest_rank, newest_id = None, None
    cursor.execute("SELECT seq, at, actor, action, subject, detail, prev_hash, entry_hash, key_id "
                   "FROM audit_log ORDER BY seq")
    for rows in iter(lambda: cursor.fetchmany(batch), []):
        for seq, at, actor, action, subject, detail, prev_hash, stored, key_id in rows:
            count += 1
            if seq != expected_seq:
                return ChainReport(count, expected_seq, f"entry {expected_seq} is missing (next is {seq})", keyed)
            if prev_hash != prev:
                return ChainReport(count, seq, f"entry {seq} does not point to the hash of entry {seq - 1}", keyed)
            if key_id is None:
                if newest_id is not None:
                    return ChainReport(count, seq, f"entry {seq} is not keyed although an earlier entry is "
                                                   f"(key {newest_id!r}): the chain was recomputed without the key",
                                       keyed)
                digest = sha256(canonical([seq, at, actor, action, subject, detail, prev_hash]).encode()).hexdigest()
            else:
                if keys is None or key_id not in keys:
                    return ChainReport(count, seq, f"entry {seq} is keyed with key {key_id!r}, which is not "
                                                   "configured (KYC_AUDIT_KEYS): it cannot be verified", keyed)
                rank = keys.rank(key_id)
                if newest_rank is not None and rank > newest_rank:
                    return ChainReport(count, seq, f"entry {seq} uses key {key_id!r}, older than key "
                                                   f"{newest_id!r} of an earlier entry (a downgrade)", keyed)
                newest_rank, newest_id = rank, key_id
                keyed += 1
                digest = keys.mac(key_id, canonical([seq, at, actor, action, subject, detail, prev_hash,
                                                     key_id]).encode())
            if digest != stored:
                return ChainReport(count, seq, f"entry {seq} was modified after it was written", keyed)
            anchor = anchors.get(seq)
            if anchor is not None and anchor.entry_hash != stored:
                return ChainReport(count, seq, f"entry {seq} differs from the checkpoint written at {anchor.at}: "
                                               "the chain was rewritten", keyed)
            if action == STATE_ACTION:
                for case_id, state in json.loads(detail).get("cases", {}).items():
                    states[case_id] = (seq, state)
            prev, expected_seq = stored, seq + 1
    report = ChainReport(count, None, None, keyed, checkpoints=sum(1 for s in anchors if s < expected_seq))
    beyond = [c for c in checkpoints if c.seq >= expected_seq]
    if beyond:
        last = max(beyond, key=lambda c: c.seq)
        report.first_broken = expected_seq
        report.problem = (f"the log ends at entry {expected_seq - 1} but the checkpoint written at {last.at} "
                          f"records entry {last.seq}: the newest entries were deleted")
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m kyc_assets.audit.log new-key [ID]``: print a fresh KYC_AUDIT_KEYS pair."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "new-key":
        print("usage: python -m kyc_assets.audit.log new-key [ID]", file=sys.stderr)
        return 2
    print(new_key(args[1] if len(args) > 1 else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
