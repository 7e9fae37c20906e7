"""The escalation and run-failure sensors against a real SMTP server and a webhook receiver on 127.0.0.1:
each high-priority case is sent exactly once, across ticks, daemon restarts and a lost cursor."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from kyc_assets.audit.log import audit_log
from kyc_assets.cases.escalation import CaseCandidate, Evidence
from kyc_assets.cases.sensors import build_case_escalation_sensor, build_run_failure_sensor
from kyc_assets.resources import CaseStoreResource, SmtpNotifierResource, WebhookNotifierResource
from kyc_assets_tests.local_servers import WebhookReceiver, smtp_server, webhook_server


def candidate(subject: str, risk: float, reason: str = "sanctions match: OFAC SDN-1 (score 0.95)") -> CaseCandidate:
    return CaseCandidate("customer", subject, [Evidence(kind="screening_hit", risk=risk, reason=reason,
                                                        reference={"asset_key": "screening_results"},
                                                        identity=(subject, reason))])


@pytest.fixture
def store_url(tmp_path):
    from kyc_assets.cases.store import CaseStore

    url = f"sqlite:///{tmp_path / 'cases.sqlite'}"
    CaseStore(url).escalate([candidate("CUST-A", 0.97), candidate("CUST-B", 0.8), candidate("CUST-C", 0.55),
                             candidate("CUST-D", 0.2)], sla_days=5)
    return url


def high_case_ids(url: str) -> set[str]:
    from kyc_assets.cases.sensors import high_priority_cases
    from kyc_assets.cases.store import CaseStore

    return {c["case_id"] for c in high_priority_cases(CaseStore(url), 2)}


class Daemon:
    """Ticks the escalation sensor like the daemon: the cursor of one tick is given to the next."""

    def __init__(self, url: str, smtp_port: int | None, webhook_url: str | None, cursor: str | None = None):
        self.sensor = build_case_escalation_sensor(max_priority=2, dashboard_url="http://127.0.0.1:8000")
        self.resources = {
            "case_store": CaseStoreResource(database_url=url),
            "email": SmtpNotifierResource(host="127.0.0.1" if smtp_port else "", port=smtp_port or 25,
                                          sender="kyc@bank.test", recipients=["aml@bank.test"], security="none"),
            "webhook": WebhookNotifierResource(url=webhook_url, attempts=2, backoff_seconds=0.01),
        }
        self.cursor = cursor

    def tick(self):
        with dg.build_sensor_context(cursor=self.cursor, resources=self.resources) as context:
            data = self.sensor.evaluate_tick(context)
        self.cursor = data.cursor
        return data


def test_each_high_priority_case_is_sent_exactly_once_across_ticks_and_restarts(store_url):
    from kyc_assets.cases.store import CaseStore

    receiver = WebhookReceiver()
    expected = high_case_ids(store_url)
    assert len(expected) == 2  # priority 1 and 2; the priority 3 and 4 cases are not "high"
    with smtp_server() as (port, sink), webhook_server(receiver) as url:
        daemon = Daemon(store_url, port, url)
        daemon.tick()
        assert {m["X-KYC-Idempotency-Key"].split(":")[1] for m in sink.messages} == expected
        assert {b["case_id"] for b in receiver.delivered} == expected
        assert len(sink.messages) == 2 and len(receiver.delivered) == 2

        assert daemon.tick().skip_message.startswith("no new high-priority case")
        restarted = Daemon(store_url, port, url, cursor=daemon.cursor)  # a new daemon process, saved cursor
        restarted.tick()
        assert len(sink.messages) == 2 and len(receiver.delivered) == 2, "a restart sends no duplicates"

        # A new high-priority case: sent once, on both channels; the old ones are not sent again.
        CaseStore(store_url).escalate([candidate("CUST-E", 0.99)], sla_days=5)
        restarted.tick()
        restarted.tick()
        assert len(sink.messages) == 3 and len(receiver.delivered) == 3
        assert len(high_case_ids(store_url) - {b["case_id"] for b in receiver.delivered}) == 0

        # The daemon died after sending but before its cursor was saved: the audit log remembers.
        lost = Daemon(store_url, port, url, cursor=None)
        lost.tick()
        assert len(sink.messages) == 3 and len(receiver.delivered) == 3
        assert set(json.loads(lost.cursor)["sent"]) == high_case_ids(store_url)

    for message in sink.messages:  # no PII: the customer ids are not in what was sent
        assert "CUST-" not in message.as_string()
    assert not any("CUST-" in json.dumps(body) for body in receiver.delivered)
    with CaseStore(store_url).engine.connect() as conn:
        entries = conn.execute(audit_log.select().where(audit_log.c.action == "notification_sent")).all()
    assert len(entries) == 6 and {json.loads(e.detail)["channel"] for e in entries} == {"email", "webhook"}


def test_a_failed_channel_is_retried_next_tick_without_resending_the_other(store_url):
    receiver = WebhookReceiver(statuses=[503, 503])  # the first case's two attempts fail, then 200
    with smtp_server() as (port, sink), webhook_server(receiver) as url:
        daemon = Daemon(store_url, port, url)
        with pytest.raises(Exception, match="1 notification\\(s\\) failed; first: CASE-.*HTTP 503"):
            daemon.tick()
        assert len(sink.messages) == 2 and len(receiver.delivered) == 1
        # The failed tick's cursor was not saved (daemon semantics): the audit log says what went out.
        daemon.tick()
        assert len(sink.messages) == 2, "email already delivered: not sent again"
        assert {b["case_id"] for b in receiver.delivered} == high_case_ids(store_url)
        assert len(receiver.delivered) == 2


def test_without_a_channel_the_sensor_skips_and_opens_no_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'never' / 'cases.sqlite'}"
    data = Daemon(url, None, None).tick()
    assert "no notification channel configured" in data.skip_message
    assert not (tmp_path / "never").exists()


def test_definitions_register_both_sensors_idle_with_an_empty_environment():
    from kyc_assets.definitions import build_definitions
    from kyc_assets.settings import Settings

    defs = build_definitions(Settings.from_env({}))
    names = {s.name for s in defs.sensors}
    assert {"case_escalation_notifications", "run_failure_alerts"} <= names
    resources = defs.resources
    assert resources["email"].enabled is False and resources["webhook"].enabled is False


def test_definitions_read_secrets_through_env_vars(monkeypatch):
    from kyc_assets.definitions import build_notification_resources
    from kyc_assets.settings import Settings

    env = {"KYC_SMTP_HOST": "smtp.bank.test", "KYC_SMTP_FROM": "kyc@bank.test", "KYC_SMTP_TO": "a@b.test, c@d.test",
           "KYC_SMTP_USER": "kyc", "KYC_SMTP_PASSWORD": "pw", "KYC_WEBHOOK_URL": "https://hooks.test/T/secret"}
    resources = build_notification_resources(Settings.from_env(env))
    assert isinstance(resources["email"].password, dg.EnvVar) and resources["email"].password.env_var_name == \
        "KYC_SMTP_PASSWORD"
    assert isinstance(resources["webhook"].url, dg.EnvVar)
    assert resources["email"].recipients == ["a@b.test", "c@d.test"]
    with pytest.raises(ValueError, match="KYC_SMTP_PASSWORD"):
        Settings.from_env({k: v for k, v in env.items() if k != "KYC_SMTP_PASSWORD"})
    with pytest.raises(ValueError, match="KYC_SMTP_FROM"):
        Settings.from_env({"KYC_SMTP_HOST": "smtp.bank.test"})


@dg.op
def failing_op():
    raise RuntimeError("boom")


@dg.job
def failing_job():
    failing_op()


def test_run_failure_sensor_alerts_both_channels_with_a_link_to_the_run():
    instance = dg.DagsterInstance.ephemeral()
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    sensor = build_run_failure_sensor(dagster_ui_url="http://127.0.0.1:3000")
    receiver = WebhookReceiver()
    with smtp_server() as (port, sink), webhook_server(receiver) as url:
        resources = {"email": SmtpNotifierResource(host="127.0.0.1", port=port, sender="k@b.test",
                                                   recipients=["a@b.test"], security="none"),
                     "webhook": WebhookNotifierResource(url=url)}
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alerts", dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(), resources=resources).for_run_failure()
        sensor(context)
    run_id = result.dagster_run.run_id
    assert len(sink.messages) == 1 and sink.messages[0]["Subject"] == "[KYC] Run of failing_job failed"
    assert receiver.delivered[0]["link"] == f"http://127.0.0.1:3000/runs/{run_id}"
    assert receiver.delivered[0]["event"] == "run_failed"
