"""Which watchlists the platform loads: one named source per list, each a URL or a local path.

``KYC_WATCHLIST_SOURCES`` holds ``name=url_or_path`` pairs separated by commas, e.g.
``ofac=https://.../sdn.xml,un=https://.../consolidated.xml,uk=/data/ConList.csv``. Names are
lower-case identifiers (they become asset names ``watchlist_<name>``). The older
``KYC_WATCHLIST_PATHS`` (comma-separated paths) still works: each path becomes a source named
after its file or folder. With neither set, the bundled OFAC SDN subset is the only source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BUNDLED = "bundled:ofac"
DEFAULT_NAME = "us_ofac_sdn"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_PAIR_SPLIT = re.compile(r",(?=\s*[A-Za-z][A-Za-z0-9_]*\s*=)")


@dataclass(frozen=True)
class SourceSpec:
    """One configured list: its name and where it comes from (an http(s) URL, a path, or the bundled subset)."""

    name: str
    location: str

    @property
    def is_url(self) -> bool:
        """True when the list is downloaded over HTTP(S)."""
        return self.location.lower().startswith(("http://", "https://"))

    @property
    def is_bundled(self) -> bool:
        return self.location == BUNDLED

    def display_location(self) -> str:
        """The location safe to show in metadata and logs: a URL without user info, query or fragment."""
        if not self.is_url:
            return self.location
        parts = urlsplit(self.location)
        return urlunsplit((parts.scheme, parts.hostname or "", parts.path, "", ""))


def parse_sources(text: str) -> tuple[SourceSpec, ...]:
    """Parse ``name=url_or_path,...``; raises ValueError (one line) on a bad name, duplicate or empty value."""
    specs: list[SourceSpec] = []
    for item in _PAIR_SPLIT.split(text or ""):
        if not item.strip():
            continue
        name, sep, location = item.partition("=")
        name, location = name.strip().lower(), location.strip()
        if not sep or not location:
            raise ValueError(f"KYC_WATCHLIST_SOURCES: expected name=url_or_path, got {item.strip()[:60]!r}")
        if not _NAME.match(name):
            raise ValueError(f"KYC_WATCHLIST_SOURCES: list name {name[:40]!r} must match [a-z][a-z0-9_]*")
        if name in {s.name for s in specs}:
            raise ValueError(f"KYC_WATCHLIST_SOURCES: list name {name!r} appears twice")
        specs.append(SourceSpec(name, location))
    return tuple(specs)


def name_for_path(path: str, taken: set[str]) -> str:
    """A source name derived from a path's file or folder name (made unique against ``taken``)."""
    stem = Path(path.rstrip("/\\")).name.split(".")[0].lower()
    base = re.sub(r"[^a-z0-9_]+", "_", stem).strip("_") or "list"
    base = base if base[0].isalpha() else f"list_{base}"
    base = base[:36]
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


def configured_sources(sources: tuple[SourceSpec, ...], paths: tuple[str, ...]) -> tuple[SourceSpec, ...]:
    """All sources: the named ones, then one per legacy path; the bundled OFAC subset when none."""
    specs = list(sources)
    taken = {s.name for s in specs}
    for path in paths:
        name = name_for_path(path, taken)
        taken.add(name)
        specs.append(SourceSpec(name, path))
    return tuple(specs) or (SourceSpec(DEFAULT_NAME, BUNDLED),)
