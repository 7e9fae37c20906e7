"""The review dashboard over HTTP (uvicorn on 127.0.0.1): sign-in, queue, case page, decisions with
four-eyes, CSRF, escaping, unknown ids, the trusted proxy header, and `kyc serve` itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import requests

from kyc_assets_tests.local_servers import free_port
from kyc_assets_tests.web_seed import PASSWORDS, build_world, make_app, running


@pytest.fixture
def world(tmp_path):
    return build_world(tmp_path / "world")


@pytest.fixture
def server(world):
    app, store = make_app(world)
    with running(app) as base:
        yield base, store


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def version_of(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


def login(base: str, analyst: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/cases")
    assert page.url.startswith(f"{base}/login")
    done = session.post(f"{base}/login", data={"csrf_token": csrf_of(page.text), "username": analyst,
                                               "password": PASSWORDS[analyst], "next": "/cases"})
    assert done.status_code == 200 and done.url == f"{base}/cases"
    return session


def post_form(session: requests.Session, base: str, case_id: str, action: str, **fields) -> requests.Response:
    page = session.get(f"{base}/cases/{case_id}")
    data = {"csrf_token": csrf_of(page.text), **fields}
    if 'name="version"' in page.text:  # a closed case's page has no decision form
        data["version"] = version_of(page.text)
    return session.post(f"{base}/cases/{case_id}/{action}", data=data, allow_redirects=False)


def audit_actions(store, subject: str) -> list[tuple[str, str, str]]:
    return [(e["actor"], e["action"], e["detail"].get("error", "")) for e in store.audit_entries(subject=subject)]


def test_sign_in_is_required_and_a_wrong_password_is_refused_and_audited(server):
    base, store = server
    anonymous = requests.get(f"{base}/cases/whatever", allow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    session = requests.Session()
    page = session.get(f"{base}/login")
    wrong = session.post(f"{base}/login", data={"csrf_token": csrf_of(page.text), "username": "alice",
                                                "password": "nope"})
    assert wrong.status_code == 401 and "unknown analyst or wrong password" in wrong.text
    assert ("alice", "login_refused", "unknown analyst or wrong password") in audit_actions(store, "dashboard")
    alice = login(base, "alice")
    assert ("alice", "login", "") in audit_actions(store, "dashboard")
    assert alice.get(f"{base}/cases").status_code == 200


def test_queue_sorts_by_priority_and_due_date_filters_and_escapes_names(server, world):
    base, store = server
    alice = login(base, "alice")
    page = alice.get(f"{base}/cases")
    assert page.status_code == 200
    ids = re.findall(r'class="case-link">([^<]+)<', page.text)
    assert set(ids) == {world.customer_case, world.account_case}
    expected = [c["case_id"] for c in store.list_cases(status="active", sort="priority")]
    assert ids == expected
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt; Ivan" in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"] and \
        "default-src 'none'" in page.headers["Content-Security-Policy"]
    closed = alice.get(f"{base}/cases", params={"status": "closed"})
    assert re.findall(r'class="case-link">([^<]+)<', closed.text) == []
    found = alice.get(f"{base}/cases", params={"status": "all", "q": "ACC-0042"})
    assert re.findall(r'class="case-link">([^<]+)<', found.text) == [world.account_case]


def test_assign_from_the_queue(server, world):
    base, store = server
    alice = login(base, "alice")
    page = alice.get(f"{base}/cases")
    form = re.search(rf'action="/cases/{world.account_case}/assign".*?name="version" value="(\d+)"', page.text, re.DOTALL)
    done = alice.post(f"{base}/cases/{world.account_case}/assign", allow_redirects=False,
                      data={"csrf_token": csrf_of(page.text), "to": "me", "version": form.group(1), "next": "/cases"})
    assert done.status_code == 303 and done.headers["location"] == "/cases"
    assert store.get_case(world.account_case)["assigned_to"] == "alice"
    mine = alice.get(f"{base}/cases", params={"assigned": "me"})
    assert re.findall(r'class="case-link">([^<]+)<', mine.text) == [world.account_case]


def test_case_page_shows_the_evidence_escaped_with_dagster_links(server, world):
    base, _ = server
    alice = login(base, "alice")
    page = alice.get(f"{base}/cases/{world.customer_case}")
    assert page.status_code == 200
    html = page.text
    assert "<script>" not in html.split("</head>")[1]  # no script at all in the body
    assert "&lt;img src=x onerror=alert(2)&gt;" in html and "&lt;b&gt;bold remark&lt;/b&gt;" in html
    assert "<mark>PETROV</mark>, <mark>Ivan</mark>" in html and "DOB year match &lt;i&gt;1970&lt;/i&gt;" in html  # hit next to entry
    assert f'src="/cases/{world.customer_case}/documents/{world.document_sha}"' in html
    assert "http://127.0.0.1:3000/assets/screening_results" in html
    assert "http://127.0.0.1:3000/runs/0f1e2d3c-aaaa-bbbb-cccc-000000000001" in html
    image = alice.get(f"{base}/cases/{world.customer_case}/documents/{world.document_sha}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG") and "sandbox" in image.headers["Content-Security-Policy"]
    account = alice.get(f"{base}/cases/{world.account_case}").text
    assert account.count("<polyline") == 2 and account.count('class="alert"><title>alert 2026-01-2') == 2
    assert "http://127.0.0.1:3000/assets/anomaly_scores?partition=2026-01-20" in account


def test_unknown_case_and_document_ids_give_a_clear_404(server, world):
    base, _ = server
    alice = login(base, "alice")
    missing = alice.get(f"{base}/cases/CASE-doesnotexist")
    assert missing.status_code == 404 and "no case &#39;CASE-doesnotexist&#39;" in missing.text
    other = alice.get(f"{base}/cases/{world.account_case}/documents/{world.document_sha}")
    assert other.status_code == 404 and "This case has no such document" in other.text
    decide = post_form(alice, base, world.customer_case, "decide", decision="escalate", reason="x")
    assert decide.status_code == 303
    ghost = alice.post(f"{base}/cases/CASE-ghost/decide", allow_redirects=False,
                       data={"csrf_token": csrf_of(alice.get(f"{base}/cases").text), "decision": "escalate",
                             "reason": "x"})
    assert ghost.status_code == 404 and "no case" in ghost.text


def test_forged_posts_are_refused_and_audited(server, world):
    base, store = server
    alice = login(base, "alice")
    page = alice.get(f"{base}/cases/{world.customer_case}")
    version = version_of(page.text)
    for token in (None, "forged-token", csrf_of(requests.get(f"{base}/login").text)):  # other session's token
        data = {"decision": "false_positive", "reason": "looks fine", "version": version}
        if token:
            data["csrf_token"] = token
        refused = alice.post(f"{base}/cases/{world.customer_case}/decide", data=data, allow_redirects=False)
        assert refused.status_code == 403 and "CSRF check failed" in refused.text
    assert store.get_case(world.customer_case)["status"] == "open"
    refusals = [a for a in audit_actions(store, world.customer_case) if a[1] == "case_decide_refused"]
    assert len(refusals) == 3 and refusals[0] == ("alice", "case_decide_refused", "CSRF token missing or invalid")
    # A cross-site POST carries no session cookie at all: refused, and kept out of the audit log (its
    # subject would be the sender's choice; test_security_web checks the rate limit on such refusals).
    before = len(store.audit_entries(limit=1000))
    anonymous = requests.post(f"{base}/cases/{world.customer_case}/decide", allow_redirects=False,
                              data={"decision": "false_positive", "reason": "x"})
    assert anonymous.status_code == 403 and len(store.audit_entries(limit=1000)) == before


def test_four_eyes_a_second_analyst_must_approve_and_a_closed_case_takes_no_decision(server, world):
    base, store = server
    alice, bob = login(base, "alice"), login(base, "bob")
    proposed = post_form(alice, base, world.customer_case, "decide", decision="confirmed", reason="strong match")
    assert proposed.status_code == 303 and proposed.headers["location"].endswith("?done=proposed")
    own = post_form(alice, base, world.customer_case, "approve", reason="")
    assert own.status_code == 403 and "four-eyes: alice proposed the confirmation" in own.text
    assert store.get_case(world.customer_case)["status"] == "pending_approval"
    approved = post_form(bob, base, world.customer_case, "approve", reason="agree")
    assert approved.status_code == 303
    case = store.get_case(world.customer_case)
    assert (case["status"], case["outcome"], case["decisions"][0]["approved_by"]) == ("closed", "confirmed", "bob")
    alice_report = post_form(alice, base, world.customer_case, "approve-report")
    assert alice_report.status_code == 403 and "prepared report" in alice_report.text
    assert post_form(bob, base, world.customer_case, "approve-report").status_code == 303
    again = post_form(bob, base, world.customer_case, "decide", decision="false_positive", reason="oops")
    assert again.status_code == 409 and "is closed" in again.text
    actions = audit_actions(store, world.customer_case)
    assert any(a[:2] == ("alice", "case_approve_refused") for a in actions)
    assert any(a[:2] == ("bob", "case_decide_refused") for a in actions)


def test_a_stale_form_loses_to_a_concurrent_decision(server, world):
    base, store = server
    alice, bob = login(base, "alice"), login(base, "bob")
    alice_page, bob_page = (s.get(f"{base}/cases/{world.account_case}").text for s in (alice, bob))
    first = alice.post(f"{base}/cases/{world.account_case}/decide", allow_redirects=False,
                       data={"csrf_token": csrf_of(alice_page), "version": version_of(alice_page),
                             "decision": "escalate", "reason": "needs a senior look"})
    second = bob.post(f"{base}/cases/{world.account_case}/decide", allow_redirects=False,
                      data={"csrf_token": csrf_of(bob_page), "version": version_of(bob_page),
                            "decision": "false_positive", "reason": "payroll"})
    assert first.status_code == 303
    assert second.status_code == 409 and "changed by someone else" in second.text
    assert store.get_case(world.account_case)["status"] == "escalated"


def test_trusted_proxy_header_identifies_the_analyst(world):
    app, store = make_app(world, trusted_header="X-Forwarded-User", trusted_proxies=("127.0.0.1",))
    with running(app) as base:
        assert requests.get(f"{base}/cases").status_code == 401
        assert requests.get(f"{base}/cases", headers={"X-Forwarded-User": "mallory"}).status_code == 401
        assert requests.get(f"{base}/login").status_code == 404
        bob = requests.Session()
        bob.headers["X-Forwarded-User"] = "bob"
        page = bob.get(f"{base}/cases/{world.account_case}")
        assert page.status_code == 200 and '<span id="analyst">bob</span>' in page.text
        done = bob.post(f"{base}/cases/{world.account_case}/assign", allow_redirects=False,
                        data={"csrf_token": csrf_of(page.text), "version": version_of(page.text), "to": "alice"})
        assert done.status_code == 303
    case = store.get_case(world.account_case)
    assert case["assigned_to"] == "alice" and case["events"][-1]["actor"] == "bob"


def test_kyc_serve_starts_the_dashboard(tmp_path):
    port = free_port()
    env = {**os.environ, "KYC_HOME": str(tmp_path / "home"), "PYTHONWARNINGS": "ignore"}
    for var in ("KYC_DATABASE_URL", "KYC_ANALYSTS_FILE", "KYC_TRUSTED_USER_HEADER"):
        env.pop(var, None)
    kyc = [sys.executable, "-m", "kyc_assets.cli"]
    bad = subprocess.run([*kyc, "serve", "--port", "70000"], check=False, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip() == "kyc: error: --port must be 1-65535, not 70000"
    proc = subprocess.Popen([*kyc, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "kyc serve did not start"
                time.sleep(0.2)
        assert health.text == "ok"
        queue = requests.get(f"http://127.0.0.1:{port}/cases")
        assert queue.url.endswith("/login?next=%2Fcases") and "Local mode" in queue.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_times_dates_and_the_side_by_side_are_for_people():
    from kyc_assets.cases.web.present import compare, human_date, human_list, when

    assert when("2026-12-01T23:47:07.123456+00:00", "Europe/Berlin") == "2026-12-02 00:47 CET"
    assert when("2026-07-01T10:00:00.5", None) == "2026-07-01 10:00 UTC" and when("2026-07-01") == "2026-07-01"
    assert when("2026-07-01T10:00:00Z", "Nowhere/Land") == "2026-07-01 10:00 UTC"
    assert (human_date("1954-10-17"), human_date("1954-10"), human_date("circa 1954")) == \
        ("17 October 1954", "October 1954", "circa 1954")
    assert human_list('[["Passport", "U0978"], ["National ID", "105"]]') == "Passport U0978; National ID 105"
    rows = {r["label"]: r for r in compare(
        {"full_name": "Erhan Culha", "date_of_birth": "1954-10-17", "nationality": "DEU", "document_number": "U0978"},
        {"primary_name": "CULHA, Erhan", "aliases": '["Erhan Çulha"]', "dates_of_birth": '["1954-10-17", "1955"]',
         "nationalities": '["TR"]', "identifiers": '[["Passport", "U0978 (Turkey)"]]'})}
    assert str(rows["Name"]["entry"]) == "<mark>CULHA</mark>, <mark>Erhan</mark>"
    assert str(rows["Aliases"]["entry"]) == "<mark>Erhan</mark> <mark>Çulha</mark>"  # accents folded
    assert rows["Date of birth"]["same"] and str(rows["Date of birth"]["entry"]) == \
        "<mark>17 October 1954</mark>; 1955"
    assert not rows["Nationality"]["same"] and rows["Identifiers"]["same"]
    assert "<mark>U0978</mark>" in str(rows["Identifiers"]["entry"])


def test_notes_time_left_directory_assignment_csv_export_and_name_search(server, world):
    import csv
    import io

    base, store = server
    alice = login(base, "alice")
    # A note: on the page and in the audit log.
    done = post_form(alice, base, world.customer_case, "note", note="Called the branch: <b>no</b> answer yet.")
    assert done.status_code == 303
    page = alice.get(f"{base}/cases/{world.customer_case}").text
    assert "Called the branch: &lt;b&gt;no&lt;/b&gt; answer yet." in page and "Note added." not in page
    assert ("alice", "case_note_added", "") in audit_actions(store, world.customer_case)
    assert store.get_case(world.customer_case)["notes"][0]["text"].startswith("Called the branch")
    empty = post_form(alice, base, world.customer_case, "note", note="  ")
    assert empty.status_code == 400 and ("alice", "case_note_refused", "a note needs some text") in \
        audit_actions(store, world.customer_case)
    # Time left against the service level, in the queue and on the case page.
    queue = alice.get(f"{base}/cases").text
    assert re.search(r'days-left">\d+ days? left</span>', queue)
    # Assignment: the analysts of the directory to choose from.
    assert re.search(r'<select name="to" id="assign-to"><option value="alice"[^>]*>alice</option>'
                     r'<option value="bob"', page)
    assert post_form(alice, base, world.customer_case, "assign", to="bob").status_code == 303
    assert store.get_case(world.customer_case)["assigned_to"] == "bob"
    # The queue as CSV (same filters), audited because it holds names.
    export = alice.get(f"{base}/cases.csv?status=active&priority=1")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["case_id"] for r in rows] == [world.customer_case]  # the P2 account case is filtered out
    assert rows[0]["subject_name"].endswith("Ivan") and rows[0]["assigned_to"] == "bob" and rows[0]["days_left"]
    assert ("alice", "queue_exported", "") in audit_actions(store, "cases")
    # Search by name: the names are encrypted, the store decrypts them for the signed-in analyst.
    found = alice.get(f"{base}/cases", params={"q": "ivan"}).text
    assert world.customer_case in found and world.account_case not in found


def test_name_search_needs_the_pii_key(tmp_path):
    from kyc_assets.cases.store import CaseStore

    world = build_world(tmp_path / "world")
    with_key = CaseStore(world.database_url, pii_keys=world.pii_keys)
    assert [c["case_id"] for c in with_key.list_cases(search="IVAN")] == [world.customer_case]
    assert with_key.count_cases(search="ivan") == 1
    assert CaseStore(world.database_url).list_cases(search="ivan") == []  # no key, no names


def test_alert_days_that_say_the_same_collapse_into_one_timeline_row(server, world):
    from kyc_assets.cases.escalation import CaseCandidate, Evidence

    base, store = server
    case = store.get_case(world.account_case)
    last = next(e for e in case["evidence"] if e["reference"]["partition"] == "2026-01-27")
    more = [Evidence(kind="anomaly_alert", risk=0.9, reason="x", identity=("ACC-0042", day),
                     reference={**last["reference"], "partition": day, "run_id": f"run-{day}"})
            for day in ("2026-01-29", "2026-01-28")]
    store.escalate([CaseCandidate("account", "ACC-0042", more)], sla_days=5)
    page = login(base, "alice").get(f"{base}/cases/{world.account_case}").text
    table = page.split('id="alert-timeline"')[1].split("</table>")[0]
    assert table.count("<tr>") == 3  # header, 2026-01-20, 2026-01-27 to 2026-01-29
    assert "2026-01-27 to 2026-01-29" in table and "3 alert days" in table


def test_aliases_read_as_names():
    from kyc_assets.cases.web.present import human_list

    assert human_list('[["Leonid E. SLUTSKY", "strong_aka"], ["Lenya", "weak_aka"]]') == \
        "Leonid E. SLUTSKY; Lenya (weak alias)"
    assert human_list([{"name": "A. B.", "quality": "weak"}, {"name": "C D"}]) == "A. B. (weak alias); C D"
