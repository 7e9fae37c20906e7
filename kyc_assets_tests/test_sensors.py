"""The inbox sensor against a temporary inbox: new file, same bytes again, junk, files in progress."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import dagster as dg
import pytest

from kyc_assets.onboarding.sensors import build_inbox_sensor, tick_inbox_sensor
from kyc_assets.resources import DocumentStoreResource


@pytest.fixture
def setup(tmp_path):
    inbox, store, quarantine = tmp_path / "inbox", tmp_path / "store", tmp_path / "quarantine"
    inbox.mkdir()
    documents = DocumentStoreResource(store_dir=str(store), inbox_dir=str(inbox), quarantine_dir=str(quarantine))
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    return inbox, quarantine, documents, instance


class Ticker:
    """Evaluates the sensor tick after tick, applying its partition requests like the daemon does."""

    def __init__(self, instance, documents, settle_seconds=0.0, max_files=100):
        self.sensor = build_inbox_sensor(settle_seconds=settle_seconds, max_files_per_tick=max_files)
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
    assert len(keys) == 1 and result.run_requests[0].partition_key == keys[0]
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
    counts = [len(ticker.tick().run_requests) for _ in range(4)]
    assert counts[:3] == [3, 3, 1] and counts[3] == 0
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
    assert len(result.run_requests) == len(readable) == 2, "the photo and the passport get a run each"
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
    assert len(ticker.tick().run_requests) == 1, "b.png flows on although a.png cannot be read"
    monkeypatch.setattr(Path, "read_bytes", real_read)
    assert len(ticker.tick().run_requests) == 1, "a.png is taken once it is readable"
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
    (request,) = ticker.tick().run_requests
    assert request.partition_key == hashlib.sha256(png_bytes).hexdigest(), "partition key = plaintext sha256"
    stored = documents.store().path(request.partition_key).read_bytes()
    assert png_bytes not in stored and documents.store().get(request.partition_key) == png_bytes
