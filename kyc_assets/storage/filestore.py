"""Files behind one abstraction on fsspec / universal-pathlib URLs: a local folder (``/srv/kyc/documents``,
``file:///...``) or an object-store prefix (``s3://bucket/kyc/documents``, ``gs://``, ``az://``).

Documents (content-addressed), the inbox, quarantine, models and their cards, validation reports,
watchlist caches, export bundles and SAR drafts all sit behind a :class:`FileStore`. Writes are atomic
on both: a temporary file renamed into place locally, one PUT on an object store (an object is visible
whole or not at all).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kyc_assets.storage.options import ObjectStoreOptions, is_remote, local_path


@dataclass(frozen=True)
class FileEntry:
    """One file under a store: its path relative to the store root, URL, size and modification time."""

    name: str
    url: str
    size: int
    modified: datetime | None


def _mtime(info: dict) -> datetime | None:
    for key in ("LastModified", "mtime", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, UTC)
    return None


class FileStore:
    """Files under ``root`` (a local folder or an object-store URL)."""

    def __init__(self, root: str | Path, options: ObjectStoreOptions | None = None):
        self.root = str(root).rstrip("/") or "/"
        self.options = options or ObjectStoreOptions()

    def __repr__(self) -> str:
        return f"FileStore({self.root!r})"

    @property
    def remote(self) -> bool:
        return is_remote(self.root)

    def path(self, relative: str = ""):
        """A ``pathlib.Path`` (local) or ``upath.UPath`` (object store) for ``relative`` under the root."""
        relative = str(relative).lstrip("/")
        if ".." in Path(relative).parts:
            raise ValueError(f"path leaves the store: {relative!r}")
        if not self.remote:
            base = local_path(self.root)
            return base / relative if relative else base
        from upath import UPath

        base = UPath(self.root, **self.options.fsspec(self.root))
        return base / relative if relative else base

    def url(self, relative: str = "") -> str:
        relative = str(relative).lstrip("/")
        return f"{self.root}/{relative}" if relative else self.root

    @property
    def fs(self):
        """The fsspec filesystem and the root as that filesystem's path."""
        from fsspec.core import url_to_fs

        if not self.remote:
            return url_to_fs(str(local_path(self.root)))
        return url_to_fs(self.root, **self.options.fsspec(self.root))

    def exists(self, relative: str) -> bool:
        return self.path(relative).exists()

    def read_bytes(self, relative: str) -> bytes:
        try:
            return self.path(relative).read_bytes()
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{self.url(relative)} does not exist") from exc

    def read_text(self, relative: str) -> str:
        return self.read_bytes(relative).decode("utf-8")

    def write_bytes(self, relative: str, data: bytes | Sequence) -> str:
        """Write atomically (readers see the old file or the whole new one); returns the file's URL."""
        pieces = (data,) if isinstance(data, (bytes, bytearray, memoryview)) else tuple(data)
        if self.remote:
            self.path(relative).write_bytes(b"".join(bytes(p) for p in pieces))  # one PUT
            return self.url(relative)
        target = self.path(relative)
        atomic_local_write(target, pieces)
        return str(target)

    def write_text(self, relative: str, text: str) -> str:
        return self.write_bytes(relative, text.encode("utf-8"))

    def delete(self, relative: str) -> None:
        path = self.path(relative)
        if path.exists():
            path.unlink()

    def move(self, relative: str, target: FileStore, target_relative: str) -> str:
        """Copy to ``target`` (atomically) and delete here; returns the new URL."""
        url = target.write_bytes(target_relative, self.read_bytes(relative))
        self.delete(relative)
        return url

    def list(self, prefix: str = "", *, recursive: bool = True, directories: bool = False) -> list[FileEntry]:
        """Files under ``prefix`` (sorted by name; names relative to the root), skipping hidden and temporary
        files (``.name``); ``directories=True`` lists the immediate sub-folders instead."""
        return list(self._walk(prefix, recursive=recursive, directories=directories))

    def _walk(self, prefix: str, *, recursive: bool, directories: bool) -> Iterator[FileEntry]:
        fs, base = self.fs
        base = base.rstrip("/")
        top = f"{base}/{prefix.strip('/')}" if prefix.strip("/") else base
        if not fs.exists(top):
            return
        if directories:
            found = {i["name"]: i for i in fs.ls(top, detail=True) if i.get("type") == "directory"}
        elif recursive:
            found = fs.find(top, detail=True)
        else:
            found = {i["name"]: i for i in fs.ls(top, detail=True) if i.get("type") != "directory"}
        for name in sorted(found):
            rel = name[len(base):].lstrip("/") if name.startswith(base) else name
            if any(part.startswith(".") for part in rel.split("/")):
                continue
            info = found[name]
            yield FileEntry(name=rel, url=self.url(rel), size=int(info.get("size") or 0), modified=_mtime(info))


def atomic_local_write(path: Path, pieces: Sequence) -> None:
    """Write ``pieces`` to a temporary file beside ``path`` (``.<name>.*.tmp``), fsync it and rename it into
    place: readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            for piece in pieces:
                fh.write(piece)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def list_files(root: str | Path, options: ObjectStoreOptions | None = None, prefix: str = "") -> list[FileEntry]:
    """Every file under ``root``/``prefix`` (a folder or an object-store prefix), e.g. the inbox for the
    onboarding sensor: ``list_files(settings.inbox_url, options)``; read one with
    ``FileStore(root, options).read_bytes(entry.name)``."""
    return FileStore(root, options).list(prefix)
