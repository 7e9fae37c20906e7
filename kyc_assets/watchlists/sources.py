"""Watchlist sources: detect a list's format from its content, load it, and version it by content.

Only the OFAC SDN legacy CSV set is supported so far; other formats raise WatchlistFormatError.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from kyc_assets.watchlists import ofac_csv
from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.model import WatchlistEntry


@dataclass(frozen=True)
class LoadedList:
    """A loaded watchlist: its source id, content version (sha256 hex), entries and origin path."""

    list_source: str
    version: str
    entries: list[WatchlistEntry] = field(repr=False)
    path: Path


def default_watchlist_path() -> Path:
    """Folder of the OFAC SDN subset bundled with the package (kyc_assets/data/ofac)."""
    folder = resources.files("kyc_assets").joinpath("data", "ofac")
    path = Path(str(folder))
    if not (path / "sdn.csv").is_file():
        raise FileNotFoundError(f"bundled watchlist not found at {path}")
    return path


def content_version(files: dict[str, bytes]) -> str:
    """sha256 (hex) over the files read, in the given (stable) order, each framed by name and length."""
    digest = hashlib.sha256()
    for name, data in files.items():
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def looks_like_ofac_sdn_csv(data: bytes) -> bool:
    """True when the first record is an OFAC sdn.csv row (12 fields, integer ent_num, known type)."""
    head = data[:65536].decode("latin-1").lstrip("\ufeff")
    first_line = head.split("\n", 1)[0].rstrip("\r\x1a")
    if not first_line:
        return False
    try:
        row = next(csv.reader([first_line]))
    except (csv.Error, StopIteration):
        return False
    return (len(row) == 12 and row[0].strip().isdigit()
            and row[2].strip() in ("individual", "vessel", "aircraft", "-0-"))


def load_watchlist(path: str | Path | None = None) -> LoadedList:
    """Load the watchlist at ``path`` (folder or file; default: the bundled OFAC subset)."""
    path = Path(path) if path is not None else default_watchlist_path()
    if not path.exists():
        raise FileNotFoundError(f"watchlist path not found: {path}")
    sdn_file = path / "sdn.csv" if path.is_dir() else path
    if not sdn_file.is_file():
        raise WatchlistFormatError(f"unsupported watchlist format: {path} (no sdn.csv)")
    if not looks_like_ofac_sdn_csv(sdn_file.read_bytes()[:65536]):
        raise WatchlistFormatError(f"unsupported watchlist format: {sdn_file.name} is not an OFAC SDN CSV")
    files = ofac_csv.read_ofac_files(path)
    entries = ofac_csv.parse_ofac_files(files, origin=str(path))
    return LoadedList(ofac_csv.LIST_SOURCE, content_version(files), entries, path)
