"""Tests for screening name normalisation."""

import pytest

from kyc_assets.screening.normalize import name_tokens, normalize_name


@pytest.mark.parametrize(
    "raw, entity_type, expected",
    [
        ("Владимир Путин", None, "vladimir putin"),
        ("SMITH, John", None, "john smith"),
        ("Dr. John Smith", None, "john smith"),
        ("ACME Trading LLC", None, "acme trading"),
        ("José Ñúñez-García", None, "jose nunez garcia"),
        ("Zoë Ångström", "person", "zoe angstrom"),
        ("AL ZAWAHIRI, Dr. Ayman", "person", "ayman al zawahiri"),
        ("DELOS REYES, Feliciano Semborio, Jr.", "person", "feliciano semborio delos reyes"),
        ("O'BRIEN, Sean", "person", "sean obrien"),
        ("ANGLO-CARIBBEAN CO., LTD.", "organization", "anglo caribbean"),
        ("LE CLAUDE, S.A. DE C.V.", "organization", "le claude"),
        ("OOO Romashka", "organization", "romashka"),
        ("Müller GmbH & Co. KG", None, "muller"),
        ("M/V HERMANN", "vessel", "hermann"),
        ("MV Ocean Star", "vessel", "ocean star"),
        ("王伟", None, "wang wei"),
        ("ＡＢＣ　Ｃｏｒｐ", None, "abc"),  # full-width forms fold under NFKC
    ],
)
def test_normalize_name(raw, entity_type, expected):
    assert normalize_name(raw, entity_type) == expected


def test_titles_only_dropped_at_the_start_and_never_to_nothing():
    assert normalize_name("General Motors Company Inc", "organization") == "general motors company"
    assert normalize_name("Dr.") == "dr"
    assert normalize_name("Haji Bashir NOORZAI", "person") == "bashir noorzai"


def test_person_comma_not_reordered_for_organizations():
    assert normalize_name("SMITH, John", "organization") == "smith john"


def test_name_tokens():
    assert name_tokens("HUSSEIN, Saddam") == ["saddam", "hussein"]
    assert name_tokens("") == []


@pytest.mark.parametrize("raw", ["", "   ", "\x00", "😀🎉", "\x00Ivan\x00 Petrov", "Ivan 😀 Petrov", None,
                                 "Владимир Putin 王伟 محمد", "\u200b\u200e", "A" * 10_000])
def test_odd_names_never_raise(raw):
    out = normalize_name(raw)
    assert isinstance(out, str) and "\x00" not in out and len(out) <= 600


def test_emoji_and_nul_are_dropped_not_transliterated():
    assert normalize_name("Ivan 😀 Petrov") == "ivan petrov"
    assert normalize_name("Ivan\x00Petrov") == "ivan petrov"


def test_long_names_are_truncated_with_a_warning(caplog):
    with caplog.at_level("WARNING"):
        out = normalize_name("Petrov " * 2_000)
    assert out.startswith("petrov") and len(out) <= 600
    assert "truncated" in caplog.text and "Petrov" not in caplog.text  # no PII in the log


def test_schema_names_map_to_entity_types():
    assert normalize_name("Dr. John SMITH", "Person") == "john smith"
    assert normalize_name("ACME LLC", "Company") == "acme"
    assert normalize_name("MV Ocean Star", "Vessel") == "ocean star"


def test_misspelt_long_legal_forms_are_dropped_but_short_words_kept():
    assert normalize_name("KOREA PUGANG TRADING CORPORiTION", "organization") == "korea pugang trading"
    assert normalize_name("HAVIN BANK LIMTIED") == "havin bank"
    assert normalize_name("Acme Company", "organization") == "acme company"
    assert normalize_name("Limited", "organization") == "limited"
