"""The inbox sensor against a temporary inbox: new file, same bytes again, junk, files in progress."""

from __future__ import annotations

import json
import os

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
    assert (inbox / "a.png").exists(), "originals are never deleted"

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
    assert len(state["done"]) == 7 and state["pending"] == {}


def test_symlink_out_of_the_inbox_is_not_followed(setup, tmp_path, png_bytes):
    inbox, _, documents, instance = setup
    outside = tmp_path / "secret.png"
    outside.write_bytes(png_bytes)
    (inbox / "link.png").symlink_to(outside)
    ticker = Ticker(instance, documents)
    ticker.tick()
    assert ticker.tick().run_requests == []
