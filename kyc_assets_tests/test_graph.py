"""Graph typologies over the whole horizon, on small hand-built transfer sets with hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kyc_assets.monitoring.graph import (
    EXPLANATIONS,
    GRAPH_FEATURES,
    TYPOLOGY_SIGNALS,
    GraphParams,
    graph_features,
    graph_features_by_day,
    structural_risk,
)


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (day, sender, receiver, amount) -> a scan-like frame with integer days."""
    return pd.DataFrame(rows, columns=["day", "s", "r", "amt"])


def _background(n: int = 60, seed: int = 0) -> list[tuple]:
    """Ordinary noise: random one-off transfers between B-accounts over 150 days."""
    rng = np.random.default_rng(seed)
    return [(int(rng.integers(0, 150)), f"B{rng.integers(0, 40)}", f"B{rng.integers(40, 80)}",
             float(rng.integers(50, 500))) for _ in range(n)]


def _row(result, account: str) -> pd.Series:
    return result.features.set_index("account_id").loc[account]


def test_every_feature_has_an_explanation_and_columns_are_ordered():
    assert set(EXPLANATIONS) == set(GRAPH_FEATURES)
    result = graph_features(_frame([(1, "A", "B", 10.0)]))
    assert list(result.features.columns) == ["account_id", *GRAPH_FEATURES]
    assert {name for _, _, name, _ in TYPOLOGY_SIGNALS} <= set(GRAPH_FEATURES)


def test_time_respecting_cycle_of_four_with_the_share_returned():
    rows = [(10, "A", "B", 1000.0), (12, "B", "C", 990.0), (15, "C", "D", 980.0), (20, "D", "A", 900.0)]
    result = graph_features(_frame(rows + _background()))
    for account in "ABCD":
        assert _row(result, account)["g_cycle_max_len"] == 4
        assert _row(result, account)["g_cycle_return_share"] == pytest.approx(0.9)
    backwards = [(20, "A", "B", 1000.0), (15, "B", "C", 990.0), (12, "C", "D", 980.0), (10, "D", "A", 900.0)]
    assert _row(graph_features(_frame(backwards + _background())), "A")["g_cycle_max_len"] == 0
    short_span = graph_features(_frame(rows + _background()), GraphParams(span_days=5))
    assert _row(short_span, "A")["g_cycle_max_len"] == 0  # 10 days from first to last transfer
    too_long = graph_features(_frame(rows + _background()), GraphParams(max_cycle_len=3))
    assert _row(too_long, "A")["g_cycle_max_len"] == 0


def test_a_paid_back_pair_is_explained_and_a_regular_payment_too():
    rows = [(5, "A", "B", 100.0), (9, "B", "A", 100.0)]  # family: both ways
    rows += [(d, "T", "L", 800.0) for d in (1, 31, 61, 91, 121)]  # rent, monthly
    rows += [(3, "X", "Y", 50.0)]  # a one-off, unexplained
    f = graph_features(_frame(rows)).features.set_index("account_id")
    assert f.loc["A", "g_unexplained_out"] == 0 and f.loc["A", "g_reciprocity"] == 1.0
    assert f.loc["L", "g_unexplained_in"] == 0  # the regular payment is explained
    assert f.loc["Y", "g_unexplained_in"] == 1


def test_fan_in_burst_against_own_history_and_its_feeders():
    burst = [(40 + i % 5, f"M{i}", "HUB", 300.0 + i) for i in range(12)]  # 12 new senders within 5 days
    steady = [(i * 12, f"C{i}", "SHOP", 40.0) for i in range(12)]  # 12 senders spread over 5 months
    result = graph_features(_frame(burst + steady + _background()))
    hub, shop = _row(result, "HUB"), _row(result, "SHOP")
    assert hub["g_unexplained_in"] == shop["g_unexplained_in"] == 12
    assert hub["g_fan_in_burst"] > 3 * shop["g_fan_in_burst"]
    assert _row(result, "M3")["g_fan_in_member"] == pytest.approx(hub["g_fan_in_burst"])
    assert _row(result, "C3")["g_fan_in_member"] == pytest.approx(shop["g_fan_in_burst"])
    risk, reasons = structural_risk(result.features)
    by_id = dict(zip(result.features["account_id"], zip(risk, reasons, strict=True), strict=True))
    assert by_id["HUB"][0] > by_id["SHOP"][0] and "fan_in_burst" in by_id["HUB"][1].split(";")
    assert "fan_in_feeder" in by_id["M3"][1].split(";")
    from kyc_assets.monitoring.graph import explain_reasons

    assert explain_reasons("fan_in_burst;structuring;g_relay") == [
        "collected from a burst of new unexplained senders", "structuring", EXPLANATIONS["g_relay"]]


def test_value_relay_needs_time_order_and_most_of_the_amount():
    rows = [(1, "A", "X", 1000.0), (3, "X", "B", 980.0),  # relayed: 98% two days later
            (1, "A", "Y", 1000.0), (3, "Y", "B", 500.0),  # half only
            (5, "C", "Z", 1000.0), (4, "Z", "D", 990.0),  # before the receipt
            (1, "E", "W", 1000.0), (45, "W", "F", 990.0),  # after the flow window (30 days)
            (1, "G", "V", 1000.0), (3, "V", "H", 1000.0)]  # passed on whole: no fee kept, not a relay
    f = graph_features(_frame(rows)).features.set_index("account_id")
    assert f.loc["X", "g_relay"] == 1 and f.loc["A", "g_relay_member"] == 1 and f.loc["B", "g_relay_member"] == 1
    assert f.loc[["Y", "Z", "W", "V"], "g_relay"].sum() == 0
    wider = graph_features(_frame(rows), GraphParams(flow_days=50, relay_ratio=(0.4, 1.0))).features
    assert wider.set_index("account_id").loc[["Y", "W", "V"], "g_relay"].tolist() == [1, 1, 1]


def test_scatter_gather_and_bipartite_layers():
    rows = []
    for i, mid in enumerate(["M1", "M2", "M3", "M4"]):
        rows += [(10 + i, "SRC", mid, 500.0 + i), (20 + i, mid, "DST", 480.0 + i)]
    rows += [(10, "P1", "Q1", 100.0), (11, "P1", "Q2", 100.0), (12, "P2", "Q1", 100.0), (13, "P2", "Q2", 100.0)]
    f = graph_features(_frame(rows + _background())).features.set_index("account_id")
    assert f.loc[["SRC", "M2", "DST"], "g_scatter_gather"].tolist() == [4, 4, 4]
    assert f.loc["P1", "g_bipartite"] >= 1 and f.loc["Q2", "g_bipartite"] >= 1
    assert f.loc["B1", "g_scatter_gather"] == 0 if "B1" in f.index else True


def test_personalised_pagerank_starts_from_confirmed_cases():
    rows = [(1, "BAD", "N1", 100.0), (2, "N1", "N2", 100.0), (3, "N2", "N3", 100.0), (4, "FAR", "N4", 100.0)]
    without = graph_features(_frame(rows)).features.set_index("account_id")
    assert (without["g_ppr_known_bad"] == 0).all()
    ppr = graph_features(_frame(rows), known_bad={"BAD", "UNKNOWN"}).features.set_index("account_id")["g_ppr_known_bad"]
    assert ppr["N1"] > ppr["N3"] > ppr["N4"] == 0


def test_communities_of_suspicious_transfers_and_alerted_neighbours():
    burst = [(40 + i % 5, f"M{i}", "HUB", 300.0 + i) for i in range(12)]
    family = [(60, "M0", "FRIEND", 20.0), (65, "FRIEND", "M0", 20.0)]  # paid back: explained, not suspicious
    family += [(70, "P", "Q", 10.0), (75, "Q", "P", 10.0)]  # a pair on its own
    f = graph_features(_frame(burst + family + _background())).features.set_index("account_id")
    assert f.loc["HUB", "g_community_size"] == 13 and f.loc["M1", "g_community_size"] == 13
    assert f.loc["FRIEND", "g_community_size"] == 0
    assert f.loc["HUB", "g_community_density"] == pytest.approx(12 / (13 * 12))
    assert f.loc["FRIEND", "g_alerted_neighbour_share"] == 1.0  # its only counterparty is in that community
    assert f.loc["P", "g_alerted_neighbour_share"] == 0.0


def test_empty_input_and_features_by_day_see_only_the_past():
    empty = graph_features(_frame([]))
    assert empty.features.empty and list(empty.features.columns) == ["account_id", *GRAPH_FEATURES]
    # (a triangle would be explained: every pair of it shares a counterparty, like friends do)
    rows = [(10, "A", "B", 1000.0), (12, "B", "C", 990.0), (13, "C", "D", 985.0), (15, "D", "A", 980.0)]
    frame = _frame(rows)
    frame["ts"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(frame.pop("day"), unit="D")
    days = [pd.Timestamp("2026-01-14").date(), pd.Timestamp("2026-01-20").date()]
    by_day = graph_features_by_day(frame, days, horizon_days=90).set_index(["account_id", "as_of_date"])
    assert by_day.loc[("A", days[0]), "g_cycle_max_len"] == 0  # the cycle closes on 16 January
    assert by_day.loc[("A", days[1]), "g_cycle_max_len"] == 4


def test_layering_chain_of_quick_hand_to_hand_transfers():
    rows = [(1, "A", "B", 120.0), (2, "B", "C", 75.0), (4, "C", "D", 310.0), (5, "D", "E", 40.0)]
    f = graph_features(_frame(rows + _background())).features.set_index("account_id")
    assert f.loc[list("ABCDE"), "g_chain_len"].tolist() == [4, 4, 4, 4, 4]
    slow = [(1, "A", "B", 120.0), (2, "B", "C", 75.0), (20, "C", "D", 310.0), (21, "D", "E", 40.0)]
    g = graph_features(_frame(slow + _background())).features.set_index("account_id")
    assert g.loc[list("ABCDE"), "g_chain_len"].tolist() == [2, 2, 2, 2, 2]  # two chains of two transfers
    capped = graph_features(_frame(rows), GraphParams(max_cycle_len=3)).features.set_index("account_id")
    assert capped.loc["A", "g_chain_len"] == 3
