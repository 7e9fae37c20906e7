"""Held-out identity-document specimens: an evaluation set made independently of the reader.

Every image is drawn from one integer seed: a document holder whose fields stress an MRZ parser
(:mod:`.people`), a page in one of several layouts with a security background, portrait, hologram
and multilingual visual zone (:mod:`.layouts`), an MRZ in the real OCR-B typeface built straight
from ICAO 9303 (:mod:`.mrz`), and a capture (flatbed scan or phone photo) with one dominant
degradation (:mod:`.capture`). Nothing here imports the reader (``kyc_assets.onboarding``).

Seeds: tune the reader on :data:`TUNE_SEEDS` only; report figures on :data:`EVAL_SEEDS` only.

    from kyc_assets.sample_data.specimens import EVAL_SEEDS, generate_specimens, score
    items = generate_specimens("out/", EVAL_SEEDS[:150])
    result = score(items[0], predicted_fields)   # {"surname": True, ..., "fully_right": bool}

The OCR-B font comes from Debian's ``fonts-ocr-b`` (``apt-get install -y fonts-ocr-b``; ``make
install`` does it); without it generation stops with a one-line :class:`FontMissingError`.
"""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

from . import capture, layouts
from .mrz import build_mrz, decode_name, transliterate
from .people import REFERENCE_DAY, make_holder
from .render import FontMissingError, ocrb_path

__all__ = [
    "DEGRADATIONS",
    "DOC_CLASSES",
    "EVAL_SEEDS",
    "FIELDS",
    "REFERENCE_DAY",
    "TUNE_SEEDS",
    "FontMissingError",
    "generate_specimens",
    "render_specimen",
    "score",
    "specimen_truth",
]

TUNE_SEEDS = range(10_000)
EVAL_SEEDS = range(100_000, 110_000)
DOC_CLASSES = ("td1", "td2", "td3", "mrva", "mrvb")
DEGRADATIONS = ("clean_scan", "jpeg_low", "guilloche", "glare", "shadow", "photo_angle", "low_res", "tight_edge",
                "clutter", "blur")
FIELDS = ("surname", "given_names", "document_number", "nationality", "date_of_birth", "sex", "expiry_date")
DOCUMENT_TYPES = {"td1": "id_card", "td2": "id_card", "td3": "passport", "mrva": "visa", "mrvb": "visa"}
_PHOTO = {"photo_angle", "clutter", "blur"}


def _doc_code(rng: random.Random, doc_class: str) -> str:
    if doc_class == "td3":
        return rng.choice(["P", "P", "P", "PD", "PO"])
    if doc_class in ("td1", "td2"):
        return rng.choice(["I", "I", "ID", "IR", "AC"])
    return rng.choice(["V", "V", "VC"])


def _holder(rng: random.Random, doc_class: str) -> dict:
    doc = make_holder(rng, doc_class)
    doc["nationality_printed"] = rng.choice([doc["nationality"].replace("D", "DEUTSCH") if doc["nationality"] == "D"
                                             else doc["nationality"], doc["nationality"]])
    doc["date_style"] = rng.randrange(4)
    doc["authority"] = rng.choice(["STADT KÖLN", "MINISTRY OF INTERIOR", "PRÉFECTURE DU RHÔNE", "HM PASSPORT OFFICE",
                                   "BURGEMEESTER VAN GENT", "DIRECCIÓN GENERAL DE LA POLICÍA", "UTOPIA CITY"])
    doc["address"] = rng.choice(["HAUPTSTRASSE 12, 50667 KÖLN", "12 RUE DES LILAS, 69003 LYON",
                                 "KERKSTRAAT 5, 9000 GENT", "CALLE MAYOR 7, 28013 MADRID", "1 MAIN ST, UTOPIA CITY"])
    return doc


def _document(seed: int, doc_class: str, degradation: str) -> tuple[random.Random, dict, list[str], dict]:
    """The seeded random stream (positioned for rendering), the holder, the MRZ lines and the truth."""
    rng = random.Random(f"specimen/{seed}/{doc_class}/{degradation}")
    doc = _holder(rng, doc_class)
    code = _doc_code(rng, doc_class)
    lines = build_mrz(doc_class, code, doc["issuing_country"], doc["surname_printed"], doc["given_names_printed"],
                      doc["document_number"], doc["nationality"], doc["date_of_birth"], doc["sex"],
                      doc["expiry_date"], doc["optional"])
    surname, given = decode_name(lines[2] if doc_class == "td1" else lines[0][5:])
    full_surname = " ".join(p for p in transliterate(doc["surname_printed"]).split("<") if p)
    full_given = " ".join(p for p in transliterate(doc["given_names_printed"]).split("<") if p)
    stress = list(doc["stress"])
    if (full_surname, full_given) != (surname, given):
        stress.append("truncated_in_mrz")
    if not given:
        stress.append("filler_only_given_names")
    truth = {
        "seed": seed, "doc_class": doc_class, "degradation": degradation,
        "document_type": DOCUMENT_TYPES[doc_class], "surname": surname, "given_names": given,
        "document_number": doc["document_number"], "nationality": doc["nationality"],
        "issuing_country": doc["issuing_country"], "date_of_birth": doc["date_of_birth"].isoformat(),
        "sex": doc["sex"], "expiry_date": doc["expiry_date"].isoformat(), "mrz_lines": lines,
        # the names as printed in full in the visual zone (MRZ alphabet): also accepted by score()
        "surname_full": full_surname, "given_names_full": full_given,
        "surname_printed": doc["surname_printed"], "given_names_printed": doc["given_names_printed"],
        "document_code": code, "stress": stress,
    }
    return rng, doc, lines, truth


def specimen_truth(seed: int, classes=None, degradations=None) -> dict:
    """The truth of one seed without drawing it (cheap; what :func:`generate_specimens` records)."""
    doc_class, degradation = _assignment(seed, tuple(classes or DOC_CLASSES), tuple(degradations or DEGRADATIONS))
    return _document(seed, doc_class, degradation)[3]


def render_specimen(seed: int, doc_class: str, degradation: str) -> tuple[bytes, dict]:
    """JPEG bytes of one specimen and its truth (without ``file``)."""
    ocrb_path()  # one-line FontMissingError before any work
    rng, doc, lines, truth = _document(seed, doc_class, degradation)
    photo = degradation in _PHOTO
    assembly, mrz_band = layouts.pieces(rng, doc_class, doc, lines, degradation, photo)
    image, meta = capture.capture(rng, assembly, mrz_band, degradation, photo)
    return image, {**truth, **meta}


def _assignment(seed: int, classes: tuple[str, ...], degradations: tuple[str, ...]) -> tuple[str, str]:
    """Class and degradation of a seed: every (class, degradation) pair recurs every
    ``len(classes) * len(degradations)`` consecutive seeds."""
    return classes[seed % len(classes)], degradations[(seed // len(classes)) % len(degradations)]


def generate_specimens(out_dir, seeds, classes=None, degradations=None) -> list[dict]:
    """Write one JPEG per seed to ``out_dir`` plus ``manifest.json``; returns the truth dicts (with
    ``file``, the absolute path). Deterministic per seed (for the same classes and degradations)."""
    classes = tuple(classes or DOC_CLASSES)
    degradations = tuple(degradations or DEGRADATIONS)
    for name in classes:
        if name not in DOC_CLASSES:
            raise ValueError(f"unknown document class {name!r}; expected one of {', '.join(DOC_CLASSES)}")
    for name in degradations:
        if name not in DEGRADATIONS:
            raise ValueError(f"unknown degradation {name!r}; expected one of {', '.join(DEGRADATIONS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = []
    for seed in seeds:
        doc_class, degradation = _assignment(seed, classes, degradations)
        data, truth = render_specimen(seed, doc_class, degradation)
        path = out / f"specimen_{seed:06d}_{doc_class}_{degradation}.jpg"
        path.write_bytes(data)
        items.append({"file": str(path.resolve()), **truth})
    (out / "manifest.json").write_text(json.dumps(items, indent=1, ensure_ascii=False))
    return items


# --------------------------------------------------------------------------- scoring


def _norm(value) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).upper().replace("<", " ")
    return " ".join(text.split())


def _norm_name(value) -> str:
    """A name in the MRZ alphabet: ICAO transliteration (so MÜLLER equals MUELLER), fillers as spaces."""
    text = transliterate(str(value or ""))
    return " ".join(p for p in text.split("<") if p)


def score(truth: dict, predicted: dict) -> dict:
    """Per-field correctness of ``predicted`` against ``truth`` over :data:`FIELDS`, plus ``fields_right``
    and ``fully_right``. Comparison is normalised (upper case, ``<`` and runs of spaces collapsed, dates as
    ISO strings); names are transliterated as ICAO does and compared whole (all given names as one
    string). A name is right when it equals the MRZ form (truncated as printed there) or the full name
    printed in the visual zone."""
    result = {}
    for field in FIELDS:
        got = predicted.get(field)
        if field in ("surname", "given_names"):
            wanted = {_norm_name(truth[field]), _norm_name(truth.get(f"{field}_full", truth[field]))}
            result[field] = _norm_name(got) in wanted
        elif field == "document_number":
            result[field] = _norm(got).replace(" ", "") == _norm(truth[field]).replace(" ", "")
        else:
            result[field] = _norm(got) == _norm(truth[field])
    right = sum(result[f] for f in FIELDS)
    result["fields_right"] = right
    result["fully_right"] = right == len(FIELDS)
    return result

