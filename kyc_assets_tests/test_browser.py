"""The dashboard end to end in a real browser: Debian's headless Chromium driven by Playwright.

Analyst alice reviews a case and proposes to confirm it; her own approval is refused (four-eyes);
analyst bob approves it, and approves the SAR draft that alice prepared. Screenshots land in
kyc_assets_tests/artifacts/ (gitignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kyc_assets_tests.test_cli_cases import home  # noqa: F401 -- the fixture: a KYC_HOME with one case
from kyc_assets_tests.web_seed import PASSWORDS, SCRIPT_NAME, build_world, make_app, running

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture
def chromium():
    """Debian's Chromium (no browser download). Playwright's ``launch`` gives it a fresh temporary
    user-data-dir of its own, removed on close; background networking is off (no internet here)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium package")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS, timeout=60_000)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(browser, base: str, analyst: str):
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{base}/cases")
    assert "/login" in page.url
    page.fill("#username", analyst)
    page.fill("#password", PASSWORDS[analyst])
    page.click("#sign-in")
    page.wait_for_url(f"{base}/cases")
    assert page.inner_text("#analyst") == analyst
    page.dialogs = dialogs
    return context, page


def test_review_and_four_eyes_approval_in_chromium(chromium, tmp_path):
    world = build_world(tmp_path / "world")
    app, store = make_app(world)
    ARTIFACTS.mkdir(exist_ok=True)
    with running(app) as base:
        alice_ctx, alice = sign_in(chromium, base, "alice")

        # The queue: both cases, priority 1 first; the <script> name is shown as text, never run.
        rows = alice.locator("#queue tbody tr")
        assert rows.count() == 2
        assert SCRIPT_NAME in alice.inner_text("#queue")
        assert "cash deposits" in alice.inner_text("#queue") or "sanctions" in alice.inner_text("#queue")
        alice.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)

        # Alice takes the customer case and reviews its evidence.
        alice.click(f"text={world.customer_case}")
        alice.wait_for_url(f"**/cases/{world.customer_case}")
        assert alice.inner_text("#subject-name") == SCRIPT_NAME
        assert alice.locator("img.doc-image").evaluate("img => img.complete && img.naturalWidth > 0")
        assert "PETROV, Ivan" in alice.inner_text("#compare-1")
        # The hit side by side: customer record and list entry field by field, matched words marked,
        # aliases and dates for people (never raw JSON), times without microseconds.
        compare = alice.inner_text("#compare-1")
        assert "Customer record" in compare and "Ivan Petrov; I. Petrov" in compare and '["' not in compare
        assert "1 January 1970" in compare
        assert {m.lower() for m in alice.locator("#compare-1 mark").all_inner_texts()} >= {"ivan", "petrov"}
        assert alice.locator("#compare-1 tr.agree").count() >= 1  # the date of birth or the passport agrees
        assert ".000" not in alice.inner_text("main") and "UTC" in alice.inner_text("main")
        alice.screenshot(path=str(ARTIFACTS / "sanctions_case.png"), full_page=True)
        alice.click("#assign")
        alice.wait_for_selector("#notice")
        assert alice.inner_text("#assigned-to") == "alice"

        # She proposes to confirm it; four-eyes: her own approval is refused.
        alice.check("#decision-confirmed")
        alice.fill("#reason", "Name, DOB and nationality match the OFAC entry; passport confirms.")
        alice.click("#submit-decision")
        alice.wait_for_selector("#proposal")
        assert "pending approval" in alice.inner_text("#case-status")
        alice.click("#approve")
        alice.wait_for_selector("#error")
        assert "four-eyes" in alice.inner_text("#error")
        assert "pending approval" in alice.inner_text("#case-status")
        alice.screenshot(path=str(ARTIFACTS / "four_eyes_refused.png"), full_page=True)

        # Bob, a second analyst, approves: the case closes as confirmed with a SAR draft.
        bob_ctx, bob = sign_in(chromium, base, "bob")
        bob.goto(f"{base}/cases?status=pending_approval")
        bob.click(f"text={world.customer_case}")
        bob.fill("#approval-reason", "Agree with the evidence.")
        bob.click("#approve")
        bob.wait_for_selector("#notice")
        assert "closed" in bob.inner_text("#case-status") and "confirmed" in bob.inner_text("#case-status")
        assert bob.inner_text("#report-status") == "draft"
        # The SAR draft reads in the dashboard before and after its approval; bob's times are in his zone.
        assert "alice" in bob.inner_text("#sar-narrative") and "awaiting approval" in bob.inner_text("#sar")
        assert "CET" in bob.inner_text("main")
        # The report was prepared by alice, so bob approves it too.
        bob.click("#approve-report")
        bob.wait_for_selector("#notice")
        assert bob.inner_text("#report-status") == "approved"
        assert "approved by bob" in bob.inner_text("#sar") and bob.inner_text("#sar-narrative")
        bob.screenshot(path=str(ARTIFACTS / "case_approved.png"), full_page=True)

        # The account case shows the transaction history chart with its alert days.
        bob.goto(f"{base}/cases/{world.account_case}")
        assert bob.locator("#tx-chart polyline").count() == 2
        assert bob.locator("#tx-chart circle.alert").count() == 2
        assert bob.locator("#tx-chart line.alert-day").count() == 2
        assert bob.locator("#tx-chart text.label").count() >= 8  # amounts on the y axis, days on the x axis
        assert bob.locator("#tx-chart").bounding_box()["width"] > 1000  # the chart uses the page's width
        # One timeline sorted by day (escalated newest first), reasons in words with their numbers.
        days = [row.split("\t")[0] for row in bob.locator("#alert-timeline tr").all_inner_texts()[1:]]
        assert days == ["2026-01-20", "2026-01-27"]
        assert "2 cash deposits of 9,500 USD in 8 days, total 19,000 USD" in bob.inner_text("#alert-timeline")
        assert bob.locator("article.anomaly_alert").count() == 0  # no card per alert day
        # The transactions behind the alert are highlighted in the account's history.
        flagged = bob.locator("#transactions tr.flagged").all_inner_texts()
        assert len(flagged) == 2 and all("9,500.00" in r and "structuring" in r for r in flagged)
        bob.screenshot(path=str(ARTIFACTS / "account_case.png"), full_page=True)

        assert alice.dialogs == [] and bob.dialogs == [], "no script from the data ran"
        alice_ctx.close()
        bob_ctx.close()

    case = store.get_case(world.customer_case)
    assert case["status"] == "closed" and case["outcome"] == "confirmed"
    decision = case["decisions"][0]
    assert decision["analyst"] == "alice" and decision["approved_by"] == "bob"
    actions = [(e["actor"], e["action"]) for e in store.audit_entries(subject=world.customer_case, limit=100)]
    assert ("alice", "case_approve_refused") in actions
    assert ("bob", "case_confirmation_approved") in actions and ("bob", "report_approved") in actions
    assert (ARTIFACTS / "case_approved.png").stat().st_size > 10_000


def test_the_evidence_bundle_summary_reads_on_its_own(chromium, home, capsys, tmp_path):  # noqa: F811
    """The examiner's summary.html opened from disk: the hit side by side, the decisions with reasons,
    the document link working, and not one request outside the bundle."""
    from kyc_assets.cli import main
    from kyc_assets_tests.test_cli_cases import _warehouse

    case_id = home["case_id"]
    _warehouse(home["path"] / "warehouse", home["sha"])
    assert main(["case", "decide", case_id, "--decision", "confirmed", "--reason", "same DOB and passport",
                 "--as", "alice"]) == 0
    assert main(["case", "approve", case_id, "--as", "bob"]) == 0
    bundle = tmp_path / "bundle"
    assert main(["case", "export", case_id, "--out", str(bundle), "--without-instance"]) == 0
    capsys.readouterr()
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((bundle / "summary.html").as_uri())
    text = page.inner_text("body")
    for expected in ("DOE, Jane", "Janet Doe (aka)", "same DOB and passport", "approved by bob", "P1234567"):
        assert expected in text, expected
    link = page.locator("a[href^='evidence/']").first.get_attribute("href")
    assert (bundle / link).read_bytes() == home["png"]
    assert requests and all(url.startswith("file://") for url in requests)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "bundle_summary.png"), full_page=True)
