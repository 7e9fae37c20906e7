"""The anomaly model artefact, the registry, PSI, the alert budget and the validation report."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from kyc_assets.monitoring.features import FEATURE_COLUMNS
from kyc_assets.monitoring.model import ModelRegistry, fit_model, psi, training_data_version
from kyc_assets.monitoring.scoring import alert_flags, score_accounts, score_with_model
from kyc_assets.monitoring.validation import NO_DECISIONS, SECTIONS, alert_decisions, build_report


def _features(n: int = 300, seed: int = 0, days: int = 3, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = n * days
    frame = pd.DataFrame(rng.lognormal(2 + shift, 1, size=(rows, len(FEATURE_COLUMNS))), columns=FEATURE_COLUMNS)
    frame.insert(0, "as_of_date", np.repeat(pd.date_range("2026-09-01", periods=days), n))
    frame.insert(0, "account_id", [f"A{i % n:04d}" for i in range(rows)])
    return frame


def test_version_depends_on_data_params_and_not_on_time():
    f = _features()
    a = fit_model(f, seed=1, trained_at=pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime())
    b = fit_model(f.sample(frac=1, random_state=3), seed=1)  # same rows, other order
    assert a.version == b.version and a.training_data_version == b.training_data_version
    assert fit_model(f, seed=2).version != a.version
    assert fit_model(_features(seed=9), seed=1).version != a.version
    assert a.training_window == ("2026-09-01", "2026-09-03") and a.training_rows == len(f)
    assert a.feature_columns == FEATURE_COLUMNS
    assert set(a.summary["cycle_flag"]) >= {"null_rate", "mean", "p99"}


def test_score_accounts_equals_fit_then_score():
    f = _features(days=1)
    model = fit_model(f, contamination=0.02, seed=0)
    with_model = score_with_model(f, model)
    batch = score_accounts(f, contamination=0.02)
    pd.testing.assert_frame_equal(with_model.drop(columns="model_version"), batch)
    assert (with_model["model_version"] == model.version).all()


def test_model_scores_unseen_days_with_training_statistics():
    model = fit_model(_features(days=2), seed=0)
    other = _features(days=1, seed=5)
    outlier = other.iloc[[0]].copy()
    outlier[FEATURE_COLUMNS] = outlier[FEATURE_COLUMNS] * 1e4
    scores = score_with_model(pd.concat([other, outlier.assign(account_id="X")], ignore_index=True), model)
    assert scores.set_index("account_id").loc["X", "model_score"] == scores["model_score"].max()
    assert scores.set_index("account_id").loc["X", "alert"]
    with pytest.raises(ValueError, match="lack model column"):
        score_with_model(other.drop(columns=["cycle_flag"]), model)


def test_registry_round_trip_history_and_previous(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    first, second = fit_model(_features(seed=1)), fit_model(_features(seed=2))
    registry.save(first)
    registry.save(second)
    loaded = registry.load(second.version)
    x = _features(days=1, seed=4)
    np.testing.assert_allclose(score_with_model(x, loaded)["risk_score"], score_with_model(x, second)["risk_score"])
    assert registry.previous_version(second.version) == first.version
    assert registry.previous_version(first.version) is None
    assert (tmp_path / "models" / f"{first.version}.json").exists()
    with pytest.raises(FileNotFoundError):
        registry.load("abcdef012345")
    with pytest.raises(ValueError):
        registry.path("../../etc/passwd")


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    base = rng.normal(size=5000)
    assert psi(base, rng.normal(size=5000)) < 0.02
    assert psi(base, rng.normal(loc=1.0, size=5000)) > 0.25
    zeros = np.zeros(1000)
    assert psi(zeros, zeros) == pytest.approx(0.0)
    assert psi(np.array([]), base) == 0.0


def test_alert_budget_alerts_the_top_share_of_each_day():
    risk = np.array([0.9, 0.1, 0.5, 0.3, 0.8, 0.2, 0.95, 0.05])
    days = pd.Series(["d1"] * 4 + ["d2"] * 4)
    ids = pd.Series(list("abcdefgh"))
    flags = alert_flags(risk, days, ids, policy="budget", threshold=0.7, budget=0.25)
    assert flags.tolist() == [True, False, False, False, False, False, True, False]
    assert alert_flags(risk, days, ids, policy="threshold", threshold=0.7, budget=0.25).sum() == 3
    with pytest.raises(ValueError):
        alert_flags(risk, days, ids, policy="quota", threshold=0.7, budget=0.1)


def test_training_data_version_is_content_based():
    f = _features()
    cols = FEATURE_COLUMNS
    changed = f.copy()
    changed.loc[5, "cycle_flag"] += 1
    assert training_data_version(f, cols) != training_data_version(changed, cols)


# --- validation report ------------------------------------------------------------------------------


def _case_store(tmp_path, version: str):
    from kyc_assets.cases.escalation import anomaly_candidates
    from kyc_assets.cases.store import CaseStore

    store = CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    scores = pd.DataFrame({"account_id": ["A1", "A2", "A3", "A4"], "as_of_date": [date(2026, 9, 1)] * 4,
                           "risk_score": [0.9] * 4, "alert": [True] * 4, "triggered_rules": ["cycle"] * 4,
                           "reasons": ["cycle"] * 4, "run_id": ["r"] * 4, "model_version": [version] * 4})
    store.escalate(anomaly_candidates(scores), sla_days=5)
    return store


def test_report_without_decisions_says_so(tmp_path):
    train = _features()
    model = fit_model(train, seed=0)
    store = _case_store(tmp_path, model.version)
    decisions = alert_decisions(store.engine)
    assert len(decisions) == 4 and not decisions["decided"].any()
    report = build_report(model, train, decisions=decisions)
    for section in SECTIONS:
        assert f"## {section}" in report.markdown
    assert NO_DECISIONS in report.markdown and "First model version" in report.markdown
    assert report.metrics["precision"] is None and report.metrics["training_data_reproduced"]


def test_report_precision_against_analyst_decisions(tmp_path):
    import sqlalchemy as sa

    from kyc_assets.cases.store import cases

    train = _features()
    model = fit_model(train, seed=0)
    store = _case_store(tmp_path, model.version)
    outcomes = {"A1": "confirmed", "A2": "false_positive", "A3": "confirmed"}  # A4 stays open
    with store.engine.begin() as conn:
        for account, outcome in outcomes.items():
            conn.execute(cases.update().where(cases.c.subject_id == account).values(status="closed",
                                                                                   outcome=outcome))
    previous = fit_model(_features(seed=7, shift=0.5), seed=0)
    report = build_report(model, train, previous=previous, previous_training=_features(seed=7, shift=0.5),
                          decisions=alert_decisions(store.engine),
                          scores_by_day=pd.DataFrame({"as_of_date": pd.to_datetime(["2026-09-04"]),
                                                      "accounts": [300], "alerts": [6]}))
    assert report.metrics["decided_cases"] == 3
    assert report.metrics["precision"] == pytest.approx(2 / 3)
    assert report.metrics["precision_this_version"] == pytest.approx(2 / 3)
    assert NO_DECISIONS not in report.markdown and "0.667" in report.markdown
    assert f"Previous version: `{previous.version}`" in report.markdown
    assert report.metrics["max_feature_psi"] > 0.1  # the previous window was shifted
    assert 0 <= report.metrics["alert_jaccard"] <= 1 and report.metrics["alerts"] == 6
    assert store.engine.dialect.name == "sqlite" and sa is not None


def test_report_flags_training_data_that_changed():
    train = _features()
    model = fit_model(train, seed=0)
    changed = train.copy()
    changed.loc[0, "cycle_flag"] = 99
    report = build_report(model, changed)
    assert not report.metrics["training_data_reproduced"] and "NOT reproduced" in report.markdown
