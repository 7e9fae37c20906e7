"""Email and webhook notification clients against a real SMTP server and an HTTP server on 127.0.0.1."""

from __future__ import annotations

import pytest

from kyc_assets.cases.notifications import (
    EmailNotifier,
    NotificationError,
    WebhookNotifier,
    case_notification,
    run_failure_notification,
)
from kyc_assets_tests.local_servers import WebhookReceiver, free_port, smtp_server, webhook_server

CASE = {"case_id": "CASE-0123456789", "priority": 1, "due_date": "2026-03-01", "subject_type": "customer",
        "subject_id": "CUST-SECRET-42", "subject_name": "Jane <b>Doe</b>", "subject_date_of_birth": "1970-01-01",
        "reasons": '["sanctions match: OFAC SDN-1234 (score 0.97)", "transaction monitoring alert: structuring"]'}


def test_case_notification_carries_id_priority_reasons_and_link_but_no_pii():
    note = case_notification(CASE, "https://kyc.example/")
    assert note.key == "case_escalated:CASE-0123456789"
    payload = note.webhook_payload()
    assert payload["link"] == "https://kyc.example/cases/CASE-0123456789"
    assert payload["priority"] == 1 and payload["reasons"][0].startswith("sanctions match: OFAC SDN-1234")
    everything = note.subject + note.text + repr(payload)
    for pii in ("CUST-SECRET-42", "Jane", "Doe", "1970-01-01"):
        assert pii not in everything


def test_email_is_delivered_to_a_real_smtp_server():
    with smtp_server() as (port, sink):
        EmailNotifier(host="127.0.0.1", port=port, sender="kyc@bank.test", recipients=["aml@bank.test", "b@bank.test"],
                      security="none").send(case_notification(CASE, "http://127.0.0.1:8000"))
    assert len(sink.messages) == 1
    msg = sink.messages[0]
    assert msg["Subject"] == "[KYC] Priority 1 case CASE-0123456789"
    assert msg["X-KYC-Idempotency-Key"] == "case_escalated:CASE-0123456789"
    assert sink.envelopes[0] == ("kyc@bank.test", ["aml@bank.test", "b@bank.test"])
    body = msg.get_payload(decode=True).decode()
    assert "http://127.0.0.1:8000/cases/CASE-0123456789" in body and "Jane" not in body


def test_unreachable_smtp_server_raises_a_one_line_error_without_the_password():
    notifier = EmailNotifier(host="127.0.0.1", port=free_port(), sender="k@b.test", recipients=["a@b.test"],
                             user="kyc", password="s3cret-pw", security="none", timeout_seconds=2)
    with pytest.raises(NotificationError, match=r"email to SMTP 127\.0\.0\.1:\d+ failed") as exc:
        notifier.send(case_notification(CASE, "http://x"))
    assert "s3cret-pw" not in str(exc.value) and "\n" not in str(exc.value)


def test_smtp_configuration_errors_are_clear():
    with pytest.raises(ValueError, match="KYC_SMTP_PASSWORD"):
        EmailNotifier(host="h", port=25, sender="a@b", recipients=["c@d"], user="u")
    with pytest.raises(ValueError, match="security"):
        EmailNotifier(host="h", port=25, sender="a@b", recipients=["c@d"], security="tls")
    with pytest.raises(ValueError, match="recipient"):
        EmailNotifier(host="h", port=25, sender="a@b", recipients=[])


def test_webhook_posts_slack_compatible_json_with_an_idempotency_key():
    receiver = WebhookReceiver()
    with webhook_server(receiver) as url:
        WebhookNotifier(url).send(case_notification(CASE, "http://127.0.0.1:8000"))
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["headers"]["Idempotency-Key"] == "case_escalated:CASE-0123456789"
    body = request["json"]
    assert body["text"].startswith("[KYC] Priority 1 case CASE-0123456789")  # Slack / Teams render `text`
    assert body["case_id"] == "CASE-0123456789" and body["event"] == "case_escalated"


def test_webhook_retries_429_and_5xx_with_backoff_honouring_retry_after():
    receiver = WebhookReceiver(statuses=[429, 503, 502], retry_after="3")
    sleeps: list[float] = []
    with webhook_server(receiver) as url:
        WebhookNotifier(url, attempts=4, backoff_seconds=0.5, sleep=sleeps.append).send(
            case_notification(CASE, "http://x"))
    assert [r["status"] for r in receiver.requests] == [429, 503, 502, 200]
    assert sleeps[0] == 3.0  # Retry-After
    assert 0.5 <= sleeps[1] <= 1.0 and 1.0 <= sleeps[2] <= 2.0  # exponential, with jitter in [50%, 100%]
    assert len(receiver.delivered) == 1


def test_webhook_gives_up_after_its_attempts_and_does_not_retry_a_client_error():
    receiver = WebhookReceiver(statuses=[500, 500, 500])
    with webhook_server(receiver) as url, pytest.raises(NotificationError, match="after 3 attempts: HTTP 500") as exc:
        WebhookNotifier(url, attempts=3, sleep=lambda s: None).send(case_notification(CASE, "http://x"))
    assert "T0KEN" not in str(exc.value), "the URL (which embeds a token) is never printed"
    refused = WebhookReceiver(statuses=[400])
    with webhook_server(refused) as url, pytest.raises(NotificationError, match="refused the notification: HTTP 400"):
        WebhookNotifier(url, attempts=5, sleep=lambda s: None).send(case_notification(CASE, "http://x"))
    assert len(refused.requests) == 1


def test_webhook_connection_errors_are_retried_then_reported():
    sleeps: list[float] = []
    notifier = WebhookNotifier(f"http://127.0.0.1:{free_port()}/hook", attempts=2, timeout_seconds=2,
                               sleep=sleeps.append)
    with pytest.raises(NotificationError, match="after 2 attempts: ConnectionError"):
        notifier.send(case_notification(CASE, "http://x"))
    assert len(sleeps) == 1


def test_run_failure_notification_links_to_the_run():
    note = run_failure_notification(run_id="abc-123", job_name="monitoring_job",
                                    message='Execution of run for "monitoring_job" failed.\nStack...',
                                    dagster_ui_url="http://127.0.0.1:3000/")
    assert note.fields["link"] == "http://127.0.0.1:3000/runs/abc-123"
    assert note.fields["summary"] == 'Execution of run for "monitoring_job" failed.'
    assert note.key == "run_failed:abc-123"
