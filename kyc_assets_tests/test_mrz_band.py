"""MRZ band: learned line detector (PP-OCR via rapidocr-onnxruntime), engines, vote settled by check digits."""

from __future__ import annotations

import io
import math
import random
import socket
from datetime import date
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from kyc_assets.onboarding.mrz import build_td1, build_td3, parse_mrz
from kyc_assets.onboarding.mrz_band import LineRead, locate_band, mrz_tessdata_dir, rapid_engine, read_band
from kyc_assets.onboarding.mrz_vote import DISAGREE, confirmed, vote_mrz

OCRB = Path(__file__).parent / "fixtures" / "ocr-b" / "OCRB.otf"
TODAY = date(2025, 6, 1)
TD3 = build_td3("P", "UTO", "ERIKSSON", "ANNA MARIA", "L898902C3", "UTO", date(1974, 8, 12), "F",
                date(2030, 4, 15))
TD1 = build_td1("I", "UTO", "OKONKWO", "CHINEDU", "D23145890", "UTO", date(1980, 3, 1), "M", date(2031, 1, 9))


def _guilloche_document(lines: list[str], seed: int = 0, turn: int = 0) -> Image.Image:
    """An OCR-B MRZ printed over a dense guilloche (crossing sine curves), a portrait block and a visual zone."""
    rng = random.Random(seed)
    width = 1200 if len(lines[0]) == 44 else 860
    height = int(width * 0.7)
    image = Image.new("RGB", (width, height), (236, 232, 244))
    draw = ImageDraw.Draw(image)
    for _ in range(70):
        colour = tuple(rng.randint(110, 200) for _ in range(3))
        a, b, phase = rng.uniform(1, 7), rng.uniform(1, 7), rng.uniform(0, 6.3)
        y0, amp = rng.uniform(0, height), rng.uniform(0.05, 0.45) * height
        draw.line([(x, y0 + amp * math.sin(a * x / width * 6.28 + phase) * math.cos(b * x / width * 6.28))
                   for x in range(0, width, 3)], fill=colour, width=1)
    draw.rectangle((30, 60, 30 + width // 4, 60 + int(width / 4 * 1.3)), fill=(140, 120, 110))
    sans = ImageFont.truetype(str(OCRB), 22)
    draw.text((width // 4 + 70, 70), "Surname / Nom", font=sans, fill=(70, 70, 110))
    draw.text((width // 4 + 70, 96), "ERIKSSON" if "ERIKSSON" in lines[0] else "OKONKWO", font=sans, fill=(20, 20, 20))
    size = 40
    probe = ImageFont.truetype(str(OCRB), size)
    size = int(size * width * 0.9 / draw.textlength(lines[0], font=probe))
    font = ImageFont.truetype(str(OCRB), size)
    top = height - len(lines) * size * 1.3 - 20
    for i, line in enumerate(lines):
        draw.text((width * 0.05, top + i * size * 1.3), line, font=font, fill=(15, 15, 20))
    if turn:
        image = image.rotate(turn, expand=True, fillcolor=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# --------------------------------------------------------------------------- the learned detector path


@pytest.mark.parametrize("lines, turn", [(TD3, 0), (TD1, 0), (TD3, 180), (TD1, 90)])
def test_rapid_path_reads_ocrb_mrz_on_guilloche(lines, turn, no_network):
    band = locate_band(_guilloche_document(lines, seed=3, turn=turn))
    assert band is not None, "the MRZ band was not located"
    assert band.rotation == turn  # PIL turns counter-clockwise; the band undoes it clockwise
    assert len(band.quads) == len(lines)
    result = parse_mrz(band.readings["rapid"], today=TODAY, ocr=True)
    expected = parse_mrz(lines, today=TODAY)
    assert result.format == expected.format
    assert (result.date_of_birth, result.expiry_date, result.nationality, result.surname) == (
        expected.date_of_birth, expected.expiry_date, expected.nationality, expected.surname)
    # with the second engine and the vote, every field is right
    voted = parse_mrz(vote_mrz(read_band(band).readings).lines, today=TODAY, ocr=True)
    assert voted.valid and voted.document_number == expected.document_number


def test_tesseract_reads_the_located_band_lines_too():
    band = read_band(locate_band(_guilloche_document(TD3, seed=5)))
    engine = "tesseract_mrz" if mrz_tessdata_dir() is not None else "tesseract"
    assert set(band.readings) == {"rapid", engine}
    assert [len(line) for line in band.readings[engine]] == [44, 44]
    assert parse_mrz(band.readings[engine], today=TODAY, ocr=True).date_of_birth == date(1974, 8, 12)


def test_no_band_on_a_page_without_mrz():
    image = Image.new("L", (900, 600), 245)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(OCRB), 30)
    for i, text in enumerate(["Northwind Energy Ltd", "Electricity bill", "Amount due GBP 214.89"]):
        draw.text((60, 80 + 70 * i), text, font=font, fill=0)
    assert locate_band(image) is None


def test_engine_is_loaded_once_per_process_single_threaded():
    engine = rapid_engine()
    assert rapid_engine() is engine
    for session in (engine.det, engine.rec, engine.cls):
        assert session.get_session_options().intra_op_num_threads == 1


def test_fixed_pitch_cells_restore_fillers_the_recogniser_left_blank():
    # 10 cells of pitch 10 from x=0: characters seen at cells 0, 1 and 9 only.
    read = LineRead([(5.0, "P"), (15.0, "X"), (95.0, "7")], ink_start=1.0, ink_end=99.0, confidence=0.9)
    assert read.slots(10) == "PX<<<<<<<7"
    assert read.text == "PX7"


# --------------------------------------------------------------------------- the vote


def _swap(line: str, pos: int, ch: str) -> str:
    return line[:pos] + ch + line[pos + 1:]


def test_vote_takes_each_field_from_a_reading_whose_check_digit_passes():
    bad_number = [TD3[0], _swap(TD3[1], 2, "3")]  # document number check fails in this reading
    bad_dates = [TD3[0], _swap(TD3[1], 15, "9")]  # date of birth check fails in that one
    voted = vote_mrz({"rapid": bad_number, "tesseract": bad_dates})
    assert voted.lines == TD3 and voted.warnings == []
    assert parse_mrz(voted.lines, today=TODAY).valid


def test_vote_prefers_fillers_over_letters_read_for_them_in_the_name():
    k_name = [TD3[0].replace("MARIA<<<<", "MARIAKKKK").replace("<<ANNA", "<<ANNA")[:44], TD3[1]]
    voted = vote_mrz({"tesseract": k_name, "rapid": TD3})
    assert voted.lines[0] == TD3[0] and voted.warnings == []
    voted = vote_mrz({"rapid": k_name, "tesseract": TD3})  # whichever engine read the K
    assert voted.lines[0] == TD3[0]


def test_vote_settles_names_with_the_visual_zone_or_reports_the_disagreement():
    other = [TD3[0].replace("ANNA<MARIA", "ANNE<MARIE"), TD3[1]]
    unsettled = vote_mrz({"rapid": other, "tesseract": TD3})
    assert any(w.startswith(DISAGREE) and "name" in w for w in unsettled.warnings)
    settled = vote_mrz({"rapid": other, "tesseract": TD3}, viz_text="Given names\nANNA MARIA\nSurname\nERIKSSON")
    assert settled.lines[0] == TD3[0] and settled.warnings == []


def test_vote_reports_two_different_numbers_that_both_pass_their_check_digit():
    # Two readings whose document numbers both satisfy the check digit: only the visual zone can tell.
    lines_a = TD3
    lines_b = build_td3("P", "UTO", "ERIKSSON", "ANNA MARIA", "L898912C3", "UTO", date(1974, 8, 12), "F",
                        date(2030, 4, 15))
    assert parse_mrz(lines_b, today=TODAY).valid
    voted = vote_mrz({"rapid": lines_b, "tesseract": lines_a})
    assert any("document number" in w for w in voted.warnings)
    settled = vote_mrz({"rapid": lines_b, "tesseract": lines_a}, viz_text="Passport No.\nL898902C3")
    assert parse_mrz(settled.lines, today=TODAY).document_number == "L898902C3"
    assert not any("document number" in w for w in settled.warnings)


def test_a_single_reading_is_confirmed_only_by_check_digits_and_the_printed_names():
    viz = "Surname\nERIKSSON\nGiven names\nANNA MARIA"
    assert confirmed(TD3, viz) == TD3
    assert confirmed(TD3, "Surname\nERIKSSON") is None  # given names not printed: ask another engine
    assert confirmed([TD3[0], _swap(TD3[1], 15, "9")], viz) is None  # a failing check digit (date of birth)
    dropped = [TD3[0], _swap(TD3[1], 7, "<")]  # a character the recogniser dropped, filled with '<'
    assert confirmed(dropped, viz) is None
