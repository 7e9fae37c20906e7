"""Bad input through the assets: a clear reason, quarantine, and nothing else lost."""

from __future__ import annotations

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
    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = dict(con.execute("select document_sha256, status || ':' || coalesce(reason, '') "
                                "from kyc.raw_documents").fetchall())
        entities = dict(con.execute("select document_sha256, status from kyc.extracted_entities").fetchall())
    assert rows[good] == "ok:"
    assert rows[corrupt].startswith("rejected:") and len(rows[corrupt]) > len("rejected:") + 5
    assert entities == {good: "ok", corrupt: "rejected"}, "the rejected document is kept, with its status"
    assert store.get(corrupt) == png_bytes[: len(png_bytes) // 2], "the original bytes are preserved"


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
