"""The synthetic transaction generator: canonical schema, formats, planted labels, determinism."""

from datetime import date

import pandas as pd
import pytest

from kyc_assets.monitoring.schema import CANONICAL_COLUMNS, validate_transactions
from kyc_assets.sample_data.transactions import TYPOLOGIES, generate_transactions

ACCOUNTS = [f"C{i:04d}" for i in range(600)]


def _gen(seed: int = 11, n: int = 20_000):
    return generate_transactions(ACCOUNTS, n=n, start=date(2024, 1, 1), days=45, seed=seed)


def test_deterministic_for_a_seed():
    a, labels_a = _gen()
    b, labels_b = _gen()
    pd.testing.assert_frame_equal(a, b)
    assert labels_a == labels_b
    c, _ = _gen(seed=12)
    assert not a.equals(c)


def test_canonical_schema_and_formats():
    frame, _ = _gen()
    assert list(frame.columns) == CANONICAL_COLUMNS
    assert len(frame) == 20_000
    assert frame["transaction_id"].is_unique
    assert frame["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    assert frame["timestamp"].is_monotonic_increasing
    assert frame["amount"].str.fullmatch(r"\d+\.\d\d").all()
    assert frame["timestamp"].min() >= "2024-01-01" and frame["timestamp"].max() < "2024-02-15"
    shares = frame["currency"].value_counts(normalize=True)
    assert shares["USD"] > 0.85 and {"EUR", "GBP"} <= set(shares.index)
    assert {"card", "ach", "wire", "cash_deposit", "cash_withdrawal"} <= set(frame["channel"])
    valid, quarantine = validate_transactions(frame)
    assert quarantine.empty and len(valid) == len(frame)


def test_labels_point_at_planted_transactions_on_distinct_accounts():
    frame, labels = _gen()
    assert {lab["typology"] for lab in labels} == set(TYPOLOGIES)
    ids = set(frame["transaction_id"])
    by_typology: dict[str, set[str]] = {}
    for lab in labels:
        assert set(lab) == {"typology", "account_id", "transaction_ids"}
        assert lab["account_id"] in ACCOUNTS
        assert lab["transaction_ids"] and set(lab["transaction_ids"]) <= ids
        by_typology.setdefault(lab["typology"], set()).add(lab["account_id"])
    accounts = [a for group in by_typology.values() for a in group]
    assert len(accounts) == len(set(accounts))  # each planted account carries one typology
    rows = frame.set_index("transaction_id")
    structuring = next(lab for lab in labels if lab["typology"] == "structuring")
    deposits = rows.loc[structuring["transaction_ids"]]
    assert (deposits["channel"] == "cash_deposit").all()
    assert deposits["amount"].astype(float).between(9_000, 10_000, inclusive="left").all()
    assert len(deposits) >= 4
    fan_in = next(lab for lab in labels if lab["typology"] == "fan_in")
    credits = rows.loc[fan_in["transaction_ids"]]
    assert credits.loc[credits["receiver_account"] == fan_in["account_id"], "sender_account"].nunique() >= 12


def test_small_inputs():
    frame, labels = generate_transactions(["A", "B"], n=50, start=date(2024, 1, 1), days=3, seed=0)
    assert len(frame) == 50 and labels == []
    with pytest.raises(ValueError):
        generate_transactions(["A"], n=10, start=date(2024, 1, 1), days=3, seed=0)


def test_new_typologies_are_customer_flows_and_plants_cover_the_period():
    frame, labels = _gen()
    rows = frame.set_index("transaction_id")
    sg = next(lab for lab in labels if lab["typology"] == "scatter_gather")
    flows = rows.loc[sg["transaction_ids"]]
    members = set(flows["sender_account"]) | set(flows["receiver_account"])
    assert members <= set(ACCOUNTS) and len(members) >= 5
    gs = next(lab for lab in labels if lab["typology"] == "gather_scatter")
    flows = rows.loc[gs["transaction_ids"]]
    hub = flows["receiver_account"].value_counts().index[0]
    assert (flows["sender_account"] == hub).sum() >= 4 and (flows["receiver_account"] == hub).sum() >= 4
    planted_times = rows.loc[[t for lab in labels for t in lab["transaction_ids"]], "timestamp"]
    assert planted_times.min() < "2024-01-20"  # not only at the end of the 45 days


def test_no_self_transfers_outside_cash():
    frame, _ = generate_transactions(ACCOUNTS[:50], n=20_000, start=date(2024, 1, 1), days=30, seed=2)
    same = frame["sender_account"] == frame["receiver_account"]
    assert frame.loc[same, "channel"].isin(["cash_deposit", "cash_withdrawal"]).all()
