"""MRZ check digits, parsing, OCR-confusion correction, finding and building (ICAO 9303)."""

from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kyc_assets.onboarding.mrz import (
    FILLER_LOOKALIKES,
    MRZError,
    build_mrv,
    build_td1,
    build_td2,
    build_td3,
    check_digit,
    clean_name_fillers,
    find_mrz_lines,
    parse_mrz,
)

TD3_SPECIMEN = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
TD1_SPECIMEN = ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]
SPECIMEN_DAY = date(2010, 1, 1)


def _with_digit(text: str) -> str:
    return text + check_digit(text)


# --------------------------------------------------------------------------- check digits


@pytest.mark.parametrize("field, expected", [
    ("L898902C3", "6"), ("740812", "2"), ("120415", "9"), ("ZE184226B<<<<<", "1"),
    ("L898902C3674081221204159ZE184226B<<<<<1", "0"),  # TD3 composite
    ("D23145890", "7"), ("D23145890734", "9"),  # TD1 document numbers (short and long)
    ("<<<<<<<<<<<<<<", "0"),
])
def test_check_digit_matches_icao_specimens(field, expected):
    assert check_digit(field) == expected


def test_check_digit_rejects_non_mrz_characters():
    with pytest.raises(ValueError):
        check_digit("AB-12")


# --------------------------------------------------------------------------- parsing


def test_parse_td3_specimen():
    result = parse_mrz(TD3_SPECIMEN, today=SPECIMEN_DAY)
    assert (result.format, result.document_type, result.document_code) == ("TD3", "passport", "P")
    assert (result.surname, result.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert result.document_number == "L898902C3"
    assert (result.issuing_country, result.nationality) == ("UTO", "UTO")
    assert result.date_of_birth == date(1974, 8, 12)
    assert result.expiry_date == date(2012, 4, 15)
    assert result.sex == "F"
    assert result.optional_data == "ZE184226B"
    assert result.valid and all(result.check_digits.values())
    assert set(result.check_digits) == {"document_number", "date_of_birth", "expiry_date", "optional_data",
                                        "composite"}
    assert result.corrections == [] and result.warnings == []
    assert result.raw_lines == TD3_SPECIMEN


def test_parse_td1_specimen():
    result = parse_mrz(TD1_SPECIMEN, today=SPECIMEN_DAY)
    assert (result.format, result.document_type, result.document_code) == ("TD1", "id_card", "I")
    assert result.document_number == "D23145890"
    assert (result.surname, result.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert result.date_of_birth == date(1974, 8, 12) and result.expiry_date == date(2012, 4, 15)
    assert result.valid


def test_td1_long_document_number_matches_icao_example():
    lines = build_td1("I", "UTO", "Eriksson", "Anna Maria", "D23145890734", "UTO", date(1974, 8, 12), "F",
                      date(2012, 4, 15))
    assert lines[0] == "I<UTOD23145890<7349<<<<<<<<<<<"
    result = parse_mrz(lines, today=SPECIMEN_DAY)
    assert result.document_number == "D23145890734"
    assert result.valid and result.check_digits["document_number"]


def test_parse_td2_and_visas():
    line2_td2 = "D231458907UTO7408122F1204159" + "<<<<<<<"
    composite = line2_td2[0:10] + line2_td2[13:20] + line2_td2[21:35]
    td2 = ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", line2_td2 + check_digit(composite)]
    result = parse_mrz(td2, today=SPECIMEN_DAY)
    assert (result.format, result.document_type, result.document_number) == ("TD2", "id_card", "D23145890")
    assert result.valid and "composite" in result.check_digits

    mrva = ["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L8988901C4XXX4009078F96121096ZE184226B<<<<<<"]
    result = parse_mrz(mrva, today=SPECIMEN_DAY)
    assert (result.format, result.document_type) == ("MRVA", "visa")
    assert result.nationality == "XXX" and result.valid and "composite" not in result.check_digits

    mrvb = ["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<"]
    result = parse_mrz(mrvb, today=SPECIMEN_DAY)
    assert (result.format, result.document_type, result.document_number) == ("MRVB", "visa", "L8988901C")
    assert result.valid


@pytest.mark.parametrize("lines", [
    [],
    ["P<UTOERIKSSON<<ANNA<MARIA"],
    TD3_SPECIMEN[:1],
    [TD3_SPECIMEN[0], TD3_SPECIMEN[1][:40]],
    ["hello world, this is not an mrz at all, no!!", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"],
    TD1_SPECIMEN[:2] + ["ERIKSSON<<ANNA"],
])
def test_not_an_mrz_raises(lines):
    with pytest.raises(MRZError):
        parse_mrz(lines)


def test_numeric_and_letter_fields_are_corrected_and_reported():
    noisy = ["P<UT0ERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UT074O8122FI2O4I59ZE184226B<<<<<1O"]
    result = parse_mrz(noisy, today=SPECIMEN_DAY)
    assert result.valid
    assert result.issuing_country == "UTO" and result.nationality == "UTO"
    assert result.date_of_birth == date(1974, 8, 12) and result.expiry_date == date(2012, 4, 15)
    assert "issuing_country[2]: 0->O" in result.corrections
    assert "date_of_birth[2]: O->0" in result.corrections
    assert "expiry_date[0]: I->1" in result.corrections
    assert "composite_check[0]: O->0" in result.corrections


def test_document_number_corrected_only_when_check_digit_agrees():
    fixed = parse_mrz([TD3_SPECIMEN[0], "L8989O2C36" + TD3_SPECIMEN[1][10:]], today=SPECIMEN_DAY)
    assert fixed.document_number == "L898902C3" and fixed.valid
    assert fixed.corrections == ["document_number[5]: O->0"]
    # 'C' has no look-alike and the O/0 swap does not satisfy a wrong check digit: nothing changes.
    broken = parse_mrz([TD3_SPECIMEN[0], "L8989O2C37" + TD3_SPECIMEN[1][10:]], today=SPECIMEN_DAY)
    assert broken.document_number == "L8989O2C3"
    assert not broken.valid and broken.check_digits["document_number"] is False
    assert "check digit mismatch: document_number" in broken.warnings


def test_wrong_check_digit_marks_result_invalid():
    line2 = TD3_SPECIMEN[1][:19] + "3" + TD3_SPECIMEN[1][20:]
    result = parse_mrz([TD3_SPECIMEN[0], line2], today=SPECIMEN_DAY)
    assert not result.valid
    assert result.check_digits["date_of_birth"] is False and result.check_digits["document_number"] is True


def test_century_from_context():
    today = date(2025, 6, 1)
    lines = build_td3("P", "UTO", "DOE", "JANE", "X1", "UTO", date(2015, 1, 1), "F", date(2030, 1, 1))
    result = parse_mrz(lines, today=today)
    assert result.date_of_birth == date(2015, 1, 1) and result.expiry_date == date(2030, 1, 1)
    old = build_td3("P", "UTO", "DOE", "JANE", "X1", "UTO", date(1930, 1, 1), "X", date(1999, 1, 1))
    result = parse_mrz(old, today=today)
    assert result.date_of_birth == date(1930, 1, 1) and result.expiry_date == date(1999, 1, 1)
    assert result.sex == "X" and result.expired(today) and not result.expired(date(1998, 1, 1))


def test_invalid_calendar_date_gives_none_and_warning():
    line2 = "L898902C36UTO" + _with_digit("741332") + "F" + TD3_SPECIMEN[1][21:]
    result = parse_mrz([TD3_SPECIMEN[0], line2], today=SPECIMEN_DAY)
    assert result.date_of_birth is None
    assert any("date_of_birth" in w for w in result.warnings)


# --------------------------------------------------------------------------- finding


def test_find_mrz_lines_in_noisy_ocr_text():
    text = (
        "PASSPORT  Issuing State UTO\nSurname\nERIKSSON\n"
        "P<UTO ERIKSSON«ANNA<MARIA<<<<KK<<<<<<<<<<<\n"  # spaces, guillemet, K noise, 2 short
        "L898902C36UT07408122F1204159ZE184226B<<<10\n"  # '<' dropped inside the filler run
    )
    lines = find_mrz_lines(text)
    assert lines is not None and [len(x) for x in lines] == [44, 44]
    result = parse_mrz(lines, today=SPECIMEN_DAY)
    assert result.valid and result.surname == "ERIKSSON" and result.given_names == "ANNA MARIA"


def test_find_td1_lines_between_other_text():
    text = "IDENTITY CARD\n" + "\n".join(TD1_SPECIMEN) + "\nsomething else 123"
    assert find_mrz_lines(text) == TD1_SPECIMEN


@pytest.mark.parametrize("text", ["", "Northwind Energy\nBill date: 1 March 2025\n12 Harbour Street",
                                  "short<<\nlines<<"])
def test_find_mrz_lines_none_without_mrz(text):
    assert find_mrz_lines(text) is None


# --------------------------------------------------------------------------- building / properties

_word = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=6)
_surname = st.lists(_word, min_size=1, max_size=2).map(" ".join)
_given = st.lists(_word, min_size=0, max_size=2).map(" ".join)
_country = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3)
_alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_dob = st.dates(min_value=date(1926, 1, 1), max_value=date(2024, 12, 31))
_expiry = st.dates(min_value=date(2025, 7, 1), max_value=date(2040, 12, 31))
_TODAY = date(2025, 6, 1)


@settings(max_examples=150, deadline=None)
@given(surname=_surname, given_names=_given, number=st.text(alphabet=_alnum, min_size=1, max_size=9),
       nationality=_country, issuer=_country, dob=_dob, sex=st.sampled_from("MFX"), expiry=_expiry,
       optional=st.text(alphabet=_alnum, max_size=14))
def test_td3_build_parse_round_trip(surname, given_names, number, nationality, issuer, dob, sex, expiry,
                                    optional):
    lines = build_td3("P", issuer, surname, given_names, number, nationality, dob, sex, expiry, optional)
    assert [len(x) for x in lines] == [44, 44]
    result = parse_mrz(lines, today=_TODAY)
    assert result.valid and result.corrections == []
    assert (result.surname, result.given_names) == (surname, given_names)
    assert (result.document_number, result.nationality, result.issuing_country) == (number, nationality, issuer)
    assert (result.date_of_birth, result.expiry_date, result.sex) == (dob, expiry, sex)
    assert result.optional_data == optional


@settings(max_examples=150, deadline=None)
@given(surname=_surname, given_names=_given, number=st.text(alphabet=_alnum, min_size=1, max_size=14),
       nationality=_country, dob=_dob, sex=st.sampled_from("MF"), expiry=_expiry)
def test_td1_build_parse_round_trip_including_long_numbers(surname, given_names, number, nationality, dob,
                                                           sex, expiry):
    lines = build_td1("ID", "UTO", surname, given_names, number, nationality, dob, sex, expiry)
    assert [len(x) for x in lines] == [30, 30, 30]
    result = parse_mrz(lines, today=_TODAY)
    assert result.valid and result.document_code == "ID"
    assert (result.surname, result.given_names) == (surname, given_names)
    assert result.document_number == number
    assert (result.date_of_birth, result.expiry_date, result.sex) == (dob, expiry, sex)


_LOOKALIKE = {"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"}
# TD3 line 2 numeric positions: check digits and dates.
_NUMERIC_POSITIONS = [9, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 25, 26, 27, 43]


@settings(max_examples=150, deadline=None)
@given(surname=_surname, given_names=_given, number=st.text(alphabet=_alnum, min_size=9, max_size=9),
       dob=_dob, expiry=_expiry, data=st.data())
def test_single_ocr_confusion_in_numeric_field_is_corrected(surname, given_names, number, dob, expiry, data):
    lines = build_td3("P", "UTO", surname, given_names, number, "UTO", dob, "F", expiry)
    candidates = [p for p in _NUMERIC_POSITIONS if lines[1][p] in _LOOKALIKE]
    assume(candidates)
    pos = data.draw(st.sampled_from(candidates))
    noisy = [lines[0], lines[1][:pos] + _LOOKALIKE[lines[1][pos]] + lines[1][pos + 1:]]
    result = parse_mrz(noisy, today=_TODAY)
    assert result.valid
    assert result.raw_lines == lines
    assert len(result.corrections) == 1 and result.corrections[0].endswith(f"{_LOOKALIKE[lines[1][pos]]}->"
                                                                           f"{lines[1][pos]}")
    assert (result.date_of_birth, result.expiry_date, result.document_number) == (dob, expiry, number)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([(2, 44), (2, 36), (3, 30)]).flatmap(
    lambda shape: st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<", min_size=shape[1],
                                   max_size=shape[1]), min_size=shape[0], max_size=shape[0])))
def test_parse_never_crashes_on_random_mrz_shaped_input(lines):
    result = parse_mrz(lines, today=_TODAY)
    assert result.format in ("TD1", "TD2", "TD3", "MRVA", "MRVB")
    assert result.valid == all(result.check_digits.values())


def test_builder_transliterates_and_truncates_names():
    lines = build_td3("P", "D", "Müller-Lüdenscheidt", "Hans-Jürgen O'Neil", "C01X00T47", "D",
                      date(1964, 8, 12), "M", date(2027, 10, 31))
    assert lines[0].startswith("P<D<<MUELLER<LUEDENSCHEIDT<<HANS<JUERGEN<O")
    assert len(lines[0]) == 44
    result = parse_mrz(lines, today=_TODAY)
    assert result.surname == "MUELLER LUEDENSCHEIDT" and result.issuing_country == "D"
    assert result.given_names.startswith("HANS JUERGEN O")
    long_td1 = build_td1("I", "UTO", "Wolfeschlegelsteinhausen", "Hubert Blaine", "A1", "UTO",
                         date(1990, 1, 1), "M", date(2030, 1, 1))
    assert long_td1[2] == "WOLFESCHLEGELSTEINHAUSEN<<HUBE"


# --------------------------------------------------------------------------- TD2 and visas, visual-zone hints


@settings(max_examples=100, deadline=None)
@given(surname=_surname, given_names=_given, number=st.text(alphabet=_alnum, min_size=1, max_size=9),
       nationality=_country, dob=_dob, sex=st.sampled_from("MFX"), expiry=_expiry,
       optional=st.text(alphabet=_alnum, max_size=7))
def test_td2_build_parse_round_trip(surname, given_names, number, nationality, dob, sex, expiry, optional):
    lines = build_td2("I", "UTO", surname, given_names, number, nationality, dob, sex, expiry, optional)
    assert [len(x) for x in lines] == [36, 36]
    result = parse_mrz(lines, today=_TODAY)
    assert result.format == "TD2" and result.valid and result.corrections == []
    assert (result.surname, result.given_names, result.document_number) == (surname, given_names, number)
    assert (result.date_of_birth, result.expiry_date, result.sex) == (dob, expiry, sex)
    assert result.optional_data == optional


@settings(max_examples=100, deadline=None)
@given(visa=st.sampled_from("AB"), surname=_surname, given_names=_given,
       number=st.text(alphabet=_alnum, min_size=1, max_size=9), nationality=_country, dob=_dob,
       sex=st.sampled_from("MF"), expiry=_expiry)
def test_visa_build_parse_round_trip(visa, surname, given_names, number, nationality, dob, sex, expiry):
    lines = build_mrv(visa, "UTO", surname, given_names, number, nationality, dob, sex, expiry)
    assert [len(x) for x in lines] == ([44, 44] if visa == "A" else [36, 36])
    result = parse_mrz(lines, today=_TODAY)
    assert (result.format, result.document_type) == (f"MRV{visa}", "visa") and result.valid
    assert (result.surname, result.given_names, result.document_number) == (surname, given_names, number)
    assert (result.nationality, result.date_of_birth, result.expiry_date) == (nationality, dob, expiry)


def test_builders_reproduce_the_icao_td2_and_visa_specimens():
    assert build_td2("I", "UTO", "Eriksson", "Anna Maria", "D23145890", "UTO", date(1974, 8, 12), "F",
                     date(2012, 4, 15)) == ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"]
    assert build_mrv("B", "UTO", "Eriksson", "Anna Maria", "L8988901C", "XXX", date(1940, 9, 7), "F",
                     date(1996, 12, 10)) == ["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
                                             "L8988901C4XXX4009078F9612109<<<<<<<<"]
    assert build_mrv("A", "UTO", "Eriksson", "Anna Maria", "L8988901C", "XXX", date(1940, 9, 7), "F",
                     date(1996, 12, 10), optional_data="6ZE184226B")[1] == "L8988901C4XXX4009078F96121096ZE184226B<<<<<<"
    with pytest.raises(ValueError, match="visa_format"):
        build_mrv("C", "UTO", "A", "B", "1", "UTO", date(1990, 1, 1), "F", date(2030, 1, 1))


def test_ambiguous_look_alike_correction_is_settled_by_the_visual_zone():
    # 'PEB4J7184': both 1->I and 8->B make check digit 4 fit; the composite cannot tell them apart.
    lines = ["I<DEULINDQVIST<<PIETER<<<<<<<<<<<<<<", "PEB4J71844DEU7009035F2907310<<<<<<<2"]
    alone = parse_mrz(lines, today=_TODAY)
    assert not alone.valid and alone.document_number == "PEB4J7184"
    assert any("several look-alike corrections" in w for w in alone.warnings)
    hinted = parse_mrz(lines, today=_TODAY, viz_text="Document No.\nPEB4J7I84\nSex F")
    assert hinted.valid and hinted.document_number == "PEB4J7I84"
    assert hinted.corrections == ["document_number[6]: 1->I"]
    unrelated = parse_mrz(lines, today=_TODAY, viz_text="nothing useful here")
    assert not unrelated.valid, "without the printed number nothing is guessed"


def test_doubled_ocr_glyph_in_the_name_is_removed_only_when_the_visual_zone_agrees():
    lines = ["P<GRCKOWALSKI<<0OLGA<<<<<<<<<<<<<<<<<<<<<<<<", "G45NJ0PG<0GRC5201042F3406186<<<<<<<<<<<<<<<8"]
    assert parse_mrz(lines, today=_TODAY).given_names == "OOLGA", "no evidence: only the letter correction"
    fixed = parse_mrz(lines, today=_TODAY, viz_text="Surname\nKOWALSKI\nGiven names\nOLGA")
    assert (fixed.surname, fixed.given_names) == ("KOWALSKI", "OLGA") and fixed.valid
    booth = build_td3("P", "GBR", "Booth", "Ann", "X1", "GBR", date(1980, 1, 1), "F", date(2030, 1, 1))
    misread = [booth[0].replace("BOOTH", "BO0TH"), booth[1]]
    assert parse_mrz(misread, today=_TODAY, viz_text="Surname BOOTH").surname == "BOOTH", "a real double O stays"


def test_find_prefers_the_layout_needing_least_repair():
    td2 = ["I<DEULINDQVIST<<PIETER<<<<<<<<<<<<<<", "PEB4J7I844DEU7009035F2907310<<<<<<<2"]
    assert find_mrz_lines("\n".join(td2)) == td2


def test_find_removes_a_glyph_doubled_by_ocr_in_an_overlong_name_line():
    text = "P<GBROKONKW0<<O0MAR<<<<<<<<<<<<<<<<<<<<<<<<<<\nPCA52BIFS2GBR6008156M3505296<<<<<<<<<<<<<<<2"
    lines = find_mrz_lines(text)
    assert lines[0] == "P<GBROKONKW0<<OMAR<<<<<<<<<<<<<<<<<<<<<<<<<<"
    assert parse_mrz(lines, today=_TODAY).given_names == "OMAR"


def test_a_name_word_one_ocr_slip_from_the_printed_name_is_repaired():
    lines = ["I<GBR4M31EK8K<2<<<<<<<<<<<<<<<", "4703284M3404137GBR<<<<<<<<<<<2", "NGUYEN<<SIOQBHAN<<<<<<<<<<<<<<"]
    viz = "Surname\nNGUYEN\nGiven names\nSIOBHAN\nDate of birth"
    result = parse_mrz(lines, today=_TODAY, viz_text=viz)
    assert (result.surname, result.given_names) == ("NGUYEN", "SIOBHAN")
    assert "name: SIOQBHAN -> SIOBHAN (visual zone)" in result.corrections
    assert parse_mrz(lines, today=_TODAY).given_names == "SIOQBHAN", "no visual zone, no repair"
    # ICAO transliteration is not an OCR slip: MUELLER stays although OCR read MULLER (umlaut lost).
    mueller = build_td3("P", "D", "Müller", "Hans", "C01X00T47", "D", date(1964, 8, 12), "M", date(2027, 10, 31))
    assert parse_mrz(mueller, today=_TODAY, viz_text="Surname MULLER Given names HANS").surname == "MUELLER"
    # Label words are never taken for a name.
    data = build_td3("P", "UTO", "Data", "Ann", "X1", "UTO", date(1980, 1, 1), "F", date(2030, 1, 1))
    assert parse_mrz(data, today=_TODAY, viz_text="Date of birth 01 JAN 1980").surname == "DATA"


def test_check_failing_document_number_is_taken_from_the_visual_zone_only_if_the_check_digit_agrees():
    lines = ["P<FRANAKAMURA<<OMAR<<<<<<<<<<<<<<<<<<<<<<<<<", "JIR6CNVYM9FRA8704083M3104150<<<<<<<<<<<<<<<6"]
    rescued = parse_mrz(lines, today=_TODAY, viz_text="Passport No.\nJJR6CNVYM\nSex M")
    assert rescued.valid and rescued.document_number == "JJR6CNVYM"
    assert rescued.corrections == ["document_number[1]: I->J"]
    # A printed number the check digit does not accept changes nothing.
    wrong = parse_mrz(lines, today=_TODAY, viz_text="Passport No.\nJKR6CNVYM")
    assert not wrong.valid and wrong.document_number == "JIR6CNVYM"


def test_single_ambiguous_slip_is_settled_by_its_neighbours_with_a_warning():
    # 'L89B902C3': B->8 (between two digits) and other single swaps both fit check digit 6.
    result = parse_mrz([TD3_SPECIMEN[0], "L89B902C36" + TD3_SPECIMEN[1][10:]], today=SPECIMEN_DAY)
    assert result.document_number == "L898902C3" and result.valid
    assert any("matching its neighbours" in w for w in result.warnings)


def test_visual_zone_rescue_allows_a_look_alike_slip_shared_by_both_zones():
    lines = build_mrv("A", "UTO", "Oliveira", "Sean", "5OGYCJRE5", "UTO", date(1978, 12, 14), "M", date(2027, 11, 14))
    misread = [lines[0], lines[1].replace("5OGYCJRE5", "50GYCIRE5", 1)]  # O->0 and J->I
    result = parse_mrz(misread, today=_TODAY, viz_text="Passport number\n50GYCJRE5\nValid until")
    assert result.document_number == "5OGYCJRE5" and result.valid


# --------------------------------------------------------------------------- filler '<' read as letters (OCR)

# A name word with at least one letter OCR never reads for '<' (real names; "KKK" is not one).
_name_word = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=7).filter(
    lambda w: bool(set(w) - FILLER_LOOKALIKES))


@settings(max_examples=200, deadline=None)
@given(surname=st.lists(_name_word, min_size=1, max_size=2).map(" ".join),
       given_names=st.lists(_name_word, min_size=0, max_size=3).map(" ".join),
       fmt=st.sampled_from(["TD1", "TD2", "TD3"]), data=st.data())
def test_filler_read_as_letters_after_the_names_never_stays_in_a_name(surname, given_names, fmt, data):
    build = {"TD1": build_td1, "TD2": build_td2, "TD3": build_td3}[fmt]
    lines = build("I" if fmt != "TD3" else "P", "UTO", surname, given_names, "L898902C3", "UTO",
                  date(1974, 8, 12), "F", date(2030, 4, 15))
    clean = parse_mrz(lines, today=_TODAY)
    row, start = (2, 0) if fmt == "TD1" else (0, 5)
    field = lines[row][start:]
    end = len(field.rstrip("<"))
    # The separator (or word boundary) stays; the run after it is misread.  Without given names, a single
    # letter right after SURNAME<< is a one-letter given name as far as anyone can tell, so that cell stays.
    spots = list(range(end + (2 if given_names else 3), len(field)))
    assume(spots)
    chosen = data.draw(st.lists(st.sampled_from(spots), min_size=1, unique=True))
    letter = data.draw(st.sampled_from(sorted(FILLER_LOOKALIKES)))
    noisy_field = "".join(letter if i in chosen else ch for i, ch in enumerate(field))
    noisy = list(lines)
    noisy[row] = lines[row][:start] + noisy_field
    result = parse_mrz(noisy, today=_TODAY, ocr=True)
    assert (result.surname, result.given_names) == (clean.surname, clean.given_names)
    assert result.valid


@settings(max_examples=150, deadline=None)
@given(surname=st.lists(_name_word, min_size=1, max_size=2).map(" ".join),
       given_names=st.lists(_name_word, min_size=0, max_size=2).map(" ".join))
def test_ocr_aware_parsing_keeps_real_names_exactly(surname, given_names):
    lines = build_td3("P", "UTO", surname, given_names, "L898902C3", "UTO", date(1974, 8, 12), "F",
                      date(2030, 4, 15))
    result = parse_mrz(lines, today=_TODAY, ocr=True)
    assert (result.surname, result.given_names) == (surname, given_names) and result.corrections == []


@pytest.mark.parametrize("field, viz, expected", [
    ("ERIKSSON<<JOHN<PAUL<KKKKKKKK<<<", "", "ERIKSSON<<JOHN<PAUL<<<<<<<<<<<<"),
    ("SMITH<<SEAN<<<K<<<<KK<<K<SEKSS", "", "SMITH<<SEAN<<<<<<<<<<<<<<<<<<<"),
    ("ERIKSSON<<ANNAKMARIA<<<<<<<<<<", "Given names ANNA MARIA", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"),
    ("HAKKINEN<KALEXANDER<<<<<<", "HAKKINEN ALEXANDER", "HAKKINEN<<ALEXANDER<<<<<<"),
    ("SMITH<<SEANK<<<<<<<", "Sean SMITH", "SMITH<<SEAN<<<<<<<<"),
    # without the visual zone a join cannot be told from a real name: nothing is guessed
    ("ERIKSSON<<ANNAKMARIA<<<<<<<<<<", "", "ERIKSSON<<ANNAKMARIA<<<<<<<<<<"),
    # a single-letter first given name and a middle initial are names, not fillers
    ("LEE<<C<<<<<<<<", "", "LEE<<C<<<<<<<<"),
    ("MOORE<<JOHN<K<<<<<<<<", "", "MOORE<<JOHN<K<<<<<<<<"),
])
def test_clean_name_fillers(field, viz, expected):
    from kyc_assets.onboarding.mrz import _mrz_text

    words = set(_mrz_text(viz).split("<")) if viz else set()
    fixed, _ = clean_name_fillers(field, words)
    assert fixed == expected and len(fixed) == len(field)


def test_exact_parsing_takes_the_name_as_written():
    lines = build_td3("P", "UTO", "SMITH", "SEAN KKK", "L898902C3", "UTO", date(1974, 8, 12), "F",
                      date(2030, 4, 15))
    assert parse_mrz(lines, today=_TODAY).given_names == "SEAN KKK"
    assert parse_mrz(lines, today=_TODAY, ocr=True).given_names == "SEAN"


def test_a_filler_inside_the_document_number_fails_its_check_digit():
    # 'C' dropped by OCR and the cell filled with '<' ('<' counts as 0): must not pass by chance
    lines = build_td3("P", "UTO", "ERIKSSON", "ANNA", "L8989020", "UTO", date(1974, 8, 12), "F", date(2030, 4, 15))
    digit = check_digit("L898902<0")
    noisy = [lines[0], "L898902<0" + digit + lines[1][10:]]
    result = parse_mrz(noisy, today=_TODAY)
    assert not result.check_digits["document_number"]


def test_unknown_state_codes_are_corrected_or_reported():
    """No check digit covers the issuing state or the nationality: a filler read as a letter (DKK for D<<) is
    undone, a code one letter from the other field's known code takes it, and an unknown one is reported."""
    from kyc_assets.onboarding.mrz import state_codes

    assert {"D", "UTO", "XXA", "GBR", "DEU", "FRA"} <= state_codes()
    lines = build_td3("P", "D", "MUSTERMANN", "ERIKA", "C01X00T47", "D", date(1964, 8, 12), "F", date(2027, 2, 28))
    misread = [lines[0].replace("P<D<<", "P<DKK"), lines[1].replace("D<<6408", "DKK6408")]
    result = parse_mrz(misread, ocr=True)
    assert (result.issuing_country, result.nationality) == ("D", "D")
    assert any("unknown code corrected" in c for c in result.corrections)
    assert parse_mrz(misread).nationality == "DKK"  # not OCR: taken as written
    lines = build_td3("P", "UTO", "ERIKSSON", "ANNA", "L898902C3", "UTO", date(1974, 8, 12), "F", date(2030, 4, 15))
    result = parse_mrz([lines[0], lines[1].replace("UTO7408", "UTQ7408")], ocr=True)
    assert result.nationality == "UTO"
    result = parse_mrz([lines[0].replace("P<UTO", "P<QQJ"), lines[1].replace("UTO7408", "QQJ7408")], ocr=True)
    assert "nationality: not a known state code" in result.warnings
