"""Signed checkpoints of the audit log's head, kept outside the database.

Someone who can write the database can delete the newest audit rows (the chain of the rest stays
valid) or, without the HMAC key, rewrite the whole log as an unkeyed chain. A checkpoint records
``(seq, entry_hash)`` of the head every ``every_entries`` entries or ``every_minutes`` minutes (checked
after each committed write), signed with the newest ``KYC_AUDIT_KEYS`` key, in an append-only JSON-lines
file (``KYC_AUDIT_CHECKPOINT_DIR/audit_checkpoints.jsonl``) that the database role cannot write: a
folder on the application host, or a mounted write-once bucket. ``kyc audit verify`` checks every
checkpoint's signature, that the chain passes through each checkpointed hash, and that no checkpoint
lies beyond the last entry.

What it cannot show: deletion of entries written after the newest checkpoint (at most
``every_entries`` entries, or ``every_minutes`` of activity). Without keys the checkpoints carry a
plain SHA-256 (integrity only: then the file's permissions are the whole protection).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kyc_assets.audit.log import AuditKeys

FILE_NAME = "audit_checkpoints.jsonl"
FORMAT = "kyc-audit-checkpoint/1"
_canonical = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    entry_hash: str
    at: str
    key_id: str | None
    signature: str


def _message(seq: int, entry_hash: str, at: str, key_id: str | None) -> bytes:
    return _canonical([FORMAT, seq, entry_hash, at, key_id]).encode()


def sign(seq: int, entry_hash: str, at: str, keys: AuditKeys | None) -> Checkpoint:
    key_id = keys.current_id if keys is not None else None
    message = _message(seq, entry_hash, at, key_id)
    signature = keys.mac(key_id, message) if keys is not None else hashlib.sha256(message).hexdigest()
    return Checkpoint(seq, entry_hash, at, key_id, signature)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be trusted (one line, no secret)."""


class CheckpointLog:
    """The checkpoint file of one deployment and when to write the next checkpoint."""

    def __init__(self, directory: str | Path, keys: AuditKeys | None, *, every_entries: int = 1000,
                 every_minutes: float = 60.0):
        if every_entries < 1 or every_minutes <= 0:
            raise ValueError("KYC_AUDIT_CHECKPOINT_EVERY must be >= 1 and KYC_AUDIT_CHECKPOINT_MINUTES > 0")
        self.path = Path(directory) / FILE_NAME
        self.keys = keys
        self.every_entries = int(every_entries)
        self.every_seconds = float(every_minutes) * 60
        self._last: tuple[int, float] | None = None  # (seq, time.time()) of the newest checkpoint known

    # -- writing ------------------------------------------------------------------------------

    def _known_last(self) -> tuple[int, float] | None:
        if self._last is None and self.path.exists():
            newest = max(self._read_lines(), key=lambda c: c.seq, default=None)
            if newest is not None:
                self._last = (newest.seq, datetime.fromisoformat(newest.at).timestamp())
        return self._last

    def due(self, seq: int) -> bool:
        last = self._known_last()
        if last is None:
            return True
        return seq > last[0] and (seq - last[0] >= self.every_entries or time.time() - last[1] >= self.every_seconds)

    def write(self, seq: int, entry_hash: str) -> Checkpoint:
        """Append a signed checkpoint of entry ``seq`` (durable: fsynced before returning)."""
        cp = sign(seq, entry_hash, datetime.now(UTC).isoformat(timespec="microseconds"), self.keys)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        line = (json.dumps(cp.__dict__, sort_keys=True, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)  # one write() of a short line with O_APPEND: concurrent writers do not interleave
            os.fsync(fd)
        finally:
            os.close(fd)
        self._last = (seq, time.time())
        return cp

    def after_commit(self, seq: int, entry_hash: str) -> Checkpoint | None:
        """Called by the case store after a write transaction committed with ``seq`` as its last entry."""
        return self.write(seq, entry_hash) if self.due(seq) else None

    # -- reading ------------------------------------------------------------------------------

    def _read_lines(self) -> list[Checkpoint]:
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    out.append(Checkpoint(int(d["seq"]), str(d["entry_hash"]), str(d["at"]), d.get("key_id"),
                                          str(d["signature"])))
                except (ValueError, KeyError, TypeError) as exc:
                    raise CheckpointError(f"{self.path} line {n} is not a checkpoint") from exc
        return out

    def read_verified(self, verify_keys: AuditKeys | None) -> list[Checkpoint]:
        """Every checkpoint, each checked against its signature; CheckpointError names the first bad one."""
        if not self.path.exists():
            return []
        out = []
        for cp in self._read_lines():
            message = _message(cp.seq, cp.entry_hash, cp.at, cp.key_id)
            if cp.key_id is None:
                good = hmac.compare_digest(hashlib.sha256(message).hexdigest(), cp.signature)
            elif verify_keys is None or cp.key_id not in verify_keys:
                raise CheckpointError(f"the checkpoint of entry {cp.seq} ({cp.at}) is signed with key {cp.key_id!r}, "
                                      "which is not configured (KYC_AUDIT_KEYS)")
            else:
                good = hmac.compare_digest(verify_keys.mac(cp.key_id, message), cp.signature)
            if not good:
                raise CheckpointError(f"the checkpoint of entry {cp.seq} ({cp.at}) has a wrong signature: "
                                      "the checkpoint file was altered")
            out.append(cp)
        return out
