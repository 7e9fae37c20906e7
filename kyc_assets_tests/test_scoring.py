"""Risk scoring: typology rules, the anomaly model, and the end-to-end monitoring path on planted typologies."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from kyc_assets.monitoring.features import FEATURE_COLUMNS
from kyc_assets.monitoring.monitor import RESULT_COLUMNS, monitor_transactions
from kyc_assets.monitoring.scoring import RULES, score_accounts
from kyc_assets.sample_data.transactions import generate_transactions

ACCOUNTS = [f"C{i:05d}" for i in range(1500)]


@pytest.fixture(scope="module")
def world():
    raw, labels = generate_transactions(ACCOUNTS, n=60_000, start=date(2024, 1, 1), days=60, seed=3)
    # the threshold policy: a triggered rule alerts (the default policy is the daily alert budget)
    results, quarantine = monitor_transactions(raw, alert_policy="threshold")
    return raw, labels, results, quarantine


def _features(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(0.0, index=range(len(rows)), columns=FEATURE_COLUMNS)
    for i, row in enumerate(rows):
        for key, value in row.items():
            frame.loc[i, key] = value
    frame.insert(0, "as_of_date", date(2024, 3, 31))
    frame.insert(0, "account_id", [f"A{i}" for i in range(len(rows))])
    return frame


@pytest.mark.parametrize("typology", ["structuring", "fan_in", "fan_out", "cycle", "rapid_pass_through",
                                      "high_risk_corridor"])
def test_planted_typologies_are_alerted_with_the_right_reason(world, typology):
    _, labels, results, _ = world
    planted = sorted({lab["account_id"] for lab in labels if lab["typology"] == typology})
    assert planted, f"generator planted no {typology}"
    by_account = results.set_index("account_id")
    for account in planted:
        row = by_account.loc[account]
        assert row["alert"], f"{typology} account not alerted"
        assert typology in row["reasons"].split(";")
        assert row["risk_score"] > 0.7


def test_ordinary_accounts_alert_rate_is_low(world):
    raw, labels, results, quarantine = world
    assert quarantine.empty
    planted_tx = {t for lab in labels for t in lab["transaction_ids"]}
    touched = set(raw.loc[raw["transaction_id"].isin(planted_tx), ["sender_account", "receiver_account"]]
                  .to_numpy().ravel())
    ordinary = results[results["account_id"].isin(ACCOUNTS) & ~results["account_id"].isin(touched)]
    assert len(ordinary) > 1000
    # measured 3.2-3.6% over seeds 0-3 (mostly the model's 2% contamination concentrating on customers)
    assert ordinary["alert"].mean() < 0.05
    rule_hits = ordinary["triggered_rules"].str.len().gt(0).mean()
    # kyc monitor scores each account at every weekly as-of date of the period and keeps its worst day,
    # so a busy ordinary account has several chances to cross a rule (measured 1.1%, mostly fan_in).
    assert rule_hits < 0.02


def test_results_shape_and_order(world):
    _, _, results, _ = world
    assert list(results.columns) == RESULT_COLUMNS
    assert results["account_id"].is_unique
    assert results["risk_score"].between(0, 1).all()
    assert results["risk_score"].is_monotonic_decreasing
    assert (results["alert"] == (results["risk_score"] >= 0.7)).all()


def test_reasons_list_rules_first_then_top_features():
    features = _features([{"structuring_count_7d": 4, "structuring_count_30d": 4}] + [{}] * 30
                         + [{"tx_out_count_30d": 50, "amount_out_sum_30d": 9e5, "amount_out_max_30d": 8e5}])
    scores = score_accounts(features)
    first = scores.iloc[0]
    assert first["triggered_rules"] == ["structuring"]
    assert first["reasons"].split(";")[0] == "structuring"
    assert first["alert"] and first["risk_score"] >= 0.85  # T + (1 - T) / 2 at least
    last = scores.iloc[-1]
    assert last["triggered_rules"] == []
    assert set(last["reasons"].split(";")) == {"tx_out_count_30d", "amount_out_sum_30d", "amount_out_max_30d"}
    assert last["model_score"] > scores["model_score"].iloc[1:-1].max()
    assert not scores.iloc[1:-1]["alert"].any()


@pytest.mark.parametrize("rule, row", [
    ("fan_in", {"distinct_counterparties_in_30d": 12, "tx_in_count_30d": 12, "amount_in_sum_30d": 60_000}),
    ("fan_out", {"distinct_counterparties_out_30d": 15, "tx_out_count_30d": 15, "amount_out_sum_30d": 45_000,
                 "amount_out_mean_30d": 3_000, "amount_in_sum_30d": 50_000}),
    ("cycle", {"cycle_flag": 1}),
    ("rapid_pass_through", {"passthrough_ratio": 0.97}),
    ("high_risk_corridor", {"high_risk_share_30d": 0.5, "tx_out_count_30d": 6}),
    ("velocity_spike", {"velocity_change": 3.5, "tx_out_count_7d": 14, "tx_out_count_30d": 16}),
])
def test_each_rule_fires_on_its_pattern(rule, row):
    scores = score_accounts(_features([row, {}]))
    assert scores["triggered_rules"].iloc[0] == [rule]
    assert scores["alert"].iloc[0]
    assert scores["triggered_rules"].iloc[1] == []


def test_rules_have_names_and_descriptions():
    names = [r.name for r in RULES]
    assert names == ["structuring", "fan_in", "fan_out", "cycle", "rapid_pass_through", "high_risk_corridor",
                     "velocity_spike", "scatter_gather", "gather_scatter", "dormant_reactivation"]
    assert all(r.description for r in RULES)


def test_scatter_gather_gather_scatter_and_dormancy_rules():
    rows = [
        {"scatter_gather_paths": 3},
        {"scatter_gather_paths": 2},
        {"distinct_counterparties_in_7d": 5, "distinct_counterparties_out_7d": 4, "amount_in_sum_7d": 20_000,
         "amount_out_sum_7d": 19_000},
        {"distinct_counterparties_in_7d": 5, "distinct_counterparties_out_7d": 4, "amount_in_sum_7d": 20_000,
         "amount_out_sum_7d": 5_000},  # the money stays: not a pass-through hub
        {"dormant_reactivation": 1},
    ]
    rules = {r.name: r for r in RULES}
    f = _features(rows)
    assert rules["scatter_gather"].evaluate(f).tolist() == [True, False, False, False, False]
    assert rules["gather_scatter"].evaluate(f).tolist() == [False, False, True, False, False]
    assert rules["dormant_reactivation"].evaluate(f).tolist() == [False, False, False, False, True]


def test_single_row_uses_rules_only_and_nans_are_tolerated():
    one = _features([{"cycle_flag": 1}])
    scores = score_accounts(one)
    assert scores["model_score"].tolist() == [0.0]
    assert scores["alert"].tolist() == [True]
    assert scores["risk_score"].iloc[0] == pytest.approx(0.7 + 0.3 * 0.5)
    quiet = score_accounts(_features([{}]))
    assert quiet["risk_score"].tolist() == [0.0] and quiet["alert"].tolist() == [False]
    nan_rows = _features([{}, {}, {}])
    nan_rows.loc[0, "passthrough_ratio"] = np.nan
    nan_rows.loc[1, "amount_out_sum_7d"] = np.inf
    scores = score_accounts(nan_rows)
    assert scores["risk_score"].notna().all()
    assert score_accounts(nan_rows.iloc[0:0]).empty


def test_scores_are_deterministic_for_a_seed(world):
    raw = world[0].head(5_000)
    first, _ = monitor_transactions(raw, seed=5)
    second, _ = monitor_transactions(raw, seed=5)
    pd.testing.assert_frame_equal(first, second)


def test_monitor_quarantines_and_routes_options():
    raw = pd.DataFrame({"transaction_id": ["t1", "t2", "t3"],
                        "timestamp": ["2024-03-30T10:00:00Z", "2024-03-31T10:00:00Z", "not a date"],
                        "sender_account": ["A", "B", "C"], "receiver_account": ["B", "C", "A"],
                        "amount": ["100", "9500", "5"]})
    results, quarantine = monitor_transactions(raw, reporting_threshold=9_000, alert_threshold=0.8,
                                               alert_policy="threshold")
    assert quarantine["reason"].tolist() == ["unparseable timestamp"]
    assert set(results["account_id"]) == {"A", "B", "C"}
    with pytest.raises(ValueError, match="unknown monitoring option"):
        monitor_transactions(raw, bogus=1)
    empty, q = monitor_transactions(raw.iloc[2:])
    assert empty.empty and list(empty.columns) == RESULT_COLUMNS and len(q) == 1
