"""Bring one configured list up to date and load it; judge how fresh the copy in use is.

A URL source is fetched into the cache (``download.fetch``) and the cached copy is loaded;
a path is loaded in place; the bundled OFAC subset is loaded from the package.
Freshness: a URL source is as old as the server's last confirmation of the cached copy
(a download or a 304); a local file is exempt unless a local maximum age is configured, in
which case its modification time counts; the bundled subset is always exempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kyc_assets.watchlists.config import SourceSpec
from kyc_assets.watchlists.download import DownloadPolicy, age_hours, fetch, read_state
from kyc_assets.watchlists.sources import LoadedList, default_watchlist_path, load_watchlist


@dataclass(frozen=True)
class Refreshed:
    """A loaded list plus how it was obtained ('bundled', 'path', 'downloaded', 'not_modified')."""

    loaded: LoadedList
    status: str
    state: dict


def refresh_source(spec: SourceSpec, cache_dir: str | Path, policy: DownloadPolicy | None = None,
                   session=None, sleep=None) -> Refreshed:
    """Fetch (for URLs) and load one configured list. Raises WatchlistDownloadError,
    WatchlistFormatError or FileNotFoundError with a one-line message."""
    if spec.is_bundled:
        return Refreshed(load_watchlist(default_watchlist_path()), "bundled", {})
    if not spec.is_url:
        return Refreshed(load_watchlist(spec.location, list_source=spec.name), "path", {})
    parsed: dict[str, LoadedList] = {}

    def validate(path: Path) -> None:
        parsed["list"] = load_watchlist(path, list_source=spec.name)

    kwargs = {"sleep": sleep} if sleep is not None else {}
    result = fetch(spec.location, Path(cache_dir) / spec.name, validate, policy, session=session, **kwargs)
    loaded = parsed.get("list") or load_watchlist(result.path, list_source=spec.name)
    if loaded.path != result.path:  # validated under its temporary name; report the cached path
        loaded = LoadedList(loaded.list_source, loaded.version, loaded.entries, result.path, loaded.format,
                            loaded.published)
    return Refreshed(loaded, result.status, result.state)


@dataclass(frozen=True)
class Freshness:
    """Whether the copy of a list in use is recent enough, with its age in hours (None = unknown)."""

    passed: bool
    age_hours: float | None
    max_age_hours: float | None
    basis: str


def freshness(spec: SourceSpec, cache_dir: str | Path, max_age_hours: float,
              local_max_age_hours: float | None = None, now: datetime | None = None) -> Freshness:
    """Judge the age of a configured list against its limit (see the module docstring)."""
    now = now or datetime.now(UTC)
    if spec.is_bundled:
        return Freshness(True, None, None, "bundled sample, exempt")
    if spec.is_url:
        age = age_hours(read_state(Path(cache_dir) / spec.name), now)
        if age is None:
            return Freshness(False, None, max_age_hours, "never downloaded")
        return Freshness(age <= max_age_hours, round(age, 2), max_age_hours, "last server confirmation")
    if local_max_age_hours is None:
        return Freshness(True, None, None, "local file, exempt (no local maximum age configured)")
    path = Path(spec.location)
    target = path / "sdn.csv" if path.is_dir() else path
    if not target.exists():
        return Freshness(False, None, local_max_age_hours, "local file missing")
    age = (now.timestamp() - target.stat().st_mtime) / 3600
    return Freshness(age <= local_max_age_hours, round(age, 2), local_max_age_hours, "file modification time")
