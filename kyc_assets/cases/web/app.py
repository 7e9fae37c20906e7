"""The review dashboard (`kyc serve`): an ASGI app (Starlette) with server-rendered Jinja2 templates.

Pages: the case queue (filter, sort by priority and due date, assign), a case page with its evidence
(document images, extracted fields, screening hits next to their list entries, the account's
transaction history as an inline SVG chart, anomaly reasons, links to the Dagster UI) and the
decision forms (dismiss as false positive, confirm, escalate; a second analyst approves or rejects a
confirmation, and approves the SAR draft).

Safety: templates autoescape everything; no JavaScript at all (a strict Content-Security-Policy
forbids it); every state-changing form carries the session's CSRF token, and a forged request is
refused (403) and audited; every decision goes through the case store, which enforces four-eyes and
audits refusals; unknown case ids give a 404 that says so.

Access: sessions are server-side and revocable (logout, idle timeout; cases/access.py); sign-in is
throttled per account (lock-out, audited) and per client address; an unknown name fails exactly like
a wrong password (same text, one scrypt); roles are enforced (approver, admin; cases/analysts.py);
posts without a session are refused before they reach the audit log, and such refusals are
rate-limited per client; request bodies are limited while they stream; every query parameter is
validated (400 naming the valid values). Behind the TLS proxy of ``KYC_TRUSTED_PROXIES`` the proxy's
``X-Forwarded-For``/``X-Forwarded-Proto`` are honoured (so the session cookie is ``Secure``), and the
analyst header of ``KYC_TRUSTED_USER_HEADER`` is believed only from those addresses (or with the
proxy's shared secret).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from kyc_assets.cases import reasons
from kyc_assets.cases.web import auth, present, risk_pages
from kyc_assets.cases.web.evidence import dagster_links, document_keys, read_evidence, sniff_media_type

HERE = Path(__file__).parent
PAGE_SIZE = 50
MAX_FORM_BYTES = 64 * 1024
MAX_PAGE = 100_000
LOCKED_MESSAGE = "Too many failed sign-ins for this account: it is locked for a while. Try again later."
STATUS_FILTERS = ("active", "open", "escalated", "pending_approval", "closed", "all")
SORTS = ("priority", "due_date", "opened_at", "updated_at", "risk")
DONE_MESSAGES = {"noted": "Note added.", "assigned": "Case assigned.", "decided": "Decision recorded.",
                 "proposed": "Confirmation proposed: a second analyst must approve it.",
                 "approved": "Confirmation approved: the case is closed and a SAR draft was prepared.",
                 "rejected": "Confirmation rejected: the case is back in review.",
                 "report_approved": "SAR draft approved."}
# The store's audit names of each form's action (a refusal is audited as "<name>_refused").
EXPORT_MAX = 10_000
EXPORT_COLUMNS = ("case_id", "priority", "status", "subject_type", "subject_id", "subject_name", "risk", "due_date",
                  "days_left", "assigned_to", "opened_at", "evidence_count", "reasons")
AUDIT_ACTIONS = {"assign": "case_assign", "decide": "case_decide", "approve": "case_approve",
                 "reject": "case_reject", "approve_report": "report_approve", "note": "case_note"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class WebConfig:
    """What the dashboard needs: the case store (with its analyst directory), where the evidence lives,
    the Dagster UI's address and the session secret."""

    store: object  # kyc_assets.cases.store.CaseStore
    warehouse_path: Path
    document_store_dir: Path
    document_keys: str | None = None
    dagster_ui_url: str = "http://127.0.0.1:3000"
    session_secret: str | None = None
    audit_views: bool = True  # record who opened which case and document (PII access)
    institution: str = "Example Bank (demo)"  # the SAR draft's filing institution (KYC_INSTITUTION_NAME)
    trusted_proxies: tuple[str, ...] = ()  # KYC_TRUSTED_PROXIES: whose X-Forwarded-* and user header count
    proxy_secret: str | None = None  # KYC_TRUSTED_PROXY_SECRET: or a proxy that sends this secret
    session_idle_minutes: int = 30  # KYC_SESSION_IDLE_MINUTES
    login_max_failures: int = 5  # KYC_LOGIN_MAX_FAILURES: per account, then locked
    login_lockout_minutes: int = 15  # KYC_LOGIN_LOCKOUT_MINUTES: the lock-out and counting window
    login_client_max_failures: int = 20  # KYC_LOGIN_CLIENT_MAX_FAILURES: per client address and window


def config_from_env(env=None) -> WebConfig:
    """The dashboard's configuration from the environment (the same variables as the code location)."""
    from kyc_assets.cases.store import CaseStore
    from kyc_assets.deployment_checks import check_deployment
    from kyc_assets.settings import Settings, access_secrets
    from kyc_assets.settings import document_keys as document_store_keys

    env = os.environ if env is None else env
    settings = Settings.from_env(env)
    check_deployment(settings)  # production refuses to run unsafe
    return WebConfig(store=CaseStore.from_env(env), warehouse_path=settings.warehouse_path,
                     document_store_dir=settings.document_store_url,  # a folder or s3://
                     document_keys=document_store_keys(env), dagster_ui_url=settings.dagster_ui_url,
                     institution=settings.institution_name, **access_options(settings, access_secrets(env)))


def access_options(settings, secrets: dict) -> dict:
    """The WebConfig fields of access (sessions, sign-in throttling, the trusted proxy) from the settings
    and ``settings.access_secrets()``."""
    return {"session_secret": secrets["session_secret"], "trusted_proxies": settings.trusted_proxies,
            "proxy_secret": secrets["proxy_secret"], "session_idle_minutes": settings.session_idle_minutes,
            "login_max_failures": settings.login_max_failures, "login_lockout_minutes": settings.login_lockout_minutes,
            "login_client_max_failures": settings.login_client_max_failures}


class Forbidden(Exception):
    """A request refused before it reaches the store (CSRF, identity)."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status


class BodyLimit:
    """ASGI middleware: a request body larger than ``max_bytes`` is refused with 413 as soon as its
    Content-Length says so, or, streamed without one, as soon as that many bytes have arrived (the
    rest is never read or buffered)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, int(max_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length and (not length.isdigit() or int(length) > self.max_bytes):
            return await PlainTextResponse("request body too large", status_code=413,
                                           headers={"Connection": "close"})(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise Forbidden("the form is too large", 413)
            return message

        return await self.app(scope, limited, send)


class PeerAddress:
    """ASGI middleware, outermost: keeps the TCP peer's address (``scope["kyc.peer"]``) before the proxy
    headers middleware replaces the client with the one named in X-Forwarded-For."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            scope["kyc.peer"] = (scope.get("client") or ("", 0))[0]
        return await self.app(scope, receive, send)


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True)
    env.filters["pretty"] = lambda v: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    env.filters["when"] = present.when
    env.filters["human_date"] = present.human_date
    env.filters["human_list"] = present.human_list
    env.filters["days_left"] = present.days_left
    env.filters["money"] = lambda v: f"{float(v):,.2f}" if v is not None else ""
    return Jinja2Templates(env=env)


def create_app(config: WebConfig) -> Starlette:
    """The dashboard as an ASGI app."""
    from kyc_assets.cases import store as case_store
    from kyc_assets.cases.access import AccessControl
    from kyc_assets.cases.analysts import (
        LOGIN_FAILED,
        AnalystDirectory,
        AuthenticationError,
        NotPermitted,
        canonical,
    )

    store = config.store
    directory = getattr(store, "analysts", None) or AnalystDirectory.from_env()
    codec = auth.SessionCodec(config.session_secret)
    templates = _templates()
    access = AccessControl(store, idle_seconds=config.session_idle_minutes * 60,
                           max_failures=config.login_max_failures, lockout_seconds=config.login_lockout_minutes * 60)
    proxy = auth.ProxyTrust(config.trusted_proxies, config.proxy_secret)
    window = config.login_lockout_minutes * 60
    client_failures = auth.ClientLimiter(config.login_client_max_failures, window)  # failed sign-ins
    refusals = auth.ClientLimiter(config.login_client_max_failures, window)  # anonymous posts refused
    throttle_audited = auth.ClientLimiter(1, window)  # one audit entry per throttled client and window

    # -- plumbing -------------------------------------------------------------------------------

    def client_of(request: Request) -> str:
        """The client's address (the one the trusted proxy names, behind it)."""
        return request.client.host if request.client else "-"

    def session_of(request: Request) -> auth.Session:
        """The request's session; a signed-in one only while its server-side session is live (not
        logged out, not idle past KYC_SESSION_IDLE_MINUTES), else a fresh anonymous one."""
        if "kyc_session" not in request.state._state:
            session = codec.loads(request.cookies.get(auth.COOKIE))
            if session.analyst and not directory.trusted_header and \
                    not access.check_session(session.sid, session.analyst):
                session = auth.new_session()
            request.state.kyc_session = session
        return request.state.kyc_session

    def finish(request: Request, response: Response) -> Response:
        session = session_of(request)
        if session.changed:
            response.set_cookie(auth.COOKIE, codec.dumps(session), max_age=auth.SESSION_MAX_AGE_SECONDS,
                                httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def from_proxy(request: Request) -> bool:
        return proxy.trusted(request.scope.get("kyc.peer") or client_of(request),
                             request.headers.get(auth.PROXY_SECRET_HEADER))

    def who_of(request: Request):
        """The analyst making the request (an ``Analyst``, with roles), or None: the trusted proxy's
        header when configured (only from the proxy), else the signed-in session."""
        if "kyc_who" in request.state._state:
            return request.state.kyc_who
        who = None
        try:
            if directory.trusted_header:
                if from_proxy(request):
                    roles = request.headers.get(directory.trusted_roles_header) \
                        if directory.trusted_roles_header else None
                    who = directory.from_header(request.headers.get(directory.trusted_header), roles)
            elif session_of(request).analyst:
                who = directory.get(session_of(request).analyst)
        except AuthenticationError:
            who = None
        request.state.kyc_who = who
        return who

    def can(request: Request, action: str) -> bool:
        """Whether the requesting analyst holds the role ``action`` needs (for hints; the store decides)."""
        try:
            return who_of(request) is not None and bool(directory.authorise(who_of(request), action))
        except NotPermitted:
            return False

    def analyst_of(request: Request) -> str | None:
        who = who_of(request)
        return who.username if who else None

    def timezone_of(analyst: str | None) -> str:
        """The analyst's time zone from the directory (``timezone`` in KYC_ANALYSTS_FILE), else UTC."""
        try:
            return directory.get(analyst).timezone if analyst else "UTC"
        except (ValueError, AttributeError):  # AuthenticationError is a ValueError
            return "UTC"

    def page(request: Request, name: str, context: dict, status: int = 200) -> Response:
        session = session_of(request)
        who = analyst_of(request)
        base = {"analyst": who, "csrf": session.csrf, "proxy_auth": bool(directory.trusted_header),
                "tz": timezone_of(who),
                "local_mode": not directory.configured, "dagster_ui_url": config.dagster_ui_url.rstrip("/")}
        return finish(request, templates.TemplateResponse(request, name, {**base, **context}, status_code=status))

    def error_page(request: Request, status: int, title: str, message: str) -> Response:
        return page(request, "error.html", {"title": title, "message": message}, status)

    def require_analyst(request: Request) -> str | Response:
        analyst = analyst_of(request)
        if analyst:
            return analyst
        if directory.trusted_header:
            if request.headers.get(directory.trusted_header) and not from_proxy(request):
                return error_page(request, 403, "Refused",
                                  "The analyst header is only accepted from the configured reverse proxy.")
            return error_page(request, 401, "Not signed in",
                              f"This dashboard expects the reverse proxy to identify you ({directory.trusted_header}).")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return finish(request, RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303))

    async def read_form(request: Request) -> dict[str, str]:
        """The url-encoded form, read while it streams: refused (413) as soon as it passes
        MAX_FORM_BYTES, never buffered beyond that."""
        length = request.headers.get("content-length") or "0"
        if not length.isdigit() or int(length) > MAX_FORM_BYTES:
            raise Forbidden("the form is too large", 413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                raise Forbidden("the form is too large", 413)
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
        except (UnicodeDecodeError, ValueError) as exc:
            raise Forbidden("the form could not be read", 400) from exc
        return {k: v[-1] for k, v in parsed.items()}

    def too_many(request: Request) -> Response:
        return finish(request, PlainTextResponse("Too many refused requests from this address; try again later.",
                                                 status_code=429, headers={"Retry-After": str(int(window))}))

    async def checked_post(request: Request, action: str, subject: str) -> tuple[str, dict] | Response:
        """Identity and CSRF for a state-changing form: refused unless both hold. A post without an
        identity is refused before it touches the audit log (its subject is whatever the sender chose)
        and counted per client: past KYC_LOGIN_CLIENT_MAX_FAILURES in the window, 429. A signed-in
        analyst's forged post is audited."""
        await run_in_threadpool(who_of, request)  # the session check reads the database: not on the event loop
        analyst = require_analyst(request)
        if isinstance(analyst, Response):
            if not refusals.hit(client_of(request)):
                return too_many(request)
            if not directory.trusted_header:  # a POST without a session is refused, not redirected
                return error_page(request, 403, "Refused", "You are not signed in.")
            return analyst
        try:
            form = await read_form(request)
        except Forbidden as exc:
            return error_page(request, exc.status, "Refused", str(exc))
        if not auth.csrf_ok(session_of(request), form.get("csrf_token")):
            await run_in_threadpool(store.record_refusal, actor=analyst, action=action, subject=subject[:200],
                                    error="CSRF token missing or invalid")
            return error_page(request, 403, "Refused: invalid form token",
                              "This form was not issued by this dashboard session (CSRF check failed). "
                              "Reload the page and try again. The attempt was recorded in the audit log.")
        return analyst, form

    def case_error(request: Request, exc: Exception, case_id: str, analyst: str) -> Response:
        status = 404 if isinstance(exc, case_store.CaseNotFound) else 403 if isinstance(
            exc, case_store.FourEyesViolation | case_store.NotPermitted) else 409 if isinstance(
            exc, case_store.ConcurrentUpdate | case_store.CaseClosed) else 400
        if status == 404:
            return error_page(request, 404, "Case not found", str(exc))
        return render_case(request, case_id, analyst, error=str(exc), status=status)

    # -- pages ----------------------------------------------------------------------------------

    def home(request: Request) -> Response:
        return finish(request, RedirectResponse("/cases", status_code=303))

    def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    def queue(request: Request) -> Response:
        analyst = require_analyst(request)
        if isinstance(analyst, Response):
            return analyst
        q = request.query_params
        bad = invalid_query(q)
        if bad:
            return error_page(request, 400, "Bad request", bad)
        status = q.get("status") or "active"
        sort = q.get("sort") or "priority"
        assigned = q.get("assigned") or ""
        priority = int(q["priority"]) if q.get("priority") else None
        search = (q.get("q") or "").strip()[:100] or None
        page_no = int(q.get("page") or 1)
        filters = {"status": None if status == "all" else status,
                   "assigned_to": analyst if assigned == "me" else "" if assigned == "unassigned" else None,
                   "min_priority": priority, "search": search}
        if request.url.path.endswith(".csv"):
            return export_csv(request, analyst, filters, sort)
        total = store.count_cases(**filters)
        rows = store.list_cases(**filters, sort=sort, descending=q.get("desc") == "1" and sort != "priority",
                                limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
        params = {"status": status, "sort": sort, "assigned": assigned, "priority": priority or "",
                  "q": search or "", "desc": q.get("desc") or ""}
        return page(request, "queue.html", {
            "rows": rows, "total": total, "page_no": page_no, "pages": max(1, math.ceil(total / PAGE_SIZE)),
            "params": params, "query": lambda **kw: urlencode({**params, **kw}), "statuses": STATUS_FILTERS,
            "sorts": SORTS, "next": request.url.path + (f"?{request.url.query}" if request.url.query else "")})

    def invalid_query(q) -> str | None:
        """Why the queue's query parameters are invalid (one line naming the valid values), or None."""
        allowed = {"status": ("", *STATUS_FILTERS), "sort": ("", *SORTS), "assigned": ("", "me", "unassigned"),
                   "priority": ("", "1", "2", "3", "4"), "desc": ("", "0", "1")}
        for name, values in allowed.items():
            if q.get(name, "") not in values:
                return f"{name} must be one of {', '.join(v for v in values if v)}"
        page = q.get("page", "")
        if page and not (page.isdecimal() and page.isascii() and len(page) <= 6 and 1 <= int(page) <= MAX_PAGE):
            return f"page must be a whole number from 1 to {MAX_PAGE}"
        if len(q.get("q", "")) > 200:
            return "q (the search) has at most 200 characters"
        return None

    def export_csv(request: Request, analyst: str, filters: dict, sort: str) -> Response:
        """The queue as CSV (the same filters, every page, at most EXPORT_MAX rows), audited: it may hold
        subject names (decrypted for the signed-in analyst)."""
        import csv
        import io

        rows = store.list_cases(**filters, sort=sort, limit=EXPORT_MAX)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        for r in rows:
            writer.writerow([("; ".join(r["reasons"]) if k == "reasons" else r.get(k)) for k in EXPORT_COLUMNS])
        store.append_audit(actor=analyst, action="queue_exported", subject="cases",
                           detail={"rows": len(rows), **{k: v for k, v in filters.items() if v not in (None, "")}})
        return finish(request, Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="case-queue.csv"'}))

    def render_case(request: Request, case_id: str, analyst: str, *, error: str | None = None,
                    status: int = 200) -> Response:
        try:
            case = store.get_case(case_id)
        except case_store.CaseNotFound as exc:
            return error_page(request, 404, "Case not found", f"{exc}. Check the id or go back to the queue.")
        evidence = read_evidence(case, config.warehouse_path)
        if config.audit_views and status == 200:
            store.append_audit(actor=analyst, action="case_viewed", subject=case["case_id"], detail={})
        proposal = next((d for d in case["decisions"] if d.get("status") == "proposed"), None)
        done = DONE_MESSAGES.get(request.query_params.get("done", ""))
        entries = evidence.get("list_entries") or {}
        comparisons = {e["evidence_id"]: present.compare(evidence.get("customer"), entries.get(e["evidence_id"]))
                       for e in case["evidence"] if e["kind"] == "screening_hit"}
        alerts = sorted((e for e in case["evidence"] if e["kind"] == "anomaly_alert"),
                        key=lambda e: str(e["reference"].get("partition") or ""))
        timeline: list[dict] = []  # consecutive alert days saying the same thing: one row with a day range
        for e in alerts:
            ref = e["reference"]
            said = reasons.sentences(ref.get("reasons"), ref.get("features"), transactions=ref.get("transactions"))
            e["said"] = said
            last = timeline[-1] if timeline else None
            if last and last["said"][:1] == said[:1] and last["role"] == ref.get("explained_by_role"):
                last.update(last_day=ref.get("partition"), days=last["days"] + 1, risk=max(last["risk"], e["risk"]),
                            said=said)
            else:
                timeline.append({"first_day": ref.get("partition"), "last_day": ref.get("partition"), "days": 1,
                                 "risk": e["risk"], "said": said, "model": ref.get("model_version"),
                                 "role": ref.get("explained_by_role"), "account_role": ref.get("account_role")})
        sar = None
        if case.get("report"):
            from kyc_assets.cases.sar import SarError, build_sar

            try:
                sar = build_sar(case, institution=config.institution)
            except SarError:
                sar = None
        return page(request, "case.html", {
            "case": case, "ev": evidence, "comparisons": comparisons, "alerts": alerts, "timeline": timeline, "sar": sar,
            "case_reasons": reasons.case_sentences(case),
            "directory": directory.names() if directory.configured else [], "links": dagster_links(case["evidence"], config.dagster_ui_url),
            "proposal": proposal, "error": error, "done": done, "decisions": case_store.DECISIONS,
            "can_approve": can(request, "case_approve"),
            "audit": store.audit_entries(subject=case["case_id"], limit=50),
            "case_url": quote(case["case_id"], safe="")}, status)

    def case_page(request: Request) -> Response:
        analyst = require_analyst(request)
        if isinstance(analyst, Response):
            return analyst
        return render_case(request, request.path_params["case_id"], analyst)

    def document(request: Request) -> Response:
        analyst = require_analyst(request)
        if isinstance(analyst, Response):
            return analyst
        from kyc_assets.onboarding.store import DocumentStore, DocumentStoreError

        case_id, sha = request.path_params["case_id"], request.path_params["sha256"]
        try:
            case = store.get_case(case_id)
        except case_store.CaseNotFound as exc:
            return error_page(request, 404, "Case not found", str(exc))
        if sha not in document_keys(case["evidence"]):
            return error_page(request, 404, "Document not found", "This case has no such document.")
        try:
            data = DocumentStore(config.document_store_dir, config.document_keys).get(sha)
        except DocumentStoreError as exc:
            return error_page(request, 404, "Document unavailable", str(exc))
        if config.audit_views:
            store.append_audit(actor=analyst, action="document_viewed", subject=case["case_id"],
                               detail={"document_sha256": sha})
        media = sniff_media_type(data)
        response = Response(data, media_type=media, headers={
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Content-Disposition": f'inline; filename="{sha[:16]}"'})
        return finish(request, response)

    # -- actions --------------------------------------------------------------------------------

    def _version(form: dict) -> int | None:
        value = form.get("version", "")
        return int(value) if value.isdecimal() and value.isascii() and len(value) <= 12 else None

    async def act(request: Request, action: str) -> Response:
        case_id = request.path_params["case_id"]
        checked = await checked_post(request, AUDIT_ACTIONS[action], case_id)
        if isinstance(checked, Response):
            return checked
        analyst, form = checked
        version = _version(form)
        try:
            needs = AUDIT_ACTIONS[action]
            try:
                directory.authorise(who_of(request), needs)  # roles (approver), with or without a file
            except NotPermitted as exc:
                await run_in_threadpool(store.record_refusal, actor=analyst, action=needs, subject=case_id[:200],
                                        error=str(exc))
                raise case_store.NotPermitted(str(exc)) from exc
            if action == "assign":
                to = analyst if form.get("to", "") in ("", "me") else form["to"].strip()
                await run_in_threadpool(store.assign, case_id, to=to, actor=analyst, expected_version=version)
                done = "assigned"
            elif action == "decide":
                decision = form.get("decision", "")
                await run_in_threadpool(store.decide, case_id, decision=decision, reason=form.get("reason", ""),
                                        analyst=analyst, expected_version=version)
                done = "proposed" if decision == "confirmed" else "decided"
            elif action == "approve":
                await run_in_threadpool(store.approve, case_id, analyst=analyst, reason=form.get("reason", ""),
                                        expected_version=version)
                done = "approved"
            elif action == "reject":
                await run_in_threadpool(store.reject, case_id, analyst=analyst, reason=form.get("reason", ""),
                                        expected_version=version)
                done = "rejected"
            elif action == "note":
                await run_in_threadpool(store.add_note, case_id, analyst=analyst, text=form.get("note", ""))
                done = "noted"
            else:  # approve_report
                await run_in_threadpool(store.approve_report, case_id, analyst=analyst, expected_version=version)
                done = "report_approved"
        except case_store.CaseError as exc:
            return await run_in_threadpool(case_error, request, exc, case_id, analyst)
        back = form.get("next", "")
        target = back if action == "assign" and back.startswith("/cases") and "//" not in back \
            else f"/cases/{quote(case_id, safe='')}?done={done}"
        return finish(request, RedirectResponse(target, status_code=303))

    def action_route(action: str):
        async def endpoint(request: Request) -> Response:
            return await act(request, action)
        return endpoint

    # -- sign in / out --------------------------------------------------------------------------

    def safe_next(value: str | None) -> str:
        """A local path to go back to after sign-in, else /cases: never another site (``//host``,
        ``/\\host``, which browsers read as ``//host``), never a control character, at most 2000 characters."""
        ok = bool(value) and value.startswith("/") and not value.startswith(("//", "/\\")) and "\\" not in value \
            and len(value) <= 2000 and all(" " < c != "\x7f" for c in value)
        return value if ok else "/cases"

    async def login(request: Request) -> Response:
        await run_in_threadpool(session_of, request)  # reads the database: not on the event loop
        if directory.trusted_header:
            return error_page(request, 404, "No login here", "Analysts are identified by the reverse proxy.")
        if request.method == "GET":
            return page(request, "login.html", {"next": safe_next(request.query_params.get("next")), "error": None})
        client = client_of(request)
        if client_failures.blocked(client):
            if throttle_audited.hit(client):  # one entry per client and window, not one per attempt
                await run_in_threadpool(store.record_refusal, actor="anonymous", action="login", subject="dashboard",
                                        error=f"too many failed sign-ins from {client[:60]}")
            return too_many(request)
        try:
            form = await read_form(request)
        except Forbidden as exc:
            client_failures.hit(client)
            return error_page(request, exc.status, "Refused", str(exc))
        username = (form.get("username") or "").strip()[:100]
        back = safe_next(form.get("next"))
        if not auth.csrf_ok(session_of(request), form.get("csrf_token")):
            client_failures.hit(client)  # anonymous: counted, not audited
            return page(request, "login.html", {"next": "/cases", "error": "The form expired; try again."}, 403)
        result = await run_in_threadpool(sign_in, username, form.get("password") or "", client)
        if isinstance(result, tuple):
            status, message = result
            return page(request, "login.html", {"next": back, "error": message}, status)
        request.state.kyc_session = auth.new_session(analyst=result.username, sid=result.sid)
        return finish(request, RedirectResponse(back, status_code=303))

    def sign_in(username: str, password: str, client: str):
        """The signed-in analyst (with ``sid``, the new server-side session), or (status, message).

        Unknown names and wrong passwords cost the same (one scrypt) and read the same; failures count
        per account (known or not) and per client; an account at KYC_LOGIN_MAX_FAILURES is locked for
        KYC_LOGIN_LOCKOUT_MINUTES, even for the right password, and the lock-out is audited."""
        import types

        account = canonical(username)[:200] or "-"
        known = None
        if directory.configured:
            try:
                known = directory.get(username).username
            except AuthenticationError:
                known = None
        if access.locked_for(account) > 0:
            client_failures.hit(client)
            store.record_refusal(actor=known or "anonymous", action="login", subject="dashboard",
                                 error="account locked after repeated failed sign-ins")
            return 401, LOCKED_MESSAGE
        try:
            who = directory.authenticate(username, password)
        except AuthenticationError:
            client_failures.hit(client)
            store.record_refusal(actor=known or "anonymous", action="login", subject="dashboard", error=LOGIN_FAILED)
            if access.failed(account):
                store.append_audit(actor=known or "anonymous", action="login_locked", subject="dashboard",
                                   detail={"failures": access.max_failures,
                                           "minutes": int(access.lockout_seconds // 60), "known_account": bool(known)})
            return 401, LOGIN_FAILED
        access.succeeded(account)
        sid = access.open_session(who.username)
        store.append_audit(actor=who.username, action="login", subject="dashboard",
                           detail={"method": "password" if directory.configured else "local"})
        return types.SimpleNamespace(username=who.username, sid=sid)

    async def logout(request: Request) -> Response:
        checked = await checked_post(request, "logout", "dashboard")
        if isinstance(checked, Response):
            return checked
        analyst, _ = checked
        await run_in_threadpool(access.end_session, session_of(request).sid, reason="logout")
        await run_in_threadpool(store.append_audit, actor=analyst, action="logout", subject="dashboard", detail={})
        request.state.kyc_session = auth.new_session()
        return finish(request, RedirectResponse("/login", status_code=303))

    async def not_found(request: Request, exc: Exception) -> Response:
        return await run_in_threadpool(error_page, request, 404, "Not found", "There is no such page.")

    routes = [
        Route("/", home),
        Route("/healthz", healthz),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/cases", queue),
        Route("/cases.csv", queue),
        Route("/cases/{case_id}", case_page),
        Route("/cases/{case_id}/documents/{sha256}", document),
        *[Route(f"/cases/{{case_id}}/{name.replace('_', '-')}", action_route(name), methods=["POST"])
          for name in ("assign", "decide", "approve", "reject", "approve_report", "note")],
        # the risk capability's pages: review queue, customer page, review page (cases/web/risk_pages.py)
        *risk_pages.build_routes(config, page=page, require_analyst=require_analyst, checked_post=checked_post,
                                 error_page=error_page, finish=finish),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found})
    wrapped = BodyLimit(app, MAX_FORM_BYTES)
    if config.trusted_proxies:  # X-Forwarded-For/-Proto from the configured proxies only
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        wrapped = ProxyHeadersMiddleware(wrapped, trusted_hosts=list(config.trusted_proxies))
    return PeerAddress(wrapped)


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the dashboard with uvicorn (blocking). The app itself honours the proxy headers of the
    configured proxies (KYC_TRUSTED_PROXIES), so uvicorn's own handling stays off."""
    import uvicorn

    config = config_from_env()
    uvicorn.run(create_app(config), host=host, port=port, log_level="info", proxy_headers=False,
                server_header=False)
