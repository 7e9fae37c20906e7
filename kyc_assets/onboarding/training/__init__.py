"""Our own Tesseract LSTM model for MRZ lines in OCR-B (``kyc_assets/data/tessdata/mrz.traineddata``).

Trained by :mod:`kyc_assets.onboarding.training.train_mrz_model` on lines we render ourselves; see
``kyc_assets/data/tessdata/MODEL_CARD.md``. Use :func:`read_mrz_line` on one cropped MRZ line.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

MODEL_LANG = "mrz"
MRZ_WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"


def tessdata_dir() -> Path:
    """The package folder holding ``mrz.traineddata`` (pass it as ``--tessdata-dir``)."""
    return Path(__file__).resolve().parents[2] / "data" / "tessdata"


def tesseract_config(psm: int = 13) -> str:
    """The pytesseract ``config`` string for the MRZ model (LSTM only, one line, MRZ characters)."""
    return f'--tessdata-dir "{tessdata_dir()}" --oem 1 --psm {psm} -c tessedit_char_whitelist={MRZ_WHITELIST}'


def read_mrz_line(image: Image.Image, psm: int = 13) -> str:
    """OCR one cropped MRZ line with the shipped model; spaces removed, e.g. ``P<UTOERIKSSON<<ANNA``.

    ``psm=13`` (raw line, as in training) is the default: on held-out lines ``--psm 7`` returns nothing
    for some textured crops (its layout analysis drops the line), see MODEL_CARD.md.
    """
    from kyc_assets.onboarding import tesseract

    text = tesseract.image_to_string(image, lang=MODEL_LANG, psm=psm, whitelist=MRZ_WHITELIST, tessdata=tessdata_dir())
    return "".join(text.split())
