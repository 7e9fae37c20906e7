"""Watchlist sources: detect a list's format from its content, load it, and version it by content.

Formats (detected from the bytes, never from the file name): the OFAC SDN CSV set (a folder
with ``sdn.csv`` and its side files, or a single ``sdn.csv``), OFAC SDN XML, the UN Security
Council consolidated XML, the EU FSF XML, the UK HMT ConList CSV and OpenSanctions FtM JSON
lines. Anything else, and any malformed file, raises ``WatchlistFormatError`` (one line).
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from kyc_assets.watchlists import ofac_csv
from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.model import WatchlistEntry

FORMATS: tuple[str, ...] = ("ofac_csv", "ofac_xml", "un_xml", "eu_fsf_xml", "uk_hmt_csv", "ftm_jsonl")
_XML_ROOTS = {"sdnList": "ofac_xml", "CONSOLIDATED_LIST": "un_xml", "export": "eu_fsf_xml"}
_FIRST_TAG = re.compile(rb"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")


@dataclass(frozen=True)
class LoadedList:
    """A loaded watchlist: its source id, content version (sha256 hex), entries and origin path,
    the detected format and the publication date the file states ('' when it states none)."""

    list_source: str
    version: str
    entries: list[WatchlistEntry] = field(repr=False)
    path: Path
    format: str = "ofac_csv"
    published: str = ""


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


def detect_format(head: bytes) -> str | None:
    """Name of the list format of a file starting with ``head`` (its first 64 KiB), or None."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        body = re.sub(rb"<\?.*?\?>|<!--.*?-->", b"", text, flags=re.DOTALL).lstrip()
        m = _FIRST_TAG.match(body)
        return _XML_ROOTS.get(m.group(2).decode("ascii")) if m else None
    if text.startswith(b"{"):
        first = text.split(b"\n", 1)[0]
        return "ftm_jsonl" if b'"schema"' in first and b'"id"' in first else None
    if looks_like_ofac_sdn_csv(text):
        return "ofac_csv"
    first_lines = text.split(b"\n", 2)[:2]
    if first_lines and (first_lines[0].lower().startswith(b"last updated")
                        or any(b"Group ID" in line and b"Name 6" in line for line in first_lines)):
        return "uk_hmt_csv"
    return None


def load_watchlist(path: str | Path | None = None, list_source: str | None = None) -> LoadedList:
    """Load the watchlist at ``path`` (folder or file; default: the bundled OFAC subset).

    The format is detected from the content. ``list_source`` names OpenSanctions datasets
    (default 'opensanctions'); the other formats carry their own list id (us_ofac_sdn, un_sc,
    eu_fsf, gb_hmt).
    """
    path = Path(path) if path is not None else default_watchlist_path()
    if not path.exists():
        raise FileNotFoundError(f"watchlist path not found: {path}")
    if path.is_dir():
        if not (path / "sdn.csv").is_file():
            raise WatchlistFormatError(f"unsupported watchlist format: {path} (a folder must hold an OFAC sdn.csv)")
        fmt, file = "ofac_csv", path / "sdn.csv"
    else:
        file = path
        with file.open("rb") as fh:
            fmt = detect_format(fh.read(65536))
    if fmt is None:
        raise WatchlistFormatError(
            f"unsupported watchlist format: {path.name} (expected OFAC SDN CSV/XML, UN SC XML, EU FSF XML, "
            f"UK HMT ConList CSV or OpenSanctions FtM JSON lines)")
    if fmt == "ofac_csv":
        if not looks_like_ofac_sdn_csv(file.read_bytes()[:65536]):
            raise WatchlistFormatError(f"unsupported watchlist format: {file.name} is not an OFAC SDN CSV")
        files = ofac_csv.read_ofac_files(path)
        entries = ofac_csv.parse_ofac_files(files, origin=str(path))
        return LoadedList(ofac_csv.LIST_SOURCE, content_version(files), entries, path, fmt)
    if fmt == "ftm_jsonl":
        return _load_ftm(path, list_source or "opensanctions")
    data = path.read_bytes()
    parsed = _parser(fmt)(data, path.name)
    return LoadedList(parsed.list_source, content_version({"list": data}), parsed.entries,
                      path, fmt, parsed.published)


def list_version(path: str | Path | None = None) -> str:
    """The content version ``load_watchlist(path).version`` would report, from the bytes alone (no parsing):
    what a saved screening index is keyed by. Missing paths raise FileNotFoundError; a folder without an
    OFAC sdn.csv raises WatchlistFormatError."""
    path = Path(path) if path is not None else default_watchlist_path()
    if not path.exists():
        raise FileNotFoundError(f"watchlist path not found: {path}")
    if path.is_dir():
        return content_version(ofac_csv.read_ofac_files(path))
    data = path.read_bytes()
    if detect_format(data[:65536]) == "ofac_csv":
        return content_version({"sdn.csv": data})
    return content_version({"list": data})  # the FtM stream hash frames the file the same way


def _parser(fmt: str):
    """The bytes -> ParsedList function of an XML or HMT format."""
    if fmt == "ofac_xml":
        from kyc_assets.watchlists.ofac_xml import parse_ofac_xml
        return parse_ofac_xml
    if fmt == "un_xml":
        from kyc_assets.watchlists.un_xml import parse_un_xml
        return parse_un_xml
    if fmt == "eu_fsf_xml":
        from kyc_assets.watchlists.eu_fsf import parse_eu_fsf
        return parse_eu_fsf
    from kyc_assets.watchlists.uk_hmt import parse_uk_hmt
    return parse_uk_hmt


def _load_ftm(path: Path, list_source: str) -> LoadedList:
    """Stream an FtM JSON lines file: parse and hash in one pass."""
    from kyc_assets.watchlists.ftm import parse_ftm_lines

    digest = hashlib.sha256()
    size = path.stat().st_size
    digest.update(f"list\0{size}\0".encode())

    def lines():
        with path.open("rb") as fh:
            for line in fh:
                digest.update(line)
                yield line

    parsed = parse_ftm_lines(lines(), path.name, list_source)
    return LoadedList(parsed.list_source, digest.hexdigest(), parsed.entries, path, "ftm_jsonl", parsed.published)
