"""The harder sample world (aml_world): determinism, held-out seeds and parameters, schema, label shares and
sizes, time-respecting cycles, amounts indistinguishable from ordinary ones, honest look-alikes, evaluate()."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from kyc_assets.monitoring.schema import REQUIRED_COLUMNS, validate_transactions
from kyc_assets.sample_data.aml_world import (
    EVAL_PARAMS,
    EVAL_SEEDS,
    TUNE_PARAMS,
    TUNE_SEEDS,
    TYPOLOGIES,
    WorldParams,
    evaluate,
    generate_world,
    with_required_columns_only,
)

SMALL = WorldParams(n_accounts=3_000, target_transfers=18_000)
MEDIUM = WorldParams(n_accounts=8_000, target_transfers=48_000)


@lru_cache(maxsize=4)
def _world(seed: int = 7, params: WorldParams = SMALL) -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_world(seed, params)


def _edges(tx: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Transfers with the pattern of each end and the day number; ``in_pattern``: both ends in one pattern."""
    pid = labels.set_index("account_id")["pattern_id"]
    out = pd.DataFrame({
        "s": tx["sender_account"], "r": tx["receiver_account"], "amount": tx["amount"].astype(float),
        "day": (pd.to_datetime(tx["timestamp"], utc=True) - pd.Timestamp("2026-01-01", tz="UTC")).dt.days,
        "ps": tx["sender_account"].map(pid), "pr": tx["receiver_account"].map(pid),
    })
    out["in_pattern"] = out["ps"].notna() & (out["ps"] == out["pr"])
    return out


def test_deterministic_per_seed_and_seeds_differ():
    a_tx, a_lab = generate_world(3, SMALL)
    b_tx, b_lab = generate_world(3, SMALL)
    pd.testing.assert_frame_equal(a_tx, b_tx)
    pd.testing.assert_frame_equal(a_lab, b_lab)
    c_tx, c_lab = generate_world(4, SMALL)
    assert not a_tx.equals(c_tx)
    assert not a_lab["is_laundering"].equals(c_lab["is_laundering"]) or not a_lab["account_id"].equals(
        c_lab["account_id"])


def test_tune_and_eval_seeds_and_params_are_disjoint():
    assert not set(TUNE_SEEDS) & set(EVAL_SEEDS)
    assert len(EVAL_SEEDS) >= 100 and len(TUNE_SEEDS) >= 100
    assert EVAL_PARAMS and all(p != TUNE_PARAMS for p in EVAL_PARAMS)
    assert len(set(EVAL_PARAMS)) == len(EVAL_PARAMS)


@pytest.mark.parametrize("params", [TUNE_PARAMS, *EVAL_PARAMS])
def test_every_published_parameter_set_generates_a_valid_world(params):
    small = replace(params, n_accounts=2_000, target_transfers=12_000)
    tx, labels = generate_world(int(EVAL_SEEDS[0]), small)
    _, quarantine = validate_transactions(tx, now=pd.Timestamp("2027-01-01", tz="UTC"))
    assert quarantine.empty
    assert abs(labels["is_laundering"].mean() - params.laundering_share) < 0.01
    assert ("channel" in tx.columns) == params.optional_columns


def test_default_world_resembles_the_hidden_benchmark():
    p = TUNE_PARAMS
    assert (p.n_accounts, p.n_days, p.target_transfers, p.laundering_share) == (20_000, 150, 120_000, 0.09)
    assert not p.optional_columns and p.day_resolution


def test_schema_is_valid_for_the_platform_validator_required_columns_only():
    tx, _ = _world()
    assert list(tx.columns) == REQUIRED_COLUMNS
    assert tx["transaction_id"].is_unique
    assert tx["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    assert tx["timestamp"].is_monotonic_increasing
    assert tx["amount"].str.fullmatch(r"\d+\.\d\d").all()
    assert (tx["sender_account"] != tx["receiver_account"]).all()
    valid, quarantine = validate_transactions(tx, now=pd.Timestamp("2027-01-01", tz="UTC"))
    assert quarantine.empty and len(valid) == len(tx)
    assert abs(len(tx) - SMALL.target_transfers) / SMALL.target_transfers < 0.1
    assert tx["timestamp"].min() >= "2026-01-01" and tx["timestamp"].max() < "2026-05-31"


def test_optional_columns_and_seconds_when_asked():
    params = WorldParams(n_accounts=1_000, target_transfers=6_000, optional_columns=True, day_resolution=False)
    tx, _ = generate_world(1, params)
    assert {"currency", "sender_country", "receiver_country", "channel"} <= set(tx.columns)
    assert tx["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    _, quarantine = validate_transactions(tx, now=pd.Timestamp("2027-01-01", tz="UTC"))
    assert quarantine.empty
    assert list(generate_world(1, with_required_columns_only(params))[0].columns) == REQUIRED_COLUMNS


def test_labels_one_row_per_account_shares_and_sizes_within_params():
    tx, labels = _world()
    assert list(labels.columns) == ["account_id", "is_laundering", "typology", "pattern_id", "role"]
    assert labels["account_id"].is_unique and len(labels) == SMALL.n_accounts
    # every labelled account transacts, and every account in the transfers is labelled
    assert set(labels["account_id"]) == set(tx["sender_account"]) | set(tx["receiver_account"])
    share = labels["is_laundering"].mean()
    assert abs(share - SMALL.laundering_share) < 0.01
    bad = labels[labels["is_laundering"]]
    assert bad["typology"].notna().all() and bad["pattern_id"].notna().all()
    good = labels[~labels["is_laundering"]]
    assert good["typology"].isna().all() and good["pattern_id"].isna().all()
    assert set(good["role"]) <= {"ordinary", "payroll_employer", "merchant", "landlord", "utility"}
    assert {"mule", "sink", "source", "cycle_member"} <= set(bad["role"])
    sizes = bad.groupby("pattern_id").agg(size=("account_id", "size"), typology=("typology", "first"))
    cycles = sizes[sizes["typology"] == "cycle"]["size"]
    others = sizes[sizes["typology"] != "cycle"]["size"]
    assert cycles.between(SMALL.min_cycle_length, SMALL.max_cycle_length).all()
    assert others.between(SMALL.min_pattern_size, SMALL.max_pattern_size).all()
    assert set(sizes["typology"]) == set(TYPOLOGIES)
    assert others.min() <= 4 and others.max() >= 15  # small and large patterns


def test_patterns_vary_in_duration_from_days_to_months():
    tx, labels = _world(2, MEDIUM)
    e = _edges(tx, labels)
    span = e[e["in_pattern"]].groupby("ps")["day"].agg(lambda d: d.max() - d.min())
    assert (span <= 7).sum() >= 3 and (span >= 60).sum() >= 3


def _closes_in_time(edges: pd.DataFrame, members: set[str]) -> bool:
    """Some walk through every member once, each transfer on a later day than the one before, returns to its
    start (a depth-first search over the transfers among the members; members may also trade ordinarily)."""
    out: dict[str, list[tuple[int, str]]] = {}
    for s, r, day in edges[["s", "r", "day"]].itertuples(index=False):
        out.setdefault(s, []).append((day, r))

    def walk(node: str, day: int, seen: tuple[str, ...]) -> bool:
        for nxt_day, nxt in out.get(node, []):
            if nxt_day <= day:
                continue
            if nxt == seen[0] and len(seen) == len(members):
                return True
            if nxt not in seen and walk(nxt, nxt_day, (*seen, nxt)):
                return True
        return False

    return any(walk(start, -1, (start,)) for start in members)


def test_cycles_are_rings_that_close_in_time():
    mostly_cycles = WorldParams(n_accounts=3_000, target_transfers=18_000,
                                typology_mix=(("cycle", 4.0), ("fan_in", 1.0)))
    tx, labels = generate_world(8, mostly_cycles)
    e = _edges(tx, labels)
    cycles = labels[labels["typology"] == "cycle"].groupby("pattern_id")["account_id"].agg(set)
    assert len(cycles) >= 20
    assert {len(m) for m in cycles} >= {2, 5, 8}
    for pattern, members in cycles.items():
        ring = e[e["in_pattern"] & (e["ps"] == pattern)]
        assert set(ring["s"]) == members and set(ring["r"]) == members  # every member sends and receives
        assert _closes_in_time(ring, members), pattern
    # the check can fail: from no starting point do the three transfers follow each other in time
    fake = pd.DataFrame({"s": ["a", "b", "c"], "r": ["b", "c", "a"], "day": [5, 7, 6]})
    assert not _closes_in_time(fake, {"a", "b", "c"})
    assert _closes_in_time(fake.assign(day=[5, 6, 7]), {"a", "b", "c"})


def _path_in_time(edges: pd.DataFrame, members: set[str]) -> bool:
    """Some walk through every member once, each transfer on a later day than the one before (a chain)."""
    out: dict[str, list[tuple[int, str]]] = {}
    for s, r, day in edges[["s", "r", "day"]].itertuples(index=False):
        out.setdefault(s, []).append((day, r))

    def walk(node: str, day: int, seen: frozenset[str]) -> bool:
        if len(seen) == len(members):
            return True
        return any(walk(nxt, d, seen | {nxt}) for d, nxt in out.get(node, []) if d > day and nxt not in seen)

    return any(walk(start, -1, frozenset({start})) for start in members)


def test_chains_pass_value_along_in_time():
    chains = WorldParams(n_accounts=3_000, target_transfers=18_000, typology_mix=(("chain", 1.0),),
                         max_pattern_size=12)
    tx, labels = generate_world(9, chains)
    e = _edges(tx, labels)
    groups = labels[labels["typology"] == "chain"].groupby("pattern_id")["account_id"].agg(set)
    assert len(groups) >= 10
    for pattern, members in groups.items():
        assert _path_in_time(e[e["in_pattern"] & (e["ps"] == pattern)], members), pattern
    fake = pd.DataFrame({"s": ["a", "b"], "r": ["b", "c"], "day": [5, 4]})
    assert not _path_in_time(fake, {"a", "b", "c"}) and _path_in_time(fake.assign(day=[4, 5]), {"a", "b", "c"})


def test_laundering_amounts_look_like_ordinary_amounts_between_the_same_kinds_of_account():
    tx, labels = _world(2, MEDIUM)
    e = _edges(tx, labels)
    business = ["payroll_employer", "merchant", "landlord", "utility"]
    person = set(labels.loc[~labels["role"].isin(business), "account_id"])
    # person -> person transfers: the class nearly all laundering transfers are in
    p2p = e["s"].isin(person) & e["r"].isin(person)
    bad, good = e.loc[e["in_pattern"] & p2p, "amount"], e.loc[~e["in_pattern"] & p2p, "amount"]
    assert len(bad) > 500 and len(good) > 2_000
    assert ks_2samp(np.log(bad), np.log(good)).statistic < 0.06
    assert 0.8 < bad.median() / good.median() < 1.25
    everything = e.loc[e["in_pattern"], "amount"]
    cents = np.round(everything * 100).astype(np.int64)
    assert (cents % 10_000 == 0).mean() < 0.01  # no round hundreds
    assert (cents % 100 == 0).mean() < 0.05  # hardly any whole amounts
    assert everything.between(9_000, 10_000).mean() < 0.01  # no structuring under 10,000
    assert everything.max() < e.loc[~e["in_pattern"], "amount"].max()


def test_ordinary_activity_has_honest_cycles_and_fan_ins():
    tx, labels = _world()
    e = _edges(tx, labels)
    role = labels.set_index("account_id")["role"]
    honest = labels.loc[~labels["is_laundering"], "account_id"]
    people = set(labels.loc[labels["role"] == "ordinary", "account_id"])
    p2p = e[e["s"].isin(people) & e["r"].isin(people)][["s", "r", "day"]].drop_duplicates()
    # honest 2-cycles (families) and time-respecting 3-cycles (friends paying each other back)
    back = p2p.merge(p2p, left_on=["s", "r"], right_on=["r", "s"], suffixes=("1", "2"))
    assert (back["day2"] > back["day1"]).sum() >= 20
    two = p2p.merge(p2p, left_on="r", right_on="s", suffixes=("1", "2"))
    two = two[(two["day2"] > two["day1"]) & (two["s1"] != two["r2"])]
    three = two.merge(p2p, left_on=["r2", "s1"], right_on=["s", "r"])
    three = three[three["day"] > three["day2"]]
    assert len(three) >= 5
    # honest fan-in: merchants and landlords have more distinct senders than most laundering sinks
    senders = e.groupby("r")["s"].nunique()
    business = senders[senders.index.map(role).isin(["merchant", "landlord"])]
    sinks = senders.reindex(labels.loc[labels["role"] == "sink", "account_id"]).dropna()
    assert business.max() > sinks.max() and business.median() >= sinks.median() * 0.5
    assert honest.isin(p2p["s"]).sum() > 0


def test_ordinary_activity_has_honest_value_relays_and_bursts():
    tx, labels = _world(2, MEDIUM)
    e = _edges(tx, labels)
    honest = set(labels.loc[~labels["is_laundering"], "account_id"])
    h = e[e["s"].isin(honest) & e["r"].isin(honest)]
    # value relays: an ordinary account passes on 90-100% of an amount it received, within a week, to a third party
    pairs = h.merge(h, left_on="r", right_on="s", suffixes=("_in", "_out"))
    relay = pairs[(pairs["day_out"] >= pairs["day_in"]) & (pairs["day_out"] - pairs["day_in"] <= 7)
                  & (pairs["s_in"] != pairs["r_out"]) & pairs["amount_out"].between(0.9 * pairs["amount_in"],
                                                                                    pairs["amount_in"])]
    assert relay["r_in"].nunique() >= 100
    assert (relay["amount_out"] == relay["amount_in"]).sum() >= 30  # whole amounts passed on
    # bursts: an ordinary person receives from 15+ distinct people within three weeks
    people = set(labels.loc[labels["role"] == "ordinary", "account_id"]) & honest
    p2p = h[h["s"].isin(people) & h["r"].isin(people)]
    window = p2p.assign(week=p2p["day"] // 21).groupby(["r", "week"])["s"].nunique()
    assert (window >= 15).sum() >= 5


def test_world_params_reject_nonsense():
    with pytest.raises(ValueError, match="laundering_share"):
        WorldParams(laundering_share=0.7)
    with pytest.raises(ValueError, match="typology_mix"):
        WorldParams(typology_mix=(("smurfing", 1.0),))
    with pytest.raises(ValueError, match="pattern sizes"):
        WorldParams(min_pattern_size=2)


def _labels(flags: list[bool], typology: str = "fan_in") -> pd.DataFrame:
    return pd.DataFrame({"account_id": [f"A{i}" for i in range(len(flags))], "is_laundering": flags,
                         "typology": [typology if f else None for f in flags],
                         "pattern_id": ["P1" if f else None for f in flags],
                         "role": ["mule" if f else "ordinary" for f in flags]})


def test_evaluate_perfect_and_reversed_rankings():
    flags = [True] * 2 + [False] * 198
    labels = _labels(flags)
    perfect = pd.DataFrame({"account_id": labels["account_id"], "risk_score": np.arange(200, 0, -1.0),
                            "alert": [True] * 4 + [False] * 196})
    ev = evaluate(labels, perfect)
    assert ev["average_precision"] == 1.0
    assert ev["precision_top_1pct"] == 1.0  # top 2 of 200
    assert ev["at_budget"]["0.5%"] == {"accounts": 1, "precision": 1.0, "recall": 0.5}
    assert ev["at_budget"]["2.0%"]["precision"] == 0.5 and ev["at_budget"]["2.0%"]["recall"] == 1.0
    assert ev["alert_policy"]["alert_rate"] == 0.02 and ev["alert_policy"]["precision"] == 0.5
    assert ev["alert_policy"]["recall_by_typology"] == {"fan_in": {"accounts": 2, "recall": 1.0}}
    assert ev["average_precision_by_typology"] == {"fan_in": 1.0}
    reversed_ = perfect.assign(risk_score=-perfect["risk_score"], alert=perfect["alert"][::-1].to_numpy())
    ev = evaluate(labels, reversed_)
    assert ev["average_precision"] < 0.02 and ev["precision_top_1pct"] == 0.0
    assert ev["alert_policy"]["recall"] == 0.0


def test_evaluate_by_typology_compares_each_typology_with_ordinary_accounts():
    labels = _labels([True] * 2 + [False] * 8)
    labels.loc[1, "typology"] = "cycle"
    # fan_in account A0 ranks first, cycle account A1 last
    scores = pd.DataFrame({"account_id": labels["account_id"], "risk_score": [9, 0, 5, 5, 4, 4, 3, 3, 2, 1],
                           "alert": [True] + [False] * 9})
    ev = evaluate(labels, scores)
    assert ev["average_precision_by_typology"]["fan_in"] == 1.0
    assert ev["average_precision_by_typology"]["cycle"] == round(1 / 9, 4)
    assert ev["alert_policy"]["recall_by_typology"]["cycle"] == {"accounts": 1, "recall": 0.0}


def test_evaluate_ties_missing_accounts_and_text_alerts():
    labels = _labels([True, False, False, False] * 50)  # 200 accounts, 50 positives
    # every account tied: the top 1% holds positives at the base rate, in expectation
    flat = pd.DataFrame({"account_id": labels["account_id"], "risk_score": 0.0, "alert": "false"})
    ev = evaluate(labels, flat)
    assert math.isclose(ev["precision_top_1pct"], 0.25) and math.isclose(ev["average_precision"], 0.25)
    # accounts absent from the scores rank last and are not alerted; text 'true' counts as an alert
    only_bad = pd.DataFrame({"account_id": labels.loc[labels["is_laundering"], "account_id"], "risk_score": 1.0,
                             "alert": "true"})
    ev = evaluate(labels, only_bad)
    assert ev["average_precision"] == 1.0 and ev["alert_policy"]["recall"] == 1.0
    assert ev["alert_policy"]["alert_rate"] == 0.25
    with pytest.raises(ValueError, match="risk_score"):
        evaluate(labels, flat.drop(columns="risk_score"))
