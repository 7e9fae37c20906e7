"""Behavioural features on small hand-built transaction sets with hand-computed expected values."""

from datetime import date

import pandas as pd
import pytest

from kyc_assets.monitoring.features import FEATURE_COLUMNS, compute_features, feature_columns
from kyc_assets.monitoring.schema import validate_transactions

AS_OF = date(2024, 3, 31)


def _tx(rows: list[tuple]) -> pd.DataFrame:
    """rows: (timestamp, sender, receiver, amount[, channel[, receiver_country]])."""
    records = []
    for i, row in enumerate(rows):
        ts, s, r, amount, *rest = row
        records.append({
            "transaction_id": f"t{i}", "timestamp": ts, "sender_account": s, "receiver_account": r,
            "amount": str(amount), "channel": rest[0] if rest else "wire",
            "receiver_country": rest[1] if len(rest) > 1 else "US",
        })
    valid, quarantine = validate_transactions(pd.DataFrame(records, dtype=str))
    assert quarantine.empty, quarantine
    return valid


def _row(features: pd.DataFrame, account: str, as_of: date = AS_OF) -> pd.Series:
    hit = features[(features["account_id"] == account) & (features["as_of_date"] == as_of)]
    assert len(hit) == 1, f"no single row for {account}"
    return hit.iloc[0]


def test_columns_and_one_row_per_account():
    tx = _tx([("2024-03-31T10:00:00Z", "A", "B", 100)])
    features = compute_features(tx, as_of=[AS_OF])
    assert list(features.columns) == ["account_id", "as_of_date"] + FEATURE_COLUMNS
    assert sorted(features["account_id"]) == ["A", "B"]


def test_fan_in_and_windows():
    rows = [(f"2024-03-{day:02d}T09:00:00Z", f"S{i}", "HUB", 1000 + i) for i, day in
            enumerate([31, 30, 29, 28, 20, 5])]
    rows.append(("2024-03-30T12:00:00Z", "S0", "HUB", 50))  # same sender again
    rows.append(("2024-02-15T12:00:00Z", "S9", "HUB", 50))  # outside 30 days
    f = _row(compute_features(_tx(rows), as_of=[AS_OF]), "HUB")
    assert f["distinct_counterparties_in_1d"] == 1
    assert f["distinct_counterparties_in_7d"] == 4  # S0..S3 (S0 twice)
    assert f["tx_in_count_7d"] == 5
    assert f["distinct_counterparties_in_30d"] == 6  # 5 March is within 30 days of 31 March (age 26)
    assert f["amount_in_sum_7d"] == pytest.approx(1000 + 1001 + 1002 + 1003 + 50)
    assert f["tx_out_count_30d"] == 0 and f["amount_out_mean_30d"] == 0


def test_out_stats_and_fan_out():
    rows = [("2024-03-31T09:00:00Z", "A", f"R{i}", amt) for i, amt in enumerate([100, 200, 600])]
    f = _row(compute_features(_tx(rows), as_of=[AS_OF]), "A")
    assert f["distinct_counterparties_out_1d"] == 3
    assert f["amount_out_sum_1d"] == 900
    assert f["amount_out_mean_1d"] == 300
    assert f["amount_out_max_1d"] == 600
    assert f["amount_out_std_1d"] == pytest.approx(pd.Series([100, 200, 600]).std())


def test_structuring_count_and_cash_legs():
    amounts = [9500, 9999.99, 10000, 8999.99, 9000, 4000]
    rows = [(f"2024-03-{25 + i}T10:00:00Z", "C", "C", amt, "cash_deposit") for i, amt in enumerate(amounts)]
    f = _row(compute_features(_tx(rows), as_of=[AS_OF]), "C")
    assert f["structuring_count_7d"] == 3  # 9500, 9999.99, 9000: in [9000, 10000)
    assert f["tx_in_count_7d"] == 6 and f["tx_out_count_7d"] == 0  # a cash deposit is an in leg only
    assert f["distinct_counterparties_in_7d"] == 0
    assert f["cash_share_7d"] == 1.0
    assert f["round_amount_share_7d"] == pytest.approx(4 / 6)  # 9500, 10000, 9000, 4000


def test_structuring_uses_custom_threshold():
    rows = [("2024-03-31T10:00:00Z", "C", "C", amt, "cash_deposit") for amt in (2800, 2860, 2950, 3000)]
    f = _row(compute_features(_tx(rows), as_of=[AS_OF], reporting_threshold=3000, structuring_margin=0.05), "C")
    assert f["structuring_count_1d"] == 2


def test_high_risk_share():
    rows = [("2024-03-31T10:00:00Z", "A", "X", 500, "wire", "IR"), ("2024-03-31T11:00:00Z", "A", "Y", 500),
            ("2024-03-31T12:00:00Z", "A", "Z", 500), ("2024-03-31T13:00:00Z", "A", "W", 500, "wire", "KP")]
    f = _row(compute_features(_tx(rows), as_of=[AS_OF]), "A")
    assert f["high_risk_share_1d"] == 0.5


def test_passthrough_ratio():
    rows = [
        ("2024-03-30T10:00:00Z", "EXT1", "P", 10000),
        ("2024-03-30T15:00:00Z", "P", "EXT2", 9500),  # 5 hours later
        ("2024-03-20T10:00:00Z", "EXT1", "Q", 10000),
        ("2024-03-22T12:00:00Z", "Q", "EXT2", 9900),  # 50 hours later: outside 48h
        ("2024-03-30T10:00:00Z", "EXT1", "S", 900),
        ("2024-03-30T11:00:00Z", "S", "EXT2", 900),  # too small to be significant
    ]
    features = compute_features(_tx(rows), as_of=[AS_OF])
    assert _row(features, "P")["passthrough_ratio"] == pytest.approx(0.95)
    assert _row(features, "Q")["passthrough_ratio"] == 0
    assert _row(features, "S")["passthrough_ratio"] == 0
    wider = compute_features(_tx(rows), as_of=[AS_OF], passthrough_hours=72, passthrough_min_amount=500)
    assert _row(wider, "Q")["passthrough_ratio"] == pytest.approx(0.99)
    assert _row(wider, "S")["passthrough_ratio"] == pytest.approx(1.0)


def test_passthrough_ignores_transactions_after_as_of():
    rows = [("2024-03-30T22:00:00Z", "EXT1", "P", 10000), ("2024-03-31T02:00:00Z", "P", "EXT2", 10000)]
    features = compute_features(_tx(rows), as_of=[date(2024, 3, 30), AS_OF])
    assert _row(features, "P", date(2024, 3, 30))["passthrough_ratio"] == 0
    assert _row(features, "P", AS_OF)["passthrough_ratio"] == 1.0


@pytest.mark.parametrize("hops", [2, 3, 4])
def test_cycle_flag(hops):
    members = ["A", "B", "C", "D"][:hops]
    rows = []
    for h in range(hops):
        rows.append((f"2024-03-{20 + h}T10:00:00Z", members[h], members[(h + 1) % hops], 10000 - 200 * h))
    rows.append(("2024-03-20T10:00:00Z", "A", "OTHER", 10000))
    features = compute_features(_tx(rows), as_of=[AS_OF])
    for m in members:
        assert _row(features, m)["cycle_flag"] == 1
    assert _row(features, "OTHER")["cycle_flag"] == 0


def test_cycle_must_respect_time_amount_and_window():
    backwards = [("2024-03-22T10:00:00Z", "A", "B", 10000), ("2024-03-21T10:00:00Z", "B", "C", 9800),
                 ("2024-03-20T10:00:00Z", "C", "A", 9600)]  # each hop happens before the previous one
    features = compute_features(_tx(backwards), as_of=[AS_OF])
    assert features["cycle_flag"].sum() == 0
    small = [("2024-03-20T10:00:00Z", "A", "B", 100), ("2024-03-21T10:00:00Z", "B", "A", 100)]
    assert compute_features(_tx(small), as_of=[AS_OF])["cycle_flag"].sum() == 0
    not_returned = [("2024-03-20T10:00:00Z", "A", "B", 10000), ("2024-03-21T10:00:00Z", "B", "A", 2000)]
    assert compute_features(_tx(not_returned), as_of=[AS_OF])["cycle_flag"].sum() == 0
    old = [("2024-01-20T10:00:00Z", "A", "B", 10000), ("2024-01-21T10:00:00Z", "B", "A", 9900)]
    tx_old = _tx(old + [("2024-03-31T10:00:00Z", "A", "Z", 10)])
    assert _row(compute_features(tx_old, as_of=[AS_OF]), "A")["cycle_flag"] == 0
    assert _row(compute_features(tx_old, as_of=[date(2024, 1, 25)]), "A", date(2024, 1, 25))["cycle_flag"] == 1


def test_velocity_change():
    rows = [(f"2024-03-{d:02d}T10:00:00Z", "A", "B", 10) for d in (2, 10, 26, 27, 28, 29, 30, 31)]
    f = _row(compute_features(_tx(rows), as_of=[AS_OF]), "A")
    assert f["velocity_change"] == pytest.approx((6 / 7) / (8 / 30))


def test_default_as_of_is_every_transaction_date_and_amount_base_is_used():
    rows = [("2024-03-01T10:00:00Z", "A", "B", 100), ("2024-03-03T23:59:00Z", "A", "B", 100)]
    tx = _tx(rows)
    tx["amount_base"] = tx["amount"] * 2
    features = compute_features(tx)
    assert sorted(set(features["as_of_date"])) == [date(2024, 3, 1), date(2024, 3, 3)]
    assert _row(features, "A", date(2024, 3, 3))["amount_out_sum_7d"] == 400
    assert _row(features, "A", date(2024, 3, 3))["amount_out_sum_1d"] == 200


def test_inactive_accounts_get_no_row_and_empty_input():
    rows = [("2024-01-01T10:00:00Z", "OLD", "X", 100), ("2024-03-31T10:00:00Z", "A", "B", 100)]
    features = compute_features(_tx(rows), as_of=[AS_OF], windows=(1, 7))
    assert set(features["account_id"]) == {"A", "B"}
    assert list(features.columns[2:]) == feature_columns((1, 7))
    empty = compute_features(_tx(rows).iloc[0:0])
    assert empty.empty and list(empty.columns) == ["account_id", "as_of_date"] + FEATURE_COLUMNS


def test_bad_windows_rejected():
    with pytest.raises(ValueError, match="windows"):
        compute_features(_tx([("2024-03-31T10:00:00Z", "A", "B", 1)]), windows=(0, 7))
