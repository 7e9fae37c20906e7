"""Tests for the OFAC SDN CSV loader, the watchlist source detection and the bundled subset."""

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.model import WatchlistEntry
from kyc_assets.watchlists.ofac_csv import display_name, load_ofac_csv, parse_dob, parse_ofac_files
from kyc_assets.watchlists.sources import default_watchlist_path, load_watchlist

SMALL = Path(__file__).parent / "fixtures" / "ofac_small"


def _by_id(entries):
    return {e.entity_id: e for e in entries}


def test_small_fixture_keeps_ofac_dialect():
    raw = (SMALL / "sdn.csv").read_bytes()
    assert raw.endswith(b"\r\n\x1a") and b"-0- " in raw


def test_loader_reads_entries_aliases_addresses_and_overflow():
    entries = _by_id(load_ofac_csv(SMALL))
    assert len(entries) == 6
    aero = entries["us_ofac_sdn:36"]
    assert aero.entity_type == "organization" and aero.list_source == "us_ofac_sdn"
    assert aero.aliases == [("AERO-CARIBBEAN", "strong_aka")]
    assert aero.addresses == ["Havana, Cuba"] and aero.programs == ["CUBA"]
    bnc = entries["us_ofac_sdn:306"]
    assert ("BNC", "weak_aka") in bnc.aliases and ("NATIONAL BANK OF CUBA", "strong_aka") in bnc.aliases
    assert len(bnc.addresses) == 4
    zawahiri = entries["us_ofac_sdn:2676"]
    assert zawahiri.entity_type == "person" and zawahiri.primary_name == "Dr. Ayman AL ZAWAHIRI"
    assert zawahiri.dates_of_birth == ["1951-06-19"] and zawahiri.places_of_birth == ["Giza, Egypt"]
    assert ("Passport", "1084010 (Egypt)") in zawahiri.identifiers
    tian = entries["us_ofac_sdn:28263"]  # Remarks continue in sdn_comments.csv
    assert tian.remarks.endswith("Linked To: LAZARUS GROUP.")
    assert ("snowsjohn", "weak_aka") in tian.aliases and tian.nationalities == ["CN"]
    assert tian.programs == ["DPRK3", "CYBER2"]
    vessel = entries["us_ofac_sdn:4234"]
    assert vessel.entity_type == "vessel" and ("call_sign", "CL2685") in vessel.identifiers
    assert entries["us_ofac_sdn:15431"].entity_type == "aircraft"


def test_single_sdn_file_uses_remark_aliases(tmp_path):
    shutil.copy(SMALL / "sdn.csv", tmp_path / "sdn.csv")
    entries = _by_id(load_ofac_csv(tmp_path / "sdn.csv"))
    assert entries["us_ofac_sdn:306"].aliases == [("BNC", "weak_aka")]
    assert entries["us_ofac_sdn:36"].addresses == []


def test_to_record_is_json_friendly():
    import json

    record = _by_id(load_ofac_csv(SMALL))["us_ofac_sdn:306"].to_record()
    assert json.loads(json.dumps(record)) == record
    assert ["BNC", "weak_aka"] in record["aliases"]
    entry = _by_id(load_ofac_csv(SMALL))["us_ofac_sdn:306"]
    assert WatchlistEntry.from_record(json.loads(json.dumps(record))) == entry


def test_entry_rejects_unknown_type_and_alias_kind():
    with pytest.raises(ValueError, match="entity_type"):
        WatchlistEntry("x:1", "x", "company", "ACME")
    with pytest.raises(ValueError, match="alias kind"):
        WatchlistEntry("x:1", "x", "person", "A B", aliases=[("C D", "nickname")])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("01 Jan 1960", ["1960-01-01"]),
        ("Jan 1960", ["1960-01"]),
        ("1960", ["1960"]),
        ("circa 1960", ["1960"]),
        ("1960 to 1962", ["1960", "1961", "1962"]),
        ("10 Oct 1970 to 10 Oct 1970", ["1970-10-10"]),
        ("sometime", []),
    ],
)
def test_parse_dob(text, expected):
    assert parse_dob(text) == expected


def test_display_name_reorders_individuals_only():
    assert display_name("ERIKSSON, Anna Maria", "person") == "Anna Maria ERIKSSON"
    assert display_name("DELOS REYES, Feliciano Semborio, Jr.", "person") == "Feliciano Semborio DELOS REYES Jr."
    assert display_name("ANGLO-CARIBBEAN CO., LTD.", "organization") == "ANGLO-CARIBBEAN CO., LTD."


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b'36,"AEROCARIBBEAN AIRLINES",-0- ,"CUBA"\r\n', "sdn.csv line 1: expected 12 fields"),
        (b'x1,"A",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n', "not an integer"),
        ((b'1,"A",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
         b'2,"B,bad"x,-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'), "sdn.csv line 2"),
        (b'1,"A",robot,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n', "unknown SDN_Type"),
    ],
)
def test_malformed_sdn_raises_with_line(content, fragment):
    with pytest.raises(WatchlistFormatError, match=fragment) as info:
        parse_ofac_files({"sdn.csv": content})
    assert "\n" not in str(info.value)


def test_orphan_alias_row_is_an_error():
    sdn = b'1,"A",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n\x1a'
    with pytest.raises(WatchlistFormatError, match="alt.csv line 1: ent_num 2 not in sdn.csv"):
        parse_ofac_files({"sdn.csv": sdn, "alt.csv": b'2,5,"aka","X",-0- \r\n'})


_field = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"'),
                 min_size=1, max_size=30).filter(lambda s: s.strip() not in ("", "-0-"))


@settings(max_examples=60, deadline=None)
@given(ent_num=st.integers(1, 10**7), name=_field, program=_field, sub=st.booleans())
def test_roundtrip_generated_rows(ent_num, name, program, sub):
    line = f'{ent_num},"{name}",-0- ,"{program}",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
    data = line.encode("latin-1") + (b"\x1a" if sub else b"")
    (entry,) = parse_ofac_files({"sdn.csv": data})
    assert entry.entity_id == f"us_ofac_sdn:{ent_num}"
    assert entry.primary_name == name.strip() and entry.entity_type == "organization"
    assert entry.remarks == "" and entry.aliases == []


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_format_error(data):
    try:
        entries = parse_ofac_files({"sdn.csv": data})
    except WatchlistFormatError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(e.entity_id.startswith("us_ofac_sdn:") for e in entries)


def test_load_watchlist_versions_by_content(tmp_path):
    for name in ("sdn.csv", "alt.csv", "add.csv", "sdn_comments.csv"):
        shutil.copy(SMALL / name, tmp_path / name)
    first = load_watchlist(tmp_path)
    assert first.list_source == "us_ofac_sdn" and len(first.entries) == 6
    assert len(first.version) == 64 and first.version == load_watchlist(tmp_path).version
    add = tmp_path / "add.csv"
    add.write_bytes(add.read_bytes().replace(b"Havana", b"Havanna"))
    assert load_watchlist(tmp_path).version != first.version


def test_unsupported_format_is_rejected(tmp_path):
    xml = tmp_path / "list.xml"
    xml.write_text("<catalog><book/></catalog>")
    with pytest.raises(WatchlistFormatError, match="unsupported watchlist format"):
        load_watchlist(xml)
    xml.write_text("<sdnList><sdnEntry/></sdnList>")  # OFAC XML is supported now; an empty entry is malformed
    with pytest.raises(WatchlistFormatError, match="sdnEntry 1 has no numeric uid"):
        load_watchlist(xml)
    with pytest.raises(WatchlistFormatError, match="unsupported watchlist format"):
        load_watchlist(tmp_path)  # folder without sdn.csv


def test_bundled_subset_covers_all_types():
    loaded = load_watchlist()
    assert loaded.path == default_watchlist_path()
    types = {}
    for e in loaded.entries:
        types[e.entity_type] = types.get(e.entity_type, 0) + 1
    assert set(types) == {"person", "organization", "vessel", "aircraft"}
    assert 2300 <= len(loaded.entries) <= 2700
    with_dob = sum(1 for e in loaded.entries if e.entity_type == "person" and e.dates_of_birth)
    assert with_dob >= 1300
    assert len({p for e in loaded.entries for p in e.programs}) >= 50
    raw = (default_watchlist_path() / "sdn.csv").read_bytes()
    assert raw.endswith(b"\r\n\x1a")
