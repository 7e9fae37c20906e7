"""Download a watchlist over HTTP(S) into a local cache, never replacing the last good copy with a bad one.

Per list, the cache folder holds ``current`` (the last good file) and ``state.json`` (URL,
ETag, Last-Modified, sha256, size, when it was downloaded and when the server last confirmed
it). A fetch sends a conditional request (If-None-Match / If-Modified-Since); 304 keeps the
cached copy and records the confirmation. Timeouts, 429/5xx answers and connection errors are
retried with exponential backoff and full jitter (honouring Retry-After). A body larger than
the size limit, shorter than its Content-Length, or that does not parse as a watchlist is
discarded: the new file is written to a temporary name and only renamed over ``current``
after it validated.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

CURRENT = "current"
STATE = "state.json"
_RETRY_STATUS = {429, 500, 502, 503, 504}


class WatchlistDownloadError(RuntimeError):
    """A list could not be downloaded (one-line message; the last good copy is untouched)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class DownloadPolicy:
    """How downloads behave: timeouts (seconds), size limit (bytes), attempts and backoff (seconds)."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_bytes: int = 2 * 1024**3
    attempts: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    user_agent: str = "kyc-assets-watchlists/1 (+https://github.com/)"


@dataclass(frozen=True)
class FetchResult:
    """Outcome of a fetch: the cached file, whether it changed, and the cache state after the fetch."""

    path: Path
    status: str  # 'downloaded' or 'not_modified'
    state: dict


def redact(url: str) -> str:
    """A URL without user info, query string or fragment (these may carry API keys)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def read_state(folder: Path) -> dict:
    """The cache state of one list ({} when never fetched or unreadable)."""
    try:
        return json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return {}


def _write_state(folder: Path, state: dict) -> None:
    """Write state.json atomically (temporary file, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".state-", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh, indent=1, sort_keys=True)
    os.replace(tmp, folder / STATE)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def fetch(url: str, folder: str | Path, validate: Callable[[Path], object], policy: DownloadPolicy | None = None,
          session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
          rng: random.Random | None = None) -> FetchResult:
    """Bring the cached copy of ``url`` in ``folder`` up to date and return it.

    ``validate(path)`` must raise when a downloaded file is not a usable list (it is called
    before the file replaces the cached copy). Raises WatchlistDownloadError when no attempt
    succeeds; the cached copy and its state stay as they were.
    """
    policy = policy or DownloadPolicy()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    session = session or requests.Session()
    rng = rng or random.Random()
    state = read_state(folder)
    cached = (folder / CURRENT).is_file() and state.get("url") == url
    headers = {"User-Agent": policy.user_agent}
    if cached and state.get("etag"):
        headers["If-None-Match"] = state["etag"]
    if cached and state.get("last_modified"):
        headers["If-Modified-Since"] = state["last_modified"]
    where = redact(url)
    last_error, last_retry_after = "", None
    for attempt in range(policy.attempts):
        if attempt:
            sleep(_backoff(attempt, policy, rng, last_retry_after))
        last_retry_after = None
        try:
            response = session.get(url, headers=headers, stream=True,
                                   timeout=(policy.connect_timeout, policy.read_timeout))
        except (requests.ConnectionError, requests.Timeout) as exc:
            last_error = f"{type(exc).__name__} contacting {where}"
            continue
        with response:
            if response.status_code == 304:
                if not cached:
                    raise WatchlistDownloadError(f"{where}: 304 Not Modified but no cached copy", retryable=False)
                state = {**state, "verified_at": _now()}
                _write_state(folder, state)
                return FetchResult(folder / CURRENT, "not_modified", state)
            if response.status_code in _RETRY_STATUS:
                last_error = f"HTTP {response.status_code} from {where}"
                last_retry_after = _retry_after(response.headers.get("Retry-After"))
                continue
            if response.status_code != 200:
                raise WatchlistDownloadError(f"HTTP {response.status_code} from {where}", retryable=False)
            try:
                tmp, size, digest = _stream_to_temp(response, folder, policy, where)
            except _Transient as exc:
                last_error = str(exc)
                continue
        try:
            validate(tmp)
        except Exception as exc:  # any validation failure keeps the last good copy; the message says why
            tmp.unlink(missing_ok=True)
            raise WatchlistDownloadError(f"{where}: downloaded file rejected: {str(exc)[:200]}",
                                         retryable=False) from exc
        os.replace(tmp, folder / CURRENT)
        now = _now()
        state = {"url": url, "etag": response.headers.get("ETag", ""),
                 "last_modified": response.headers.get("Last-Modified", ""), "sha256": digest, "bytes": size,
                 "downloaded_at": now, "verified_at": now}
        _write_state(folder, state)
        return FetchResult(folder / CURRENT, "downloaded", state)
    raise WatchlistDownloadError(f"{where}: gave up after {policy.attempts} attempts ({last_error})")


class _Transient(Exception):
    """A body that broke off or was cut short: worth another attempt."""


def _stream_to_temp(response: requests.Response, folder: Path, policy: DownloadPolicy,
                    where: str) -> tuple[Path, int, str]:
    """Write the body to a temporary file in ``folder``; returns (path, size, sha256 hex).

    Raises WatchlistDownloadError (not retryable) above the size limit and _Transient when
    the body is shorter than its Content-Length or the connection broke.
    """
    import hashlib

    declared = response.headers.get("Content-Length")
    expected = int(declared) if declared and declared.isdigit() else None
    if expected is not None and expected > policy.max_bytes:
        raise WatchlistDownloadError(f"{where}: {expected} bytes exceeds the limit of {policy.max_bytes}",
                                     retryable=False)
    fd, name = tempfile.mkstemp(dir=folder, prefix=".download-", suffix=".tmp")
    tmp = Path(name)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in response.iter_content(chunk_size=1 << 16):
                size += len(chunk)
                if size > policy.max_bytes:
                    raise WatchlistDownloadError(f"{where}: body exceeds the limit of {policy.max_bytes} bytes",
                                                 retryable=False)
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        wire = response.raw.tell() if hasattr(response.raw, "tell") else size
        encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
        if expected is not None and (wire if encoded else size) != expected:
            raise _Transient(f"{where}: truncated body ({size} of {expected} bytes)")
    except (requests.RequestException, _Transient, WatchlistDownloadError) as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, requests.RequestException):
            raise _Transient(f"{where}: connection broke during the download ({type(exc).__name__})") from None
        raise
    return tmp, size, digest.hexdigest()


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), None when absent."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _backoff(attempt: int, policy: DownloadPolicy, rng: random.Random, retry_after: float | None) -> float:
    """Full-jitter exponential backoff: uniform(0, min(max, base * 2**attempt)), at least Retry-After (capped)."""
    delay = rng.uniform(0, min(policy.backoff_max, policy.backoff_base * 2 ** attempt))
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.backoff_max))
    return delay


def age_hours(state: dict, now: datetime | None = None) -> float | None:
    """Hours since the server last confirmed the cached copy (download or 304); None if never."""
    stamp = state.get("verified_at")
    if not stamp:
        return None
    now = now or datetime.now(UTC)
    return (now - datetime.fromisoformat(stamp)).total_seconds() / 3600
