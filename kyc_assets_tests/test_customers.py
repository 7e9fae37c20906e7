from __future__ import annotations

import json
from datetime import date

import pandas as pd

from kyc_assets.onboarding.customers import build_customers


def _doc(sha, **fields):
    base = {"document_sha256": sha, "status": "ok", "document_type": None, "surname": None, "given_names": None,
            "document_number": None, "nationality": None, "issuing_country": None, "date_of_birth": None,
            "sex": None, "expiry_date": None, "address": None, "mrz_valid": None, "method": "mrz",
            "confidence": 1.0, "warnings": "[]"}
    return {**base, **fields}


def test_passport_and_bill_of_one_person_merge_with_provenance():
    df = pd.DataFrame([
        _doc("a" * 64, document_type="passport", surname="ERIKSSON", given_names="ANNA MARIA",
             date_of_birth="1974-08-12", document_number="L898902C3", expiry_date="2030-04-15", mrz_valid=True,
             nationality="UTO", sex="F"),
        _doc("b" * 64, document_type="utility_bill", surname="Eriksson", given_names="Anna Maria",
             address="12 High Street\nLondon", method="rules", confidence=0.7),
        _doc("c" * 64, document_type="passport", surname="SMITH", given_names="JOHN", date_of_birth="1980-01-01",
             document_number="X1", expiry_date="2020-01-01", mrz_valid=True),
        _doc("d" * 64, status="rejected"),
    ])
    out = build_customers(df, today=date(2026, 1, 1)).set_index("full_name")
    assert len(out) == 2
    anna = out.loc["ANNA MARIA ERIKSSON"]
    assert anna["kyc_status"] == "verified" and anna["document_count"] == 2
    provenance = json.loads(anna["provenance"])
    assert provenance["address"]["document_sha256"] == "b" * 64
    assert provenance["date_of_birth"] == {"document_sha256": "a" * 64, "method": "mrz", "confidence": 1.0}
    smith = out.loc["JOHN SMITH"]
    assert smith["kyc_status"] == "needs_review" and "document expired" in json.loads(smith["warnings"])


def test_customer_ids_are_stable_and_bill_only_is_incomplete():
    df = pd.DataFrame([_doc("e" * 64, document_type="utility_bill", surname="Doe", given_names="Jane",
                            address="1 Road", method="rules")])
    first, second = build_customers(df), build_customers(df)
    assert first["customer_id"].tolist() == second["customer_id"].tolist()
    assert first.iloc[0]["kyc_status"] == "incomplete"
