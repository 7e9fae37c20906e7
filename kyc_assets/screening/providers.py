"""External screening providers over HTTP: adverse media (GDELT DOC 2.0) and a REST screening API.

Plain Python on ``requests``. Both clients share ``HttpJsonClient``: timeouts on every call, a
client-side rate limit (requests per second), retries with exponential backoff and jitter on 429,
5xx, timeouts and connection errors, ``Retry-After`` honoured on 429/503, and errors that never
carry the request URL (it holds the screened name) or the bearer token. Nothing here is called
unless a deployment configures a URL (see settings.py): both are off by default.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

log = logging.getLogger(__name__)

GDELT_DOC_URL = "https://api.gdeltproject.org/api/v2/doc/doc"
#: Negative-news terms combined with the quoted name in the GDELT query.
ADVERSE_TERMS = ("fraud", "corruption", "\"money laundering\"", "bribery", "sanctions", "terrorism", "embezzlement",
                 "indicted", "convicted")


class ProviderError(RuntimeError):
    """A provider call that failed for good (after retries, or refused); the message names no person
    and no secret."""


class RateLimiter:
    """At most ``per_second`` calls per second across threads (evenly spaced slots)."""

    def __init__(self, per_second: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if per_second is not None and per_second <= 0:
            raise ValueError("requests_per_second must be positive (or None for no limit)")
        self.interval = 1.0 / per_second if per_second else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until the next slot; returns the seconds waited."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return delay


@dataclass(frozen=True)
class RetryPolicy:
    """Retries after the first attempt, exponential backoff base and cap, and the longest
    ``Retry-After`` the client accepts to wait (a longer one fails the call instead)."""

    max_retries: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry ``attempt`` (0-based): base * 2^attempt capped, with 'equal jitter'
        (half fixed, half random) so that clients that failed together do not retry together."""
        cap = min(self.max_backoff_seconds, self.backoff_seconds * (2 ** attempt))
        return cap / 2 + rng.uniform(0, cap / 2)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class HttpJsonClient:
    """JSON over HTTP with timeouts, rate limit, retries with backoff and jitter, optional bearer token."""

    def __init__(self, base_url: str, *, name: str, token: str | None = None, timeout_seconds: float = 10.0,
                 retry: RetryPolicy | None = None, requests_per_second: float | None = None,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None):
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{name}: base URL must start with http:// or https://")
        if timeout_seconds <= 0:
            raise ValueError(f"{name}: timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.name = name
        self._token = token
        self.timeout = timeout_seconds
        self.retry = retry or RetryPolicy()
        self.limiter = RateLimiter(requests_per_second, sleep=sleep)
        self.session = session or requests.Session()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.waits: list[float] = []  # retry delays taken (for metrics and tests)

    def __repr__(self) -> str:  # the token never appears, not even in a debugger or a log line
        return f"HttpJsonClient(name={self.name!r}, base_url={self.base_url!r}, token={'***' if self._token else None})"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "kyc-assets/1 (+screening)"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def request_json(self, method: str, path: str = "", *, params: dict | None = None,
                     json_body: Any = None) -> Any:
        """One logical call: retried on 429/5xx/timeouts/connection errors; returns the decoded JSON body."""
        url = self.base_url + path
        attempts = self.retry.max_retries + 1
        problem = "no attempt"
        for attempt in range(attempts):
            self.limiter.wait()
            retry_after = None
            try:
                response = self.session.request(method, url, params=params, json=json_body, headers=self._headers(),
                                                timeout=self.timeout)
            except requests.Timeout:
                problem = f"timed out after {self.timeout:g} s"
            except requests.ConnectionError:
                problem = "connection failed"
            except requests.RequestException as exc:  # not retried; the message would carry the URL
                raise ProviderError(f"{self.name}: request failed ({type(exc).__name__})") from None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._decode(response)
                if status in (401, 403):
                    raise ProviderError(f"{self.name}: authentication refused (HTTP {status}); check the token")
                if status != 429 and status < 500:
                    raise ProviderError(f"{self.name}: request refused (HTTP {status})")
                problem = f"HTTP {status}"
                if status in (429, 503):
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                response.close()
            if attempt == attempts - 1:
                break
            if retry_after is not None:
                if retry_after > self.retry.max_retry_after_seconds:
                    raise ProviderError(f"{self.name}: {problem}, asked to wait {retry_after:g} s "
                                        f"(more than {self.retry.max_retry_after_seconds:g} s)")
                delay = retry_after
            else:
                delay = self.retry.backoff(attempt, self._rng)
            log.warning("%s: %s, retry %d/%d in %.2f s", self.name, problem, attempt + 1, self.retry.max_retries,
                        delay)
            self.waits.append(delay)
            self._sleep(delay)
        raise ProviderError(f"{self.name}: {problem} (gave up after {attempts} attempts)")

    def _decode(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"{self.name}: answer is not JSON ({len(response.content)} bytes, "
                                f"content-type {response.headers.get('Content-Type', '?')})") from None


# --- adverse media -------------------------------------------------------------------------------

@dataclass(frozen=True)
class MediaArticle:
    """One news article a provider found for a name."""

    url: str
    title: str
    domain: str
    language: str
    source_country: str
    seen_at: str  # ISO 8601 UTC, e.g. '2023-09-18T03:15:00Z'


class AdverseMediaProvider(Protocol):
    """Anything that finds negative news about a person or company by name."""

    name: str

    def search(self, full_name: str) -> list[MediaArticle]: ...


def gdelt_seen_at(value: str) -> str:
    """GDELT's '20230918T031500Z' as '2023-09-18T03:15:00Z' (unchanged if it has another shape)."""
    v = (value or "").strip()
    if len(v) == 16 and v[8] == "T" and v.endswith("Z") and (v[:8] + v[9:15]).isdigit():
        return f"{v[:4]}-{v[4:6]}-{v[6:8]}T{v[9:11]}:{v[11:13]}:{v[13:15]}Z"
    return v


def gdelt_query(full_name: str, terms: tuple[str, ...] = ADVERSE_TERMS) -> str:
    """GDELT DOC query: the exact name as a phrase AND any negative-news term, e.g.
    '"Jane Roe" (fraud OR corruption OR ...)'. Quotes inside the name are dropped."""
    name = " ".join(full_name.replace('"', " ").split())
    if len(name) < 3:
        raise ValueError("a name of fewer than 3 characters cannot be searched in the news")
    return f'"{name}" ({" OR ".join(terms)})'


@dataclass
class GdeltDocClient:
    """Adverse-media search through the public GDELT DOC 2.0 API (``mode=artlist&format=json``).

    The API answers ``{"articles": [{"url", "url_mobile", "title", "seendate", "socialimage",
    "domain", "language", "sourcecountry"}, ...]}``, ``{}`` when nothing matched, and plain text
    for a rejected query (HTTP 200); GDELT asks for at most one request every 5 seconds, hence the
    default rate of 0.2/s.
    """

    url: str = GDELT_DOC_URL
    timespan: str = "3months"
    max_records: int = 50
    timeout_seconds: float = 20.0
    requests_per_second: float = 0.2
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    name: str = "gdelt"

    def __post_init__(self) -> None:
        if not 1 <= self.max_records <= 250:
            raise ValueError("GDELT max_records must be between 1 and 250")
        self.http = HttpJsonClient(self.url, name=self.name, timeout_seconds=self.timeout_seconds, retry=self.retry,
                                   requests_per_second=self.requests_per_second, sleep=self.sleep)

    def search(self, full_name: str) -> list[MediaArticle]:
        """Articles of the last ``timespan`` that mention the exact name with a negative-news term."""
        body = self.http.request_json("GET", params={"query": gdelt_query(full_name), "mode": "artlist",
                                                     "format": "json", "maxrecords": str(self.max_records),
                                                     "timespan": self.timespan, "sort": "datedesc"})
        if not isinstance(body, dict):
            raise ProviderError(f"{self.name}: unexpected answer (a JSON {type(body).__name__}, not an object)")
        articles = body.get("articles", [])
        if not isinstance(articles, list):
            raise ProviderError(f"{self.name}: unexpected answer ('articles' is not a list)")
        out = []
        for a in articles:
            if not isinstance(a, dict) or not a.get("url"):
                continue  # an article without a URL cannot be reviewed
            out.append(MediaArticle(url=str(a["url"]), title=str(a.get("title") or ""),
                                    domain=str(a.get("domain") or ""), language=str(a.get("language") or ""),
                                    source_country=str(a.get("sourcecountry") or ""),
                                    seen_at=gdelt_seen_at(str(a.get("seendate") or ""))))
        return out


# --- REST screening provider (World-Check / Trulioo style) ---------------------------------------

@dataclass(frozen=True)
class ProviderHit:
    """One hit from a commercial screening API, score in [0, 1]."""

    provider_id: str
    matched_name: str
    score: float
    category: str  # e.g. 'sanctions', 'pep', 'adverse_media'
    source_list: str

    @property
    def content_hash(self) -> str:
        """Hash of what the provider says about the listed party (not of the score), for suppressions."""
        return hashlib.sha256(json.dumps([self.provider_id, self.matched_name, self.category, self.source_list])
                              .encode()).hexdigest()

    @property
    def hit_type(self) -> str:
        return "pep" if "pep" in self.category.lower() else "sanctions"


class RestScreeningClient:
    """A configurable commercial screening API: ``POST {base_url}{screen_path}`` with
    ``{"name", "entity_type", "date_of_birth", "nationality", "reference"}`` and bearer-token auth;
    the answer is ``{"results": [{"id", "name", "score", "category", "list"}, ...]}`` with scores
    in [0, ``score_scale``]."""

    def __init__(self, base_url: str, token: str, *, name: str = "rest_provider", screen_path: str = "/v1/screen",
                 timeout_seconds: float = 10.0, retry: RetryPolicy | None = None,
                 requests_per_second: float | None = 5.0, score_scale: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None):
        if not token:
            raise ValueError(f"{name}: a bearer token is required (set it through the environment)")
        if score_scale <= 0:
            raise ValueError(f"{name}: score_scale must be positive")
        self.name = name
        self.screen_path = "/" + screen_path.lstrip("/") if screen_path else ""
        self.score_scale = score_scale
        self.http = HttpJsonClient(base_url, name=name, token=token, timeout_seconds=timeout_seconds, retry=retry,
                                   requests_per_second=requests_per_second, sleep=sleep, rng=rng)

    def __repr__(self) -> str:
        return f"RestScreeningClient(name={self.name!r}, base_url={self.http.base_url!r})"

    def screen(self, full_name: str, *, entity_type: str = "person", date_of_birth: str | None = None,
               nationality: str | None = None, reference: str | None = None) -> list[ProviderHit]:
        """Screen one party; returns the provider's hits (unfiltered, scores rescaled to [0, 1])."""
        body = self.http.request_json("POST", self.screen_path, json_body={
            "name": full_name, "entity_type": entity_type, "date_of_birth": date_of_birth,
            "nationality": nationality, "reference": reference})
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise ProviderError(f"{self.name}: unexpected answer (no 'results' list)")
        hits = []
        for r in results:
            try:
                score = float(r["score"]) / self.score_scale
                hits.append(ProviderHit(provider_id=str(r["id"]), matched_name=str(r.get("name") or ""),
                                        score=max(0.0, min(1.0, score)), category=str(r.get("category") or "sanctions"),
                                        source_list=str(r.get("list") or "")))
            except (KeyError, TypeError, ValueError):
                raise ProviderError(f"{self.name}: unexpected answer (a result without a numeric score or an id)") \
                    from None
        return hits


def provider_rows(client: RestScreeningClient, customer) -> list[dict]:
    """Screening-result fields for one customer's provider hits at or above the default threshold."""
    from kyc_assets.screening.matcher import decision_for

    rows = []
    for hit in client.screen(customer.full_name, date_of_birth=_text(customer.date_of_birth, 10),
                             nationality=_text(customer.nationality),
                             reference=str(customer.customer_id)):
        decision = decision_for(hit.score)
        if decision == "no_match":
            continue
        rows.append({"list_entity_id": f"{client.name}:{hit.provider_id}", "entry_hash": hit.content_hash,
                     "hit_type": hit.hit_type, "matched_name": hit.matched_name, "score": round(hit.score, 4),
                     "decision": decision,
                     "explanation": f"{client.name} hit ({hit.category}{', ' + hit.source_list if hit.source_list else ''}); "
                                    f"provider score {hit.score:.2f}"})
    return rows


def _text(value: object, length: int | None = None) -> str | None:
    """Optional attribute as text: None/NaN/blank -> None, dates -> 'YYYY-MM-DD'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    text = text.strip()[:length] if length else text.strip()
    return text or None
