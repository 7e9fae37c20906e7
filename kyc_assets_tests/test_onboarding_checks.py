"""The identity-document check on extracted_entities: it fails (WARN) exactly when a document is unsound."""

from __future__ import annotations

import io
from datetime import date

import dagster as dg

from kyc_assets.definitions import build_assets, build_resources
from kyc_assets.onboarding.store import DocumentStore
from kyc_assets.sample_data.documents import render_passport
from kyc_assets.settings import Settings


def _png(**overrides) -> bytes:
    person = {"surname": "LINDQVIST", "given_names": "NORA", "date_of_birth": date(1985, 5, 17), "sex": "F",
              "nationality": "SWE", "issuing_country": "SWE", "document_number": "K47193825",
              "expiry_date": date(2032, 6, 30), "address": "2 Mill Road\nLund", **overrides}
    buf = io.BytesIO()
    render_passport(person).save(buf, format="PNG")
    return buf.getvalue()


def _check(settings, key, instance):
    result = dg.materialize(build_assets(settings), selection=["raw_documents", "document_text", "extracted_entities"],
                            partition_key=key, instance=instance, resources=build_resources(settings))
    return [e for e in result.get_asset_check_evaluations() if e.check_name == "identity_documents_sound"][0]


def test_sound_passport_passes_and_expired_one_warns(kyc_env):
    settings = Settings.from_env()
    store = DocumentStore(settings.document_store_dir)
    good = store.put(_png(), original_name="good.png")
    expired = store.put(_png(expiry_date=date(2021, 1, 31), document_number="K47193826"), original_name="old.png")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("documents", [good, expired])

    ok = _check(settings, good, instance)
    assert ok.passed and ok.metadata["expired"].value == 0 and ok.metadata["mrz_invalid"].value == 0
    assert ok.metadata["required_fields_missing"].value == 0

    bad = _check(settings, expired, instance)
    assert not bad.passed and bad.severity == dg.AssetCheckSeverity.WARN
    assert bad.metadata["expired"].value == 1
