"""The rating engine on planted customers: one per factor and per hard rule, each hand-computed.

The bundled methodology's weights add up to 20 (1 + 2 + 2 + 1.5 + 3 + 2 + 1.5 + 1 + 1.5 + 2 + 1.5 + 0.5 +
0.5). The baseline customer sits in every factor's lowest known category: person 0.1 x 1, nationality and
residence standard 0.05 x 2 each, in-person onboarding 0.1 x 1, everything else 0: 0.4 / 20 = 0.02.
Each planted customer changes one thing; its expected score is (0.4 + delta) / 20.
"""

from datetime import date

import pandas as pd
import pytest

from kyc_assets.risk.engine import FACTOR_NAMES, explain, rate
from kyc_assets.risk.methodology import load_country_lists, load_methodology

AS_OF = date(2026, 12, 1)
BASE = {"customer_type": "person", "nationality": "GBR", "residence_country": "GB", "corridor_countries": None,
        "sanctions_status": "none", "open_potential_matches": 0, "is_pep": False, "pep_class": None,
        "adverse_media": "none", "onboarding_channel": "in_person", "document_status": "ok",
        "document_expiry": "2030-01-01", "has_account": True, "anomaly_max_score": None, "typology_alerts": 0,
        "account_opened": "2015-03-01", "last_activity": "2026-11-28", "reactivated": False}

PLANTED = [  # id, changes, expected score, expected tier, hard rules
    ("baseline", {}, 0.4 / 20, "low", ""),
    ("company", {"customer_type": "company"}, 0.7 / 20, "low", ""),
    ("nat_call_for_action", {"nationality": "IRN"}, 2.3 / 20, "high", "call_for_action_country"),
    ("nat_increased_monitoring", {"nationality": "Bulgaria"}, 1.5 / 20, "low", ""),
    ("res_eu_high_risk", {"residence_country": "AF"}, 1.5 / 20, "low", ""),
    ("res_call_for_action", {"residence_country": "KP"}, 2.3 / 20, "high", "call_for_action_country"),
    ("corridor_call_for_action", {"corridor_countries": "DE;KP"}, 1.9 / 20, "low", ""),
    ("sanctions_potential", {"open_potential_matches": 2}, 2.5 / 20, "medium", "open_sanctions_match"),
    ("sanctions_suppressed", {"sanctions_status": "suppressed"}, 0.7 / 20, "low", ""),
    ("sanctions_confirmed", {"sanctions_status": "confirmed"}, 3.4 / 20, "prohibited", "confirmed_sanctions"),
    ("pep_domestic", {"is_pep": True, "pep_class": "domestic"}, 1.4 / 20, "medium", "domestic_pep"),
    ("pep_foreign", {"is_pep": True, "pep_class": "foreign"}, 2.2 / 20, "high", "foreign_pep"),
    ("pep_class_unknown", {"is_pep": "true"}, 2.2 / 20, "high", "foreign_pep"),
    ("adverse_media", {"adverse_media": "found"}, 1.6 / 20, "low", ""),
    ("remote_onboarding", {"onboarding_channel": "remote"}, 0.8 / 20, "low", ""),
    ("document_expired", {"document_expiry": "2026-11-30"}, 1.45 / 20, "low", ""),
    ("document_inconsistent", {"document_status": "inconsistent"}, 1.3 / 20, "low", ""),
    ("extraction_disagreement", {"document_status": "extraction_disagreement"}, 1.0 / 20, "low", ""),
    ("anomaly_high", {"anomaly_max_score": 0.85}, 2.2 / 20, "low", ""),
    ("anomaly_elevated", {"anomaly_max_score": 0.6}, 1.4 / 20, "low", ""),
    ("typology_alerts", {"typology_alerts": 3}, 1.75 / 20, "low", ""),
    ("new_account", {"account_opened": "2026-11-01"}, 0.7 / 20, "low", ""),
    ("dormant", {"last_activity": "2026-05-01"}, 0.55 / 20, "low", ""),
    ("reactivated", {"reactivated": True}, 0.8 / 20, "low", ""),
    ("not_screened", {"sanctions_status": None, "open_potential_matches": None, "is_pep": None},
     (0.4 + 2.1 + 1.0) / 20, "medium", "not_screened"),
    # score bands without a hard rule: 0.155 is medium, 0.3675 high
    ("medium_by_score", {"nationality": "BGR", "adverse_media": "found", "onboarding_channel": "remote"},
     3.1 / 20, "medium", ""),
    ("high_by_score", {"nationality": "BGR", "adverse_media": "found", "onboarding_channel": "remote",
                       "anomaly_max_score": 0.9, "typology_alerts": 2, "residence_country": "Afghanistan"},
     7.35 / 20, "high", ""),
]


@pytest.fixture(scope="module")
def ratings():
    rows = [{"customer_id": cid, **BASE, **changes} for cid, changes, *_ in PLANTED]
    frame = rate(pd.DataFrame(rows), load_methodology(), load_country_lists(), as_of=AS_OF)
    return frame.set_index("customer_id")


@pytest.mark.parametrize("cid, changes, score, tier, rules", PLANTED, ids=[p[0] for p in PLANTED])
def test_planted_customer_is_rated_as_computed_by_hand(ratings, cid, changes, score, tier, rules):
    row = ratings.loc[cid]
    assert row["score"] == pytest.approx(score, abs=1e-6)
    assert row["computed_tier"] == tier
    assert row["hard_rules"] == rules
    assert sum(row[f"c_{f}"] for f in FACTOR_NAMES) == pytest.approx(row["score"], abs=1e-5)


def test_every_factor_is_planted_at_least_once(ratings):
    base = ratings.loc["baseline"]
    moved = {f for f in FACTOR_NAMES for cid in ratings.index if ratings.loc[cid, f"f_{f}"] != base[f"f_{f}"]}
    assert moved == set(FACTOR_NAMES)


def test_reasons_list_nonzero_contributions_largest_first(ratings):
    reasons = ratings.loc["high_by_score", "reasons"].split(";")
    values = [float(r.rsplit("(", 1)[1].rstrip(")")) for r in reasons]
    assert values == sorted(values, reverse=True) and all(v > 0 for v in values)
    assert reasons[0].startswith("anomaly=high")
    assert ratings.loc["baseline", "reasons"].count(";") == 3  # four non-zero factors
    top = explain(ratings.loc["sanctions_confirmed"].to_dict() | {"customer_id": "x"})
    assert top[0]["factor"] == "sanctions" and top[0]["category"] == "confirmed"


def test_missing_inputs_never_lower_a_rating():
    """Dropping any one input of the baseline customer never lowers its score or tier."""
    methodology, lists = load_methodology(), load_country_lists()
    full = rate(pd.DataFrame([{"customer_id": "x", **BASE}]), methodology, lists, as_of=AS_OF).iloc[0]
    for column in BASE:
        reduced = {**BASE, column: None}
        row = rate(pd.DataFrame([{"customer_id": "x", **reduced}]), methodology, lists, as_of=AS_OF).iloc[0]
        assert row["score"] >= full["score"] - 1e-9, column


def test_only_customer_id_is_required():
    out = rate(pd.DataFrame({"customer_id": ["a", "b"]}), load_methodology(), load_country_lists(), as_of=AS_OF)
    assert list(out["computed_tier"]) == ["high", "high"]  # nothing known: never low
    with pytest.raises(ValueError, match="customer_id"):
        rate(pd.DataFrame({"name": ["a"]}), load_methodology(), load_country_lists(), as_of=AS_OF)


def test_a_weight_change_moves_the_score_as_computed(tmp_path):
    import yaml

    from kyc_assets.risk.methodology import DEFAULT_METHODOLOGY

    data = yaml.safe_load(DEFAULT_METHODOLOGY.read_text())
    data["factors"]["onboarding_channel"]["weight"] = 5.0  # total weight 24
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    row = rate(pd.DataFrame([{"customer_id": "r", **BASE, "onboarding_channel": "remote"}]), load_methodology(path),
               load_country_lists(), as_of=AS_OF).iloc[0]
    assert row["score"] == pytest.approx((0.3 + 0.5 * 5) / 24, abs=1e-6)
