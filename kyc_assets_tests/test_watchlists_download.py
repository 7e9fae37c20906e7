"""List downloads against an HTTP server on 127.0.0.1: retries, conditional requests, atomic replacement."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kyc_assets.watchlists.config import SourceSpec
from kyc_assets.watchlists.download import CURRENT, DownloadPolicy, WatchlistDownloadError, fetch, read_state
from kyc_assets.watchlists.refresh import refresh_source
from kyc_assets.watchlists.sources import load_watchlist

FIXTURES = Path(__file__).parent / "fixtures" / "watchlists"
UN = (FIXTURES / "un_consolidated_sample.xml").read_bytes()
EU = (FIXTURES / "eu_fsf_sample.xml").read_bytes()
FAST = DownloadPolicy(connect_timeout=2, read_timeout=0.5, attempts=3, backoff_base=0.01, backoff_max=0.05)


class ListServer:
    """A threaded HTTP server answering from a script: each request takes the next response spec."""

    def __init__(self):
        self.script: list[dict] = []
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(dict(self.headers))
                spec = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                if spec.get("delay"):
                    time.sleep(spec["delay"])
                etag = spec.get("etag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                body = spec.get("body", b"")
                self.send_response(spec.get("status", 200))
                for key, value in spec.get("headers", {}).items():
                    self.send_header(key, value)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(spec.get("length", len(body))))
                self.end_headers()
                try:
                    self.wfile.write(body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if spec.get("length", len(body)) != len(body):
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/consolidated.xml?token=secret"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    srv = ListServer()
    yield srv
    srv.close()


def validate(path):
    load_watchlist(path)


def test_download_then_304_keeps_the_cached_copy(server, tmp_path):
    server.script = [{"body": UN, "etag": '"v1"', "headers": {"Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"}}]
    first = fetch(server.url, tmp_path, validate, FAST)
    assert first.status == "downloaded" and first.path.read_bytes() == UN
    assert first.state["etag"] == '"v1"' and first.state["bytes"] == len(UN)
    second = fetch(server.url, tmp_path, validate, FAST)
    assert second.status == "not_modified" and second.path.read_bytes() == UN
    assert server.requests[-1]["If-None-Match"] == '"v1"'
    assert server.requests[-1]["If-Modified-Since"] == "Wed, 01 Jan 2025 00:00:00 GMT"
    assert second.state["verified_at"] >= first.state["verified_at"]
    assert second.state["downloaded_at"] == first.state["downloaded_at"]


def test_429_then_success_waits_with_backoff(server, tmp_path):
    server.script = [{"status": 429, "headers": {"Retry-After": "0"}}, {"status": 503}, {"body": UN}]
    sleeps = []
    result = fetch(server.url, tmp_path, validate, FAST, sleep=sleeps.append)
    assert result.status == "downloaded" and len(server.requests) == 3
    assert len(sleeps) == 2 and all(0 <= s <= FAST.backoff_max for s in sleeps)


def test_persistent_500s_give_up_and_keep_the_last_good_list(server, tmp_path):
    server.script = [{"body": UN}]
    fetch(server.url, tmp_path, validate, FAST)
    server.script = [{"status": 500}]
    with pytest.raises(WatchlistDownloadError, match="gave up after 3 attempts .HTTP 500") as info:
        fetch(server.url + "&v=2", tmp_path, validate, FAST, sleep=lambda s: None)
    assert "secret" not in str(info.value)  # query strings (API keys) never reach messages
    assert (tmp_path / CURRENT).read_bytes() == UN


def test_timeout_is_retried_then_reported(server, tmp_path):
    server.script = [{"body": UN, "delay": 1.5}]
    started = time.monotonic()
    with pytest.raises(WatchlistDownloadError, match="ReadTimeout"):
        fetch(server.url, tmp_path, validate, FAST, sleep=lambda s: None)
    assert len(server.requests) == 3 and time.monotonic() - started < 10
    assert not (tmp_path / CURRENT).exists()


def test_truncated_body_never_replaces_the_last_good_list(server, tmp_path):
    server.script = [{"body": UN}]
    fetch(server.url, tmp_path, validate, FAST)
    server.script = [{"body": EU[:4000], "length": len(EU)}]
    with pytest.raises(WatchlistDownloadError, match="truncated|broke"):
        fetch(server.url + "&v=2", tmp_path, validate, FAST, sleep=lambda s: None)
    assert (tmp_path / CURRENT).read_bytes() == UN
    assert not list(tmp_path.glob(".download-*"))  # no temporary file left behind


def test_truncated_then_complete_succeeds(server, tmp_path):
    server.script = [{"body": EU[:4000], "length": len(EU)}, {"body": EU}]
    result = fetch(server.url, tmp_path, validate, FAST, sleep=lambda s: None)
    assert result.path.read_bytes() == EU


def test_a_body_that_does_not_parse_is_rejected_without_retry(server, tmp_path):
    server.script = [{"body": UN}]
    fetch(server.url, tmp_path, validate, FAST)
    server.script = [{"body": b"<html>maintenance</html>"}]
    with pytest.raises(WatchlistDownloadError, match="rejected: unsupported watchlist format") as info:
        fetch(server.url + "&v=2", tmp_path, validate, FAST)
    assert not info.value.retryable and len(server.requests) == 2
    assert (tmp_path / CURRENT).read_bytes() == UN and read_state(tmp_path)["bytes"] == len(UN)


def test_size_limit(server, tmp_path):
    server.script = [{"body": UN}]
    small = DownloadPolicy(max_bytes=1000, attempts=3, backoff_base=0.01)
    with pytest.raises(WatchlistDownloadError, match="exceeds the limit of 1000") as info:
        fetch(server.url, tmp_path, validate, small)
    assert not info.value.retryable and len(server.requests) == 1


def test_connection_refused_is_retried(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(WatchlistDownloadError, match="ConnectionError"):
        fetch(f"http://127.0.0.1:{port}/x.xml", tmp_path, validate, FAST, sleep=lambda s: None)


def test_client_errors_are_not_retried(server, tmp_path):
    server.script = [{"status": 404}]
    with pytest.raises(WatchlistDownloadError, match="HTTP 404") as info:
        fetch(server.url, tmp_path, validate, FAST)
    assert not info.value.retryable and len(server.requests) == 1


def test_refresh_source_names_the_cache_by_list_and_loads_once(server, tmp_path):
    server.script = [{"body": UN, "etag": '"a"'}]
    refreshed = refresh_source(SourceSpec("un", server.url), tmp_path, FAST)
    assert refreshed.status == "downloaded" and refreshed.loaded.list_source == "un_sc"
    assert refreshed.loaded.path == tmp_path / "un" / CURRENT and len(refreshed.loaded.entries) == 7
    again = refresh_source(SourceSpec("un", server.url), tmp_path, FAST)
    assert again.status == "not_modified" and again.loaded.version == refreshed.loaded.version
    assert json.loads((tmp_path / "un" / "state.json").read_text())["etag"] == '"a"'
