"""A saved, versioned screening index: build the Screener once per list version and code version, reuse it.

Building a ``Screener`` (normalising every name, blocking keys, pre-computing the similar-word
lookups of the list's vocabulary) costs seconds for the OFAC and UN lists and minutes at a million
entities; every ``kyc screen`` and every screening materialization used to pay it. The artefact is
one file ``<key>.kycidx`` under the index folder (``KYC_SCREENING_INDEX_DIR``, default
``$KYC_HOME/screening_index``), where the key is a sha256 over:

* the list key: the content version (sha256 of the list bytes) of every list, in order, or for the
  screening asset the per-entry content hashes;
* the code version: every module of the screening and watchlist packages and the package data
  (a changed normaliser, loader, scorer or index gives a new key), Python's and numpy's versions,
  and ``FORMAT_VERSION``.

File layout: ``MAGIC``, a JSON header (key, payload size, xxh3-128 checksum of everything after the
header, buffer offsets), then a pickle (protocol 5) of the screener's small Python parts followed by
its numpy arrays as raw, 64-byte aligned buffers. Loading memory-maps the file (copy-on-write), checks
the magic, the key and the checksum, and hands the arrays to numpy without copying; the pre-computed
word lookups (``QueryToken``s) and the list entries are stored packed and materialised on first use,
so loading costs milliseconds, not the seconds a pickle of Python objects would. Processes forked
after loading share the mapped pages.

A missing, truncated, corrupted (checksum), foreign (magic) or stale (key) file is never trusted:
it is rebuilt from the lists. Writers write a temporary file in the same folder and rename it into
place, so concurrent writers and readers only ever see whole files.

The artefact is a pickle, so the index folder must be writable only by the service (like the
Dagster home): whoever can write it can run code, exactly as whoever can write the package can.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import mmap
import os
import pickle
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import xxhash

from kyc_assets.onboarding.store import atomic_write
from kyc_assets.watchlists.model import WatchlistEntry

logger = logging.getLogger(__name__)

#: Bump when the file layout or what is stored changes.
FORMAT_VERSION = "1"
MAGIC = b"KYCIDX\x00\x01"
SUFFIX = ".kycidx"
#: Artefacts kept per folder (the most recently used); older ones are removed after a save.
KEEP = 4
_ALIGN = 64
_PACKAGE = Path(__file__).resolve().parent.parent  # kyc_assets/


class IndexStoreError(Exception):
    """An artefact that cannot be trusted (missing, corrupted, foreign or stale): rebuild it."""


# ---- keys -------------------------------------------------------------------------------------
_CODE_VERSION: str | None = None


def code_version() -> str:
    """sha256 (hex) of everything the saved screener depends on besides the lists: the screening and
    watchlist modules, the package data, the Python and numpy versions and ``FORMAT_VERSION``."""
    global _CODE_VERSION
    if _CODE_VERSION is None:
        digest = hashlib.sha256(f"{FORMAT_VERSION}:{sys.version_info[:2]}:{np.__version__}".encode())
        paths = [*sorted((_PACKAGE / "screening").glob("*.py")), *sorted((_PACKAGE / "watchlists").glob("*.py")),
                 *sorted(p for p in (_PACKAGE / "data").rglob("*") if p.is_file())]
        for path in paths:
            digest.update(str(path.relative_to(_PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
        _CODE_VERSION = digest.hexdigest()
    return _CODE_VERSION


def artefact_key(list_key: Iterable[str]) -> str:
    """Key of the artefact for these list versions (or entry hashes) under the current code version."""
    digest = hashlib.sha256(code_version().encode())
    for part in list_key:
        digest.update(b"\0" + str(part).encode())
    return digest.hexdigest()[:40]


# ---- packed parts -----------------------------------------------------------------------------
class LazyEntries(Sequence):
    """List entries stored as JSON records, rebuilt into ``WatchlistEntry`` on first access (a hit needs a
    handful of them; nothing needs all of them to screen)."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self._blob = blob
        self._offsets = offsets
        self._made: dict[int, WatchlistEntry] = {}

    @staticmethod
    def pack(entries: Sequence[WatchlistEntry]) -> tuple[np.ndarray, np.ndarray]:
        parts = [json.dumps(e.to_record(), ensure_ascii=False, separators=(",", ":")).encode() for e in entries]
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=offsets[1:])
        return np.frombuffer(b"".join(parts), dtype=np.uint8), offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _one(self, i: int) -> WatchlistEntry:
        entry = self._made.get(i)
        if entry is None:
            raw = self._blob[self._offsets[i]:self._offsets[i + 1]].tobytes()
            entry = self._made[i] = WatchlistEntry.from_record(json.loads(raw))
        return entry

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._one(j) for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self._one(i)


_QT_FIELDS = ("token", "sims", "names", "contrib", "max_contrib")


class PackedTokenCache(dict):
    """The index's per-token lookup cache with the pre-computed part stored as flat arrays: ``get`` falls
    back on the packed part and materialises the ``QueryToken`` (identical values) on first use."""

    def __init__(self, packed: dict) -> None:
        super().__init__()
        self._packed = packed
        self._pos: dict[str, int] = packed["pos"]

    @staticmethod
    def pack(cache: dict) -> dict | None:
        """Flat arrays of a ``{token: QueryToken}`` cache, or None when QueryToken is not the shape known here."""
        from kyc_assets.screening.index import QueryToken

        if not dataclasses.is_dataclass(QueryToken) or \
                tuple(f.name for f in dataclasses.fields(QueryToken)) != _QT_FIELDS:
            return None
        tokens = list(cache)
        infos = [cache[t] for t in tokens]
        if any(type(q) is not QueryToken for q in infos):
            return None
        sim_ptr = np.zeros(len(infos) + 1, dtype=np.int64)
        np.cumsum([len(q.sims) for q in infos], out=sim_ptr[1:])
        name_ptr = np.zeros(len(infos) + 1, dtype=np.int64)
        np.cumsum([len(q.names) for q in infos], out=name_ptr[1:])
        sims_tid = np.fromiter((k for q in infos for k in q.sims), dtype=np.int64, count=int(sim_ptr[-1]))
        sims_val = np.fromiter((v for q in infos for v in q.sims.values()), dtype=np.float64,
                               count=int(sim_ptr[-1]))

        def cat(arrays: list[np.ndarray], dtype) -> np.ndarray:
            return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.empty(0, dtype)

        names_dtype = infos[0].names.dtype if infos else np.int32
        contrib_dtype = infos[0].contrib.dtype if infos else np.float64
        return {"pos": {t: i for i, t in enumerate(tokens)}, "sim_ptr": sim_ptr, "sims_tid": sims_tid,
                "sims_val": sims_val, "name_ptr": name_ptr, "names": cat([q.names for q in infos], names_dtype),
                "contrib": cat([q.contrib for q in infos], contrib_dtype),
                "max_contrib": np.array([q.max_contrib for q in infos], dtype=np.float64)}

    def _make(self, i: int, token: str):
        from kyc_assets.screening.index import QueryToken

        p = self._packed
        a, b = int(p["sim_ptr"][i]), int(p["sim_ptr"][i + 1])
        c, d = int(p["name_ptr"][i]), int(p["name_ptr"][i + 1])
        return QueryToken(token, dict(zip(p["sims_tid"][a:b].tolist(), p["sims_val"][a:b].tolist(), strict=True)),
                          p["names"][c:d], p["contrib"][c:d], float(p["max_contrib"][i]))

    def get(self, token, default=None):
        info = dict.get(self, token)
        if info is None:
            i = self._pos.get(token)
            if i is None:
                return default
            info = self._make(i, token)
            dict.__setitem__(self, token, info)
        return info

    def __contains__(self, token) -> bool:
        return dict.__contains__(self, token) or token in self._pos

    def __getitem__(self, token):
        info = self.get(token)
        if info is None:
            raise KeyError(token)
        return info

    def __reduce__(self):  # a plain dict when pickled again
        return dict, (dict(self),)


# Index attributes rebuilt or dropped on save: the dict form of the blocking table (the index falls back
# on a binary search of its sorted hash array) and the entries (stored once, packed). The object-array
# copy of the joined texts is rebuilt on first use.
_DROPPED_INDEX_ATTRS = {"block_ranges": None, "_block_tid_list": None, "_joined_obj": None}


def _state(screener) -> dict:
    """What is pickled: the screener's and its index's attributes, entries and lookup cache packed."""
    from kyc_assets.screening.index import NameIndex

    index = screener.index
    index_attrs = {k: v for k, v in vars(index).items() if k not in _DROPPED_INDEX_ATTRS and k != "entries"}
    dropped = {k: v for k, v in _DROPPED_INDEX_ATTRS.items() if k in vars(index)}
    cache = index_attrs.pop("_cache", None)
    packed = PackedTokenCache.pack(cache) if isinstance(cache, dict) and type(cache) is dict else None
    if packed is None and cache is not None:
        index_attrs["_cache"] = dict(cache)
    blob, offsets = LazyEntries.pack(screener.entries)
    return {"screener_cls": type(screener), "index_cls": type(index) if isinstance(index, NameIndex) else None,
            "screener": {k: v for k, v in vars(screener).items() if k not in ("entries", "index")},
            "index": index_attrs, "dropped": dropped, "cache": packed, "entries": (blob, offsets)}


def _restore(state: dict):
    """Rebuild a screener from ``_state`` output without running its constructor."""
    blob, offsets = state["entries"]
    entries = LazyEntries(blob, offsets)
    index = state["index_cls"].__new__(state["index_cls"])
    index.__dict__.update(state["index"])
    index.__dict__.update(state["dropped"])
    index.entries = entries
    if state["cache"] is not None:
        index._cache = PackedTokenCache(state["cache"])
    elif "_cache" not in index.__dict__:
        index._cache = {}
    screener = state["screener_cls"].__new__(state["screener_cls"])
    screener.__dict__.update(state["screener"])
    screener.entries = entries
    screener.index = index
    return screener


# ---- files ------------------------------------------------------------------------------------
def _pad(n: int) -> int:
    return (-n) % _ALIGN


def save(screener, path: Path, key: str) -> int:
    """Write the screener's artefact atomically (temp file + rename); returns its size in bytes."""
    buffers: list[pickle.PickleBuffer] = []
    payload = pickle.dumps(_state(screener), protocol=5, buffer_callback=buffers.append)
    # Layout and checksum first (no copy of the arrays), then one sequential write.
    pieces: list = [payload]
    layout = []
    offset = len(payload)
    for buf in buffers:
        raw = buf.raw()
        pad = _pad(offset)
        if pad:
            pieces.append(b"\0" * pad)
            offset += pad
        layout.append((offset, raw.nbytes))
        pieces.append(raw)
        offset += raw.nbytes
    digest = xxhash.xxh3_128()
    for piece in pieces:
        digest.update(piece)
    header = json.dumps({"format": FORMAT_VERSION, "key": key, "code_version": code_version(),
                         "payload": len(payload), "size": offset, "buffers": layout,
                         "checksum": digest.hexdigest()}).encode()
    head = MAGIC + len(header).to_bytes(8, "little") + header
    head += b"\0" * _pad(len(head))
    atomic_write(path, [head, *pieces])
    return len(head) + offset


def load(path: Path, key: str):
    """Load and verify an artefact; raises IndexStoreError when it is missing, corrupted, foreign or stale."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < len(MAGIC) + 8:
                raise IndexStoreError(f"{path.name}: truncated")
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    except FileNotFoundError:
        raise IndexStoreError(f"{path.name}: not found") from None
    except (OSError, ValueError) as exc:
        raise IndexStoreError(f"{path.name}: unreadable ({exc})") from None
    if mm[:len(MAGIC)] != MAGIC:
        raise IndexStoreError(f"{path.name}: not a screening index of this format")
    hlen = int.from_bytes(mm[len(MAGIC):len(MAGIC) + 8], "little")
    start = len(MAGIC) + 8
    try:
        header = json.loads(bytes(mm[start:start + hlen]))
    except ValueError:
        raise IndexStoreError(f"{path.name}: corrupted header") from None
    if header.get("format") != FORMAT_VERSION or header.get("key") != key \
            or header.get("code_version") != code_version():
        raise IndexStoreError(f"{path.name}: stale (other key, code or format version)")
    base = start + hlen + _pad(start + hlen)
    view = memoryview(mm)[base:]
    if len(view) != header["size"] or xxhash.xxh3_128_hexdigest(view) != header["checksum"]:
        raise IndexStoreError(f"{path.name}: checksum mismatch (corrupted or truncated)")
    buffers = [view[off:off + n] for off, n in header["buffers"]]
    try:
        state = pickle.loads(view[:header["payload"]], buffers=buffers)
        return _restore(state)
    except Exception as exc:  # noqa: BLE001  (any failure to rebuild means: do not trust, rebuild)
        raise IndexStoreError(f"{path.name}: cannot be restored ({type(exc).__name__}: {exc})") from None


def _prune(directory: Path, keep: int = KEEP) -> None:
    """Remove all but the ``keep`` most recently used artefacts (and stale temp files of dead writers)."""
    import time

    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except FileNotFoundError:  # removed by a concurrent prune
            return 0.0

    files = sorted(directory.glob(f"*{SUFFIX}"), key=mtime, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)
    for tmp in directory.glob(f".*{SUFFIX}.*.tmp"):
        if time.time() - mtime(tmp) > 3600:  # a writer that died an hour ago
            tmp.unlink(missing_ok=True)


@dataclasses.dataclass
class IndexReport:
    """How a screener was obtained, for logs and metadata (no names: counts and a key prefix)."""

    status: str  # 'loaded' | 'built' | 'built (saved)' | 'built (not saved: ...)' | 'disabled'
    key: str = ""
    reason: str = ""
    seconds: float = 0.0
    size_bytes: int = 0
    rejected: bool = False  # a saved file existed but was not trusted (corrupted, stale, foreign)


def cached_screener(list_key: Iterable[str], build: Callable[[], object], directory: Path | None,
                    ) -> tuple[object, IndexReport]:
    """The screener for ``list_key``: loaded from ``directory`` when a valid artefact exists, else built with
    ``build()`` and saved there. ``directory`` None builds without saving (caching disabled)."""
    import time

    started = time.perf_counter()
    if directory is None:
        return build(), IndexReport("disabled", seconds=time.perf_counter() - started)
    key = artefact_key(list_key)
    path = Path(directory) / f"{key}{SUFFIX}"
    reason, rejected = "", False
    if path.exists():
        try:
            screener = load(path, key)
            os.utime(path)  # most recently used: kept by _prune
            return screener, IndexReport("loaded", key[:12], seconds=time.perf_counter() - started,
                                         size_bytes=path.stat().st_size)
        except IndexStoreError as exc:
            reason, rejected = str(exc), True
            logger.warning("screening index %s not used, rebuilding: %s", key[:12], reason)
    else:
        reason = "no saved index for this list and code version"
    screener = build()
    try:
        size = save(screener, path, key)
        _prune(path.parent)
        status = "built (saved)"
    except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
        logger.warning("screening index %s not saved: %s", key[:12], exc)
        size, status = 0, f"built (not saved: {type(exc).__name__})"
    return screener, IndexReport(status, key[:12], reason, time.perf_counter() - started, size, rejected)
