"""SAR drafts: filled from a confirmed case and its evidence, validated against the shipped JSON Schema."""

from __future__ import annotations

import copy
import re

import pytest

from kyc_assets.cases.escalation import CaseCandidate
from kyc_assets.cases.sar import SarError, build_sar, schema, validate_sar
from kyc_assets_tests.case_helpers import alert, customer_case, hit, new_key, opened, sqlite_store


def _confirmed(store, candidate=None):
    case_id = opened(store, candidate)
    store.decide(case_id, decision="confirmed", reason="structuring over three weeks", analyst="alice")
    store.approve(case_id, analyst="bob")
    return store.get_case(case_id)


def test_a_confirmed_case_gives_a_schema_valid_draft_with_subject_activity_and_trail(tmp_path):
    store = sqlite_store(tmp_path, pii_keys=new_key())
    cand = customer_case()
    cand.evidence.append(alert("C-1", day="2026-09-01"))
    cand.evidence.append(alert("C-1", day="2026-09-05"))
    case = _confirmed(store, cand)
    sar = build_sar(case, institution="Example Bank")
    assert sar["report_id"] == case["report"]["report_id"] and sar["status"] == "draft"
    assert sar["subject"] == {"subject_type": "customer", "subject_id": "C-1", "name": "Jane <b>Doe</b>",
                              "date_of_birth": "1980-01-02", "pii_available": True,
                              "identification": {"type": None, "number": "X1234567"}}
    activity = sar["suspicious_activity"]
    assert activity["categories"] == ["sanctions_match", "structuring"]
    assert (activity["date_from"], activity["date_to"]) == ("2026-09-01", "2026-09-05")
    assert "alice" in activity["narrative"] and "bob" in activity["narrative"]
    assert len(sar["evidence"]) == 3
    assert [(d["decision"], d["status"], d["approved_by"]) for d in sar["decisions"]] == [("confirmed", "approved", "bob")]
    store.approve_report(case["case_id"], analyst="bob")
    assert build_sar(store.get_case(case["case_id"]), institution="Example Bank")["status"] == "approved"


def test_without_a_key_the_draft_has_no_pii_and_says_so(tmp_path):
    store = sqlite_store(tmp_path)
    sar = build_sar(_confirmed(store, CaseCandidate("account", "ACC1", [alert()])), institution="Example Bank")
    assert sar["subject"]["name"] is None and sar["subject"]["pii_available"] is False
    assert sar["suspicious_activity"]["categories"] == ["structuring"]


def test_unconfirmed_cases_have_no_report(tmp_path):
    store = sqlite_store(tmp_path)
    case_id = opened(store)
    with pytest.raises(SarError, match="not a confirmed case"):
        build_sar(store.get_case(case_id), institution="Example Bank")


@pytest.mark.parametrize("breakage, where", [
    (lambda d: d.pop("subject"), "(root)"),
    (lambda d: d["suspicious_activity"].update(categories=["money laundering"]), "suspicious_activity/categories/0"),
    (lambda d: d["suspicious_activity"].update(risk=1.5), "suspicious_activity/risk"),
    (lambda d: d["subject"].update(date_of_birth="02/01/1980"), "subject/date_of_birth"),
    (lambda d: d.update(decisions=[{**d["decisions"][0], "status": "proposed"}]), "decisions"),
    (lambda d: d["evidence"].clear(), "evidence"),
])
def test_the_schema_rejects_broken_drafts(tmp_path, breakage, where):
    store = sqlite_store(tmp_path)
    good = build_sar(_confirmed(store, CaseCandidate("customer", "C-9", [hit("C-9")])), institution="Example Bank")
    validate_sar(good)
    bad = copy.deepcopy(good)
    breakage(bad)
    with pytest.raises(SarError, match=f"SAR draft invalid at {re.escape(where)}:"):
        validate_sar(bad)


def test_the_schema_itself_is_valid_json_schema():
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema())
