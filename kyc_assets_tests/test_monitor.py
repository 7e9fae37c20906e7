"""The monitoring path over a whole period: one row per account, early patterns alerted, streaming equals
in-memory, and detection of the planted typologies (recall bounds measured, not timing)."""

from datetime import date

import pandas as pd
import pytest

from kyc_assets.monitoring.monitor import RESULT_COLUMNS, as_of_dates, monitor_file, monitor_transactions
from kyc_assets.sample_data.transactions import generate_transactions

NOW = pd.Timestamp("2025-01-01", tz="UTC")
ACCOUNTS = [f"C{i:05d}" for i in range(1800)]


@pytest.fixture(scope="module")
def world():
    raw, labels = generate_transactions(ACCOUNTS, n=80_000, start=date(2024, 1, 1), days=90, seed=8)
    # the threshold policy: a triggered rule alerts (the default policy is the daily alert budget)
    results, quarantine = monitor_transactions(raw, now=NOW, alert_policy="threshold")
    return raw, labels, results, quarantine


def test_as_of_dates_cover_the_period_backwards_from_the_last_day():
    assert as_of_dates(date(2024, 1, 1), date(2024, 1, 20)) == [date(2024, 1, 6), date(2024, 1, 13),
                                                                 date(2024, 1, 20)]
    with pytest.raises(ValueError):
        as_of_dates(date(2024, 1, 1), date(2024, 1, 2), 0)


def test_one_row_per_account_over_the_whole_period(world):
    raw, _, results, quarantine = world
    assert quarantine.empty
    assert list(results.columns) == RESULT_COLUMNS and results["account_id"].is_unique
    active = set(raw["sender_account"]) | set(raw["receiver_account"])
    assert set(results["account_id"]) == active  # every account of the period, not only the last 30 days
    assert results["risk_score"].between(0, 1).all() and results["risk_score"].is_monotonic_decreasing
    assert results["as_of_date"].nunique() > 5  # maxima come from dates across the period


def test_a_pattern_early_in_the_period_is_still_alerted():
    rows = [{"transaction_id": f"S{i}", "timestamp": f"2024-01-0{2 + i}T10:00:00Z", "sender_account": "EARLY",
             "receiver_account": "EARLY", "amount": "9600.00", "channel": "cash_deposit"} for i in range(5)]
    background, _ = generate_transactions(ACCOUNTS[:300], n=15_000, start=date(2024, 1, 1), days=90, seed=3)
    raw = pd.concat([background, pd.DataFrame(rows)], ignore_index=True)
    results, _ = monitor_transactions(raw, now=NOW, alert_policy="threshold")
    early = results.set_index("account_id").loc["EARLY"]
    assert early["alert"] and "structuring" in early["reasons"].split(";")
    assert early["as_of_date"] < date(2024, 2, 1)  # the last transaction date is at the end of March


def test_streamed_file_gives_the_same_results(tmp_path):
    raw, _ = generate_transactions(ACCOUNTS[:400], n=20_000, start=date(2024, 1, 1), days=60, seed=4)
    raw = pd.concat([raw, raw.iloc[[10, 15_000]]], ignore_index=True)  # two duplicates
    path = tmp_path / "tx.csv"
    raw.to_csv(path, index=False)
    whole, quarantine = monitor_transactions(raw, now=NOW)
    seen = []
    streamed, counts = monitor_file(path, chunk_rows=3_000, now=NOW, on_quarantine=seen.append)
    assert counts == {"duplicate transaction_id": 2} and len(quarantine) == 2
    assert sum(len(q) for q in seen) == 2
    pd.testing.assert_frame_equal(streamed, whole)


# Measured on this world (seed 8): recall 1.00 for the six rule-backed typologies; scatter_gather 0.53 and
# gather_scatter 0.15 (model only, no rule yet: see the proposed rules), so they are not asserted here.
# Bounds leave room for model randomness.
@pytest.mark.parametrize("typology, floor", [("structuring", 1.0), ("fan_in", 1.0), ("fan_out", 1.0),
                                             ("cycle", 0.9), ("rapid_pass_through", 0.9),
                                             ("high_risk_corridor", 0.9)])
def test_planted_typologies_recall(world, typology, floor):
    _, labels, results, _ = world
    planted = {lab["account_id"] for lab in labels if lab["typology"] == typology}
    alerted = set(results.loc[results["alert"], "account_id"])
    assert planted and len(planted & alerted) / len(planted) >= floor


def test_alert_volume_is_bounded_over_the_period(world):
    _, labels, results, _ = world
    planted = {lab["account_id"] for lab in labels}
    ordinary = results[~results["account_id"].isin(planted)]
    assert ordinary["alert"].mean() < 0.05
