"""OpenSanctions FollowTheMoney JSON-lines loader, on a synthetic fixture (never OpenSanctions data)."""

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.ftm import parse_ftm
from kyc_assets.watchlists.model import WatchlistEntry
from kyc_assets.watchlists.sources import load_watchlist

SAMPLE = Path(__file__).parent / "fixtures" / "watchlists" / "synthetic_ftm.jsonl"


def by_id(entries):
    return {e.entity_id: e for e in entries}


def test_targets_become_entries_and_other_entities_are_joined_or_skipped():
    entries = by_id(parse_ftm(SAMPLE.read_bytes(), list_source="os_test").entries)
    assert set(entries) == {"os_test:syn-p-1", "os_test:syn-c-1", "os_test:syn-pep-1", "os_test:syn-v-1",
                            "os_test:syn-o-1"}  # not the non-target company, Sanction, Address, Ownership
    person = entries["os_test:syn-p-1"]
    assert person.entity_type == "person" and person.primary_name == "Borislav Petrovich KRAVTSOV"
    assert person.original_script_names == ["Борислав Петрович Кравцов"]
    assert ("KRAVTSOV, Borislav", "strong_aka") in person.aliases and ("Boris Kravtsoff", "strong_aka") in person.aliases
    assert ("The Accountant", "weak_aka") in person.aliases and ("Borislav Ivanov", "fka") in person.aliases
    assert person.dates_of_birth == ["1971-05-14", "1972"] and person.nationalities == ["RU", "CY"]
    assert person.addresses == ["12 Invented Lane, Tver, 170000, Russia"]  # joined via addressEntity
    assert person.programs == ["XX-TEST", "Second test programme"]  # joined Sanctions
    assert person.listed_on == "2022-03-15"
    assert ("passportNumber", "7700112233") in person.identifiers
    assert ("passportNumber", "P-4455667 (CY)") in person.identifiers  # joined Passport
    assert not person.is_pep
    company = entries["os_test:syn-c-1"]
    assert company.entity_type == "organization" and company.nationalities == ["AE"]
    assert company.original_script_names == ["ООО Нордвинд Балласт"]
    vessel = entries["os_test:syn-v-1"]  # nested layout: the Sanction is embedded in the vessel
    assert vessel.entity_type == "vessel" and vessel.programs == ["XX-SHIP"] and vessel.listed_on == "2024-07-01"
    assert ("imoNumber", "IMO 0000001") in vessel.identifiers
    assert entries["os_test:syn-o-1"].aliases == [("FLF", "weak_aka")]


def test_pep_is_flagged_by_topic():
    pep = by_id(parse_ftm(SAMPLE.read_bytes()).entries)["opensanctions:syn-pep-1"]
    assert pep.is_pep and pep.topics == ["role.pep"] and "Deputy Minister" in pep.remarks


def test_records_round_trip_including_json_text_columns():
    for entry in parse_ftm(SAMPLE.read_bytes()).entries:
        record = entry.to_record()
        assert WatchlistEntry.from_record(json.loads(json.dumps(record))) == entry
        as_table = {k: json.dumps(v) if isinstance(v, list) else v for k, v in record.items()}
        assert WatchlistEntry.from_record(as_table) == entry  # list columns stored as JSON text
    old = {"entity_id": "x:1", "list_source": "x", "entity_type": "person", "primary_name": "A B"}
    assert WatchlistEntry.from_record(old).topics == []  # records written before the new fields


def test_without_target_flags_every_party_schema_counts(tmp_path):
    lines = [json.dumps({"id": "a", "schema": "Person", "properties": {"name": ["Ann Example"]}}),
             json.dumps({"id": "b", "schema": "Address", "properties": {"full": ["x"]}})]
    assert [e.entity_id for e in parse_ftm("\n".join(lines).encode()).entries] == ["opensanctions:a"]


def test_detected_from_content_and_named_by_the_source(tmp_path):
    shutil.copy(SAMPLE, tmp_path / "pep.csv")
    loaded = load_watchlist(tmp_path / "pep.csv", list_source="pep")
    assert loaded.format == "ftm_jsonl" and loaded.list_source == "pep" and len(loaded.entries) == 5
    assert loaded.published == "2025-03-01"


@pytest.mark.parametrize("data, message", [
    (SAMPLE.read_bytes()[:300], "line 1: invalid JSON"),
    (b'{"id": "a", "schema": "Person", "properties": {}}\n[1, 2]\n', "line 2: not an FtM entity"),
    (b'{"id": "a", "schema": "Person", "properties": {"name": ["\xe9"]}}\n', "line 1: not valid UTF-8"),
])
def test_malformed_lines_raise_one_line_errors(data, message):
    with pytest.raises(WatchlistFormatError, match=message) as info:
        parse_ftm(data, "x.jsonl")
    assert "\n" not in str(info.value)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(SAMPLE.read_bytes())))
def test_any_truncation_is_either_parsed_or_a_format_error(cut):
    try:
        parse_ftm(SAMPLE.read_bytes()[:cut])
    except WatchlistFormatError as exc:
        assert "\n" not in str(exc)
