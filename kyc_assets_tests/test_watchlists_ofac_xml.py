"""OFAC SDN XML loader: the real sample, vessel details, malformed and unsafe XML, format detection."""

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.ofac_xml import parse_ofac_xml
from kyc_assets.watchlists.sources import load_watchlist

SAMPLE = Path(__file__).parent / "fixtures" / "watchlists" / "ofac_sdn_sample.xml"

VESSEL = b"""<?xml version="1.0"?>
<sdnList xmlns="https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/XML">
 <sdnEntry><uid>9001</uid><lastName>OCEAN EXAMPLE</lastName><sdnType>Vessel</sdnType>
  <programList><program>IRAN</program><program>SDGT</program></programList>
  <idList><id><uid>1</uid><idType>Vessel Registration Identification</idType><idNumber>IMO 9999999</idNumber></id></idList>
  <vesselInfo><callSign>XYZ1</callSign><vesselType>Crude Oil Tanker</vesselType><vesselFlag>Panama</vesselFlag>
   <grossRegisteredTonnage>12345</grossRegisteredTonnage></vesselInfo>
 </sdnEntry>
</sdnList>"""


def by_id(entries):
    return {e.entity_id: e for e in entries}


def test_sample_entries_names_aliases_and_attributes():
    parsed = parse_ofac_xml(SAMPLE.read_bytes())
    assert parsed.list_source == "us_ofac_sdn" and parsed.published == "2020-04-22"
    entries = by_id(parsed.entries)
    assert len(entries) == 8
    saeed = entries["us_ofac_sdn:10689"]  # uid is the CSV ent_num: both formats give the same ids
    assert saeed.entity_type == "person" and saeed.primary_name == "Muhammad SAEED"
    assert ("HAFIZ SAHIB", "weak_aka") in saeed.aliases and ("Hafiz Muhammad SAEED", "strong_aka") in saeed.aliases
    assert saeed.dates_of_birth == ["1950-06-05"] and saeed.nationalities == ["PK"]
    assert saeed.places_of_birth == ["Sargodha, Punjab, Pakistan"] and saeed.programs == ["SDGT"]
    assert ("Passport", "BE5978421 (Pakistan)") in saeed.identifiers
    assert saeed.addresses[0].startswith("House No. 116 E, Mohalla Johar")
    troll = entries["us_ofac_sdn:19187"]
    assert troll.entity_type == "organization" and troll.primary_name == "TROLL PROPERTIES, INC."
    assert entries["us_ofac_sdn:18619"].dates_of_birth == ["1976", "1977", "1978", "1979"]  # '1976 to 1979'
    assert entries["us_ofac_sdn:12057"].remarks.startswith("Title: Brigadier General")


def test_vessel_details_and_namespace_variant():
    entry = parse_ofac_xml(VESSEL).entries[0]
    assert entry.entity_type == "vessel" and entry.primary_name == "OCEAN EXAMPLE"
    assert ("call_sign", "XYZ1") in entry.identifiers and ("grt", "12345") in entry.identifiers
    assert ("Vessel Registration Identification", "IMO 9999999") in entry.identifiers
    assert entry.nationalities == ["PA"] and entry.programs == ["IRAN", "SDGT"]


def test_format_is_detected_from_content_not_name(tmp_path):
    target = tmp_path / "download.bin"
    shutil.copy(SAMPLE, target)
    loaded = load_watchlist(target)
    assert loaded.format == "ofac_xml" and len(loaded.entries) == 8 and len(loaded.version) == 64


@pytest.mark.parametrize("data, message", [
    (SAMPLE.read_bytes()[:5000], "malformed XML at line"),
    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><sdnList>&a;</sdnList>", "DTD"),
    (b"<sdnList><sdnEntry><uid>x</uid><lastName>A</lastName><sdnType>Entity</sdnType></sdnEntry></sdnList>",
     "no numeric uid"),
    (b"<sdnList><sdnEntry><uid>1</uid><lastName>A</lastName><sdnType>Planet</sdnType></sdnEntry></sdnList>",
     "unknown sdnType"),
    (b"<sdnList><sdnEntry><uid>1</uid><sdnType>Entity</sdnType></sdnEntry></sdnList>", "no name"),
])
def test_malformed_files_raise_one_line_errors(data, message):
    with pytest.raises(WatchlistFormatError, match=message) as info:
        parse_ofac_xml(data, "sdn.xml")
    assert "\n" not in str(info.value)


def test_wrong_encoding_is_a_format_error(tmp_path):
    path = tmp_path / "sdn.xml"
    path.write_bytes(SAMPLE.read_bytes().replace(b"Lahore", "L\u00e4hore".encode("latin-1")))
    with pytest.raises(WatchlistFormatError, match="malformed XML"):
        load_watchlist(path)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(SAMPLE.read_bytes())))
def test_any_truncation_is_either_parsed_or_a_format_error(cut):
    try:
        parsed = parse_ofac_xml(SAMPLE.read_bytes()[:cut])
    except WatchlistFormatError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(e.primary_name for e in parsed.entries)
