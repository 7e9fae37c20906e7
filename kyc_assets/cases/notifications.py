"""Telling people that a case needs them: email over SMTP and a chat/ticketing webhook.

Plain Python (stdlib ``smtplib`` and ``requests``), no Dagster. A notification carries no raw PII:
only the case id, its priority, its reasons (list ids, typology names, scores) and a link to the
dashboard, never a customer's name, date of birth or document number. Each message has a stable
idempotency key so that receivers that deduplicate (Message-ID, ``Idempotency-Key``) can.
"""

from __future__ import annotations

import json
import random
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import requests

SECURITY_MODES = ("starttls", "ssl", "none")
#: Reasons are cut to this length so that a notification stays a pointer to the case, not a copy of it.
MAX_REASON_CHARS = 200
MAX_REASONS = 10


class NotificationError(RuntimeError):
    """A channel could not deliver a notification (after its retries); the message names the channel."""


@dataclass(frozen=True)
class Notification:
    """One message for every channel: a short subject, a text body and structured fields."""

    key: str  # idempotency key, e.g. "case_escalated:CASE-0123456789"
    event: str  # case_escalated | run_failed
    subject: str
    text: str
    fields: dict = field(default_factory=dict)

    def webhook_payload(self) -> dict:
        """Slack/Teams-compatible JSON (``text``) with the structured fields beside it for Jira
        automation or any other receiver that maps JSON fields."""
        return {"text": f"{self.subject}\n{self.text}", "event": self.event, "idempotency_key": self.key,
                **self.fields}


def _reasons(value: object) -> list[str]:
    """A case's reasons as a short list (accepts the store's JSON text or a list)."""
    items = json.loads(value) if isinstance(value, str) and value.startswith("[") else value
    if isinstance(items, str):
        items = [items]
    return [str(r)[:MAX_REASON_CHARS] for r in list(items or [])[:MAX_REASONS]]


def case_notification(case: dict, dashboard_url: str) -> Notification:
    """The notification for a newly escalated case: id, priority, due date, reasons and a link."""
    case_id = str(case["case_id"])
    reasons = _reasons(case.get("reasons"))
    link = f"{dashboard_url.rstrip('/')}/cases/{case_id}"
    priority = int(case["priority"])
    lines = [f"Case {case_id} needs review (priority {priority}, due {case.get('due_date') or 'n/a'}).",
             *[f"- {r}" for r in reasons], f"Open the case: {link}"]
    return Notification(
        key=f"case_escalated:{case_id}", event="case_escalated",
        subject=f"[KYC] Priority {priority} case {case_id}", text="\n".join(lines),
        fields={"case_id": case_id, "priority": priority, "due_date": case.get("due_date"),
                "subject_type": case.get("subject_type"), "reasons": reasons, "link": link})


def run_failure_notification(*, run_id: str, job_name: str, message: str, dagster_ui_url: str,
                             location: str | None = None) -> Notification:
    """The notification for a failed Dagster run: job, run id, Dagster's failure summary and a link."""
    link = f"{dagster_ui_url.rstrip('/')}/runs/{run_id}"
    summary = (message or "").strip().splitlines()[0][:300] if (message or "").strip() else "run failed"
    return Notification(
        key=f"run_failed:{run_id}", event="run_failed", subject=f"[KYC] Run of {job_name} failed",
        text=f"Run {run_id} of job {job_name} failed: {summary}\nOpen the run: {link}",
        fields={"run_id": run_id, "job_name": job_name, "location": location, "summary": summary, "link": link})


class EmailNotifier:
    """Sends notifications by SMTP (STARTTLS, implicit TLS or plain for a local relay)."""

    channel = "email"

    def __init__(self, *, host: str, port: int, sender: str, recipients: Sequence[str], user: str = "",
                 password: str | None = None, security: str = "starttls", timeout_seconds: float = 10.0):
        if security not in SECURITY_MODES:
            raise ValueError(f"SMTP security must be one of {', '.join(SECURITY_MODES)}, not {security!r}")
        if not host or not sender or not recipients:
            raise ValueError("SMTP needs a host, a sender (KYC_SMTP_FROM) and at least one recipient (KYC_SMTP_TO)")
        if user and not password:
            raise ValueError("KYC_SMTP_USER is set but KYC_SMTP_PASSWORD is not")
        self.host, self.port, self.sender, self.recipients = host, int(port), sender, list(recipients)
        self.user, self.password, self.security, self.timeout = user, password, security, timeout_seconds

    def message(self, note: Notification) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = note.subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid(idstring=note.key.replace(":", "."), domain="kyc.local")
        msg["X-KYC-Idempotency-Key"] = note.key
        msg.set_content(note.text)
        return msg

    def send(self, note: Notification) -> None:
        """Deliver one message; raises NotificationError (host and port named, never the password)."""
        try:
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(self.message(note))
        except (OSError, smtplib.SMTPException) as exc:
            raise NotificationError(f"email to SMTP {self.host}:{self.port} failed: {type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from exc


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class WebhookNotifier:
    """POSTs notifications as JSON, retrying 429 (honouring ``Retry-After``), 5xx and connection errors
    with exponential backoff and jitter; other 4xx are refused at once (retrying cannot fix them)."""

    channel = "webhook"

    def __init__(self, url: str, *, attempts: int = 4, backoff_seconds: float = 1.0, max_backoff_seconds: float = 30.0,
                 timeout_seconds: float = 10.0, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        if not url.startswith(("http://", "https://")):
            raise ValueError("KYC_WEBHOOK_URL must be an http:// or https:// URL")
        self.url, self.attempts = url, max(1, int(attempts))
        self.backoff, self.max_backoff, self.timeout = backoff_seconds, max_backoff_seconds, timeout_seconds
        self.session = session or requests.Session()
        self.sleep = sleep

    def _delay(self, attempt: int, response: requests.Response | None) -> float:
        retry_after = response.headers.get("Retry-After") if response is not None else None
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after), self.max_backoff)
        return min(self.backoff * 2 ** (attempt - 1), self.max_backoff) * (0.5 + random.random() / 2)

    def send(self, note: Notification) -> None:
        """Deliver one message; raises NotificationError naming the last status (the URL, which may hold a
        token, is never printed)."""
        last = ""
        for attempt in range(1, self.attempts + 1):
            response = None
            try:
                response = self.session.post(self.url, json=note.webhook_payload(), timeout=self.timeout,
                                             headers={"Idempotency-Key": note.key})
            except requests.RequestException as exc:
                last = type(exc).__name__
            else:
                if response.status_code < 300:
                    return
                last = f"HTTP {response.status_code}"
                if response.status_code not in RETRY_STATUSES:
                    raise NotificationError(f"webhook refused the notification: {last}")
            if attempt < self.attempts:
                self.sleep(self._delay(attempt, response))
        raise NotificationError(f"webhook failed after {self.attempts} attempts: {last}")


# ------------------------------------------------------------------------------------------------
# Exactly-once delivery of case notifications.
#
# Two records say what was sent, per case and channel: the sensor's cursor (fast, saved when a tick
# ends) and a ``notification_sent`` entry in the audit log, written right after each delivery (durable
# even when the daemon dies mid-tick, before the cursor is saved). A case is sent on a channel only
# when neither record has it, so a daemon restart sends no duplicates.
# ------------------------------------------------------------------------------------------------

NOTIFICATION_ACTION = "notification_sent"
NOTIFIER_ACTOR = "system:notifications"


class AuditLedger:
    """The durable half of the record: ``notification_sent`` entries in the case store's audit log."""

    def __init__(self, store):
        self.store = store

    def sent(self, case_ids: Sequence[str]) -> dict[str, set[str]]:
        """Channels already recorded as delivered, per case id (only cases that have some)."""
        import sqlalchemy as sa

        from kyc_assets.audit.log import audit_log

        out: dict[str, set[str]] = {}
        ids = list(case_ids)
        with self.store.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(sa.select(audit_log.c.subject, audit_log.c.detail).where(
                    audit_log.c.action == NOTIFICATION_ACTION, audit_log.c.subject.in_(ids[start:start + 500])))
                for subject, detail in rows:
                    channel = json.loads(detail).get("channel")
                    if channel:
                        out.setdefault(subject, set()).add(channel)
        return out

    def record(self, note: Notification, channel: str, subject: str) -> None:
        """Append one ``notification_sent`` entry (its own transaction, right after the delivery)."""
        self.store.append_audit(actor=NOTIFIER_ACTOR, action=NOTIFICATION_ACTION, subject=subject,
                                detail={"channel": channel, "key": note.key, "event": note.event})


@dataclass
class DispatchResult:
    sent: dict[str, list[str]] = field(default_factory=dict)  # channel -> case ids delivered this call
    failed: dict[str, list[str]] = field(default_factory=dict)  # channel -> case ids that failed
    errors: list[str] = field(default_factory=list)  # one line per failure, PII-free
    deferred: int = 0  # cases left for the next call (per-call limit)
    cursor: dict[str, list[str]] = field(default_factory=dict)  # case id -> channels delivered


def parse_cursor(cursor: str | None) -> dict[str, list[str]]:
    """The sensor cursor: ``{"sent": {case_id: [channel, ...]}}`` (None or empty = nothing sent yet)."""
    if not cursor:
        return {}
    data = json.loads(cursor)
    return {str(k): sorted(set(v)) for k, v in (data.get("sent") or {}).items()}


def dump_cursor(sent: dict[str, list[str]]) -> str:
    return json.dumps({"version": 1, "sent": {k: sorted(set(v)) for k, v in sorted(sent.items())}},
                      separators=(",", ":"))


def dispatch_case_notifications(cases: Sequence[dict], channels: Sequence, previously_sent: dict[str, list[str]],
                                ledger: AuditLedger | None, *, dashboard_url: str,
                                max_cases: int = 50) -> DispatchResult:
    """Send each case in ``cases`` (the current high-priority active cases) on every channel that has not
    delivered it yet, at most ``max_cases`` cases per call. The returned cursor keeps only the cases
    passed in (closed or downgraded cases drop out; the ledger still remembers them)."""
    names = [c.channel for c in channels]
    state = {c["case_id"]: set(previously_sent.get(c["case_id"], ())) for c in cases}
    unsure = [cid for cid, done in state.items() if not set(names) <= done]
    if unsure and ledger is not None:
        for cid, done in ledger.sent(unsure).items():
            state[cid] |= done
    result = DispatchResult(sent={n: [] for n in names}, failed={n: [] for n in names})
    todo = [c for c in cases if not set(names) <= state[c["case_id"]]]
    result.deferred = max(0, len(todo) - max_cases)
    for case in todo[:max_cases]:
        note = case_notification(case, dashboard_url)
        for channel in channels:
            if channel.channel in state[case["case_id"]]:
                continue
            try:
                channel.send(note)
            except NotificationError as exc:
                result.failed[channel.channel].append(case["case_id"])
                result.errors.append(f"{case['case_id']}: {exc}")
                continue
            state[case["case_id"]].add(channel.channel)
            result.sent[channel.channel].append(case["case_id"])
            if ledger is not None:
                ledger.record(note, channel.channel, case["case_id"])
    result.cursor = {cid: sorted(done) for cid, done in state.items() if done}
    return result


def send_to_all(note: Notification, channels: Sequence) -> list[str]:
    """Send one notification on every channel; returns the PII-free errors of the channels that failed."""
    errors = []
    for channel in channels:
        try:
            channel.send(note)
        except NotificationError as exc:
            errors.append(str(exc))
    return errors
