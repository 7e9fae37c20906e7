"""UN Security Council consolidated XML loader: individuals, entities, original script, date types."""

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.sources import load_watchlist
from kyc_assets.watchlists.un_xml import parse_un_xml

SAMPLE = Path(__file__).parent / "fixtures" / "watchlists" / "un_consolidated_sample.xml"

ENTITY = b"""<CONSOLIDATED_LIST dateGenerated="2025-01-02T00:00:00Z"><INDIVIDUALS/><ENTITIES>
 <ENTITY><DATAID>1</DATAID><FIRST_NAME>EXAMPLE TRADING COMPANY</FIRST_NAME><UN_LIST_TYPE>DPRK</UN_LIST_TYPE>
  <REFERENCE_NUMBER>KPe.999</REFERENCE_NUMBER><LISTED_ON>2017-08-05</LISTED_ON>
  <ENTITY_ALIAS><QUALITY>a.k.a.</QUALITY><ALIAS_NAME>ETC</ALIAS_NAME></ENTITY_ALIAS>
  <ENTITY_ALIAS><QUALITY>Low</QUALITY><ALIAS_NAME>Trading Co</ALIAS_NAME></ENTITY_ALIAS>
  <ENTITY_ADDRESS><STREET>1 Example Street</STREET><CITY>Pyongyang</CITY><COUNTRY>DPRK</COUNTRY></ENTITY_ADDRESS>
 </ENTITY></ENTITIES></CONSOLIDATED_LIST>"""


def by_id(entries):
    return {e.entity_id: e for e in entries}


def test_sample_individuals_with_original_script_and_date_types():
    parsed = parse_un_xml(SAMPLE.read_bytes())
    assert parsed.list_source == "un_sc" and parsed.published == "2024-10-17"
    entries = by_id(parsed.entries)
    assert len(entries) == 7 and all(e.entity_type == "person" for e in entries.values())
    jaber = entries["un_sc:QDi.237"]
    assert jaber.primary_name == "JABER ABDALLAH JABER AHMAD AL-JALAHMAH"
    assert jaber.original_script_names == ["جابر عبد الله جابر أحمد الجلاهمة"]
    assert ("جابر عبد الله جابر أحمد الجلاهمة", "original_script") in jaber.names()
    assert ("Abu Muhammad", "weak_aka") in jaber.aliases and ("Jaber Al-Jalamah", "strong_aka") in jaber.aliases
    assert jaber.dates_of_birth == ["1959-09-24"] and jaber.nationalities == ["KW"]
    assert ("Passport", "2541451 (Kuwait)") in jaber.identifiers
    assert jaber.listed_on == "2014-01-03" and jaber.programs == ["Al-Qaida"]
    naim = entries["un_sc:TAi.013"]
    assert naim.dates_of_birth == ["1975"]  # APPROXIMATELY 1975
    assert ("Mohammad Naim", "fka") in naim.aliases  # note 'previously listed as'
    assert entries["un_sc:TAi.023"].dates_of_birth == ["1963", "1964", "1965", "1966", "1967", "1968"]  # BETWEEN


def test_entities_and_empty_alias_elements():
    entry = parse_un_xml(ENTITY).entries[0]
    assert entry.entity_id == "un_sc:KPe.999" and entry.entity_type == "organization"
    assert entry.aliases == [("ETC", "strong_aka"), ("Trading Co", "weak_aka")]
    assert entry.addresses == ["1 Example Street, Pyongyang, DPRK"]
    # the sample's last record has <ALIAS_NAME/>: no empty alias is produced
    assert all(name for e in parse_un_xml(SAMPLE.read_bytes()).entries for name, _ in e.aliases)


def test_detected_from_content(tmp_path):
    shutil.copy(SAMPLE, tmp_path / "list")
    loaded = load_watchlist(tmp_path / "list")
    assert loaded.format == "un_xml" and loaded.list_source == "un_sc" and len(loaded.entries) == 7


@pytest.mark.parametrize("data, message", [
    (SAMPLE.read_bytes()[:-40], "malformed XML"),
    (b"<CONSOLIDATED_LIST><INDIVIDUALS><INDIVIDUAL><FIRST_NAME>A</FIRST_NAME></INDIVIDUAL></INDIVIDUALS>"
     + b"</CONSOLIDATED_LIST>", "neither REFERENCE_NUMBER nor DATAID"),
    (b"<CONSOLIDATED_LIST><INDIVIDUALS><INDIVIDUAL><DATAID>1</DATAID></INDIVIDUAL></INDIVIDUALS>"
     + b"</CONSOLIDATED_LIST>", "has no name"),
    (b"<OTHER/>", "expected 'CONSOLIDATED_LIST'"),
])
def test_malformed_files_raise_one_line_errors(data, message):
    with pytest.raises(WatchlistFormatError, match=message) as info:
        parse_un_xml(data, "un.xml")
    assert "\n" not in str(info.value)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(SAMPLE.read_bytes())))
def test_any_truncation_is_either_parsed_or_a_format_error(cut):
    try:
        parse_un_xml(SAMPLE.read_bytes()[:cut])
    except WatchlistFormatError as exc:
        assert "\n" not in str(exc)
