"""Identity-document pages drawn in millimetres: security background, portrait, visual zone, OCR-B MRZ.

Everything is drawn at :data:`PPM` pixels per millimetre (about 305 dpi) and degraded later by
:mod:`.capture`. The MRZ uses the real OCR-B typeface of Debian's ``fonts-ocr-b`` (not shipped with
the package); the visual zone uses the bundled DejaVu Sans.
"""

from __future__ import annotations

import colorsys
import math
import random
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

PPM = 12  # pixels per millimetre of the master drawing
OCRB_DIR = Path("/usr/share/fonts/opentype/ocr-b")
# Regular and "sharp" cuts of OCR-B (the others are inverted, outlined or oblique).
OCRB_FILES = ("OCRB.otf", "OCRBS.otf")
SANS_FONT = Path(__file__).resolve().parent.parent / "fonts" / "DejaVuSans.ttf"
MONO_FONT = Path(__file__).resolve().parent.parent / "fonts" / "DejaVuSansMono.ttf"

# Physical sizes (width, height) in mm, ICAO 9303 parts 4-7.
SIZES = {"td1": (85.6, 54.0), "td2": (105.0, 74.0), "td3": (125.0, 88.0), "mrva": (120.0, 80.0),
         "mrvb": (105.0, 74.0)}


class FontMissingError(RuntimeError):
    """The OCR-B typeface is not installed."""


def ocrb_path(name: str = "OCRB.otf") -> Path:
    path = OCRB_DIR / name
    if not path.is_file():
        raise FontMissingError(f"OCR-B font not found at {path}: install Debian's fonts-ocr-b "
                               "(apt-get install -y fonts-ocr-b)")
    return path


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def px(mm: float) -> int:
    return round(mm * PPM)


LABELS = {
    "type": {"en": "Type", "fr": "Type", "de": "Typ", "nl": "Type", "es": "Tipo", "it": "Tipo", "pl": "Typ",
             "pt": "Tipo", "sv": "Typ", "tr": "Tipi"},
    "code": {"en": "Code", "fr": "Code du pays", "de": "Kode", "nl": "Code", "es": "Código", "it": "Codice",
             "pl": "Kod", "pt": "Código", "sv": "Kod", "tr": "Ülke kodu"},
    "number": {"en": "Document No.", "fr": "N° du document", "de": "Dokumentennummer", "nl": "Documentnummer",
               "es": "Nº documento", "it": "N. documento", "pl": "Nr dokumentu", "pt": "N.º documento",
               "sv": "Dokumentnummer", "tr": "Belge no"},
    "surname": {"en": "Surname", "fr": "Nom", "de": "Name", "nl": "Naam", "es": "Apellidos", "it": "Cognome",
                "pl": "Nazwisko", "pt": "Apelido", "sv": "Efternamn", "tr": "Soyadı"},
    "given": {"en": "Given names", "fr": "Prénoms", "de": "Vornamen", "nl": "Voornamen", "es": "Nombre",
              "it": "Nome", "pl": "Imiona", "pt": "Nome próprio", "sv": "Förnamn", "tr": "Adı"},
    "nationality": {"en": "Nationality", "fr": "Nationalité", "de": "Staatsangehörigkeit", "nl": "Nationaliteit",
                    "es": "Nacionalidad", "it": "Cittadinanza", "pl": "Obywatelstwo", "pt": "Nacionalidade",
                    "sv": "Medborgarskap", "tr": "Uyruğu"},
    "dob": {"en": "Date of birth", "fr": "Date de naissance", "de": "Geburtsdatum", "nl": "Geboortedatum",
            "es": "Fecha de nacimiento", "it": "Data di nascita", "pl": "Data urodzenia",
            "pt": "Data de nascimento", "sv": "Födelsedatum", "tr": "Doğum tarihi"},
    "sex": {"en": "Sex", "fr": "Sexe", "de": "Geschlecht", "nl": "Geslacht", "es": "Sexo", "it": "Sesso",
            "pl": "Płeć", "pt": "Sexo", "sv": "Kön", "tr": "Cinsiyeti"},
    "pob": {"en": "Place of birth", "fr": "Lieu de naissance", "de": "Geburtsort", "nl": "Geboorteplaats",
            "es": "Lugar de nacimiento", "it": "Luogo di nascita", "pl": "Miejsce urodzenia",
            "pt": "Local de nascimento", "sv": "Födelseort", "tr": "Doğum yeri"},
    "issue": {"en": "Date of issue", "fr": "Date de délivrance", "de": "Ausstellungsdatum", "nl": "Datum van afgifte",
              "es": "Fecha de expedición", "it": "Data di rilascio", "pl": "Data wydania", "pt": "Data de emissão",
              "sv": "Utfärdandedatum", "tr": "Veriliş tarihi"},
    "expiry": {"en": "Date of expiry", "fr": "Date d'expiration", "de": "Gültig bis", "nl": "Geldig tot",
               "es": "Fecha de caducidad", "it": "Scadenza", "pl": "Data ważności", "pt": "Válido até",
               "sv": "Giltig t.o.m.", "tr": "Geçerlilik tarihi"},
    "authority": {"en": "Authority", "fr": "Autorité", "de": "Behörde", "nl": "Instantie", "es": "Autoridad",
                  "it": "Autorità", "pl": "Organ wydający", "pt": "Entidade emissora", "sv": "Myndighet",
                  "tr": "Veren makam"},
    "address": {"en": "Address", "fr": "Adresse", "de": "Anschrift", "nl": "Adres", "es": "Domicilio",
                "it": "Indirizzo", "pl": "Adres", "pt": "Morada", "sv": "Adress", "tr": "Adres"},
}
TITLES = {
    "passport": {"en": "PASSPORT", "fr": "PASSEPORT", "de": "REISEPASS", "nl": "PASPOORT", "es": "PASAPORTE",
                 "it": "PASSAPORTO", "pl": "PASZPORT", "pt": "PASSAPORTE", "sv": "PASS", "tr": "PASAPORT"},
    "id_card": {"en": "IDENTITY CARD", "fr": "CARTE D'IDENTITÉ", "de": "PERSONALAUSWEIS", "nl": "IDENTITEITSKAART",
                "es": "DOCUMENTO NACIONAL DE IDENTIDAD", "it": "CARTA D'IDENTITÀ", "pl": "DOWÓD OSOBISTY",
                "pt": "CARTÃO DE CIDADÃO", "sv": "IDENTITETSKORT", "tr": "KİMLİK KARTI"},
    "visa": {"en": "VISA", "fr": "VISA", "de": "VISUM", "nl": "VISUM", "es": "VISADO", "it": "VISTO",
             "pl": "WIZA", "pt": "VISTO", "sv": "VISUM", "tr": "VİZE"},
}
_MONTHS = {"en": "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC", "fr": "JANV FÉVR MARS AVR MAI JUIN JUIL AOÛT "
           "SEPT OCT NOV DÉC", "de": "JAN FEB MÄR APR MAI JUN JUL AUG SEP OKT NOV DEZ"}


def label(key: str, languages: tuple[str, ...], count: int) -> str:
    return " / ".join(LABELS[key][lang] for lang in languages[:count])


def viz_date(value: date, style: int, languages: tuple[str, ...]) -> str:
    if style == 0:
        return value.strftime("%d.%m.%Y")
    if style == 1:
        names = [_MONTHS.get(lang, _MONTHS["en"]).split()[value.month - 1] for lang in languages[:2]]
        return f"{value.day:02d} " + "/".join(dict.fromkeys(names)) + f" {value.year}"
    if style == 2:
        return value.strftime("%d %m %Y")
    return value.strftime("%d/%m/%Y")


# --------------------------------------------------------------------------- backgrounds


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def security_background(rng: random.Random, size: tuple[int, int], strength: float) -> Image.Image:
    """Pastel rainbow print with guilloche rosettes, wave bands and microprint. ``strength`` 0..1 scales
    the line contrast (0.25 is a typical document, 1 a dark, dense pattern)."""
    w, h = size
    hue = rng.random()
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    c1 = np.array(_hsv(hue, 0.10 + 0.1 * rng.random(), 0.97), np.float32)
    c2 = np.array(_hsv(hue + 0.15 + 0.3 * rng.random(), 0.12 + 0.1 * rng.random(), 0.95), np.float32)
    t = np.clip(0.6 * x + 0.4 * y + 0.08 * np.sin(7 * x + 3 * y), 0, 1)
    base = c1 * (1 - t) + c2 * t
    image = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    line_v = 0.9 - 0.55 * strength
    colours = [_hsv(hue + d, 0.35 + 0.3 * strength, line_v) for d in (0.0, 0.33, 0.55)]
    width = max(1, round(PPM * (0.05 + 0.08 * strength)))
    # rosettes
    for _ in range(rng.randint(2, 4)):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        radius = rng.uniform(0.25, 0.6) * max(w, h)
        lobes, amp = rng.randint(6, 24), rng.uniform(0.08, 0.25)
        colour = rng.choice(colours)
        for k in range(int(10 + 30 * strength)):
            r0 = radius * (0.3 + 0.7 * k / (10 + 30 * strength))
            phase = k * 0.21
            pts = [(cx + (r0 + r0 * amp * math.sin(lobes * a + phase)) * math.cos(a),
                    cy + (r0 + r0 * amp * math.sin(lobes * a + phase)) * math.sin(a))
                   for a in np.linspace(0, 2 * math.pi, 360)]
            draw.line(pts, fill=colour, width=width)
    # wave bands
    period = rng.uniform(6, 14) * PPM
    step = rng.uniform(0.8, 2.2) * PPM / (0.5 + strength)
    colour = rng.choice(colours)
    xs = np.arange(0, w + 8, 8)
    for k in np.arange(-h * 0.2, h * 1.2, step):
        ys = k + rng.uniform(1.0, 2.5) * PPM * np.sin(xs / period + k / (17 * PPM))
        draw.line(list(zip(xs.tolist(), ys.tolist())), fill=colour, width=width)
    # microprint lines
    micro = _font(str(SANS_FONT), max(6, px(0.9)))
    word = rng.choice(["SPECIMEN", "SECURITE", "SICHERHEIT", "UTOPIA", "VEILIGHEID", "SEGURIDAD"])
    mcolour = _hsv(hue + 0.5, 0.3, 0.85 - 0.3 * strength)
    for yy in range(rng.randint(0, px(6)), h, px(rng.uniform(7, 14))):
        draw.text((rng.randint(-px(20), 0), yy), (word + " ") * 60, font=micro, fill=mcolour)
    return image


def portrait(rng: random.Random, size: tuple[int, int], grey: bool = False) -> Image.Image:
    """A face-like drawing: backdrop, shoulders, head, hair, eyes, mouth; softened and noisy like a print."""
    w, h = size
    bg = _hsv(rng.random(), rng.uniform(0.0, 0.15), rng.uniform(0.75, 0.95))
    image = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(image)
    skin = _hsv(rng.uniform(0.03, 0.09), rng.uniform(0.25, 0.6), rng.uniform(0.35, 0.95))
    cloth = _hsv(rng.random(), rng.uniform(0.2, 0.7), rng.uniform(0.15, 0.7))
    hair = _hsv(rng.uniform(0.02, 0.12), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.6))
    cx = w * rng.uniform(0.45, 0.55)
    draw.ellipse([cx - w * 0.55, h * 0.72, cx + w * 0.55, h * 1.4], fill=cloth)
    draw.rectangle([cx - w * 0.1, h * 0.55, cx + w * 0.1, h * 0.8], fill=skin)
    hw, hh = w * rng.uniform(0.26, 0.33), h * rng.uniform(0.28, 0.34)
    top = h * rng.uniform(0.12, 0.2)
    draw.ellipse([cx - hw * 1.08, top - hh * 0.08, cx + hw * 1.08, top + hh * 1.2], fill=hair)
    draw.ellipse([cx - hw, top + hh * 0.15, cx + hw, top + 2 * hh], fill=skin)
    eye_y = top + hh * 0.95
    for side in (-1, 1):
        ex = cx + side * hw * 0.42
        draw.ellipse([ex - hw * 0.14, eye_y - hh * 0.06, ex + hw * 0.14, eye_y + hh * 0.06], fill=(245, 245, 240))
        draw.ellipse([ex - hw * 0.06, eye_y - hh * 0.06, ex + hw * 0.06, eye_y + hh * 0.06], fill=(40, 30, 25))
        draw.line([ex - hw * 0.18, eye_y - hh * 0.17, ex + hw * 0.18, eye_y - hh * 0.15], fill=hair,
                  width=max(1, int(hh * 0.05)))
    draw.line([cx, eye_y + hh * 0.1, cx - hw * 0.1, eye_y + hh * 0.5], fill=tuple(int(c * 0.8) for c in skin),
              width=max(1, int(hh * 0.04)))
    draw.arc([cx - hw * 0.35, eye_y + hh * 0.45, cx + hw * 0.35, eye_y + hh * 0.8], 20, 160,
             fill=(120, 50, 50), width=max(1, int(hh * 0.05)))
    image = image.filter(ImageFilter.GaussianBlur(max(1, w / 90)))
    arr = np.asarray(image, np.float32) + np.random.default_rng(rng.randrange(2**32)).normal(0, 8, (h, w, 1))
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if grey:
        image = image.convert("L").convert("RGB")
    return image


def hologram(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """An RGBA iridescent overlay (rainbow hue across, star and ring shapes), to composite on laminate."""
    w, h = size
    xx, yy = np.meshgrid(np.linspace(0, 1, w, dtype=np.float32), np.linspace(0, 1, h, dtype=np.float32))
    hue = (xx * rng.uniform(1, 3) + yy * rng.uniform(0.5, 2) + rng.random()) % 1.0
    rgb = np.stack([0.5 + 0.5 * np.sin(2 * np.pi * (hue + k / 3)) for k in range(3)], axis=-1) * 255
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    cx, cy = w / 2, h / 2
    for k in range(rng.randint(3, 7)):
        r = min(w, h) * (0.15 + 0.08 * k)
        draw.ellipse([cx - r, cy - r * 0.8, cx + r, cy + r * 0.8], outline=255, width=max(1, px(0.35)))
    spikes = rng.randint(5, 9)
    pts = []
    for i in range(spikes * 2):
        a = math.pi * i / spikes
        r = min(w, h) * (0.45 if i % 2 == 0 else 0.2)
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    draw.polygon(pts, outline=255, width=max(1, px(0.3)))
    alpha = np.asarray(mask.filter(ImageFilter.GaussianBlur(px(0.2))), np.float32) * rng.uniform(0.25, 0.55)
    return Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8), "RGBA")


def signature(draw: ImageDraw.ImageDraw, rng: random.Random, box: tuple[float, float, float, float]) -> None:
    x0, y0, x1, y1 = box
    pts = []
    for i in range(60):
        t = i / 59
        pts.append((x0 + (x1 - x0) * t, (y0 + y1) / 2 + (y1 - y0) * 0.4 * math.sin(t * rng.uniform(8, 20))
                    * math.cos(t * rng.uniform(2, 6))))
    draw.line(pts, fill=(25, 35, 110), width=max(1, px(0.3)))


# --------------------------------------------------------------------------- MRZ


def draw_mrz(page: Image.Image, rng: random.Random, lines: list[str], left_mm: float, bottom_mm: float,
             max_width_mm: float, style: dict) -> tuple[float, float, float, float]:
    """Print ``lines`` in OCR-B with the last line's glyph bottom ``bottom_mm`` above the page bottom.

    ``style``: font file, pitch (mm per character), line pitch (mm), weight (-1 light, 0, 1 bold,
    2 heavy), spacing jitter, ink colour. Returns the MRZ box in mm (left, top, right, bottom).
    """
    font_path = str(ocrb_path(style["font"]))
    pitch = min(style["pitch"], max_width_mm / len(lines[0]))
    size = round(px(pitch) / 0.7229)
    font = _font(font_path, size)
    cap_top = font.getbbox("A")[1]
    cap_h = font.getbbox("A")[3] - cap_top
    w, h = page.size
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    line_pitch = px(style["line_pitch"])
    last_bottom = h - px(bottom_mm)
    first_top = last_bottom - cap_h - line_pitch * (len(lines) - 1)
    x0 = px(left_mm)
    for row, text in enumerate(lines):
        top = first_top + row * line_pitch + rng.uniform(-0.6, 0.6)
        x = x0 + rng.uniform(-0.5, 0.5) * PPM * style["jitter"] * 4
        for ch in text:
            dy = rng.uniform(-1, 1) * style["jitter"] * PPM
            draw.text((x, top - cap_top + dy), ch, font=font, fill=255,
                      stroke_width=max(0, style["weight"]), stroke_fill=255)
            x += px(pitch) * (1 + rng.uniform(-1, 1) * style["jitter"])
    if style["weight"] < 0:
        mask = mask.filter(ImageFilter.MinFilter(3))
    mask = mask.filter(ImageFilter.GaussianBlur(0.6))
    alpha = np.asarray(mask, np.float32) / 255 * style["opacity"]
    ink = np.array(style["ink"], np.float32)
    arr = np.asarray(page, np.float32)
    arr = arr * (1 - alpha[..., None]) + ink * alpha[..., None]
    page.paste(Image.fromarray(arr.astype(np.uint8)))
    right = left_mm + len(lines[0]) * pitch
    return left_mm, first_top / PPM, right, last_bottom / PPM


def mrz_style(rng: random.Random, doc_class: str, heavy: bool = False) -> dict:
    ink_v = rng.randint(5, 60)
    return {
        "font": rng.choice(OCRB_FILES),
        "pitch": rng.uniform(2.38, 2.62),
        "line_pitch": rng.uniform(3.9, 4.9) if doc_class != "td1" else rng.uniform(3.6, 4.4),
        "weight": rng.choices([-1, 0, 1, 2], weights=[2, 4, 3, 1 if not heavy else 3])[0],
        "jitter": rng.uniform(0.0, 0.035),
        "opacity": rng.uniform(0.82, 1.0),
        "ink": (ink_v, ink_v + rng.randint(-5, 10), ink_v + rng.randint(0, 25)),
    }
