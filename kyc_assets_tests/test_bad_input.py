"""Bad input through the assets: a clear reason, quarantine, and nothing else lost."""

from __future__ import annotations

import json
import os

import dagster as dg
import pandas as pd
import pytest

from kyc_assets.definitions import build_assets, build_resources
from kyc_assets.onboarding.store import DocumentStore
from kyc_assets.settings import Settings


@pytest.fixture
def env(kyc_env):
    settings = Settings.from_env()
    return settings, build_assets(settings), build_resources(settings)


def test_corrupt_image_is_rejected_with_its_reason_and_good_documents_flow_on(env, png_bytes, tmp_path):
    settings, assets, resources = env
    store = DocumentStore(settings.document_store_dir)
    good = store.put(png_bytes, original_name="good.png")
    corrupt = store.put(png_bytes[: len(png_bytes) // 2], original_name="truncated.png")  # PNG magic, cut short
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("documents", [good, corrupt])
    for key in (good, corrupt):
        result = dg.materialize(assets, selection=["raw_documents", "document_text", "extracted_entities"],
                                partition_key=key, instance=instance, resources=resources)
        assert result.success
        readable = [e for e in result.get_asset_check_evaluations() if e.check_name == "raw_documents_readable"][0]
        assert readable.passed == (key == good)
    from kyc_assets.settings import warehouse

    with warehouse(settings).connect() as con:
        rows = dict(con.execute("select document_sha256, status || ':' || coalesce(reason, '') "
                                "from kyc.raw_documents").fetchall())
        entities = dict(con.execute("select document_sha256, status from kyc.extracted_entities").fetchall())
    assert rows[good] == "ok:"
    assert rows[corrupt].startswith("rejected:") and len(rows[corrupt]) > len("rejected:") + 5
    assert entities == {good: "ok", corrupt: "rejected"}, "the rejected document is kept, with its status"
    assert store.get(corrupt) == png_bytes[: len(png_bytes) // 2], "the original bytes are preserved"


def test_every_bad_document_is_rejected_with_its_reason_in_one_run_and_the_others_flow(env):
    """Bad documents that reached the store (e.g. put there by another channel than the inbox): one run
    over all partitions; each bad one gets status 'rejected' and its reason, the good ones are read."""
    from kyc_assets.settings import warehouse
    from kyc_assets_tests.bad_documents import bad_inputs, good_passport_png

    settings, assets, resources = env
    store = DocumentStore(settings.document_store_dir)
    files = [*bad_inputs(), ("passport.png", good_passport_png(), None)]
    keys = {name: store.put(data, original_name=name) for name, data, _ in files}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("documents", list(keys.values()))
    ordered = list(keys.values())
    first, last = ordered[0], ordered[-1]
    result = dg.materialize(assets, selection=["raw_documents", "document_text", "extracted_entities"],
                            instance=instance, resources=resources,
                            tags={"dagster/asset_partition_range_start": first,
                                  "dagster/asset_partition_range_end": last})
    assert result.success
    with warehouse(settings).connect() as con:
        raw = {r[0]: r[1:] for r in con.execute("select document_sha256, status, reason from kyc.raw_documents").fetchall()}
        entities = {r[0]: r[1:] for r in con.execute(
            "select document_sha256, status, document_type, warnings, document_number from kyc.extracted_entities"
        ).fetchall()}
    assert set(raw) == set(entities) == set(keys.values()), "every document has a row: nothing is lost"
    for name, data, expected in files:
        status, reason = raw[keys[name]]
        if expected is None:
            assert status == "ok" and reason is None, name
            continue
        assert status == "rejected" and expected in reason and "\n" not in reason, (name, reason)
        assert entities[keys[name]][0] == "rejected"
        assert store.get(keys[name]) == data, "the original bytes are preserved"
    photo = entities[keys["holiday-photo.jpg"]]
    assert photo[:2] == ("ok", "unknown") and json.loads(photo[2]), "a photo without a document: a warning"
    assert entities[keys["passport.png"]][1:2] == ("passport",)
    assert entities[keys["passport.png"]][3] == "L898902C3"


def test_scanned_pdf_and_encrypted_store_flow_through_the_assets(kyc_env, monkeypatch):
    """At-rest encryption on: a scanned (image-only) PDF passport is decrypted, rendered, OCRed and read."""
    import io

    from cryptography.fernet import Fernet

    from kyc_assets.sample_data.documents import render_passport
    from kyc_assets_tests.bad_documents import PERSON

    monkeypatch.setenv("KYC_DOCUMENT_KEYS", Fernet.generate_key().decode())
    settings = Settings.from_env()
    resources = build_resources(settings)
    buffer = io.BytesIO()
    render_passport(PERSON, seed=4).save(buffer, "PDF", resolution=150)
    pdf = buffer.getvalue()
    store = DocumentStore(settings.document_store_dir, os.environ["KYC_DOCUMENT_KEYS"])
    key = store.put(pdf, original_name="scan.pdf")
    assert pdf[:200] not in store.path(key).read_bytes()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("documents", [key])
    result = dg.materialize(build_assets(settings), selection=["raw_documents", "document_text",
                                                                "extracted_entities"],
                            partition_key=key, instance=instance, resources=resources)
    assert result.success
    text = result.output_for_node("document_text")
    assert text["method"].iloc[0] == "ocr" and json.loads(text["mrz_lines"].iloc[0])
    entities = result.output_for_node("extracted_entities")
    assert entities["document_number"].iloc[0] == "L898902C3" and entities["mrz_valid"].iloc[0]


def _write_transactions(path, rows, columns=None):
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)


def test_transactions_with_malformed_rows_are_quarantined_and_the_rest_flows(env, tmp_path, monkeypatch):
    _, _, _ = env
    path = tmp_path / "tx.csv"
    good = {"transaction_id": "T1", "timestamp": "2026-03-02T10:00:00Z", "sender_account": "A", "receiver_account": "B",
            "amount": "120.50", "currency": "EUR"}
    _write_transactions(path, [good, {**good, "transaction_id": "T2", "amount": "-5"},
                               {**good, "transaction_id": "T3", "timestamp": "yesterday"},
                               {**good, "transaction_id": "T4", "currency": "ZZZ"}, {**good}])
    monkeypatch.setenv("KYC_TRANSACTIONS_PATH", str(path))
    settings = Settings.from_env()
    result = dg.materialize(build_assets(settings), selection=["transactions", "transactions_quarantine"],
                            partition_key="2026-03-02", resources=build_resources(settings),
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    valid = result.output_for_node("transactions", "transactions")
    quarantine = result.output_for_node("transactions", "transactions_quarantine")
    assert valid["transaction_id"].tolist() == ["T1"]
    assert valid["amount_base"].iloc[0] > 0 and valid["currency"].iloc[0] == "EUR"
    reasons = dict(zip(quarantine["transaction_id"], quarantine["reason"], strict=True))
    assert set(reasons) == {"T1", "T2", "T3", "T4"}  # T1 twice: the second is the duplicate
    assert reasons["T2"] == "non-positive amount" and reasons["T3"] == "unparseable timestamp"
    assert reasons["T4"].startswith("unknown currency") and reasons["T1"] == "duplicate transaction_id"


def test_transactions_file_missing_a_required_column_fails_with_a_clear_error(env, tmp_path, monkeypatch):
    path = tmp_path / "tx.csv"
    _write_transactions(path, [{"transaction_id": "T1", "timestamp": "2026-03-02", "sender_account": "A",
                                "receiver_account": "B"}])
    monkeypatch.setenv("KYC_TRANSACTIONS_PATH", str(path))
    settings = Settings.from_env()
    with pytest.raises(Exception, match="missing required column.*amount"):
        dg.materialize(build_assets(settings), selection=["transactions", "transactions_quarantine"],
                       partition_key="2026-03-02", resources=build_resources(settings),
                       instance=dg.DagsterInstance.ephemeral())
