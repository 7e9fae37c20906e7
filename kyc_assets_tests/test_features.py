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


def test_dormancy_then_activity_by_hand():
    rows = [("2024-01-10T10:00:00Z", "D", "X", 100),  # last leg before a 60-day silence
            *[(f"2024-03-{d:02d}T10:00:00Z", "D", f"R{d}", 2000) for d in (11, 12, 13, 14, 15)],
            ("2024-03-01T10:00:00Z", "BUSY", "X", 10), ("2024-03-12T10:00:00Z", "BUSY", "X", 10)]
    f = compute_features(_tx(rows), as_of=[date(2024, 3, 15)])
    d = _row(f, "D", date(2024, 3, 15))
    assert d["dormancy_gap_days"] == 60  # 11 Jan .. 10 Mar without a leg
    assert d["dormant_reactivation"] == 1  # >= 30 days, then 5 legs in the last 7 days
    busy = _row(f, "BUSY", date(2024, 3, 15))
    assert busy["dormancy_gap_days"] == 10 and busy["dormant_reactivation"] == 0
    new = _row(f, "R11", date(2024, 3, 15))
    assert new["dormancy_gap_days"] == 0  # first seen: no earlier history, not dormant
    quiet = compute_features(_tx(rows[:3]), as_of=[date(2024, 3, 15)])  # only 2 legs after the gap
    assert _row(quiet, "D", date(2024, 3, 15))["dormant_reactivation"] == 0
    assert _row(quiet, "D", date(2024, 3, 15))["dormancy_gap_days"] == 60
    shorter = compute_features(_tx(rows), as_of=[date(2024, 3, 15)], dormancy_days=90)
    assert _row(shorter, "D", date(2024, 3, 15))["dormant_reactivation"] == 0


def test_scatter_gather_paths_flag_source_intermediaries_and_destination():
    rows = []
    for i, b in enumerate(["M1", "M2", "M3", "M4"]):
        rows.append((f"2024-03-2{i}T10:00:00Z", "SRC", b, 5000 + 100 * i))
        rows.append((f"2024-03-2{i}T18:00:00Z", b, "DST", 4800 + 100 * i))
    rows.append(("2024-03-20T10:00:00Z", "SRC", "LONE", 5000))
    f = compute_features(_tx(rows), as_of=[AS_OF])
    for account in ("SRC", "M1", "M2", "M3", "M4", "DST"):
        assert _row(f, account)["scatter_gather_paths"] == 4
    assert _row(f, "LONE")["scatter_gather_paths"] == 0
    assert compute_features(_tx(rows), as_of=[AS_OF], scatter_gather_min_paths=5)["scatter_gather_paths"].max() == 0
    # 30-day pattern window has passed (a 90-day window keeps the accounts in the lookback)
    later = compute_features(_tx(rows), as_of=[date(2024, 4, 30)], windows=(1, 7, 30, 90))
    assert later["scatter_gather_paths"].max() == 0


def test_hub_neighbor_degree_marks_the_members_of_a_pass_through_hub():
    rows = [(f"2024-03-20T{10 + i}:00:00Z", f"S{i}", "HUB", 3000) for i in range(5)]
    rows += [(f"2024-03-22T{10 + i}:00:00Z", "HUB", f"D{i}", 2500) for i in range(6)]
    rows += [("2024-03-20T10:00:00Z", "EMP", f"W{i}", 3000) for i in range(6)]  # pays out, receives nothing
    f = compute_features(_tx(rows), as_of=[AS_OF])
    assert _row(f, "S0")["hub_neighbor_degree"] == 5  # the hub's distinct senders
    assert _row(f, "D3")["hub_neighbor_degree"] == 6  # the hub's distinct receivers
    assert _row(f, "W0")["hub_neighbor_degree"] == 0  # EMP is not a pass-through hub


def test_window_values_match_a_brute_force_computation():
    import numpy as np

    rng = np.random.default_rng(4)
    n = 400
    days = rng.integers(1, 120, n)
    base = pd.Timestamp("2024-01-01", tz="UTC")
    tx = pd.DataFrame({
        "timestamp": [base + pd.Timedelta(days=int(d), hours=int(h)) for d, h in zip(days, rng.integers(0, 24, n))],
        "sender_account": rng.choice(["A", "B", "C", "D"], n), "receiver_account": rng.choice(list("EFGHIJ"), n),
        "amount": rng.integers(1, 5000, n).astype(float),
    })
    as_of = [date(2024, 2, 15), date(2024, 4, 1), date(2024, 4, 29)]
    f = compute_features(tx, as_of=as_of, windows=(1, 7, 30, 90))
    for _, row in f.sample(15, random_state=1).iterrows():
        end = pd.Timestamp(row["as_of_date"], tz="UTC") + pd.Timedelta(days=1)
        for w in (7, 30, 90):
            legs = tx[(tx["timestamp"] >= end - pd.Timedelta(days=w)) & (tx["timestamp"] < end)]
            out = legs[legs["sender_account"] == row["account_id"]]
            inn = legs[legs["receiver_account"] == row["account_id"]]
            assert row[f"tx_out_count_{w}d"] == len(out)
            assert row[f"amount_in_sum_{w}d"] == pytest.approx(inn["amount"].sum())
            assert row[f"amount_out_max_{w}d"] == (out["amount"].max() if len(out) else 0)
            assert row[f"distinct_counterparties_out_{w}d"] == out["receiver_account"].nunique()
            assert row[f"distinct_counterparties_in_{w}d"] == inn["sender_account"].nunique()
            if len(out) > 1:
                assert row[f"amount_out_std_{w}d"] == pytest.approx(out["amount"].std())
