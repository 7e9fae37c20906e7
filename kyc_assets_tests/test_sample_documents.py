"""Synthetic document rendering: bundled fonts, determinism, sizes and distortions."""

from datetime import date

import numpy as np
import pytest
from PIL import Image, ImageChops

from kyc_assets.sample_data import documents
from kyc_assets.sample_data.documents import render_id_card, render_passport, render_utility_bill

PERSON = {
    "surname": "O'Brien-Núñez", "given_names": "Siobhán", "date_of_birth": date(1988, 1, 31), "sex": "F",
    "nationality": "IRL", "issuing_country": "IRL", "document_number": "PA1234567",
    "expiry_date": date(2029, 6, 30), "address": "7 Quay Street\nGalway H91 X2Y3\nIreland",
}


def _same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


def test_fonts_and_licence_are_bundled():
    for path in (documents.MONO_FONT, documents.SANS_FONT, documents.FONT_DIR / "LICENSE-DejaVu.txt"):
        assert path.is_file() and path.stat().st_size > 0
    assert "Bitstream" in (documents.FONT_DIR / "LICENSE-DejaVu.txt").read_text()
    assert documents.FONT_DIR.parent == documents.FONT_DIR.parent.parent / "sample_data"


@pytest.mark.parametrize("render", [render_passport, render_id_card])
def test_rendering_is_deterministic_and_reasonably_sized(render):
    for distortion in (None, "noise", "blur", "rotate"):
        first = render(PERSON, distortion=distortion, seed=4)
        assert _same(first, render(PERSON, distortion=distortion, seed=4))
        assert 1000 <= first.width <= 1400 and first.mode == "RGB"
    assert not _same(render(PERSON, distortion="noise", seed=4), render(PERSON, distortion="noise", seed=5))


@pytest.mark.parametrize("render", [render_passport, render_id_card])
def test_distortions_change_the_image_as_described(render):
    clean = render(PERSON, seed=2)
    assert _same(render(PERSON, distortion="upside_down", seed=2), clean.rotate(180))
    rotated = render(PERSON, distortion="rotate", seed=2)
    assert rotated.size != clean.size  # skewed with canvas expansion
    blurred = np.asarray(render(PERSON, distortion="blur", seed=2).convert("L"), dtype=float)
    sharp = np.asarray(clean.convert("L"), dtype=float)
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(sharp, axis=1)).mean()
    noisy = np.asarray(render(PERSON, distortion="noise", seed=2).convert("L"), dtype=float)
    assert np.abs(noisy - sharp).mean() > 10


def test_unknown_distortion_is_rejected():
    with pytest.raises(ValueError, match="unknown distortion"):
        render_passport(PERSON, distortion="fold")


def test_mrz_is_printed_at_the_bottom():
    image = np.asarray(render_passport(PERSON).convert("L"))
    dark_rows = np.flatnonzero((image < 100).sum(axis=1) > 20)
    assert dark_rows.max() > image.shape[0] * 0.85


def test_utility_bill_is_deterministic_and_seeded():
    bill = render_utility_bill(PERSON, issuer="Corrib Power", issue_date=date(2025, 1, 9), seed=1)
    assert _same(bill, render_utility_bill(PERSON, issuer="Corrib Power", issue_date=date(2025, 1, 9), seed=1))
    assert not _same(bill, render_utility_bill(PERSON, issuer="Corrib Power", issue_date=date(2025, 1, 9), seed=2))
    assert bill.size == (1000, 1300)


@pytest.mark.parametrize("mrz_format", documents.MRZ_FORMATS)
def test_every_mrz_format_renders_its_mrz_and_is_deterministic(mrz_format):
    from kyc_assets.sample_data.documents import render_identity_document

    image = render_identity_document(PERSON, mrz_format, seed=3)
    assert _same(image, render_identity_document(PERSON, mrz_format, seed=3))
    assert 1000 <= image.width <= 1300 and image.mode == "RGB"
    gray = np.asarray(image.convert("L"))
    dark_rows = np.flatnonzero((gray < 100).sum(axis=1) > 20)
    assert dark_rows.max() > gray.shape[0] * 0.85, "MRZ at the bottom"
    with pytest.raises(ValueError, match="unknown MRZ format"):
        render_identity_document(PERSON, "TD4")


def test_new_capture_distortions():
    clean = render_passport(PERSON, seed=2)
    assert _same(render_passport(PERSON, distortion="rotate90", seed=2), clean.rotate(90, expand=True))
    assert _same(render_passport(PERSON, distortion="rotate270", seed=2), clean.rotate(270, expand=True))
    assert render_passport(PERSON, distortion="low_res", seed=2).width == 600
    assert render_passport(PERSON, distortion="photo", seed=2).width == 900
    skew = render_passport(PERSON, distortion="skew", seed=2)
    assert clean.width < skew.width < clean.width * 1.03, "a small skew (0.5-1.5 degrees)"
    jpeg = np.asarray(render_passport(PERSON, distortion="jpeg", seed=2).convert("L"), dtype=float)
    assert 1 < np.abs(jpeg - np.asarray(clean.convert("L"), dtype=float)).mean() < 20
    perspective = render_passport(PERSON, distortion="perspective", seed=2)
    corner = np.asarray(perspective.convert("L"))[:10, :10]
    assert corner.mean() < 120, "the document lies on a darker table"
    for distortion in documents.DISTORTIONS:
        a = render_passport(PERSON, distortion=distortion, seed=6)
        assert _same(a, render_passport(PERSON, distortion=distortion, seed=6)), distortion
