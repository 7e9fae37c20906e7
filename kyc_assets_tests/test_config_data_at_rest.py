"""Data at rest (issue 12): accepted inbox files leave the inbox once the (encrypted) store holds them,
never before; the warehouse's PII columns can be encrypted with a key from the environment."""

from __future__ import annotations

import hashlib

import dagster as dg
import pandas as pd
import pytest
from cryptography.fernet import Fernet

from kyc_assets.onboarding.intake import InboxState, ingest
from kyc_assets.onboarding.sensors import build_inbox_sensor, tick_inbox_sensor
from kyc_assets.onboarding.store import DocumentStore, DocumentStoreError
from kyc_assets.resources import DocumentStoreResource, WarehouseIOManager
from kyc_assets_tests.bad_documents import good_passport_png


@pytest.fixture
def passport() -> bytes:
    return good_passport_png()


def _tick_twice(tmp_path, documents):
    (tmp_path / "dagster_home").mkdir(exist_ok=True)
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    sensor = build_inbox_sensor(settle_seconds=0.0, max_files_per_tick=10)
    first = tick_inbox_sensor(sensor, instance, documents, None)
    return tick_inbox_sensor(sensor, instance, documents, first.cursor)


def test_an_encrypted_document_leaves_the_inbox_once_stored(tmp_path, passport):
    inbox = tmp_path / "inbox"
    (inbox / "branch-7").mkdir(parents=True)
    (inbox / "branch-7" / "passport.png").write_bytes(passport)
    key = Fernet.generate_key().decode()
    documents = DocumentStoreResource(store_dir=str(tmp_path / "store"), inbox_dir=str(inbox),
                                      quarantine_dir=str(tmp_path / "quarantine"), encryption_keys=key)
    result = _tick_twice(tmp_path, documents)
    sha = hashlib.sha256(passport).hexdigest()
    # one batched run whose partition key range is this one document (onboarding/sensors.py)
    assert [(r.partition_key_range.start, r.partition_key_range.end) for r in result.run_requests] == [(sha, sha)]
    assert not (inbox / "branch-7" / "passport.png").exists(), "no readable copy stays in the inbox"
    stored = DocumentStore(tmp_path / "store", key)
    assert stored.get(sha) == passport
    assert passport[:64] not in stored.path(sha).read_bytes(), "the store holds ciphertext"


def test_with_an_archive_folder_the_inbox_copy_is_moved_there(tmp_path, passport):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "passport.png").write_bytes(passport)
    documents = DocumentStoreResource(store_dir=str(tmp_path / "store"), inbox_dir=str(inbox),
                                      quarantine_dir=str(tmp_path / "quarantine"),
                                      archive_dir=str(tmp_path / "archive"))
    _tick_twice(tmp_path, documents)
    assert not (inbox / "passport.png").exists()
    assert (tmp_path / "archive" / "passport.png").read_bytes() == passport


def test_a_file_is_never_lost_when_the_store_write_fails(tmp_path, passport):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "passport.png"
    path.write_bytes(passport)
    blocked = tmp_path / "store"
    blocked.write_text("a file where the store's folder should be")  # every store write fails
    with pytest.raises(OSError):
        ingest(path, inbox, InboxState(), DocumentStore(blocked), tmp_path / "quarantine")
    assert path.read_bytes() == passport


def test_a_file_is_not_removed_when_the_stored_copy_does_not_read_back(tmp_path, passport):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "passport.png"
    path.write_bytes(passport)
    store = DocumentStore(tmp_path / "store")
    target = store.path(hashlib.sha256(passport).hexdigest())
    target.parent.mkdir(parents=True)
    target.write_bytes(b"corrupted copy left by an earlier crash")  # put() sees it and does not rewrite
    with pytest.raises(DocumentStoreError, match="does not match its sha256"):
        ingest(path, inbox, InboxState(), store, tmp_path / "quarantine")
    assert path.read_bytes() == passport, "the inbox copy stays until the store's copy is verified"


def test_settings_and_definitions_wire_the_archive_folder(tmp_path):
    from kyc_assets.definitions import build_resources
    from kyc_assets.settings import Settings

    resources = build_resources(Settings.from_env({"KYC_HOME": str(tmp_path),
                                                   "KYC_INBOX_ARCHIVE_DIR": str(tmp_path / "kept")}))
    assert resources["documents"].archive_dir == str(tmp_path / "kept")
    assert build_resources(Settings.from_env({"KYC_HOME": str(tmp_path)}))["documents"].archive_dir is None


# -- warehouse PII ---------------------------------------------------------------------------------

def _customers() -> pd.DataFrame:
    return pd.DataFrame([{"customer_id": "C-1", "full_name": "Jane Doe", "date_of_birth": "1980-01-02",
                          "document_number": "X1234567", "nationality": "GBR"},
                         {"customer_id": "C-2", "full_name": "Li Wei", "date_of_birth": None,
                          "document_number": "P7654321", "nationality": "CHN"}])


def _materialize(tmp_path, io_manager) -> pd.DataFrame:
    @dg.asset
    def customers() -> pd.DataFrame:
        return _customers()

    @dg.asset
    def screened(customers: pd.DataFrame) -> pd.DataFrame:  # a downstream asset sees clear values
        return customers.assign(name_length=customers["full_name"].str.len())

    result = dg.materialize([customers, screened], resources={"io_manager": io_manager})
    assert result.success
    return result.output_for_node("screened")


@pytest.mark.parametrize("encrypted", [False, True])
def test_warehouse_pii_columns_are_encrypted_only_with_a_key(tmp_path, encrypted):
    database = tmp_path / "warehouse"
    key = Fernet.generate_key().decode()
    io_manager = WarehouseIOManager(root_uri=str(database), pii_keys=key if encrypted else None)
    screened = _materialize(tmp_path, io_manager)
    assert list(screened["full_name"]) == ["Jane Doe", "Li Wei"] and list(screened["name_length"]) == [8, 6]
    from kyc_assets.storage import Warehouse

    with Warehouse(database).connect() as con:
        raw = con.execute("SELECT full_name, date_of_birth, document_number, nationality FROM kyc.customers "
                          "ORDER BY customer_id").fetchall()
    if not encrypted:  # the default, documented plainly in the README: PII in clear
        assert raw[0][:3] == ("Jane Doe", "1980-01-02", "X1234567")
        return
    flat = " ".join(str(v) for row in raw for v in row)
    assert "Jane" not in flat and "X1234567" not in flat and "1980-01-02" not in flat
    assert raw[0][0].startswith("kyc:") and raw[1][1] is None and raw[0][3] == "GBR"  # NULL stays NULL


def test_the_warehouse_key_reaches_the_io_manager_as_an_env_var(tmp_path):
    from kyc_assets.definitions import build_resources
    from kyc_assets.settings import Settings

    key = Fernet.generate_key().decode()
    manager = build_resources(Settings.from_env({"KYC_HOME": str(tmp_path), "KYC_WAREHOUSE_PII_KEYS": key}))[
        "io_manager"]
    assert isinstance(manager.pii_keys, dg.EnvVar) and manager.pii_keys.env_var_name == "KYC_WAREHOUSE_PII_KEYS"
    assert build_resources(Settings.from_env({"KYC_HOME": str(tmp_path)}))["io_manager"].pii_keys is None
