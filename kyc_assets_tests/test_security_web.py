"""The dashboard under attack (issue 12), over real HTTP (uvicorn on 127.0.0.1): the trusted header only
from the proxy, the Secure cookie behind it, sign-in throttling and lock-out, no username discovery,
revocable sessions with an idle timeout, the body limit while streaming, anonymous posts kept out of
the audit log, query validation and roles."""

from __future__ import annotations

import re
import select
import socket
import time

import requests
import sqlalchemy as sa

from kyc_assets_tests.test_web import audit_actions, csrf_of, login, post_form
from kyc_assets_tests.web_seed import PASSWORDS, build_world, make_app, running


def _attempt(base: str, username: str, password: str, session: requests.Session | None = None) -> requests.Response:
    session = session or requests.Session()
    page = session.get(f"{base}/login")
    return session.post(f"{base}/login", allow_redirects=False,
                        data={"csrf_token": csrf_of(page.text), "username": username, "password": password})


def test_the_trusted_header_counts_only_from_the_proxy_or_with_its_secret(tmp_path):
    world = build_world(tmp_path / "world")
    app, store = make_app(world, trusted_header="X-Forwarded-User", trusted_proxies=("10.9.9.9",),
                          proxy_secret="proxy-s3cret")
    with running(app) as base:
        direct = requests.get(f"{base}/cases", headers={"X-Forwarded-User": "bob"})
        assert direct.status_code == 403 and "only accepted from the configured reverse proxy" in direct.text
        wrong = requests.get(f"{base}/cases", headers={"X-Forwarded-User": "bob", "X-KYC-Proxy-Secret": "guess"})
        assert wrong.status_code == 403
        posted = requests.post(f"{base}/cases/{world.account_case}/assign", data={"to": "bob"},
                               headers={"X-Forwarded-User": "bob"}, allow_redirects=False)
        assert posted.status_code == 403
        ok = requests.get(f"{base}/cases", headers={"X-Forwarded-User": "bob", "X-KYC-Proxy-Secret": "proxy-s3cret"})
        assert ok.status_code == 200 and '<span id="analyst">bob</span>' in ok.text
    assert store.get_case(world.account_case)["assigned_to"] is None
    app, _ = make_app(world, trusted_header="X-Forwarded-User", trusted_proxies=("127.0.0.0/8",))
    with running(app) as base:  # the proxy's own address: trusted
        assert requests.get(f"{base}/cases", headers={"X-Forwarded-User": "bob"}).status_code == 200
    app, _ = make_app(world, trusted_header="X-Forwarded-User")  # neither: the header is never believed
    with running(app) as base:
        assert requests.get(f"{base}/cases", headers={"X-Forwarded-User": "bob"}).status_code == 403


def test_the_session_cookie_is_secure_behind_the_tls_proxy(tmp_path):
    world = build_world(tmp_path / "world")
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    app, _ = make_app(world, trusted_proxies=("127.0.0.1",))
    with running(app) as base:
        cookie = requests.get(f"{base}/login", headers=https).headers["set-cookie"]
        assert "; Secure" in cookie or "; secure" in cookie
        assert "secure" not in requests.get(f"{base}/login").headers["set-cookie"].lower()  # plain http: no
    app, _ = make_app(world)  # no configured proxy: a forged X-Forwarded-Proto changes nothing
    with running(app) as base:
        assert "secure" not in requests.get(f"{base}/login", headers=https).headers["set-cookie"].lower()


def test_an_account_locks_after_repeated_failures_and_the_lock_out_is_audited(tmp_path):
    world = build_world(tmp_path / "world")
    app, store = make_app(world, login_max_failures=3)
    with running(app) as base:
        for _ in range(3):
            assert _attempt(base, "alice", "guess").status_code == 401
        locked = _attempt(base, "Alice", PASSWORDS["alice"])  # the right password, a variant of the name
        assert locked.status_code == 401 and "locked" in locked.text
        assert _attempt(base, "bob", PASSWORDS["bob"]).status_code == 303  # other accounts unaffected
    entries = audit_actions(store, "dashboard")
    assert entries.count(("alice", "login_locked", "")) == 1
    assert ("alice", "login_refused", "account locked after repeated failed sign-ins") in entries
    with store.engine.begin() as conn:  # the lock-out ends with its window
        conn.execute(sa.text("UPDATE login_failures SET locked_until = 1"))
    with running(app) as base:
        assert _attempt(base, "alice", PASSWORDS["alice"]).status_code == 303


def test_unknown_names_read_and_cost_the_same_as_wrong_passwords(tmp_path, monkeypatch):
    import hashlib

    from kyc_assets.cases import analysts

    world = build_world(tmp_path / "world")
    app, store = make_app(world)
    calls = []
    real = hashlib.scrypt
    monkeypatch.setattr(analysts.hashlib, "scrypt", lambda *a, **k: calls.append(1) or real(*a, **k))
    with running(app) as base:
        analysts._dummy_hash()  # computed once, ahead (not an attempt's cost)
        calls.clear()
        known = _attempt(base, "alice", "wrong-password")
        known_calls = len(calls)
        unknown = _attempt(base, "nobody-here", "wrong-password")
    assert known_calls == len(calls) - known_calls == 1  # one scrypt each
    body = lambda r: re.sub(r'value="[^"]+"', "", r.text)
    assert known.status_code == unknown.status_code == 401 and body(known) == body(unknown)
    assert "unknown analyst or wrong password" in known.text
    actors = [a for a in audit_actions(store, "dashboard") if a[1] == "login_refused"]
    assert actors == [("anonymous", "login_refused", "unknown analyst or wrong password"),
                      ("alice", "login_refused", "unknown analyst or wrong password")]


def test_a_client_is_throttled_across_accounts_and_the_throttle_is_audited_once(tmp_path):
    world = build_world(tmp_path / "world")
    app, store = make_app(world, login_client_max_failures=4)
    with running(app) as base:
        for name in ("u1", "u2", "u3", "u4"):  # a password spray: one try per name
            assert _attempt(base, name, "Summer2026!").status_code == 401
        for _ in range(5):
            assert _attempt(base, "alice", PASSWORDS["alice"]).status_code == 429
    throttled = [a for a in audit_actions(store, "dashboard") if "too many failed sign-ins from" in a[2]]
    assert len(throttled) == 1


def test_logout_ends_the_session_and_an_idle_session_expires(tmp_path):
    world = build_world(tmp_path / "world")
    app, store = make_app(world, session_idle_minutes=1)
    with running(app) as base:
        alice = login(base, "alice")
        copied = dict(alice.cookies)
        page = alice.get(f"{base}/cases")
        assert alice.post(f"{base}/logout", data={"csrf_token": csrf_of(page.text)},
                          allow_redirects=False).status_code == 303
        replay = requests.get(f"{base}/cases", cookies=copied, allow_redirects=False)
        assert replay.status_code == 303 and replay.headers["location"].startswith("/login")
        bob = login(base, "bob")
        assert bob.get(f"{base}/cases", allow_redirects=False).status_code == 200
        with store.engine.begin() as conn:  # two minutes without a request (KYC_SESSION_IDLE_MINUTES=1)
            conn.execute(sa.text("UPDATE analyst_sessions SET last_seen = last_seen - 120 WHERE ended IS NULL"))
        idle = bob.get(f"{base}/cases", allow_redirects=False)
        assert idle.status_code == 303 and idle.headers["location"].startswith("/login")
    with store.engine.connect() as conn:
        ended = dict(conn.execute(sa.text("SELECT analyst, ended_reason FROM analyst_sessions")).all())
    assert ended == {"alice": "logout", "bob": "idle"}


def test_a_streamed_body_is_refused_once_it_passes_the_limit(tmp_path):
    world = build_world(tmp_path / "world")
    app, _ = make_app(world)
    with running(app) as base:
        port = int(base.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"a" * (256 * 1024)
        sent, answer = 0, b""
        try:
            for _ in range(64):  # up to 16 MB, never the terminating chunk: only a streaming limit answers
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                if select.select([sock], [], [], 0.05)[0]:
                    break
        except OSError:  # the server closed the connection after answering
            pass
        deadline = time.monotonic() + 10
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            if select.select([sock], [], [], 0.5)[0]:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        sock.close()
        assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
        assert sent <= 4 * 1024 * 1024  # refused after the first megabytes, not after the whole body
        big = socket.create_connection(("127.0.0.1", port), timeout=10)
        big.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 314572800\r\n\r\n")
        assert big.recv(64).startswith(b"HTTP/1.1 413")  # announced 300 MB: refused before any byte
        big.close()


def test_anonymous_posts_stay_out_of_the_audit_log_and_are_rate_limited(tmp_path):
    world = build_world(tmp_path / "world")
    app, store = make_app(world, login_client_max_failures=5)
    before = len(store.audit_entries(limit=10_000))
    with running(app) as base:
        codes = [requests.post(f"{base}/cases/CASE-attacker-{i}/decide", allow_redirects=False,
                               data={"decision": "false_positive", "reason": "x"}).status_code for i in range(8)]
    assert codes == [403] * 5 + [429] * 3
    assert len(store.audit_entries(limit=10_000)) == before


def test_every_query_parameter_is_validated(tmp_path):
    world = build_world(tmp_path / "world")
    app, _ = make_app(world)
    with running(app) as base:
        alice = login(base, "alice")
        for params, named in [({"page": "9223372036854775807"}, "page"), ({"page": "0"}, "page"),
                              ({"page": "\u00b2"}, "page"), ({"page": "-1"}, "page"), ({"status": "bogus"}, "status"),
                              ({"sort": "case_id; drop"}, "sort"), ({"priority": "9"}, "priority"),
                              ({"assigned": "mallory"}, "assigned"), ({"desc": "yes"}, "desc"), ({"q": "x" * 300}, "q")]:
            response = alice.get(f"{base}/cases", params=params)
            assert response.status_code == 400 and f"{named} " in response.text, params
            csv = alice.get(f"{base}/cases.csv", params=params)
            assert csv.status_code == 400, params
        assert alice.get(f"{base}/cases", params={"page": "100000", "status": "all"}).status_code == 200
        assert alice.get(f"{base}/cases", params={"page": "2", "sort": "risk", "desc": "1"}).status_code == 200


def test_an_analyst_without_the_approver_role_cannot_approve_in_the_dashboard(tmp_path):
    world = build_world(tmp_path / "world")
    app, store = make_app(world)
    with running(app) as base:
        alice, carol = login(base, "alice"), login(base, "carol")
        assert post_form(alice, base, world.customer_case, "decide", decision="confirmed",
                         reason="strong match").status_code == 303
        assert 'id="needs-approver"' in carol.get(f"{base}/cases/{world.customer_case}").text
        assert 'id="needs-approver"' not in alice.get(f"{base}/cases/{world.customer_case}").text
        refused = post_form(carol, base, world.customer_case, "approve", reason="agree")
        assert refused.status_code == 403 and "carol does not have the approver role" in refused.text
        assert store.get_case(world.customer_case)["status"] == "pending_approval"
        assert post_form(login(base, "bob"), base, world.customer_case, "approve").status_code == 303
    refusal = "carol does not have the approver role needed to approve a confirmation"
    assert ("carol", "case_approve_refused", refusal) in audit_actions(store, world.customer_case)


def test_a_proxy_without_a_file_grants_the_roles_it_sends(tmp_path):
    world = build_world(tmp_path / "world")
    app, store = make_app(world, analysts_file=None, trusted_header="X-Forwarded-User",
                          trusted_roles_header="X-Forwarded-Groups", trusted_proxies=("127.0.0.1",))
    with running(app) as base:
        def as_user(name: str, groups: str) -> requests.Session:
            session = requests.Session()
            session.headers.update({"X-Forwarded-User": name, "X-Forwarded-Groups": groups})
            return session

        assert post_form(as_user("dora", "analyst"), base, world.customer_case, "decide", decision="confirmed",
                         reason="listed").status_code == 303
        assert post_form(as_user("eli", "analyst"), base, world.customer_case, "approve").status_code == 403
        assert post_form(as_user("fay", "analyst,approver"), base, world.customer_case, "approve").status_code == 303
    assert store.get_case(world.customer_case)["decisions"][0]["approved_by"] == "fay"


def test_the_access_settings_reach_the_dashboard_from_the_environment(tmp_path):
    """KYC_LOGIN_MAX_FAILURES, KYC_LOGIN_LOCKOUT_MINUTES, KYC_LOGIN_CLIENT_MAX_FAILURES,
    KYC_SESSION_IDLE_MINUTES, KYC_TRUSTED_PROXIES, KYC_TRUSTED_PROXY_SECRET, KYC_TRUSTED_USER_HEADER and
    KYC_TRUSTED_ROLES_HEADER, read by settings.py, change what `kyc serve` does."""
    from kyc_assets.cases.web import create_app
    from kyc_assets.cases.web.app import config_from_env

    world = build_world(tmp_path / "world")
    env = {"KYC_HOME": str(tmp_path / "home"), "KYC_DATABASE_URL": world.database_url,
           "KYC_ANALYSTS_FILE": str(world.analysts_file), "KYC_LOGIN_MAX_FAILURES": "2",
           "KYC_LOGIN_LOCKOUT_MINUTES": "7", "KYC_LOGIN_CLIENT_MAX_FAILURES": "9", "KYC_SESSION_IDLE_MINUTES": "3"}
    config = config_from_env(env)
    assert (config.login_max_failures, config.login_lockout_minutes, config.login_client_max_failures,
            config.session_idle_minutes, config.trusted_proxies, config.proxy_secret) == (2, 7, 9, 3, (), None)
    with running(create_app(config)) as base:
        for _ in range(2):
            _attempt(base, "bob", "guess")
        assert "locked" in _attempt(base, "bob", PASSWORDS["bob"]).text  # locked after 2, not the default 5
    with config.store.engine.connect() as conn:
        until, = conn.execute(sa.text("SELECT locked_until FROM login_failures WHERE account = 'bob'")).one()
    assert 6 * 60 < until - time.time() <= 7 * 60
    proxied = config_from_env({**env, "KYC_TRUSTED_USER_HEADER": "X-User", "KYC_TRUSTED_PROXIES": "10.1.2.3",
                               "KYC_TRUSTED_PROXY_SECRET": "pxy", "KYC_TRUSTED_ROLES_HEADER": "X-Groups"})
    assert proxied.trusted_proxies == ("10.1.2.3",) and proxied.proxy_secret == "pxy"
    assert proxied.store.analysts.trusted_header == "X-User" and proxied.store.analysts.trusted_roles_header == "X-Groups"
    with running(create_app(proxied)) as base:
        assert requests.get(f"{base}/cases", headers={"X-User": "alice"}).status_code == 403
        assert requests.get(f"{base}/cases", headers={"X-User": "alice", "X-KYC-Proxy-Secret": "pxy"}).status_code == 200


def test_sign_in_never_redirects_to_another_site(tmp_path):
    world = build_world(tmp_path / "world")
    app, _ = make_app(world)
    with running(app) as base:
        for target in ("/\\evil.example/", "/\t/evil.example/", "//evil.example/", "https://evil.example/",
                       "/cases\\@evil.example"):
            session = requests.Session()
            page = session.get(f"{base}/login", params={"next": target})
            assert 'name="next" value="/cases"' in page.text, target
            done = session.post(f"{base}/login", allow_redirects=False,
                                data={"csrf_token": csrf_of(page.text), "username": "alice",
                                      "password": PASSWORDS["alice"], "next": target})
            assert done.status_code == 303 and done.headers["location"] == "/cases", target
        session = requests.Session()
        page = session.get(f"{base}/login")
        done = session.post(f"{base}/login", allow_redirects=False,
                            data={"csrf_token": csrf_of(page.text), "username": "alice",
                                  "password": PASSWORDS["alice"], "next": "/cases?status=closed"})
        assert done.headers["location"] == "/cases?status=closed"  # a local page is kept
