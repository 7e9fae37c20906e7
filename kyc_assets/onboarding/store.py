"""Content-addressed storage of received documents: the bytes an auditor traces back to.

A document is stored once under the sha256 of its *plaintext* bytes (``<root>/<ab>/<sha256>``)
with a JSON sidecar describing how it arrived. The root is a local folder or an object-store URL
(``s3://bucket/kyc/documents``, through :class:`~kyc_assets.storage.FileStore`). Writes are atomic
(temp file + rename locally, one PUT on an object store), so a crash never leaves a half-written
document that later reads as a different one, and reads verify the hash.

Optional at-rest encryption: given Fernet keys (``KYC_DOCUMENT_KEYS``, comma-separated, newest
first), documents are written as ``KYCENC1\\n`` + a Fernet token under the newest key and read
with any of the keys (:class:`cryptography.fernet.MultiFernet`). :meth:`DocumentStore.rotate`
re-encrypts every stored document under the newest key (and encrypts documents stored before
encryption was enabled). The sha256 — the partition key and lineage — never changes, because
it is always the hash of the plaintext; the plaintext never touches the disk when encryption is on.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kyc_assets.storage.filestore import FileStore, atomic_local_write
from kyc_assets.storage.options import ObjectStoreOptions

ENCRYPTED_MAGIC = b"KYCENC1\n"  # marks a stored document as a Fernet token (format version 1)
KEYS_ENV_VAR = "KYC_DOCUMENT_KEYS"


class DocumentStoreError(RuntimeError):
    pass


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: Path, data: bytes | Sequence) -> None:
    """Write ``data`` (bytes, or a sequence of buffers written one after the other) to a temporary file
    beside ``path`` (``.<name>.*.tmp``), fsync it and rename it into place: readers see the old file or
    the whole new one, never a part."""
    atomic_local_write(Path(path), (data,) if isinstance(data, (bytes, bytearray, memoryview)) else data)


def parse_keys(keys: str | Sequence[str] | None) -> list[str]:
    """Fernet keys from a comma-separated string (or a list), newest first; blanks ignored."""
    if keys is None:
        return []
    parts = keys.split(",") if isinstance(keys, str) else list(keys)
    return [part.strip() for part in parts if part and part.strip()]


class _Cipher:
    """Fernet encryption with several keys: encrypt under the first, decrypt with any."""

    def __init__(self, keys: list[str]):
        from cryptography.fernet import Fernet, MultiFernet

        fernets = []
        for index, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode() if isinstance(key, str) else key))
            except (ValueError, TypeError) as exc:  # never echo the key itself
                raise DocumentStoreError(
                    f"{KEYS_ENV_VAR} entry {index} is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes; make one with Fernet.generate_key())") from exc
        self.newest = fernets[0]
        self.all = MultiFernet(fernets)

    def encrypt(self, data: bytes) -> bytes:
        return ENCRYPTED_MAGIC + self.newest.encrypt(data)

    def decrypt(self, stored: bytes, what: str) -> bytes:
        from cryptography.fernet import InvalidToken

        try:
            return self.all.decrypt(stored[len(ENCRYPTED_MAGIC):])
        except InvalidToken as exc:
            raise DocumentStoreError(
                f"{what} cannot be decrypted: none of the keys in {KEYS_ENV_VAR} fits "
                "(wrong or missing key, or the stored bytes were altered)") from exc

    def is_newest(self, stored: bytes) -> bool:
        from cryptography.fernet import InvalidToken

        try:
            self.newest.decrypt(stored[len(ENCRYPTED_MAGIC):])
            return True
        except InvalidToken:
            return False


@dataclass
class RotationReport:
    """What :meth:`DocumentStore.rotate` did, in counts (no document content)."""

    rotated: int = 0  # re-encrypted from an older key to the newest
    encrypted: int = 0  # stored in plaintext before, encrypted now
    unchanged: int = 0  # already under the newest key


class DocumentStore:
    """The content-addressed document store; ``keys`` (newest first) turns on at-rest encryption; ``root`` is
    a folder or an object-store URL (reached with ``options``)."""

    def __init__(self, root: Path | str, keys: str | Sequence[str] | None = None, *,
                 options: ObjectStoreOptions | None = None):
        self.files = FileStore(root, options)
        self.root = self.files.path()  # a Path locally, a UPath on an object store
        parsed = parse_keys(keys)
        self._cipher = _Cipher(parsed) if parsed else None

    @property
    def encrypted(self) -> bool:
        """True when new documents are written encrypted."""
        return self._cipher is not None

    @staticmethod
    def relative(sha256: str) -> str:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise DocumentStoreError(f"not a sha256 document key: {sha256[:80]!r}")
        return f"{sha256[:2]}/{sha256}"

    def path(self, sha256: str) -> Path:
        """The stored file (a ``Path``, or a ``UPath`` whose ``str`` is its URL on an object store)."""
        return self.files.path(self.relative(sha256))

    def url(self, sha256: str) -> str:
        return self.files.url(self.relative(sha256))

    def contains(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def _encode(self, data: bytes) -> bytes:
        return self._cipher.encrypt(data) if self._cipher else data

    def _decode(self, stored: bytes, sha256: str) -> bytes:
        if not stored.startswith(ENCRYPTED_MAGIC):
            return stored
        what = f"document {sha256[:12]}"
        if self._cipher is None:
            raise DocumentStoreError(f"{what} is encrypted but no keys are configured (set {KEYS_ENV_VAR})")
        return self._cipher.decrypt(stored, what)

    def put(self, data: bytes, *, original_name: str, source: str = "inbox") -> str:
        """Store ``data`` (idempotent) and return the sha256 of its plaintext."""
        sha = sha256_bytes(data)
        target = self.path(sha)
        if not target.exists():
            self.files.write_bytes(self.relative(sha), self._encode(data))
            meta = {
                "sha256": sha,
                "size_bytes": len(data),
                "original_name": original_name,
                "source": source,
                "encrypted": self.encrypted,
                "received_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            self.files.write_bytes(self.relative(sha) + ".json", json.dumps(meta, indent=1).encode())
        return sha

    def get(self, sha256: str) -> bytes:
        """The plaintext bytes of a stored document, decrypted if needed and checked against its sha256."""
        path = self.path(sha256)
        if not path.exists():
            raise DocumentStoreError(f"document {sha256[:12]} is not in the store at {self.root}")
        data = self._decode(path.read_bytes(), sha256)
        if sha256_bytes(data) != sha256:
            raise DocumentStoreError(f"document {sha256[:12]} does not match its sha256: the stored bytes changed")
        return data

    def meta(self, sha256: str) -> dict:
        rel = self.relative(sha256) + ".json"
        return json.loads(self.files.read_bytes(rel)) if self.files.exists(rel) else {"sha256": sha256}

    def keys(self) -> Iterator[str]:
        """The sha256 of every stored document."""
        for entry in self.files.list():
            folder, _, name = entry.name.partition("/")
            if len(folder) == 2 and len(name) == 64 and name.startswith(folder):
                yield name

    def rotate(self) -> RotationReport:
        """Re-encrypt every stored document under the newest key (plaintext ones get encrypted).

        Each document is decrypted with any configured key, checked against its sha256 and
        written back atomically; a document no key opens raises :class:`DocumentStoreError`
        and is left as it was. Run it after putting a new key first in ``KYC_DOCUMENT_KEYS``;
        the old key can be removed once it has finished.
        """
        if self._cipher is None:
            raise DocumentStoreError(f"key rotation needs encryption keys (set {KEYS_ENV_VAR})")
        report = RotationReport()
        for sha in self.keys():
            path = self.path(sha)
            stored = path.read_bytes()
            encrypted = stored.startswith(ENCRYPTED_MAGIC)
            if encrypted and self._cipher.is_newest(stored):
                report.unchanged += 1
                continue
            data = self.get(sha)
            self.files.write_bytes(self.relative(sha), self._cipher.encrypt(data))
            meta = self.meta(sha)
            meta["encrypted"] = True
            self.files.write_bytes(self.relative(sha) + ".json", json.dumps(meta, indent=1).encode())
            if encrypted:
                report.rotated += 1
            else:
                report.encrypted += 1
        return report


def main(argv: list[str] | None = None) -> int:
    """``python -m kyc_assets.onboarding.store rotate``: re-encrypt the configured store under the newest key."""
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["rotate"]:
        print("usage: python -m kyc_assets.onboarding.store rotate", file=sys.stderr)
        return 2
    from kyc_assets.settings import Settings, document_keys, object_store_options

    settings = Settings.from_env()
    report = DocumentStore(settings.document_store_url, document_keys(),
                           options=object_store_options(settings)).rotate()
    print(f"rotated={report.rotated} encrypted={report.encrypted} unchanged={report.unchanged}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
