"""Dashboard pages of the risk capability (kyc_assets/risk): the review queue beside the case queue, the
customer page (rating with factor contributions, rating history, next review date, reviews, overrides) and
the review page (events, EDD items, closing). Same safety as the case pages: every form carries the session's
CSRF token, every change goes through the review store, which enforces four eyes and EDD and audits refusals.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from kyc_assets.cases.web.evidence import WarehouseUnavailable, warehouse

DONE = {"override_requested": "Override requested: a second analyst must approve it.",
        "override_approved": "Override approved: it applies from the next rating run, until the next review.",
        "override_rejected": "Override rejected.", "edd_recorded": "EDD item recorded.",
        "review_closed": "Review closed: the next review is counted from today."}


def read_rating(warehouse_path, customer_id: str) -> tuple[dict | None, str | None]:
    """The customer's latest rating row from the warehouse, or (None, why)."""
    try:
        with warehouse(warehouse_path) as conn:
            tables = {r[0] for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'kyc'").fetchall()}
            if "customer_risk_ratings" not in tables:
                return None, "customer_risk_ratings has not been materialized yet"
            frame = conn.execute("select * from kyc.customer_risk_ratings where customer_id = ?",
                                 [customer_id]).df()
    except WarehouseUnavailable as exc:
        return None, str(exc)
    if not len(frame):
        return None, None
    return frame.iloc[0].to_dict(), None


def build_routes(config, *, page, require_analyst, checked_post, error_page, finish) -> list[Route]:
    from kyc_assets.cases import store as case_store
    from kyc_assets.risk.engine import explain
    from kyc_assets.risk.methodology import EDD_ITEMS, TIERS, MethodologyError, load_methodology
    from kyc_assets.risk.reviews_store import ReviewStore
    from kyc_assets.settings import Settings

    reviews = ReviewStore(config.store)

    def methodology():
        return load_methodology(Settings.from_env().risk_methodology_path)

    def review_queue(request: Request) -> Response:
        analyst = require_analyst(request)
        if isinstance(analyst, Response):
            return analyst
        status = request.query_params.get("status", "open")
        status = status if status in ("open", "closed", "all") else "open"
        rows = reviews.list_reviews(status=None if status == "all" else status, limit=500)
        return page(request, "review_queue.html", {"rows": rows, "status": status,
                                                   "total": reviews.count_reviews(status=None if status == "all"
                                                                                  else status)})

    def customer_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
        analyst = require_analyst(request)
        if isinstance(analyst, Response):
            return analyst
        cid = request.path_params["customer_id"]
        rating, why = read_rating(config.warehouse_path, cid)
        state = reviews.state_of(cid)
        history = reviews.history(cid)
        if rating is None and not state and not history:
            return error_page(request, 404, "Customer not found",
                              why or f"No rating for customer {cid[:60]!r}. Check the id.")
        if config.audit_views and status == 200:
            config.store.append_audit(actor=analyst, action="customer_viewed", subject=cid, detail={})
        factors = explain(rating) if rating else []
        top = max([f["contribution"] for f in factors] or [0]) or 1
        return page(request, "risk_customer.html", {
            "cid": cid, "rating": rating, "why": why, "factors": factors, "top": top, "state": state,
            "history": history, "reviews": reviews.list_reviews(status=None, customer_id=cid),
            "overrides": reviews.overrides(cid), "tiers": TIERS, "error": error,
            "done": DONE.get(request.query_params.get("done", "")), "cid_url": quote(cid, safe="")}, status)

    def review_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
        analyst = require_analyst(request)
        if isinstance(analyst, Response):
            return analyst
        try:
            review = reviews.get_review(request.path_params["review_id"])
        except case_store.CaseNotFound as exc:
            return error_page(request, 404, "Review not found", str(exc))
        try:
            m = methodology()
            edd_needed = review["tier"] in m.review.edd_tiers
        except MethodologyError:
            edd_needed = True
        recorded = {e["item"]: e for e in review["edd"]}
        return page(request, "risk_review.html", {
            "review": review, "edd_items": EDD_ITEMS, "recorded": recorded, "edd_needed": edd_needed,
            "error": error, "done": DONE.get(request.query_params.get("done", "")),
            "review_url": quote(review["review_id"], safe=""), "cid_url": quote(review["customer_id"], safe="")},
            status)

    def _status_of(exc: Exception) -> int:
        return 404 if isinstance(exc, case_store.CaseNotFound) else 403 if isinstance(
            exc, case_store.FourEyesViolation) else 409 if isinstance(exc, case_store.CaseClosed) else 400

    async def override_request(request: Request) -> Response:
        cid = request.path_params["customer_id"]
        checked = await checked_post(request, "override_request", cid)
        if isinstance(checked, Response):
            return checked
        analyst, form = checked
        rating, _ = await run_in_threadpool(read_rating, config.warehouse_path, cid)
        try:
            if rating is None:
                raise case_store.CaseNotFound(f"no rating for customer {cid[:60]!r}")
            await run_in_threadpool(reviews.request_override, cid, tier=form.get("tier", ""),
                                    computed_tier=str(rating["computed_tier"]), reason=form.get("reason", ""),
                                    analyst=analyst)
        except case_store.CaseError as exc:
            message, code = str(exc), _status_of(exc)
            return await run_in_threadpool(lambda: customer_page(request, error=message, status=code))
        return finish(request, RedirectResponse(f"/customers/{quote(cid, safe='')}?done=override_requested",
                                                status_code=303))

    async def override_decide(request: Request) -> Response:
        cid = request.path_params["customer_id"]
        override_id = request.path_params["override_id"]
        approve = request.url.path.endswith("/approve")
        checked = await checked_post(request, "override_approve" if approve else "override_reject", override_id)
        if isinstance(checked, Response):
            return checked
        analyst, form = checked
        try:
            await run_in_threadpool(reviews.decide_override, override_id, analyst=analyst, approve=approve,
                                    reason=form.get("reason", ""))
        except case_store.CaseError as exc:
            message, code = str(exc), _status_of(exc)
            return await run_in_threadpool(lambda: customer_page(request, error=message, status=code))
        done = "override_approved" if approve else "override_rejected"
        return finish(request, RedirectResponse(f"/customers/{quote(cid, safe='')}?done={done}", status_code=303))

    async def review_action(request: Request) -> Response:
        review_id = request.path_params["review_id"]
        close = request.url.path.endswith("/close")
        checked = await checked_post(request, "review_close" if close else "review_edd_record", review_id)
        if isinstance(checked, Response):
            return checked
        analyst, form = checked
        try:
            if close:
                await run_in_threadpool(reviews.close_review, review_id, analyst=analyst,
                                        outcome=form.get("outcome", ""), methodology=methodology())
            else:
                await run_in_threadpool(reviews.record_edd, review_id, item=form.get("item", ""), analyst=analyst,
                                        note=form.get("note", ""))
        except case_store.CaseError as exc:
            message, code = str(exc), _status_of(exc)
            return await run_in_threadpool(lambda: review_page(request, error=message, status=code))
        done = "review_closed" if close else "edd_recorded"
        return finish(request, RedirectResponse(f"/reviews/{quote(review_id, safe='')}?done={done}", status_code=303))

    return [
        Route("/reviews", review_queue),
        Route("/reviews/{review_id}", review_page),
        Route("/reviews/{review_id}/edd", review_action, methods=["POST"]),
        Route("/reviews/{review_id}/close", review_action, methods=["POST"]),
        Route("/customers/{customer_id}", customer_page),
        Route("/customers/{customer_id}/overrides", override_request, methods=["POST"]),
        Route("/customers/{customer_id}/overrides/{override_id}/approve", override_decide, methods=["POST"]),
        Route("/customers/{customer_id}/overrides/{override_id}/reject", override_decide, methods=["POST"]),
    ]
