"""Reasons in words (cases/reasons.py) and counterparty roles at escalation (cases/roles.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from kyc_assets.cases.escalation import anomaly_candidates
from kyc_assets.cases.reasons import sentences, summary
from kyc_assets.cases.roles import infer_roles, load_roles_file
from kyc_assets.settings import Settings

DEPOSITS = [("2026-09-01", 9100), ("2026-09-02", 9500), ("2026-09-03", 9950), ("2026-09-04", 9900),
            ("2026-09-05", 9300), ("2026-09-06", 9600), ("2026-09-06", 9700), ("2026-09-06", 9650),
            ("2026-09-06", 9700)]


def _deposits():
    return [{"timestamp": f"{d}T10:00:00Z", "amount": a, "channel": "cash_deposit"} for d, a in DEPOSITS]


def test_structuring_in_words_with_the_transactions_behind_it():
    text = sentences("structuring;amount_in_sum_30d;structuring_count_30d", {"amount_in_sum_30d": 86_400},
                     transactions={"structuring": _deposits()})
    assert text[0] == ("9 cash deposits of 9,100–9,950 USD in 6 days, total 86,400 USD, each under the "
                       "10,000 USD reporting threshold.")
    assert text[1] == "Unusually high: 86,400 USD received in total in 30 days."
    # Without the transactions, the features still give the numbers; the threshold and currency are settings.
    assert sentences("structuring", {"structuring_count_30d": 5, "structuring_count_7d": 3}, threshold=3000,
                     currency="EUR") == [("5 transactions just under the 3,000 EUR reporting threshold in 30 days "
                                         "(3 in the last 7 days).")]


@pytest.mark.parametrize(("name", "features", "expected"), [
    ("fan_in", {"distinct_counterparties_in_30d": 14, "amount_in_sum_30d": 52_000, "tx_in_count_30d": 20},
     "Money collected from 14 different senders in 30 days (20 credits, total 52,000 USD)."),
    ("fan_out", {"distinct_counterparties_out_30d": 12, "amount_out_sum_30d": 40_500, "tx_out_count_30d": 15,
                 "amount_in_sum_30d": 41_000},
     "Money sent to 12 different receivers in 30 days (15 payments, total 40,500 USD, after receiving 41,000 USD)."),
    ("rapid_pass_through", {"passthrough_ratio": 0.97, "amount_in_sum_7d": 20_000, "amount_out_sum_7d": 19_400},
     "97% of the money received left the account again within hours (20,000 USD in, 19,400 USD out in 7 days)."),
    ("high_risk_corridor", {"high_risk_share_30d": 0.25, "tx_in_count_30d": 4, "tx_out_count_30d": 8},
     "3 of 12 transactions in 30 days (25%) were with high-risk jurisdictions."),
    ("velocity_spike", {"velocity_change": 4.2, "tx_in_count_7d": 9, "tx_out_count_7d": 6},
     "15 transactions in the last 7 days, 4.2 times the account's usual daily rate."),
    ("scatter_gather", {"scatter_gather_paths": 4},
     "Money split over 4 intermediary accounts and gathered again at one account within 30 days."),
    ("gather_scatter", {"distinct_counterparties_in_7d": 5, "amount_in_sum_7d": 30_000,
                        "distinct_counterparties_out_7d": 6, "amount_out_sum_7d": 29_000},
     "Funds from 5 senders (30,000 USD) left to 6 receivers (29,000 USD) within 7 days."),
    ("dormant_reactivation", {"dormancy_gap_days": 45, "amount_in_sum_7d": 8_000, "amount_out_sum_7d": 7_000},
     "The account was inactive for 45 days, then moved 15,000 USD in 7 days."),
    ("cycle", {}, "Money sent by the account came back to it through a chain of 2 to 4 transfers within 30 days."),
    ("amount_out_max_7d", {"amount_out_max_7d": 9_000}, "Unusually high: the largest payment out in 7 days was 9,000 USD."),
    ("cash_share_30d", {"cash_share_30d": 0.4}, "Unusually high: 40% of the transactions in cash in 30 days."),
    ("tx_in_count_7d", {"tx_in_count_7d": 31}, "Unusually high: 31 credits in in 7 days."),
    ("passthrough_ratio", {"passthrough_ratio": 0.95}, "Pass-through: 95% of a credit left again within hours."),
])
def test_every_template_says_its_numbers(name, features, expected):
    assert sentences(name, features) == [expected]


def test_unknown_names_get_a_readable_sentence_never_the_raw_list():
    text = summary("brand_new_rule;odd_signal", {"odd_signal": 3.5})
    assert ";" not in text and "brand new rule" in text and "odd signal (3.50)" in text
    assert sentences("") == [] and sentences(None) == []
    assert sentences(["structuring(count=5)", "structuring"], {"structuring_count_30d": 5})[0].startswith("5 ")


def _tx(rows):
    return pd.DataFrame([{"transaction_id": f"T{i}", "timestamp": ts, "sender_account": s, "receiver_account": r,
                          "amount": a, "currency": "USD", "channel": ch, "sender_country": "US",
                          "receiver_country": "US"} for i, (ts, s, r, a, ch) in enumerate(rows)])


def _world():
    rows = [(f"2026-09-0{1 + i % 6}T09:00:00Z", f"ACC{i:03d}", "MER-1", 40 + i, "card") for i in range(12)]
    rows += [(f"2026-0{m}-25T09:00:00Z", "EMP-9", f"ACC{i:03d}", 3000 + 100 * i, "ach")
             for m in (7, 8) for i in range(6)]
    rows += [(f"{d}T12:00:00Z", "ACC-S", "ACC-S", a, "cash_deposit") for d, a in DEPOSITS]
    day = pd.Timestamp("2026-09-06")
    scores = pd.DataFrame([
        {"account_id": "MER-1", "as_of_date": day, "risk_score": 0.97, "alert": True, "triggered_rules": "fan_in",
         "reasons": "fan_in;tx_in_count_7d"},
        {"account_id": "EMP-9", "as_of_date": day, "risk_score": 0.95, "alert": True, "triggered_rules": "",
         "reasons": "amount_out_sum_30d"},
        {"account_id": "ACC-S", "as_of_date": day, "risk_score": 0.9, "alert": True,
         "triggered_rules": "structuring", "reasons": "structuring;amount_in_sum_30d"},
        {"account_id": "ACC-F", "as_of_date": day, "risk_score": 0.97, "alert": True, "triggered_rules": "fan_in",
         "reasons": "fan_in"}])
    features = pd.DataFrame([{"account_id": "ACC-S", "as_of_date": day, "amount_in_sum_30d": 86_400.0,
                              "structuring_count_30d": 9.0, "structuring_count_7d": 9.0}])
    return _tx(rows), scores, features


def test_merchant_and_payroll_typologies_do_not_open_cases_but_other_accounts_do():
    tx, scores, features = _world()
    roles = infer_roles(tx)
    assert roles == {"MER-1": "merchant", "EMP-9": "payroll"}
    cands = {c.subject_id: c for c in anomaly_candidates(scores, features=features, transactions=tx, roles=roles)}
    assert set(cands) == {"ACC-S", "ACC-F"}  # the same fan-in opens a case on an ordinary account
    # Without roles the merchant opens a case: the roles make the difference.
    assert "MER-1" in {c.subject_id for c in anomaly_candidates(scores, features=features, transactions=tx)}
    evidence = cands["ACC-S"].evidence[0]
    assert evidence.reason == ("Monitoring alert 2026-09-06: 9 cash deposits of 9,100–9,950 USD in 6 days, total "
                               "86,400 USD, each under the 10,000 USD reporting threshold.")
    behind = evidence.reference["transactions"]["structuring"]
    assert [t["amount"] for t in behind] == [a for _, a in DEPOSITS]
    assert evidence.reference["features"]["amount_in_sum_30d"] == 86_400.0


def test_a_merchant_still_opens_a_case_for_a_typology_its_role_does_not_explain():
    tx, scores, _ = _world()
    scores.loc[0, "triggered_rules"] = "fan_in;structuring"
    cands = {c.subject_id: c for c in anomaly_candidates(scores, transactions=tx, roles=infer_roles(tx))}
    ref = cands["MER-1"].evidence[0].reference
    assert ref["account_role"] == "merchant" and ref["explained_by_role"] == ["fan_in"]


def test_the_roles_file_setting_is_read_and_checked(tmp_path):
    path = tmp_path / "roles.csv"
    path.write_text("account_id,role\nACC-F,Merchant\n")
    settings = Settings.from_env({"KYC_ACCOUNT_ROLES_PATH": str(path)})
    assert settings.account_roles_path == path and load_roles_file(settings.account_roles_path) == {"ACC-F": "merchant"}
    assert Settings.from_env({}).account_roles_path is None and load_roles_file(None) == {}
    _, scores, _ = _world()
    roles = load_roles_file(path)
    assert "ACC-F" not in {c.subject_id for c in anomaly_candidates(scores, roles=roles)}
    path.write_text("account_id,role\nACC-F,bakery\n")
    with pytest.raises(ValueError, match="line 2: unknown role 'bakery'"):
        load_roles_file(path)


def test_the_trace_and_the_sar_narrative_say_the_reasons_in_words(tmp_path):
    from kyc_assets.audit.trace import build_trace, render_trace
    from kyc_assets.cases.sar import build_sar
    from kyc_assets_tests.case_helpers import sqlite_store

    tx, scores, features = _world()
    store = sqlite_store(tmp_path)
    store.escalate(anomaly_candidates(scores, features=features, transactions=tx, roles=infer_roles(tx)), sla_days=5)
    case_id = next(c["case_id"] for c in store.list_cases() if c["subject_id"] == "ACC-S")
    words = "9 cash deposits of 9,100–9,950 USD in 6 days, total 86,400 USD"
    text = render_trace(build_trace(store.get_case(case_id)))
    assert words in text and "structuring;" not in text
    store.decide(case_id, decision="confirmed", reason="structuring below the threshold", analyst="alice")
    store.approve(case_id, analyst="bob")
    narrative = build_sar(store.get_case(case_id), institution="Example Bank")["suspicious_activity"]["narrative"]
    assert words in narrative and "amount_in_sum_30d" not in narrative


def test_the_queue_shows_one_monitoring_reason_per_case_not_one_per_alert_day(tmp_path):
    from kyc_assets_tests.case_helpers import sqlite_store

    tx, scores, features = _world()
    later = scores[scores["account_id"] == "ACC-S"].assign(as_of_date=pd.Timestamp("2026-09-07"), risk_score=0.8)
    store = sqlite_store(tmp_path)
    store.escalate(anomaly_candidates(scores, features=features, transactions=tx), sla_days=5)
    store.escalate(anomaly_candidates(later, transactions=tx), sla_days=5)  # a second day joins the case
    case = next(c for c in store.list_cases() if c["subject_id"] == "ACC-S")
    assert case["evidence_count"] == 2 and len(case["reasons"]) == 1
    assert case["reasons"][0].startswith("Monitoring alert (alerted on 2 days, 2026-09-06 to 2026-09-07; "
                                         "strongest 2026-09-06): 9 cash deposits of 9,100–9,950 USD")
