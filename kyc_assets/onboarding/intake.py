"""Inbox intake: which files are ready to ingest, and quarantine for the ones we refuse.

Plain functions over the file system so the sensor stays thin. A file is *ready* once its
size and modification time were the same on two consecutive scans and it has not changed for
``settle_seconds``: a scanner or an upload still writing it is left alone until it is done.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class InboxState:
    """What the sensor remembers between ticks (serialised into its cursor)."""

    pending: dict[str, list[float]] = field(default_factory=dict)  # relpath -> [size, mtime_ns]
    done: dict[str, str] = field(default_factory=dict)  # relpath -> "size:mtime_ns" ingested

    @classmethod
    def from_json(cls, data: dict | None) -> InboxState:
        data = data or {}
        return cls(pending=dict(data.get("pending", {})), done=dict(data.get("done", {})))

    def to_json(self) -> dict:
        return {"pending": self.pending, "done": self.done}


def _is_inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def scan_inbox(
    inbox: Path, state: InboxState, *, now: float, settle_seconds: float, max_files: int
) -> list[Path]:
    """Return up to ``max_files`` files that are ready to ingest, updating ``state.pending``.

    Walks nested folders, skips hidden and temporary files, and never follows a symlink out of
    the inbox (an unsafe name cannot make us read outside it).
    """
    ready: list[Path] = []
    seen: set[str] = set()
    if not inbox.exists():
        return ready
    for dirpath, dirnames, filenames in os.walk(inbox, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name.endswith((".tmp", ".part", ".crdownload")):
                continue
            path = Path(dirpath) / name
            if path.is_symlink() and not _is_inside(path, inbox):
                continue
            rel = path.relative_to(inbox).as_posix()
            try:
                st = path.stat()
            except FileNotFoundError:  # removed between listing and stat
                continue
            signature = [st.st_size, st.st_mtime_ns]
            seen.add(rel)
            if state.done.get(rel) == f"{st.st_size}:{st.st_mtime_ns}":
                continue
            stable = state.pending.get(rel) == signature and now - st.st_mtime_ns / 1e9 >= settle_seconds
            if stable and len(ready) < max_files:
                ready.append(path)
            else:
                state.pending[rel] = signature
    state.pending = {k: v for k, v in state.pending.items() if k in seen}
    state.done = {k: v for k, v in state.done.items() if k in seen}  # taken files leave the inbox (retire)
    return ready


def mark_done(inbox: Path, state: InboxState, path: Path, size: int, mtime_ns: int) -> None:
    rel = path.relative_to(inbox).as_posix()
    state.pending.pop(rel, None)
    state.done[rel] = f"{size}:{mtime_ns}"


def quarantine(path: Path, inbox: Path, quarantine_dir: Path, reason: str) -> Path:
    """Move ``path`` out of the inbox into the quarantine folder with a ``.reason.txt`` beside it.

    The original is moved, never deleted; a name already in quarantine gets a timestamp suffix.
    """
    rel = path.relative_to(inbox)
    target = quarantine_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        target = target.with_name(f"{target.name}.{stamp}")
    shutil.move(str(path), target)
    target.with_name(target.name + ".reason.txt").write_text(
        f"{reason}\nquarantined_at: {datetime.now(UTC).isoformat(timespec='seconds')}\noriginal: {rel.as_posix()}\n"
    )
    return target


@dataclass
class IngestOutcome:
    sha256: str | None
    quarantined_to: Path | None = None
    reason: str | None = None


_DOCUMENT_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".pdf"}


def intake_reason(data: bytes, name: str) -> str | None:
    """Why a received file is refused at intake (one line), or None when it is a readable document.

    The type comes from the bytes, never the name; size, page and pixel limits and a full
    decode (truncated images, malformed or password-protected PDFs) are checked before the
    document is stored, so a refused file never gets a partition.
    """
    from kyc_assets.onboarding.ocr import DocumentError, detect_media_type, inspect_document

    if not data:
        return "empty file (0 bytes)"
    if detect_media_type(data) is None:
        suffix = Path(name).suffix.lower()
        named = f" although it is named {suffix}" if suffix in _DOCUMENT_SUFFIXES else ""
        return f"unsupported file type: the content is not PNG, JPEG, TIFF, WebP or PDF{named}"
    try:
        inspect_document(data)
    except DocumentError as exc:
        return f"unreadable document: {exc}"
    return None


def ingest(path: Path, inbox: Path, state: InboxState, store, quarantine_dir: Path,
           archive_dir: Path | None = None) -> IngestOutcome | None:
    """Take one ready file: store it under its sha256 and take it out of the inbox (``retire``), or
    quarantine it with the reason.

    Returns None when the file changed or vanished while being read (it will be looked at again).
    """
    try:
        st = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(data) != st.st_size:
        return None
    reason = intake_reason(data, path.name)
    if reason is not None:
        state.pending.pop(path.relative_to(inbox).as_posix(), None)
        return IngestOutcome(None, quarantine(path, inbox, quarantine_dir, reason), reason)
    sha = store.put(data, original_name=path.relative_to(inbox).as_posix())
    mark_done(inbox, state, path, st.st_size, st.st_mtime_ns)
    retire(path, inbox, store, sha, archive_dir)
    return IngestOutcome(sha)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def retire(path: Path, inbox: Path, store, sha: str, archive_dir: Path | None = None) -> Path | None:
    """Take a stored document's copy out of the inbox: the content-addressed store is the record.

    Only after the store's copy is durable and readable: it is read back (decrypted with the
    configured keys) and checked against its sha256, and its folder is fsynced; any failure leaves the
    inbox file in place (the sensor retries it). Then the inbox copy is moved to ``archive_dir``
    (``KYC_INBOX_ARCHIVE_DIR``, same relative path; a name taken gets a timestamp suffix) or, without
    one, deleted, so that documents do not stay readable in clear in the inbox when the store is
    encrypted (KYC_DOCUMENT_KEYS). Returns the archived path, or None when deleted."""
    store.get(sha)  # DocumentStoreError when the stored copy is missing, undecryptable or altered
    stored = store.path(sha)
    _fsync_dir(stored.parent)
    if archive_dir is None:
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return None
    target = Path(archive_dir) / path.relative_to(inbox)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target = target.with_name(f"{target.name}.{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}")
    shutil.move(str(path), target)
    return target
