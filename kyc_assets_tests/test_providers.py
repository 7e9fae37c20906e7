"""HTTP provider clients against local servers on 127.0.0.1: retries with backoff on 429 and 5xx,
Retry-After, timeouts, the rate limit, bearer auth that never leaks, and GDELT's answer shapes."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kyc_assets.screening.providers import (
    GdeltDocClient,
    ProviderError,
    RateLimiter,
    RestScreeningClient,
    RetryPolicy,
    gdelt_query,
    gdelt_seen_at,
    parse_retry_after,
)

TOKEN = "s3cr3t-token-value"


class Script:
    """A local server answering from a script: each item is (status, headers, body, delay seconds)."""

    def __init__(self, steps, default=(200, {}, {"results": []}, 0)):
        self.steps = list(steps)
        self.default = default
        self.requests: list[dict] = []
        self.times: list[float] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                script.requests.append({"path": self.path, "headers": dict(self.headers),
                                        "body": self.rfile.read(length) if length else b""})
                script.times.append(time.monotonic())
                status, headers, body, delay = script.steps.pop(0) if script.steps else script.default
                if delay:
                    time.sleep(delay)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    servers = []

    def make(steps, **kwargs):
        s = Script(steps, **kwargs)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def rest(url, sleeps=None, **kwargs) -> RestScreeningClient:
    options = {"retry": RetryPolicy(max_retries=5, backoff_seconds=0.01, max_backoff_seconds=0.05),
               "requests_per_second": None, "timeout_seconds": 2.0, "rng": random.Random(0), **kwargs}
    if sleeps is not None:
        options["sleep"] = sleeps.append
    return RestScreeningClient(url, TOKEN, name="wc", **options)


HIT = {"results": [{"id": "42", "name": "Jane ROE", "score": 0.97, "category": "sanctions", "list": "OFAC"}]}


def test_a_429_storm_then_success_backs_off_exponentially_with_jitter(server):
    s = server([(429, {}, {}, 0)] * 4 + [(200, {}, HIT, 0)])
    sleeps: list[float] = []
    client = rest(s.url, sleeps, retry=RetryPolicy(max_retries=5, backoff_seconds=0.1, max_backoff_seconds=10))
    hits = client.screen("Jane Roe")
    assert [h.provider_id for h in hits] == ["42"] and len(s.requests) == 5
    assert len(sleeps) == 4
    for attempt, delay in enumerate(sleeps):  # equal jitter: between half and all of base * 2^attempt
        cap = 0.1 * 2 ** attempt
        assert cap / 2 <= delay <= cap
    assert sleeps[3] > sleeps[0]


def test_retry_after_is_honoured_in_seconds_and_as_an_http_date(server):
    s = server([(429, {"Retry-After": "1"}, {}, 0), (200, {}, HIT, 0)])
    started = time.monotonic()
    assert rest(s.url).screen("Jane Roe")
    assert s.times[1] - s.times[0] >= 0.95 and time.monotonic() - started < 5
    sleeps: list[float] = []
    s = server([(503, {"Retry-After": "7"}, {}, 0), (200, {}, HIT, 0)])
    rest(s.url, sleeps).screen("Jane Roe")
    assert sleeps == [7.0]
    assert 28 <= parse_retry_after(formatdate(time.time() + 30, usegmt=True)) <= 31
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    s = server([(429, {"Retry-After": "3600"}, {}, 0)])
    with pytest.raises(ProviderError, match="asked to wait 3600"):
        rest(s.url, []).screen("Jane Roe")


def test_server_errors_are_retried_then_reported_without_the_name(server):
    s = server([(500, {}, {}, 0), (502, {}, {}, 0), (200, {}, HIT, 0)])
    assert rest(s.url, []).screen("Jane Roe")[0].score == 0.97
    s = server([], default=(500, {}, {"error": "boom"}, 0))
    with pytest.raises(ProviderError) as err:
        rest(s.url, [], retry=RetryPolicy(max_retries=3, backoff_seconds=0.01)).screen("Jane Roe")
    assert "HTTP 500" in str(err.value) and "4 attempts" in str(err.value) and "Jane" not in str(err.value)
    assert len(s.requests) == 4


def test_client_errors_and_refused_auth_are_not_retried(server):
    for status, message in ((401, "authentication refused"), (403, "authentication refused"),
                            (400, "request refused")):
        s = server([(status, {}, {}, 0)])
        with pytest.raises(ProviderError, match=message):
            rest(s.url, []).screen("Jane Roe")
        assert len(s.requests) == 1


def test_a_timeout_is_retried_and_a_persistent_one_fails_clearly(server):
    s = server([(200, {}, HIT, 1.5), (200, {}, HIT, 0)])
    assert rest(s.url, [], timeout_seconds=0.3).screen("Jane Roe")
    assert len(s.requests) == 2
    s = server([], default=(200, {}, HIT, 1.0))
    started = time.monotonic()
    with pytest.raises(ProviderError, match="timed out after 0.2 s"):
        rest(s.url, [], timeout_seconds=0.2, retry=RetryPolicy(max_retries=1, backoff_seconds=0.01)).screen("X Y")
    assert time.monotonic() - started < 3


def test_connection_refused_is_retried_and_reported(server):
    s = server([])
    url = s.url
    s.close()
    with pytest.raises(ProviderError, match="connection failed"):
        rest(url, [], retry=RetryPolicy(max_retries=2, backoff_seconds=0.01)).screen("Jane Roe")


def test_bearer_token_is_sent_and_never_logged_or_shown(server, caplog):
    s = server([(500, {}, {}, 0), (200, {}, HIT, 0)])
    client = rest(s.url, [])
    with caplog.at_level(logging.DEBUG):
        client.screen("Jane Roe", date_of_birth="1960-01-01", nationality="GB", reference="C-9")
        bad = server([(401, {}, {}, 0)])
        with pytest.raises(ProviderError) as err:
            rest(bad.url, []).screen("Jane Roe")
    assert all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in s.requests)
    body = json.loads(s.requests[-1]["body"])
    assert body == {"name": "Jane Roe", "entity_type": "person", "date_of_birth": "1960-01-01",
                    "nationality": "GB", "reference": "C-9"}
    assert s.requests[-1]["path"] == "/v1/screen"
    assert "retry 1/5" in caplog.text  # the retry was logged ...
    for text in (caplog.text, repr(client), repr(client.http), str(err.value)):
        assert TOKEN not in text  # ... without the token


def test_rest_client_rescales_scores_and_rejects_malformed_answers(server):
    s = server([(200, {}, {"results": [{"id": 1, "name": "N", "score": 88, "category": "PEP"}]}, 0),
                (200, {}, {"hits": []}, 0), (200, {}, {"results": [{"name": "no id"}]}, 0),
                (200, {}, b"<html>", 0)])
    client = rest(s.url, [], score_scale=100)
    hit = client.screen("A B")[0]
    assert hit.score == pytest.approx(0.88) and hit.hit_type == "pep" and len(hit.content_hash) == 64
    for message in ("no 'results' list", "without a numeric score", "not JSON"):
        with pytest.raises(ProviderError, match=message):
            client.screen("A B")
    with pytest.raises(ValueError, match="token"):
        RestScreeningClient(s.url, "", name="wc")


def test_rate_limit_spaces_requests(server):
    s = server([])
    client = rest(s.url, requests_per_second=20)
    started = time.monotonic()
    for _ in range(6):
        client.screen("A B")
    # Six requests at 20/s take at least five intervals. Only this lower bound is asserted: gaps seen at
    # the server also carry the loopback latency, which a loaded machine stretches and shrinks at will
    # (the exact spacing is proven with a fake clock in the test below).
    assert time.monotonic() - started >= 5 / 20 * 0.95
    assert len(s.times) == 6


def test_rate_limiter_with_a_fake_clock():
    now = [0.0]
    waited: list[float] = []

    def sleep(seconds):
        waited.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(2.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.wait()
    assert waited == [0.5, 0.5, 0.5]
    with pytest.raises(ValueError):
        RateLimiter(0)


# --- GDELT ---------------------------------------------------------------------------------------

ARTICLE = {"url": "https://news.example/x", "url_mobile": "", "title": "Fraud probe", "seendate": "20230918T031500Z",
           "socialimage": "", "domain": "news.example", "language": "English", "sourcecountry": "France"}


def test_gdelt_client_sends_the_documented_parameters_and_reads_articles(server):
    s = server([(200, {}, {"articles": [ARTICLE, {"title": "no url"}]}, 0), (200, {}, {}, 0),
                (200, {"Content-Type": "text/html"}, b"Your search contained a phrase that was too short.", 0),
                (429, {"Retry-After": "0"}, b"Please limit requests to one every 5 seconds", 0),
                (200, {}, {"articles": []}, 0)])
    client = GdeltDocClient(url=s.url + "/api/v2/doc/doc", requests_per_second=1000, max_records=25)
    articles = client.search('Jane "The Boss" Roe')
    assert len(articles) == 1 and articles[0].seen_at == "2023-09-18T03:15:00Z"
    assert articles[0].domain == "news.example" and articles[0].source_country == "France"
    q = parse_qs(urlparse(s.requests[0]["path"]).query)
    assert urlparse(s.requests[0]["path"]).path == "/api/v2/doc/doc"
    assert q["mode"] == ["artlist"] and q["format"] == ["json"] and q["maxrecords"] == ["25"]
    assert q["query"][0].startswith('"Jane The Boss Roe" (fraud OR ')
    assert client.search("Jane Roe") == []
    with pytest.raises(ProviderError, match="not JSON") as err:
        client.search("Jane Roe")
    assert "Jane" not in str(err.value)
    assert client.search("Jane Roe") == []  # the 429 was retried
    assert "Authorization" not in s.requests[0]["headers"]
    with pytest.raises(ValueError, match="3 characters"):
        gdelt_query(" a ")
    with pytest.raises(ValueError):
        GdeltDocClient(max_records=500)


@given(st.text(max_size=40))
def test_gdelt_seen_at_never_crashes_and_keeps_unknown_shapes(value):
    out = gdelt_seen_at(value)
    assert isinstance(out, str)
    if not (len(value.strip()) == 16 and value.strip()[8] == "T"):
        assert out == value.strip()


@given(st.text(min_size=3, max_size=60).filter(lambda t: len(" ".join(t.replace('"', " ").split())) >= 3))
def test_gdelt_query_quotes_the_name_as_one_phrase(name):
    query = gdelt_query(name)
    phrase = query.split(" (")[0]
    assert phrase.startswith('"') and phrase.endswith('"') and phrase.count('"') == 2
