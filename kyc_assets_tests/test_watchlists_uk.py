"""UK HMT ConList CSV loader: rows grouped by Group ID, partial dates, non-Latin names, bad files."""

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.sources import load_watchlist
from kyc_assets.watchlists.uk_hmt import parse_uk_hmt

SAMPLE = Path(__file__).parent / "fixtures" / "watchlists" / "uk_hmt_conlist_sample.csv"
HEADER = SAMPLE.read_bytes().split(b"\n")[1]


def by_id(entries):
    return {e.entity_id: e for e in entries}


def test_sample_groups_dates_and_scripts():
    parsed = parse_uk_hmt(SAMPLE.read_bytes())
    assert parsed.list_source == "gb_hmt" and parsed.published == "2020-04-27"
    entries = by_id(parsed.entries)
    assert len(entries) == 6  # 23 rows, 6 Group IDs
    hubarieva = entries["gb_hmt:13063"]
    assert hubarieva.primary_name == "Kateryna Yuriyivna HUBARIEVA"
    assert hubarieva.dates_of_birth == ["1983-07-05", "1983", "1984-04"]  # 10/00/1983: day 10 of an unknown month
    assert entries["gb_hmt:9053"].original_script_names == ["محسن حجتی"]
    plotnitskii = entries["gb_hmt:13017"]
    assert plotnitskii.original_script_names == ["Игорь Венедиктович ПЛОТНИЦКИЙ"]
    so = entries["gb_hmt:11039"]
    assert so.primary_name == "Sang-kuk SO" and ("Sang Kuk SO", "strong_aka") in so.aliases
    saeed = entries["gb_hmt:9215"]
    assert saeed.nationalities == ["PK"] and saeed.programs == ["ISIL (Da'esh) and Al-Qaida"]
    assert ("National Identification Number", "3520025509842-7 (Pakistani)") in saeed.identifiers
    assert saeed.listed_on == "2008-12-12"


def test_detected_from_content(tmp_path):
    shutil.copy(SAMPLE, tmp_path / "list.xml")
    assert load_watchlist(tmp_path / "list.xml").format == "uk_hmt_csv"


def test_wrong_columns_wrong_encoding_and_ragged_rows(tmp_path):
    with pytest.raises(WatchlistFormatError, match="missing Name 6"):
        parse_uk_hmt(b"Last Updated,01/01/2024\nName 1,Group Type,Group ID,Alias Type\nA,Individual,1,Prime Alias\n")
    with pytest.raises(WatchlistFormatError, match="not valid UTF-8"):
        parse_uk_hmt(SAMPLE.read_bytes().replace("محسن".encode(), b"\xe9\xe8"))
    with pytest.raises(WatchlistFormatError, match="line 3: expected 36 fields, got 3"):
        parse_uk_hmt(b"Last Updated,01/01/2024\n" + HEADER + b"\nA,B,C\n")
    with pytest.raises(WatchlistFormatError, match="not valid UTF-8"):  # a UTF-16 export
        parse_uk_hmt(SAMPLE.read_bytes().decode().encode("utf-16"))


def test_ship_group_type_is_a_vessel():
    row = ["EXAMPLE STAR"] + [""] * 27 + ["Ship", "Prime Alias", "", "Iran", "01/02/2020", "", "", "42"]
    data = b"Last Updated,01/01/2024\n" + HEADER + b"\n" + ",".join(row).encode() + b"\n"
    entry = parse_uk_hmt(data).entries[0]
    assert entry.entity_type == "vessel" and entry.primary_name == "EXAMPLE STAR" and entry.entity_id == "gb_hmt:42"


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(SAMPLE.read_bytes())))
def test_any_truncation_is_either_parsed_or_a_format_error(cut):
    try:
        parse_uk_hmt(SAMPLE.read_bytes()[:cut])
    except WatchlistFormatError as exc:
        assert "\n" not in str(exc)
