"""Learning from analysts' decisions, the alert budget as the default policy, optional columns that are skipped
and reported, and one configuration for every monitoring path (settings -> MonitorConfig)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from kyc_assets.monitoring.model import ModelRegistry, fit_supervised
from kyc_assets.monitoring.monitor import MonitorConfig, monitor_run
from kyc_assets.sample_data.aml_world import TUNE_PARAMS, TUNE_SEEDS, generate_world
from kyc_assets.settings import Settings

NOW = pd.Timestamp("2100-01-01", tz="UTC")
SMALL = replace(TUNE_PARAMS, n_accounts=2500, target_transfers=15000, n_days=90)


@pytest.fixture(scope="module")
def world():
    tx, labels = generate_world(TUNE_SEEDS[5], SMALL)
    run, quarantine = monitor_run(tx, now=NOW)
    return tx, labels, run, quarantine


def _decisions(run, labels, n: int) -> pd.DataFrame:
    top = run.results.head(n)
    truth = labels.set_index("account_id")
    return pd.DataFrame({"account_id": top["account_id"],
                         "confirmed": truth["is_laundering"].reindex(top["account_id"]).to_numpy(dtype=bool),
                         "decided_at": pd.date_range("2026-06-01", periods=len(top), freq="h"),
                         "typology": truth["typology"].reindex(top["account_id"]).to_numpy(dtype=object)})


def test_budget_is_the_default_policy_and_counts_active_account_days(world):
    _tx, _labels, run, quarantine = world
    assert quarantine.empty and run.notes["alert_policy"] == "budget"
    budget = run.notes["alert_budget"]
    assert int(run.results["alert"].sum()) == budget["alerts"] == int(np.ceil(0.005 * budget["active_account_days"]))
    alerted = run.results[run.results["alert"]]
    assert (alerted["reasons"] != "").all()
    assert alerted["risk_score"].min() >= run.results.loc[~run.results["alert"], "risk_score"].max()


def test_absent_optional_columns_skip_their_rules_and_say_so(world):
    tx, _, run, _ = world
    assert "country" not in tx.columns and run.notes["skipped_rules"] == ["high_risk_corridor"]
    assert not run.results["reasons"].str.contains("high_risk").any()
    with_countries = tx.head(3000).assign(sender_country="US", receiver_country="IR")
    present, _ = monitor_run(with_countries, now=NOW)
    assert present.notes["skipped_rules"] == [] and present.notes["optional_inputs"] == ["country"]
    assert present.results["reasons"].str.contains("high_risk_corridor").any()


def test_graph_typologies_lead_the_reasons_and_rank_laundering_first(world):
    _, labels, run, _ = world
    y = labels.set_index("account_id")["is_laundering"].reindex(run.results["account_id"]).to_numpy(dtype=bool)
    top = max(1, len(y) // 100)
    assert y[:top].mean() > 3 * y.mean()  # the top 1% holds far more laundering than the base rate
    first = run.results["reasons"].head(top).str.split(";").str[0]
    from kyc_assets.monitoring.graph import TYPOLOGY_SIGNALS

    assert first.isin([name for name, *_ in TYPOLOGY_SIGNALS]).mean() > 0.5


def test_supervised_model_needs_enough_labels_and_is_versioned_with_its_validation(world, tmp_path):
    _, labels, run, _ = world
    features = run.features.merge(run.results[["account_id", "risk_score"]], on="account_id").rename(
        columns={"risk_score": "unsupervised_risk"})
    few = _decisions(run, labels, 20)
    assert fit_supervised(features, few, min_labels=50) is None
    decisions = _decisions(run, labels, 150)
    assert decisions["confirmed"].nunique() == 2
    model = fit_supervised(features, decisions, min_labels=50)
    assert model is not None and model.training_rows == 150
    v = model.validation
    assert v["split"] == "time" and v["validation_rows"] == 38 and v["train_rows"] == 112
    assert {"at_budget", "brier", "calibration", "recall_by_typology", "combination_weight"} <= set(v)
    assert model.weight in (0.0, 0.25, 0.5, 0.75, 1.0)
    p = model.predict_proba(features)
    assert p.shape == (len(features),) and ((0 <= p) & (p <= 1)).all()
    registry = ModelRegistry(tmp_path)
    registry.save(model)
    assert registry.latest("supervised") == model.version and registry.latest("anomaly") is None
    again = fit_supervised(features, decisions.assign(confirmed=~decisions["confirmed"]), min_labels=50,
                           previous=model)
    assert again.version != model.version and again.previous_version == model.version
    assert "stability" in again.validation


def test_supervised_model_changes_the_ranking_with_a_reason(world):
    tx, labels, run, _ = world
    features = run.features.merge(run.results[["account_id", "risk_score"]], on="account_id").rename(
        columns={"risk_score": "unsupervised_risk"})
    model = fit_supervised(features, _decisions(run, labels, 150), min_labels=50)
    model.weight = 0.5  # force the combination (the chosen weight may be 0 on a small world)
    learned, _ = monitor_run(tx, now=NOW, supervised=model)
    assert learned.notes["supervised_model"] == model.version
    assert not np.allclose(learned.results.set_index("account_id")["risk_score"].sort_index(),
                           run.results.set_index("account_id")["risk_score"].sort_index())
    assert learned.results["reasons"].str.contains("learned_from_decisions").any()


def test_settings_decide_the_budget_and_the_label_minimum(tmp_path, world):
    tx, _, run, _ = world
    default = Settings.from_env({"KYC_HOME": str(tmp_path)})
    assert default.alert_policy == "budget" and default.alert_budget == 0.005 and default.model_min_labels == 50
    wider = Settings.from_env({"KYC_HOME": str(tmp_path), "KYC_ALERT_BUDGET": "0.02", "KYC_MODEL_MIN_LABELS": "5"})
    config = MonitorConfig.from_settings(wider)
    assert config.policy.budget == 0.02 and config == MonitorConfig().with_options(alert_budget=0.02)
    more, _ = monitor_run(tx, now=NOW, config=config)
    assert more.results["alert"].sum() > run.results["alert"].sum()
    tiny = _decisions(run, pd.DataFrame({"account_id": run.results["account_id"], "is_laundering":
                                         np.arange(len(run.results)) % 2 == 0, "typology": None}), 10)
    assert fit_supervised(run.features, tiny, min_labels=default.model_min_labels) is None
    assert fit_supervised(run.features, tiny, min_labels=wider.model_min_labels) is not None
    with pytest.raises(ValueError, match="KYC_MODEL_MIN_LABELS"):
        Settings.from_env({"KYC_HOME": str(tmp_path), "KYC_MODEL_MIN_LABELS": "1"})
