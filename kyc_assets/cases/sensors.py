"""Sensors that tell people: each new high-priority case once, and every failed run.

Both do nothing (a skip, no connection opened) while no channel is configured, so the code location
loads and runs with an empty environment. The delivery logic is plain Python in notifications.py.
"""


import dagster as dg

from kyc_assets.cases.notifications import (
    AuditLedger,
    dispatch_case_notifications,
    dump_cursor,
    parse_cursor,
    run_failure_notification,
    send_to_all,
)
from kyc_assets.resources import CaseStoreResource, SmtpNotifierResource, WebhookNotifierResource

ACTIVE = "active"  # every status but closed (CaseStore.list_cases)


def _channels(email: SmtpNotifierResource, webhook: WebhookNotifierResource) -> list:
    return [n for n in (email.notifier(), webhook.notifier()) if n is not None]


def high_priority_cases(store, max_priority: int, page: int = 1000) -> list[dict]:
    """Active cases with priority 1..``max_priority`` (1 is the highest), highest first (the store's queue)."""
    out: list[dict] = []
    while True:
        rows = store.list_cases(status=ACTIVE, min_priority=max_priority, sort="priority", limit=page,
                                offset=len(out))
        out += rows
        if len(rows) < page:
            return out


def build_case_escalation_sensor(*, max_priority: int, dashboard_url: str, max_per_tick: int = 50,
                                 minimum_interval_seconds: int = 60) -> dg.SensorDefinition:
    @dg.sensor(
        name="case_escalation_notifications",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Sends each active case of priority 1-{max_priority} once, by email (KYC_SMTP_*) and "
                    "webhook (KYC_WEBHOOK_URL): case id, priority, reasons and a dashboard link, no PII. "
                    "Idempotent across daemon restarts (cursor + notification_sent audit entries).",
    )
    def case_escalation_notifications(context: dg.SensorEvaluationContext, case_store: CaseStoreResource,
                                      email: SmtpNotifierResource, webhook: WebhookNotifierResource):
        channels = _channels(email, webhook)
        if not channels:
            return dg.SkipReason("no notification channel configured (KYC_SMTP_HOST, KYC_WEBHOOK_URL)")
        store = case_store.store()
        cases = high_priority_cases(store, max_priority)
        result = dispatch_case_notifications(cases, channels, parse_cursor(context.cursor),
                                             AuditLedger(store), dashboard_url=dashboard_url,
                                             max_cases=max_per_tick)
        counts = {ch: len(ids) for ch, ids in result.sent.items()}
        context.log.info(f"{len(cases)} high-priority active cases; sent {counts}; {result.deferred} deferred")
        context.update_cursor(dump_cursor(result.cursor))
        if result.errors:
            # Delivered ones are recorded (cursor and audit log): a retry sends only what failed.
            raise RuntimeError(f"{len(result.errors)} notification(s) failed; first: {result.errors[0]}")
        sent = sum(counts.values())
        return None if sent else dg.SkipReason(f"no new high-priority case ({len(cases)} already notified)")

    return case_escalation_notifications


def build_run_failure_sensor(*, dagster_ui_url: str) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name="run_failure_alerts",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Alerts the notification channels (email, webhook) when a run of this code location fails.",
    )
    def run_failure_alerts(context: dg.RunFailureSensorContext, email: SmtpNotifierResource,
                           webhook: WebhookNotifierResource):
        channels = _channels(email, webhook)
        if not channels:
            return dg.SkipReason("no notification channel configured (KYC_SMTP_HOST, KYC_WEBHOOK_URL)")
        run = context.dagster_run
        note = run_failure_notification(run_id=run.run_id, job_name=run.job_name,
                                        message=context.failure_event.message or "", dagster_ui_url=dagster_ui_url)
        errors = send_to_all(note, channels)
        if errors:
            raise RuntimeError(f"run failure alert for {run.run_id} failed on {len(errors)} channel(s): {errors[0]}")
        return None

    return run_failure_alerts
