"""Synthetic identity documents and utility bills for the sample world.

Images are deterministic for given inputs (same person, options and seed give the same
pixels with the same Pillow/FreeType build).  Fonts are bundled (DejaVu, Bitstream Vera
licence, see ``fonts/LICENSE-DejaVu.txt``) so rendering does not depend on system fonts.

``person`` dicts carry: surname, given_names, date_of_birth (date), sex, nationality
(ICAO 3-letter), issuing_country, document_number, expiry_date (date) and address
(multi-line string).
"""

from __future__ import annotations

import io
import math
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from kyc_assets.onboarding.mrz import build_mrv, build_td1, build_td2, build_td3

FONT_DIR = Path(__file__).parent / "fonts"
MONO_FONT = FONT_DIR / "DejaVuSansMono.ttf"
SANS_FONT = FONT_DIR / "DejaVuSans.ttf"
DISTORTIONS = (None, "noise", "blur", "rotate", "upside_down", "skew", "rotate90", "rotate270", "jpeg",
               "perspective", "low_res", "photo")
MRZ_FORMATS = ("TD1", "TD2", "TD3", "MRVA", "MRVB")

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_INK = (20, 20, 30)
_LABEL = (50, 56, 72)
_WHITE = (255, 255, 255)


@lru_cache(maxsize=32)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def _viz_date(value: date) -> str:
    """Visual-zone date as printed on passports, e.g. '12 AUG 1974'."""
    return f"{value.day:02d} {_MONTHS[value.month - 1]} {value.year}"


def _background(width: int, height: int, tint: tuple[int, int, int], seed: int) -> Image.Image:
    """Light security-paper background with faint wavy guilloche lines."""
    image = Image.new("RGB", (width, height), tint)
    draw = ImageDraw.Draw(image)
    line_colour = tuple(max(0, c - 18) for c in tint)
    phase = (seed % 17) / 17 * math.pi
    for k in range(0, height, 28):
        points = [(x, k + 8 * math.sin(x / 45 + phase + k / 90)) for x in range(0, width + 10, 10)]
        draw.line(points, fill=line_colour, width=1)
    return image


def _photo_placeholder(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
    """Grey portrait placeholder (light enough to vanish under binarisation)."""
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=(226, 228, 232), outline=(200, 202, 208), width=2)
    cx, w, h = (x0 + x1) // 2, x1 - x0, y1 - y0
    draw.ellipse((cx - w // 5, y0 + h // 6, cx + w // 5, y0 + h // 2), fill=(208, 210, 216))
    draw.chord((x0 + w // 8, y1 - h * 2 // 5, x1 - w // 8, y1 + h * 2 // 5), 180, 360, fill=(208, 210, 216))


def _draw_fields(draw: ImageDraw.ImageDraw, x: int, y: int, fields: list[tuple[str, str]],
                 label_size: int, value_size: int, gap: int) -> int:
    """Labelled visual-zone fields: small label above a larger value. Returns the next y."""
    for label, value in fields:
        draw.text((x, y), label, font=_font(SANS_FONT, label_size), fill=_LABEL)
        y += label_size + 6
        draw.text((x, y), value, font=_font(SANS_FONT, value_size), fill=_INK)
        y += value_size + gap
    return y


def _draw_mrz(image: Image.Image, lines: list[str], size: int, bottom_margin: int, spacing: int) -> None:
    """MRZ in large monospace type, centred horizontally at the bottom on a white band."""
    font = _font(MONO_FONT, size)
    draw = ImageDraw.Draw(image)
    width = draw.textlength(lines[0], font=font)
    x = int((image.width - width) / 2)
    top = image.height - bottom_margin - spacing * len(lines)
    draw.rectangle((0, top - spacing // 2, image.width, image.height), fill=_WHITE)
    for i, line in enumerate(lines):
        draw.text((x, top + i * spacing), line, font=font, fill=(0, 0, 0))


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    """Re-encode as a low-quality JPEG (blocking and ringing artefacts, 4:2:0 chroma)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality, subsampling=2)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _perspective(image: Image.Image, rng: np.random.Generator, strength: float = 0.08) -> Image.Image:
    """The document photographed at an angle: corners moved inwards, a dark table around it."""
    w, h = image.size
    margin = 0.06
    canvas = Image.new("RGB", (int(w * (1 + 2 * margin)), int(h * (1 + 2 * margin))), (70, 62, 55))
    canvas.paste(image, (int(w * margin), int(h * margin)))
    cw, ch = canvas.size
    jitter = rng.uniform(0, strength, size=8) * np.array([cw, ch] * 4)
    # Output corners (clockwise from top left) map to these source points of the canvas.
    src = [(0 - jitter[0], 0 - jitter[1]), (cw + jitter[2], 0 - jitter[3]),
           (cw + jitter[4], ch + jitter[5]), (0 - jitter[6], ch + jitter[7])]
    dst = [(0, 0), (cw, 0), (cw, ch), (0, ch)]
    matrix = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        matrix.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        matrix.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coeffs = np.linalg.solve(np.array(matrix, dtype=float), np.array(src, dtype=float).ravel())
    return canvas.transform(canvas.size, Image.PERSPECTIVE, tuple(coeffs), Image.BICUBIC,
                            fillcolor=(70, 62, 55))


def _uneven_light(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A lamp on one side: brightness falling off across the page."""
    arr = np.asarray(image, dtype=np.float64)
    h, w = arr.shape[:2]
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (np.cos(angle) * np.linspace(-1, 1, w)[None, :] + np.sin(angle) * np.linspace(-1, 1, h)[:, None])
    arr = arr * (0.8 + 0.2 * ramp)[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")


def _distort(image: Image.Image, distortion: str | None, seed: int) -> Image.Image:
    """Apply a capture distortion (see :data:`DISTORTIONS`).

    'noise' sensor noise and speckle; 'blur' defocus; 'rotate' a 2-4 degree skew; 'skew' a
    0.5-1.5 degree skew; 'upside_down', 'rotate90', 'rotate270' turned pages; 'jpeg' heavy
    JPEG artefacts (quality 12-20); 'perspective' photographed at an angle on a table;
    'low_res' scaled down to 600 px wide; 'photo' a phone photo (perspective, uneven light,
    mild noise, JPEG quality 45, 900 px wide).
    """
    if distortion not in DISTORTIONS:
        raise ValueError(f"unknown distortion {distortion!r}; expected one of {DISTORTIONS}")
    rng = np.random.default_rng(seed)
    if distortion == "noise":
        arr = np.asarray(image, dtype=np.float64)
        arr = arr + rng.normal(0, 28, size=arr.shape[:2])[..., None]
        speckle = rng.random(arr.shape[:2])
        arr[speckle < 0.01] = 0
        arr[speckle > 0.99] = 255
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")
    if distortion == "blur":
        return image.filter(ImageFilter.GaussianBlur(radius=1.6))
    if distortion in ("rotate", "skew"):
        low, high = (2.0, 4.0) if distortion == "rotate" else (0.5, 1.5)
        angle = float(rng.uniform(low, high)) * (1 if rng.random() < 0.5 else -1)
        return image.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=_WHITE)
    if distortion == "upside_down":
        return image.rotate(180)
    if distortion in ("rotate90", "rotate270"):
        return image.rotate(int(distortion[6:]), expand=True)
    if distortion == "jpeg":
        return _jpeg(image, int(rng.integers(12, 21)))
    if distortion == "perspective":
        return _perspective(image, rng)
    if distortion == "low_res":
        return image.resize((600, round(image.height * 600 / image.width)), Image.BILINEAR)
    if distortion == "photo":
        photo = _uneven_light(_perspective(image, rng, strength=0.05), rng)
        photo = photo.resize((900, round(photo.height * 900 / photo.width)), Image.BILINEAR)
        arr = np.asarray(photo, dtype=np.float64) + rng.normal(0, 6, size=(photo.height, photo.width))[..., None]
        return _jpeg(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB"), 45)
    return image


def _given_first(person: dict) -> str:
    return f"{person['given_names']} {person['surname']}".strip()


def render_passport(person: dict, *, distortion: str | None = None, seed: int = 0) -> Image.Image:
    """Passport data page (TD3, 1250x880 px): photo, labelled visual zone and a 2x44 MRZ.

    ``distortion``: one of :data:`DISTORTIONS` (None, 'noise', 'blur', 'rotate', 'upside_down', ...).
    """
    image = _background(1250, 880, (236, 242, 250), seed)
    draw = ImageDraw.Draw(image)
    draw.text((40, 28), "PASSPORT", font=_font(SANS_FONT, 34), fill=_INK)
    draw.text((420, 36), f"Issuing State  {person['issuing_country']}", font=_font(SANS_FONT, 24), fill=_INK)
    _photo_placeholder(draw, (40, 110, 340, 500))
    fields = [
        ("Surname", person["surname"].upper()),
        ("Given names", person["given_names"].upper()),
        ("Nationality", person["nationality"]),
        ("Date of birth", _viz_date(person["date_of_birth"])),
        ("Sex", person["sex"]),
        ("Date of expiry", _viz_date(person["expiry_date"])),
        ("Passport No.", person["document_number"]),
    ]
    _draw_fields(draw, 390, 100, fields, label_size=20, value_size=28, gap=12)
    lines = build_td3("P", person["issuing_country"], person["surname"], person["given_names"],
                      person["document_number"], person["nationality"], person["date_of_birth"],
                      person["sex"], person["expiry_date"])
    _draw_mrz(image, lines, size=40, bottom_margin=40, spacing=62)
    return _distort(image, distortion, seed)


def render_id_card(person: dict, *, distortion: str | None = None, seed: int = 0) -> Image.Image:
    """Identity card (TD1, 1200x760 px): photo, labelled visual zone and a 3x30 MRZ.

    ``distortion``: one of :data:`DISTORTIONS` (None, 'noise', 'blur', 'rotate', 'upside_down', ...).
    """
    image = _background(1200, 760, (242, 238, 250), seed)
    draw = ImageDraw.Draw(image)
    draw.text((40, 24), "IDENTITY CARD", font=_font(SANS_FONT, 32), fill=_INK)
    draw.text((560, 30), f"Issuing State  {person['issuing_country']}", font=_font(SANS_FONT, 22), fill=_INK)
    _photo_placeholder(draw, (40, 95, 290, 420))
    fields = [
        ("Surname", person["surname"].upper()),
        ("Given names", person["given_names"].upper()),
        ("Date of birth", _viz_date(person["date_of_birth"])),
        ("Nationality", person["nationality"]),
        ("Document No.", person["document_number"]),
    ]
    _draw_fields(draw, 330, 88, fields, label_size=20, value_size=26, gap=8)
    lines = build_td1("I", person["issuing_country"], person["surname"], person["given_names"],
                      person["document_number"], person["nationality"], person["date_of_birth"],
                      person["sex"], person["expiry_date"])
    _draw_mrz(image, lines, size=48, bottom_margin=24, spacing=66)
    return _distort(image, distortion, seed)


def render_td2_card(person: dict, *, distortion: str | None = None, seed: int = 0) -> Image.Image:
    """TD2 identity card (1050x740 px): photo, labelled visual zone and a 2x36 MRZ."""
    image = _background(1050, 740, (238, 246, 240), seed)
    draw = ImageDraw.Draw(image)
    draw.text((36, 22), "IDENTITY CARD", font=_font(SANS_FONT, 30), fill=_INK)
    draw.text((520, 28), f"Issuing State  {person['issuing_country']}", font=_font(SANS_FONT, 20), fill=_INK)
    _photo_placeholder(draw, (36, 86, 256, 380))
    fields = [
        ("Surname", person["surname"].upper()),
        ("Given names", person["given_names"].upper()),
        ("Date of birth", _viz_date(person["date_of_birth"])),
        ("Sex", person["sex"]),
        ("Document No.", person["document_number"]),
    ]
    _draw_fields(draw, 290, 80, fields, label_size=18, value_size=24, gap=8)
    lines = build_td2("I", person["issuing_country"], person["surname"], person["given_names"],
                      person["document_number"], person["nationality"], person["date_of_birth"],
                      person["sex"], person["expiry_date"])
    _draw_mrz(image, lines, size=40, bottom_margin=30, spacing=62)
    return _distort(image, distortion, seed)


def render_visa(person: dict, *, visa_format: str = "A", distortion: str | None = None,
                seed: int = 0) -> Image.Image:
    """Machine-readable visa sticker: MRV-A (1250x880 px, 2x44 MRZ) or MRV-B (1050x740 px, 2x36 MRZ)."""
    size = (1250, 880) if visa_format == "A" else (1050, 740)
    image = _background(*size, (250, 244, 232), seed)
    draw = ImageDraw.Draw(image)
    draw.text((40, 26), "VISA", font=_font(SANS_FONT, 34), fill=_INK)
    draw.text((size[0] // 2, 34), f"Issued by  {person['issuing_country']}", font=_font(SANS_FONT, 22), fill=_INK)
    _photo_placeholder(draw, (40, 100, 280, 400))
    fields = [
        ("Surname", person["surname"].upper()),
        ("Given names", person["given_names"].upper()),
        ("Date of birth", _viz_date(person["date_of_birth"])),
        ("Passport number", person["document_number"]),
        ("Valid until", _viz_date(person["expiry_date"])),
    ]
    _draw_fields(draw, 320, 92, fields, label_size=18, value_size=24, gap=8)
    lines = build_mrv(visa_format, person["issuing_country"], person["surname"], person["given_names"],
                      person["document_number"], person["nationality"], person["date_of_birth"],
                      person["sex"], person["expiry_date"])
    _draw_mrz(image, lines, size=40, bottom_margin=36 if visa_format == "A" else 30, spacing=62)
    return _distort(image, distortion, seed)


def render_identity_document(person: dict, mrz_format: str, *, distortion: str | None = None,
                             seed: int = 0) -> Image.Image:
    """Render an identity document of any MRZ format (see :data:`MRZ_FORMATS`)."""
    if mrz_format == "TD1":
        return render_id_card(person, distortion=distortion, seed=seed)
    if mrz_format == "TD2":
        return render_td2_card(person, distortion=distortion, seed=seed)
    if mrz_format == "TD3":
        return render_passport(person, distortion=distortion, seed=seed)
    if mrz_format in ("MRVA", "MRVB"):
        return render_visa(person, visa_format=mrz_format[-1], distortion=distortion, seed=seed)
    raise ValueError(f"unknown MRZ format {mrz_format!r}; expected one of {MRZ_FORMATS}")


_BILL_KINDS = (
    ("Electricity bill", "Electricity used", "kWh"),
    ("Gas bill", "Gas used", "kWh"),
    ("Water bill", "Water used", "m3"),
)


def render_utility_bill(person: dict, *, issuer: str, issue_date: date, seed: int = 0) -> Image.Image:
    """Utility bill (1000x1300 px) addressed to ``person`` at their address.

    The bill kind (electricity, gas, water), account number and amounts derive from ``seed``.
    """
    rng = np.random.default_rng(seed)
    title, usage_label, unit = _BILL_KINDS[int(rng.integers(len(_BILL_KINDS)))]
    account = "".join(str(d) for d in rng.integers(0, 10, size=10))
    usage = int(rng.integers(80, 900))
    amount = usage * float(rng.uniform(0.12, 0.35))
    period_end = issue_date - timedelta(days=int(rng.integers(1, 6)))
    period_start = period_end - timedelta(days=30)
    due = issue_date + timedelta(days=14)

    image = Image.new("RGB", (1000, 1300), _WHITE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1000, 120), fill=(230, 240, 235))
    draw.text((50, 34), issuer, font=_font(SANS_FONT, 40), fill=_INK)
    body = _font(SANS_FONT, 24)
    draw.text((50, 160), title, font=_font(SANS_FONT, 32), fill=_INK)
    draw.text((50, 220), f"Bill date: {issue_date.day} {issue_date.strftime('%B %Y')}", font=body, fill=_INK)
    draw.text((50, 258), f"Account number: {account}", font=body, fill=_INK)
    y = 360
    for line in [_given_first(person), *[x.strip() for x in person["address"].splitlines() if x.strip()]]:
        draw.text((50, y), line, font=body, fill=_INK)
        y += 38
    y += 60
    rows = [
        f"Billing period: {period_start:%d %B %Y} to {period_end:%d %B %Y}",
        f"{usage_label}: {usage} {unit}",
        f"Amount due: GBP {amount:.2f}",
        f"Please pay by: {due.day} {due.strftime('%B %Y')}",
    ]
    for row in rows:
        draw.text((50, y), row, font=body, fill=_INK)
        y += 42
    draw.line((50, 1180, 950, 1180), fill=(160, 160, 160), width=2)
    draw.text((50, 1200), f"{issuer} - customer service 0800 000 000", font=_font(SANS_FONT, 18), fill=_LABEL)
    return image
