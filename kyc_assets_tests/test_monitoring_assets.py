"""The monitoring assets end to end: a multi-partition (single-run backfill) run, the versioned model,
scores traced to it, the checks, the validation report, and retraining against the previous version."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pandas as pd
import pytest

from kyc_assets.demo import partition_range_tags
from kyc_assets.sample_data.transactions import generate_transactions

DAYS = [f"2026-09-{d:02d}" for d in range(1, 21)]
SCORE_CHECKS = {"anomaly_scores_valid", "alert_volume_in_bounds", "feature_null_rates", "feature_drift_psi",
                "anomaly_model_not_stale"}


@pytest.fixture
def monitoring(kyc_env, monkeypatch):
    raw, _ = generate_transactions([f"C{i:04d}" for i in range(150)], n=5000, start=date(2026, 9, 1), days=20,
                                   seed=4)
    # Two rows that must be quarantined (inside the backfilled days), so the count below covers both tables.
    bad = raw.iloc[[100, 2000]].copy()
    bad["transaction_id"] = ["BAD-1", "BAD-2"]
    bad["amount"] = ["-10.00", "abc"]
    raw = pd.concat([raw, bad], ignore_index=True)
    source = kyc_env / "tx.csv"
    kyc_env.mkdir(parents=True, exist_ok=True)
    raw.to_csv(source, index=False)
    monkeypatch.setenv("KYC_TRANSACTIONS_PATH", str(source))
    monkeypatch.setenv("KYC_MODEL_TRAINING_DAYS", "10")
    instance = dg.DagsterInstance.ephemeral()

    def run(selection, tags=None, raise_on_error=True):
        from kyc_assets.definitions import build_assets, build_resources
        from kyc_assets.settings import Settings

        settings = Settings.from_env()
        return dg.materialize(build_assets(settings), selection=selection, resources=build_resources(settings),
                              instance=instance, tags=tags or {}, raise_on_error=raise_on_error)

    return {"run": run, "home": kyc_env, "instance": instance, "rows": len(raw)}


def _query(home, sql, params=None):
    from kyc_assets.storage import Warehouse

    with Warehouse(home / "warehouse").connect() as con:
        return con.execute(sql, params or []).fetchall()


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_backfill_model_scores_and_report(monitoring, monkeypatch):
    run, home = monitoring["run"], monitoring["home"]
    first = run(["transactions", "transactions_quarantine", "transaction_features"], partition_range_tags(DAYS))
    assert first.success
    assert len(first.get_step_success_events()) == 2  # one run, one step per asset for the 20 partitions
    counted = _query(home, "select (select count(*) from kyc.transactions) + "
                           "(select count(*) from kyc.transactions_quarantine)")[0][0]
    assert counted == monitoring["rows"]

    scores_before_model = run(["anomaly_scores"], partition_range_tags(DAYS), raise_on_error=False)
    assert not scores_before_model.success  # a clear failure, never a silent per-day refit

    trained = run(["anomaly_model"])
    meta = trained.asset_materializations_for_node("anomaly_model")[0].metadata
    version = meta["model_version"].value
    assert (home / "models" / f"{version}.joblib").exists()
    assert meta["training_window"].value == "2026-09-11 .. 2026-09-20"
    assert meta["training_data_version"].value and meta["code_version"].value
    assert _checks(trained) == {"anomaly_model_trained": True}

    scored = run(["anomaly_scores"], partition_range_tags(DAYS))
    checks = _checks(scored)
    assert set(checks) == SCORE_CHECKS and all(checks.values()), checks
    rows = _query(home, "select count(*), count(distinct as_of_date), min(risk_score), max(risk_score), "
                        "count(*) filter (where model_version = ?) from kyc.anomaly_scores", [version])[0]
    assert rows[1] == 20 and 0 <= rows[2] <= rows[3] <= 1 and rows[4] == rows[0]  # every row traced

    # Rescoring one day alone gives the same scores as in the backfill: one model, no per-day refit.
    day = DAYS[7]
    before = _query(home, "select account_id, risk_score from kyc.anomaly_scores where "
                          "cast(as_of_date as date) = ? order by account_id", [day])
    single = run(["anomaly_scores"], {"dagster/partition": day})
    assert single.success
    after = _query(home, "select account_id, risk_score from kyc.anomaly_scores where "
                         "cast(as_of_date as date) = ? order by account_id", [day])
    assert before == after

    report = run(["model_validation_report"])
    md = report.asset_materializations_for_node("model_validation_report")[0].metadata["report"].value
    assert "No decided cases yet" in md and "First model version" in md and version in md
    assert _checks(report) == {"model_validation_report_complete": True}
    stored = _query(home, "select model_version, decided_cases, report_markdown from kyc.model_validation_report")
    assert stored[0][0] == version and stored[0][1] == 0 and stored[0][2] == md

    # Retraining on another window: a new version, compared with the previous one in its report.
    monkeypatch.setenv("KYC_MODEL_TRAINING_DAYS", "5")
    retrained = run(["anomaly_model"])
    new_meta = retrained.asset_materializations_for_node("anomaly_model")[0].metadata
    assert new_meta["model_version"].value != version and new_meta["previous_version"].value == version
    md2 = run(["model_validation_report"]).asset_materializations_for_node(
        "model_validation_report")[0].metadata["report"].value
    assert f"Previous version: `{version}`" in md2 and "score PSI" in md2
    assert (home / "models" / f"{version}.joblib").exists()  # old versions stay traceable


def test_stale_model_and_alert_bounds_warn(monitoring, monkeypatch):
    run = monitoring["run"]
    run(["transactions", "transactions_quarantine", "transaction_features"], partition_range_tags(DAYS[:5]))
    run(["anomaly_model"])  # training data ends on 2026-09-05
    run(["transactions", "transactions_quarantine", "transaction_features"], partition_range_tags(DAYS[-2:]))
    monkeypatch.setenv("KYC_ALERT_SHARE_MIN", "0.15")  # no day alerts 15% of its accounts
    checks = _checks(run(["anomaly_scores"], partition_range_tags(DAYS[-2:])))
    assert checks["anomaly_model_not_stale"] is False  # 15 days after its training data (limit 14)
    assert checks["alert_volume_in_bounds"] is False
    assert checks["anomaly_scores_valid"] is True
    monkeypatch.setenv("KYC_MODEL_MAX_AGE_DAYS", "20")
    assert _checks(run(["anomaly_scores"], partition_range_tags(DAYS[-2:])))["anomaly_model_not_stale"] is True


def test_budget_policy_alerts_a_fixed_share(monitoring, monkeypatch):
    run, home = monitoring["run"], monitoring["home"]
    monkeypatch.setenv("KYC_ALERT_POLICY", "budget")
    monkeypatch.setenv("KYC_ALERT_BUDGET", "0.05")
    run(["transactions", "transactions_quarantine", "transaction_features"], partition_range_tags(DAYS[-3:]))
    run(["anomaly_model"])
    run(["anomaly_scores"], partition_range_tags(DAYS[-3:]))
    shares = _query(home, "select count(*), count(*) filter (where alert) from kyc.anomaly_scores "
                          "group by as_of_date")
    for n, alerts in shares:
        assert alerts == -(-n * 5 // 100)  # ceil(5% of the day's accounts)


def test_decided_cases_train_a_supervised_model_beside_the_anomaly_model(monitoring, monkeypatch):
    """Analysts' decisions (confirmed / false positive) on alert cases: once there are KYC_MODEL_MIN_LABELS of
    them, anomaly_model also trains the supervised model; scores and the validation report use it."""
    from kyc_assets.cases.escalation import anomaly_candidates
    from kyc_assets.cases.store import CaseStore, cases

    run, home = monitoring["run"], monitoring["home"]
    run(["transactions", "transactions_quarantine", "transaction_features"], partition_range_tags(DAYS))
    first = run(["anomaly_model"]).asset_materializations_for_node("anomaly_model")[0].metadata
    assert first["supervised_version"].value == ""  # no decisions yet: unsupervised only, as before
    version = first["model_version"].value
    accounts = [r[0] for r in _query(home, "select distinct account_id from kyc.transaction_features "
                                           "order by account_id limit 24")]
    scores = pd.DataFrame({"account_id": accounts, "as_of_date": [date(2026, 9, 20)] * len(accounts),
                           "risk_score": [0.9] * len(accounts), "alert": [True] * len(accounts),
                           "triggered_rules": [""] * len(accounts), "reasons": ["fan_in_burst"] * len(accounts),
                           "run_id": ["r"] * len(accounts), "model_version": [version] * len(accounts)})
    store = CaseStore(f"sqlite:///{home / 'cases.sqlite'}")
    store.escalate(anomaly_candidates(scores), sla_days=5)
    with store.engine.begin() as conn:
        for i, account in enumerate(accounts):
            conn.execute(cases.update().where(cases.c.subject_id == account).values(
                status="closed", outcome="confirmed" if i % 3 == 0 else "false_positive",
                closed_at=f"2026-09-21T10:{i:02d}:00+00:00"))
    store.engine.dispose()
    monkeypatch.setenv("KYC_MODEL_MIN_LABELS", "100")
    assert run(["anomaly_model"]).asset_materializations_for_node("anomaly_model")[0].metadata[
        "supervised_version"].value == ""  # 24 decisions < 100
    monkeypatch.setenv("KYC_MODEL_MIN_LABELS", "20")
    meta = run(["anomaly_model"]).asset_materializations_for_node("anomaly_model")[0].metadata
    supervised = meta["supervised_version"].value
    assert supervised and (home / "models" / f"{supervised}.joblib").exists()
    assert meta["decided_cases"].value == 24 and meta["supervised_validation"].value["split"] == "time"
    scored = run(["anomaly_scores"], partition_range_tags(DAYS[-2:]))
    assert scored.asset_materializations_for_node("anomaly_scores")[0].metadata["supervised_version"].value == \
        supervised
    md = run(["model_validation_report"]).asset_materializations_for_node(
        "model_validation_report")[0].metadata["report"].value
    assert f"Supervised model `{supervised}`" in md and "## Precision and recall at several budgets" in md
