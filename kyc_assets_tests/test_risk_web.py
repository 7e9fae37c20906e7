"""Dashboard: the review queue, the customer page (rating, contributions, history, next review, reviews) and
the review page, over HTTP; overrides with four eyes and EDD before a high-risk review closes."""

from __future__ import annotations

import json
import re
from datetime import date

import duckdb
import pandas as pd
import pytest
import requests

from kyc_assets.risk.methodology import load_country_lists, load_methodology
from kyc_assets.risk.ratings import ratings_table
from kyc_assets.risk.reviews import plan_reviews
from kyc_assets.risk.reviews_store import ReviewStore
from kyc_assets_tests.web_seed import PASSWORDS, build_world, make_app, running

TODAY = date.today()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _login(base: str, analyst: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/reviews")
    session.post(f"{base}/login", data={"csrf_token": _csrf(page.text), "username": analyst,
                                        "password": PASSWORDS[analyst], "next": "/reviews"})
    return session


def _post(session, base, page_url, action_url, **fields) -> requests.Response:
    page = session.get(f"{base}{page_url}")
    return session.post(f"{base}{action_url}", data={"csrf_token": _csrf(page.text), **fields}, allow_redirects=True)


@pytest.fixture
def server(tmp_path):
    world = build_world(tmp_path / "world")
    inputs = pd.DataFrame([{"customer_id": "CUST-R1", "nationality": "IRN", "sanctions_status": "none",
                            "is_pep": False, "customer_type": "person"},
                           {"customer_id": "CUST-R2", "nationality": "GBR", "residence_country": "GB",
                            "sanctions_status": "none", "is_pep": False, "customer_type": "person",
                            "onboarding_channel": "in_person"}])
    table = ratings_table(inputs, load_methodology(), load_country_lists(), as_of=TODAY)
    table["input_versions"] = json.dumps({"customers": "v1"})
    with duckdb.connect(str(world.warehouse)) as con:
        con.execute("create schema if not exists kyc")
        con.register("t", table.astype({c: str for c in table.columns if str(table[c].dtype) == "category"}))
        con.execute("create table kyc.customer_risk_ratings as select * from t")
    app, store = make_app(world)
    reviews = ReviewStore(store)
    triggers, states = plan_reviews(table.assign(document_expiry=None), {}, as_of=TODAY,
                                    methodology=load_methodology())
    reviews.apply(triggers, states, as_of=TODAY, actor="test")
    reviews.record_history(table, run_id="run-1")
    with running(app) as base:
        yield base, store, reviews


def test_review_queue_customer_page_overrides_and_edd(server):
    base, store, reviews = server
    alice, bob = _login(base, "alice"), _login(base, "bob")
    queue = alice.get(f"{base}/reviews")
    assert queue.status_code == 200 and 'id="review-queue"' in queue.text
    assert "CUST-R1" not in queue.text  # a new high-risk customer is first reviewed within the year
    page = alice.get(f"{base}/customers/CUST-R1")
    assert page.status_code == 200
    assert '<strong id="tier">high</strong>' in page.text and "call for action" in page.text
    assert "<meter" in page.text and "nationality" in page.text
    assert f'id="next-review">{TODAY.replace(year=TODAY.year + 1).isoformat()}' in page.text
    assert "run-1" in page.text  # the rating history
    assert alice.get(f"{base}/customers/NOBODY").status_code == 404

    # an override: requested by alice, refused for alice (four eyes), approved by bob
    done = _post(alice, base, "/customers/CUST-R2", "/customers/CUST-R2/overrides", tier="high",
                 reason="branch reports undeclared cash business")
    assert done.status_code == 200 and "Override requested" in done.text
    override_id = reviews.overrides("CUST-R2")[0]["override_id"]
    refused = _post(alice, base, "/customers/CUST-R2", f"/customers/CUST-R2/overrides/{override_id}/approve")
    assert refused.status_code == 403 and "other than the one who requested" in refused.text
    approved = _post(bob, base, "/customers/CUST-R2", f"/customers/CUST-R2/overrides/{override_id}/approve")
    assert approved.status_code == 200 and "Override approved" in approved.text
    assert reviews.active_overrides(TODAY)["CUST-R2"]["decided_by"] == "bob"

    # a high-risk review: EDD first, senior approval from someone else
    triggers, states = plan_reviews(pd.DataFrame([{"customer_id": "CUST-R1", "tier": "prohibited", "score": 0.5}]),
                                    reviews.states(), as_of=TODAY, methodology=load_methodology(),
                                    open_reviews=reviews.open_reviews(), done_keys=reviews.done_keys())
    reviews.apply(triggers, states, as_of=TODAY, actor="test")
    review_id = reviews.open_reviews()["CUST-R1"]["review_id"]
    assert review_id in alice.get(f"{base}/reviews").text
    url = f"/reviews/{review_id}"
    blocked = _post(alice, base, url, f"{url}/close", outcome="fine")
    assert blocked.status_code == 400 and "source_of_funds, source_of_wealth" in blocked.text
    for item in ("source_of_funds", "source_of_wealth"):
        assert _post(alice, base, url, f"{url}/edd", item=item, note="documents on file").status_code == 200
    assert _post(bob, base, url, f"{url}/edd", item="senior_management_approval", note="approved by head of KYC") \
        .status_code == 200
    closed = _post(alice, base, url, f"{url}/close", outcome="exit the relationship")
    assert closed.status_code == 200 and "Review closed" in closed.text
    assert reviews.get_review(review_id)["status"] == "closed"
    # a forged form (no CSRF token) is refused and audited
    forged = alice.post(f"{base}/customers/CUST-R2/overrides", data={"tier": "low", "reason": "x" * 20})
    assert forged.status_code == 403
    assert any(e["action"] == "override_request_refused" for e in store.audit_entries(limit=100))
