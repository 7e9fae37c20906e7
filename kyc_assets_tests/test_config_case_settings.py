"""KYC_CASE_KEYS, KYC_CASE_RETENTION_YEARS, KYC_CASE_SLA_DAYS_BY_PRIORITY and KYC_INSTITUTION_NAME take
effect where the platform uses them: the case store Dagster's escalation writes to, and the CLI (issue 12);
and `kyc monitor` scores with the configuration the monitoring assets use."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from kyc_assets.definitions import build_definitions, build_resources
from kyc_assets.settings import Settings
from kyc_assets_tests.case_helpers import customer_case, new_key


def _dagster_case_store(env: dict, monkeypatch):
    """The case store exactly as the escalated_cases asset gets it: the code location's resource, its
    dg.EnvVars resolved by Dagster from the process environment."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    resource = build_resources(Settings.from_env(env))["case_store"]
    with dg.build_resources({"case_store": resource}) as res:
        return res.case_store.store()


def test_cases_escalated_by_dagster_store_pii_when_keys_are_set(tmp_path, monkeypatch):
    store = _dagster_case_store({"KYC_HOME": str(tmp_path), "KYC_CASE_KEYS": new_key()}, monkeypatch)
    assert store.stores_pii
    store.escalate([customer_case()], sla_days=5, actor="dagster:run:r1")
    case = store.get_case(store.list_cases()[0]["case_id"])
    assert (case["subject_name"], case["subject_dob"], case["subject_document_number"]) == (
        "Jane <b>Doe</b>", "1980-01-02", "X1234567")


def test_retention_years_reach_the_dagster_case_store(tmp_path, monkeypatch):
    store = _dagster_case_store({"KYC_HOME": str(tmp_path), "KYC_CASE_RETENTION_YEARS": "7"}, monkeypatch)
    store.escalate([customer_case()], sla_days=5)
    case_id = store.list_cases()[0]["case_id"]
    closed = store.decide(case_id, decision="false_positive", reason="other person", analyst="alice")
    assert date.fromisoformat(closed["retain_until"]).year == datetime.now(UTC).year + 7
    with pytest.raises(ValueError, match="at least 5"):
        Settings.from_env({"KYC_HOME": str(tmp_path), "KYC_CASE_RETENTION_YEARS": "2"})


def test_sla_by_priority_sets_the_due_dates_of_escalated_cases(tmp_path):
    settings = Settings.from_env({"KYC_HOME": str(tmp_path), "KYC_CASE_SLA_DAYS_BY_PRIORITY": "1:2,2:4"})
    assert settings.case_service_level == {1: 2, 2: 4, 3: 5, 4: 5}
    defs = build_definitions(settings)
    escalation = next(a for a in defs.assets if isinstance(a, dg.AssetsDefinition)
                      and dg.AssetKey("escalated_cases") in a.keys)
    cells = [c.cell_contents for c in escalation.op.compute_fn.decorated_fn.__closure__]
    assert {1: 2, 2: 4, 3: 5, 4: 5} in cells  # the asset escalates with these service levels
    from kyc_assets.cases.store import CaseStore

    store = CaseStore(f"sqlite:///{tmp_path / 'c.sqlite'}")
    store.escalate([customer_case()], sla_days=settings.case_service_level)
    case = store.list_cases()[0]
    assert case["priority"] == 1 and case["due_date"] == (datetime.now(UTC) + timedelta(days=2)).date().isoformat()


def test_institution_name_is_the_filer_of_sar_drafts(tmp_path, monkeypatch, capsys):
    from kyc_assets.cases.store import CaseStore
    from kyc_assets.cli import main

    monkeypatch.setenv("KYC_HOME", str(tmp_path))
    monkeypatch.setenv("KYC_INSTITUTION_NAME", "First Test Bank")
    for var in ("KYC_DATABASE_URL", "KYC_ANALYSTS_FILE", "KYC_CASE_KEYS"):
        monkeypatch.delenv(var, raising=False)
    store = CaseStore.from_env()
    store.escalate([customer_case()], sla_days=5)
    case_id = store.list_cases()[0]["case_id"]
    store.decide(case_id, decision="confirmed", reason="same person", analyst="alice")
    store.approve(case_id, analyst="bob")
    assert main(["case", "report", case_id]) == 0
    assert json.loads(capsys.readouterr().out)["filing_institution"]["name"] == "First Test Bank"


def test_kyc_monitor_and_the_monitoring_assets_share_one_configuration(tmp_path):
    """The CLI builds MonitorConfig.from_settings; the assets build theirs from the monitoring resource the
    code location makes from the same settings: features, policy and contamination agree."""
    from kyc_assets.monitoring.assets import feature_params
    from kyc_assets.monitoring.monitor import MonitorConfig

    settings = Settings.from_env({"KYC_HOME": str(tmp_path), "KYC_HIGH_RISK_COUNTRIES": "IR,KP",
                                  "KYC_REPORTING_THRESHOLD": "9000", "KYC_MODEL_CONTAMINATION": "0.03",
                                  "KYC_ALERT_POLICY": "threshold", "KYC_ALERT_THRESHOLD": "0.8"})
    cli = MonitorConfig.from_settings(settings)
    monitoring = build_resources(settings)["monitoring"]
    assert feature_params(monitoring) == cli.features
    assert (monitoring.contamination, monitoring.alert_policy, monitoring.alert_threshold, monitoring.alert_budget) \
        == (cli.contamination, cli.policy.policy, cli.policy.threshold, cli.policy.budget)
