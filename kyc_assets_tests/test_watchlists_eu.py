"""EU Financial Sanctions Files (FSF) XML loader."""

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.eu_fsf import parse_eu_fsf
from kyc_assets.watchlists.sources import load_watchlist

SAMPLE = Path(__file__).parent / "fixtures" / "watchlists" / "eu_fsf_sample.xml"

ENTERPRISE = """<export xmlns="http://eu.europa.ec/fpi/fsd/export" generationDate="2025-02-01T10:00:00">
 <sanctionEntity euReferenceNumber="EU.1.1" logicalId="77" designationDate="2022-02-25">
  <regulation programme="RUS"/>
  <subjectType code="enterprise" classificationCode="E"/>
  <nameAlias wholeName="Example Shipping JSC" strong="true"/>
  <nameAlias wholeName="АО Пример Шиппинг" nameLanguage="RU" strong="true"/>
  <nameAlias wholeName="ESJ" strong="false"/>
  <address city="Moscow" street="1 Example St" countryIso2Code="RU" countryDescription="RUSSIA"/>
 </sanctionEntity>
</export>""".encode()


def by_id(entries):
    return {e.entity_id: e for e in entries}


def test_sample_people_dates_documents_and_the_repeated_record():
    parsed = parse_eu_fsf(SAMPLE.read_bytes())
    assert parsed.list_source == "eu_fsf" and parsed.published == "2020-04-15"
    entries = by_id(parsed.entries)
    assert len(entries) == 6  # 7 sanctionEntity records, one published twice: merged
    hammadou = entries["eu_fsf:EU.2026.82"]
    assert hammadou.primary_name == "Abid Hammadou" and ("Abdelhamid Abou Zeid", "strong_aka") in hammadou.aliases
    assert hammadou.dates_of_birth == ["1965-12-12", "1958"] and hammadou.nationalities == ["DZ"]
    assert hammadou.places_of_birth[0] == "Touggourt, Wilaya (province) of Ouargla, ALGERIA"
    assert hammadou.programs == ["TAQA"] and hammadou.listed_on == "2008-07-03"
    assert ("TestOneWord", "strong_aka") in entries["eu_fsf:EU.4009.74"].aliases  # from the repeated record
    aouadi = entries["eu_fsf:EU.3343.85"]
    assert ("National passport", "L191609 (TUNISIA)") in aouadi.identifiers
    assert aouadi.addresses == ["23 50th Street, Zehrouni, Tunis, TUNISIA"]


def test_enterprise_weak_alias_and_original_script():
    entry = parse_eu_fsf(ENTERPRISE).entries[0]
    assert entry.entity_type == "organization" and entry.primary_name == "Example Shipping JSC"
    assert entry.aliases == [("ESJ", "weak_aka")] and entry.original_script_names == ["АО Пример Шиппинг"]
    assert entry.addresses == ["1 Example St, Moscow, RUSSIA"] and entry.programs == ["RUS"]


def test_detected_from_content(tmp_path):
    shutil.copy(SAMPLE, tmp_path / "sanctions.csv")  # a misleading name
    assert load_watchlist(tmp_path / "sanctions.csv").format == "eu_fsf_xml"


@pytest.mark.parametrize("data, message", [
    (SAMPLE.read_bytes()[:3000], "malformed XML"),
    (b'<export><sanctionEntity logicalId="1"><subjectType code="planet"/></sanctionEntity></export>',
     "unknown subjectType"),
    (b'<export><sanctionEntity><subjectType code="person"/></sanctionEntity></export>', "no euReferenceNumber"),
    (b'<export><sanctionEntity logicalId="1"><subjectType code="person"/></sanctionEntity></export>', "no name"),
])
def test_malformed_files_raise_one_line_errors(data, message):
    with pytest.raises(WatchlistFormatError, match=message) as info:
        parse_eu_fsf(data, "eu.xml")
    assert "\n" not in str(info.value)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(SAMPLE.read_bytes())))
def test_any_truncation_is_either_parsed_or_a_format_error(cut):
    try:
        parse_eu_fsf(SAMPLE.read_bytes()[:cut])
    except WatchlistFormatError as exc:
        assert "\n" not in str(exc)
