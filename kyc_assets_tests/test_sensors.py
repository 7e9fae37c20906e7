"""The inbox sensor against a temporary inbox: new file, same bytes again, junk, files in progress."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import dagster as dg
import pytest

from kyc_assets.onboarding.sensors import build_inbox_sensor, requested_document_keys, tick_inbox_sensor
from kyc_assets.resources import DocumentStoreResource


@pytest.fixture
def setup(tmp_path):
    inbox, store, quarantine = tmp_path / "inbox", tmp_path / "store", tmp_path / "quarantine"
    inbox.mkdir()
    documents = DocumentStoreResource(store_dir=str(store), inbox_dir=str(inbox), quarantine_dir=str(quarantine))
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    return inbox, quarantine, documents, instance


def covered(instance, request: dg.RunRequest) -> list[str]:
    """The document partitions a run request's key range names, resolved as the run resolves them."""
    from kyc_assets.onboarding.assets import documents_partitions

    with dg.partition_loading_context(dynamic_partitions_store=instance):
        return list(documents_partitions.get_partition_keys_in_range(request.partition_key_range))


class Ticker:
    """Evaluates the sensor tick after tick, applying its partition requests like the daemon does."""

    def __init__(self, instance, documents, settle_seconds=0.0, max_files=100, run_batch_size=50):
        self.sensor = build_inbox_sensor(settle_seconds=settle_seconds, max_files_per_tick=max_files,
                                         run_batch_size=run_batch_size)
        self.instance, self.documents, self.cursor = instance, documents, None

    def tick(self):
        result = tick_inbox_sensor(self.sensor, self.instance, self.documents, self.cursor)
        self.cursor = result.cursor
        return result


def test_new_file_gives_one_partition_and_one_run_and_same_bytes_give_nothing(setup, png_bytes):
    inbox, _, documents, instance = setup
    ticker = Ticker(instance, documents)
    (inbox / "a.png").write_bytes(png_bytes)
    assert ticker.tick().run_requests == []  # first sight: wait until the file is stable
    result = ticker.tick()
    assert len(result.run_requests) == 1
    keys = instance.get_dynamic_partitions("documents")
    assert len(keys) == 1 and covered(instance, result.run_requests[0]) == keys
    # the store is the record: the inbox copy leaves once stored (test_config_data_at_rest.py)
    assert not (inbox / "a.png").exists() and documents.store().get(keys[0]) == png_bytes

    (inbox / "nested").mkdir()
    (inbox / "nested" / "copy-of-a.png").write_bytes(png_bytes)
    ticker.tick()
    assert ticker.tick().run_requests == []
    assert instance.get_dynamic_partitions("documents") == keys
    assert ticker.tick().run_requests == [], "a file already ingested is not ingested again"


def test_junk_and_empty_files_are_quarantined_with_a_reason(setup):
    inbox, quarantine, documents, instance = setup
    ticker = Ticker(instance, documents)
    (inbox / "notes.txt").write_text("hello, not a document")
    (inbox / "empty.png").write_bytes(b"")
    ticker.tick()
    result = ticker.tick()
    assert result.run_requests == []
    assert not (inbox / "notes.txt").exists()
    assert (quarantine / "notes.txt").read_text() == "hello, not a document"
    assert "unsupported file type" in (quarantine / "notes.txt.reason.txt").read_text()
    assert "empty file" in (quarantine / "empty.png.reason.txt").read_text()
    assert instance.get_dynamic_partitions("documents") == []


def test_a_file_still_being_written_is_not_taken(setup, png_bytes):
    inbox, _, documents, instance = setup
    ticker = Ticker(instance, documents, settle_seconds=3600)
    (inbox / "slow.png").write_bytes(png_bytes)
    ticker.tick()
    assert ticker.tick().run_requests == [], "not settled yet"
    old = os.stat(inbox / "slow.png").st_mtime - 7200
    os.utime(inbox / "slow.png", (old, old))
    ticker.tick()  # the signature changed (mtime): seen again as pending
    assert len(ticker.tick().run_requests) == 1


def test_many_files_are_bounded_per_tick(setup, png_bytes):
    inbox, _, documents, instance = setup
    ticker = Ticker(instance, documents, max_files=3)
    for i in range(7):
        (inbox / f"doc{i}.png").write_bytes(png_bytes + bytes([i]))  # trailing bytes: distinct sha256
    ticker.tick()
    results = [ticker.tick() for _ in range(4)]
    assert [len(requested_document_keys(r)) for r in results] == [3, 3, 1, 0]
    assert [len(r.run_requests) for r in results] == [1, 1, 1, 0], "one run per tick for its new documents"
    assert len(instance.get_dynamic_partitions("documents")) == 7
    state = json.loads(ticker.cursor)
    # every file was stored and left the inbox, so the cursor forgets them (it stays small)
    assert state["done"] == {} and state["pending"] == {} and not list(inbox.iterdir())


def test_symlink_out_of_the_inbox_is_not_followed(setup, tmp_path, png_bytes):
    inbox, _, documents, instance = setup
    outside = tmp_path / "secret.png"
    outside.write_bytes(png_bytes)
    (inbox / "link.png").symlink_to(outside)
    ticker = Ticker(instance, documents)
    ticker.tick()
    assert ticker.tick().run_requests == []


def test_every_bad_input_is_quarantined_with_a_clear_reason_and_nothing_is_lost(setup):
    """The issue's bad-input list in one tick: no crash, one reason file each, good files flow on."""
    from kyc_assets_tests.bad_documents import bad_inputs, good_passport_png

    inbox, quarantine, documents, instance = setup
    files = [*bad_inputs(), ("batch/passport.png", good_passport_png(), None)]
    (inbox / "batch").mkdir()
    for name, data, _ in files:
        (inbox / name).write_bytes(data)
    ticker = Ticker(instance, documents)
    ticker.tick()
    result = ticker.tick()
    readable = [name for name, _, reason in files if reason is None]
    assert len(requested_document_keys(result)) == len(readable) == 2, "the photo and the passport are taken"
    (request,) = result.run_requests
    assert covered(instance, request) == requested_document_keys(result), "one run reads both"
    store = documents.store()
    for name, data, expected in files:
        if expected is None:
            assert not (inbox / name).exists(), "accepted originals leave the inbox once stored"
            assert store.get(hashlib.sha256(data).hexdigest()) == data
            continue
        assert not (inbox / name).exists()
        assert (quarantine / name).read_bytes() == data, f"{name}: the original is moved, never deleted"
        reason = (quarantine / f"{name}.reason.txt").read_text()
        assert expected in reason, f"{name}: {reason!r}"
        assert reason.splitlines()[0].strip() and f"original: {name}" in reason
    assert ticker.tick().run_requests == [], "nothing is taken twice"


def test_huge_declared_image_is_refused_in_the_sensor_before_decoding(setup):
    from kyc_assets_tests.bad_documents import png_header_only

    inbox, quarantine, documents, instance = setup
    (inbox / "bomb.png").write_bytes(png_header_only(40_000, 40_000))
    ticker = Ticker(instance, documents)
    ticker.tick()
    started = time.perf_counter()
    assert ticker.tick().run_requests == []
    assert time.perf_counter() - started < 5.0
    assert "decompression bomb" in (quarantine / "bomb.png.reason.txt").read_text()


def test_an_unreadable_file_does_not_crash_the_tick_and_is_retried(setup, png_bytes, monkeypatch):
    inbox, _, documents, instance = setup
    (inbox / "a.png").write_bytes(png_bytes)
    (inbox / "b.png").write_bytes(png_bytes + b"b")
    ticker = Ticker(instance, documents)
    ticker.tick()
    real_read = Path.read_bytes

    def flaky(self):
        if self.name == "a.png":
            raise PermissionError("denied")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", flaky)
    assert len(requested_document_keys(ticker.tick())) == 1, "b.png flows on although a.png cannot be read"
    monkeypatch.setattr(Path, "read_bytes", real_read)
    assert len(requested_document_keys(ticker.tick())) == 1, "a.png is taken once it is readable"
    assert len(instance.get_dynamic_partitions("documents")) == 2


def test_sensor_writes_encrypted_documents_when_keys_are_configured(tmp_path, png_bytes):
    from cryptography.fernet import Fernet

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    key = Fernet.generate_key().decode()
    documents = DocumentStoreResource(store_dir=str(tmp_path / "store"), inbox_dir=str(inbox),
                                      quarantine_dir=str(tmp_path / "q"), encryption_keys=key)
    (tmp_path / "home").mkdir()
    ticker = Ticker(dg.DagsterInstance.local_temp(str(tmp_path / "home")), documents)
    (inbox / "a.png").write_bytes(png_bytes)
    ticker.tick()
    (key,) = requested_document_keys(ticker.tick())
    assert key == hashlib.sha256(png_bytes).hexdigest(), "partition key = plaintext sha256"
    stored = documents.store().path(key).read_bytes()
    assert png_bytes not in stored and documents.store().get(key) == png_bytes


def test_new_documents_are_batched_into_runs_whose_ranges_name_exactly_them(setup, png_bytes):
    """Documents already registered stay out of the new runs; a batch size splits a tick's documents into
    consecutive runs; each run's range resolves to its documents and nothing else."""
    inbox, _, documents, instance = setup
    ticker = Ticker(instance, documents, run_batch_size=4)
    for i in range(3):
        (inbox / f"old{i}.png").write_bytes(png_bytes + bytes([100 + i]))
    ticker.tick()
    old = requested_document_keys(ticker.tick())
    assert len(old) == 3
    for i in range(10):
        (inbox / f"doc{i}.png").write_bytes(png_bytes + bytes([i]))
    ticker.tick()
    result = ticker.tick()
    new = requested_document_keys(result)
    assert len(new) == 10 and not set(new) & set(old)
    assert [len(covered(instance, r)) for r in result.run_requests] == [4, 4, 2]
    assert [k for r in result.run_requests for k in covered(instance, r)] == new
    assert len({r.run_key for r in result.run_requests}) == 3, "distinct run keys: each batch launches once"
    assert all(r.tags["kyc/documents"] == str(len(covered(instance, r))) for r in result.run_requests)


def test_a_tick_never_lists_every_registered_partition(setup, png_bytes, monkeypatch):
    """At a million documents listing the partitions costs seconds per tick: a tick looks up its new keys."""
    inbox, _, documents, instance = setup
    instance.add_dynamic_partitions("documents", [f"{i:064x}" for i in range(500)])
    (inbox / "a.png").write_bytes(png_bytes)
    ticker = Ticker(instance, documents)
    ticker.tick()

    def listing(*args, **kwargs):
        raise AssertionError("the tick listed every partition")

    monkeypatch.setattr(type(instance), "get_dynamic_partitions", listing)
    result = ticker.tick()
    monkeypatch.undo()
    assert requested_document_keys(result) == [hashlib.sha256(png_bytes).hexdigest()]
    assert len(instance.get_dynamic_partitions("documents")) == 501


def test_a_batched_run_materializes_one_partition_per_document(setup, png_bytes, tmp_path):
    """The run a tick requests, executed: every document of the batch gets its own materialization."""
    from kyc_assets.onboarding.assets import raw_documents
    from kyc_assets.resources import build_storage_resources
    from kyc_assets.settings import Settings

    inbox, _, documents, instance = setup
    for i in range(3):
        (inbox / f"doc{i}.png").write_bytes(png_bytes + bytes([i]))
    ticker = Ticker(instance, documents)
    ticker.tick()
    (request,) = ticker.tick().run_requests
    result = dg.materialize([raw_documents], instance=instance, tags=request.tags,
                            resources={"documents": documents,
                                       **build_storage_resources(Settings.from_env({"KYC_HOME": str(tmp_path)}))})
    assert result.success
    materialized = {e.partition for e in result.get_asset_materialization_events()}
    assert materialized == set(covered(instance, request)) and len(materialized) == 3


@pytest.fixture
def s3_server():
    """moto's S3-compatible server on a free loopback port, with one bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    from kyc_assets_tests.cluster_harness import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                          region_name="us-east-1")
    client.create_bucket(Bucket="kyc")
    try:
        yield endpoint, client
    finally:
        server.stop()


def test_the_sensor_watches_an_object_store_prefix(s3_server, tmp_path, png_bytes):
    """Inbox, document store and quarantine as s3:// prefixes on a real S3-compatible server: a document
    is stored under its sha256 and gets a partition; junk is moved to the quarantine prefix with a reason."""
    from kyc_assets.resources import DocumentStoreResource

    endpoint, client = s3_server
    documents = DocumentStoreResource(store_dir="s3://kyc/p/documents", inbox_dir="s3://kyc/p/inbox",
                                      quarantine_dir="s3://kyc/p/quarantine", endpoint_url=endpoint,
                                      region="us-east-1", access_key_id="testing", secret_access_key="testing",
                                      allow_http=True)
    client.put_object(Bucket="kyc", Key="p/inbox/batch/passport.png", Body=png_bytes)
    client.put_object(Bucket="kyc", Key="p/inbox/notes.txt", Body=b"hello, not a document")
    (tmp_path / "dh").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dh"))
    ticker = Ticker(instance, documents)
    assert ticker.tick().run_requests == [], "first sight: wait until the object is stable"
    result = ticker.tick()
    sha = hashlib.sha256(png_bytes).hexdigest()
    assert requested_document_keys(result) == [sha] and len(result.run_requests) == 1
    assert documents.store().get(sha) == png_bytes
    keys = {o["Key"] for o in client.list_objects_v2(Bucket="kyc")["Contents"]}
    assert "p/inbox/notes.txt" not in keys and "p/quarantine/notes.txt" in keys, "moved, never deleted"
    reason = client.get_object(Bucket="kyc", Key="p/quarantine/notes.txt.reason.txt")["Body"].read().decode()
    assert "unsupported file type" in reason and "original: notes.txt" in reason
    assert "p/inbox/batch/passport.png" not in keys, "a stored document leaves the inbox (the store is the record)"
    assert ticker.tick().run_requests == [], "nothing is taken twice"
