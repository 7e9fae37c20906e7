"""Content-addressed storage of received documents: the bytes an auditor traces back to.

A document is stored once under its sha256 (``<root>/<ab>/<sha256>``) with a JSON sidecar
describing how it arrived. Writes are atomic (temp file + rename), so a crash never leaves a
half-written document that later reads as a different one, and reads verify the hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path


class DocumentStoreError(RuntimeError):
    pass


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class DocumentStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise DocumentStoreError(f"not a sha256 document key: {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256

    def contains(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def put(self, data: bytes, *, original_name: str, source: str = "inbox") -> str:
        """Store ``data`` (idempotent) and return its sha256."""
        sha = sha256_bytes(data)
        target = self.path(sha)
        if not target.exists():
            atomic_write(target, data)
            meta = {
                "sha256": sha,
                "size_bytes": len(data),
                "original_name": original_name,
                "source": source,
                "received_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            atomic_write(target.with_suffix(".json"), json.dumps(meta, indent=1).encode())
        return sha

    def get(self, sha256: str) -> bytes:
        path = self.path(sha256)
        if not path.exists():
            raise DocumentStoreError(f"document {sha256[:12]} is not in the store at {self.root}")
        data = path.read_bytes()
        if sha256_bytes(data) != sha256:
            raise DocumentStoreError(f"document {sha256[:12]} does not match its sha256: the stored bytes changed")
        return data

    def meta(self, sha256: str) -> dict:
        path = self.path(sha256).with_suffix(".json")
        return json.loads(path.read_text()) if path.exists() else {"sha256": sha256}
