"""Page layouts: passport data pages (TD3), ID cards front and back (TD1, several national layouts),
TD2 cards and visa stickers (MRV-A/B) on a passport page. Sizes and positions in millimetres."""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw

from .capture import rounded_alpha, stack
from .render import (
    PPM,
    SANS_FONT,
    SIZES,
    TITLES,
    _font,
    _hsv,
    draw_mrz,
    hologram,
    label,
    mrz_style,
    portrait,
    px,
    security_background,
    signature,
    viz_date,
)


class Writer:
    """Labels and values of the visual zone on one page."""

    def __init__(self, image: Image.Image, rng: random.Random, languages: tuple[str, ...]):
        self.image, self.rng, self.languages = image, rng, languages
        self.draw = ImageDraw.Draw(image)
        self.label_mm = rng.uniform(1.4, 1.9)
        self.value_mm = rng.uniform(2.6, 3.4)
        self.label_colour = _hsv(rng.random(), rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.55))
        self.value_colour = (rng.randint(10, 40),) * 3
        self.bold = rng.random() < 0.6
        self.count = rng.choice((1, 2, 2, 3))
        self.numbered = rng.random() < 0.35
        self.n = 0

    def text(self, x_mm: float, y_mm: float, text: str, size_mm: float, colour, bold: bool = False) -> None:
        font = _font(str(SANS_FONT), max(6, int(size_mm * PPM / 0.73)))
        self.draw.text((px(x_mm), px(y_mm)), text, font=font, fill=colour, stroke_width=1 if bold else 0,
                       stroke_fill=colour)

    def field(self, x_mm: float, y_mm: float, key: str, value: str, max_mm: float | None = None) -> float:
        """Label then value under it; returns the y (mm) below the value."""
        self.n += 1
        text = label(key, self.languages, self.count)
        if self.numbered:
            text = f"{self.n}. {text}"
        self.text(x_mm, y_mm, text, self.label_mm, self.label_colour)
        size = self.value_mm
        if max_mm:  # shrink long values to fit, as issuers do
            font = _font(str(SANS_FONT), max(6, int(size * PPM / 0.73)))
            width = font.getlength(value) / PPM
            if width > max_mm:
                size = max(1.6, size * max_mm / width)
        self.text(x_mm, y_mm + self.label_mm * 1.35, value, size, self.value_colour, self.bold)
        return y_mm + self.label_mm * 1.35 + self.value_mm * 1.35


def _page(rng: random.Random, size_mm: tuple[float, float], strength: float) -> Image.Image:
    w, h = px(size_mm[0]), px(size_mm[1])
    return security_background(rng, (w, h), strength)


def _paste_portrait(page: Image.Image, rng: random.Random, box_mm: tuple[float, float, float, float],
                    ghost_box: tuple[float, float, float, float] | None = None) -> None:
    x, y, w, h = box_mm
    face = portrait(rng, (px(w), px(h)), grey=rng.random() < 0.4)
    page.paste(face, (px(x), px(y)))
    if ghost_box:  # the small ghost image printed semi-transparent
        gx, gy, gw, gh = ghost_box
        ghost = portrait(rng, (px(gw), px(gh)), grey=True)
        region = page.crop((px(gx), px(gy), px(gx) + ghost.width, px(gy) + ghost.height))
        page.paste(Image.blend(region, ghost, 0.35), (px(gx), px(gy)))


def _holo(page: Image.Image, rng: random.Random, box_mm: tuple[float, float, float, float]) -> None:
    x, y, w, h = box_mm
    layer = Image.new("RGBA", page.size, (0, 0, 0, 0))
    layer.paste(hologram(rng, (px(w), px(h))), (px(x), px(y)))
    page.paste(Image.alpha_composite(page.convert("RGBA"), layer).convert("RGB"))


def _header(w: Writer, width_mm: float, country: str, kind: str, y: float = 2.5) -> None:
    title = " / ".join(TITLES[kind][lang] for lang in w.languages[:w.rng.choice((1, 2, 3))])
    w.text(width_mm * w.rng.uniform(0.25, 0.35), y, country, w.rng.uniform(2.4, 3.2), w.label_colour, True)
    w.text(width_mm * w.rng.uniform(0.25, 0.35), y + 4.2, title, w.rng.uniform(2.0, 2.8), w.label_colour)


def passport_page(rng, doc: dict, mrz_lines: list[str], style: dict, strength: float, tight: bool) -> Image.Image:
    """TD3 data page (125 x 88 mm)."""
    size = SIZES["td3"]
    page = _page(rng, size, strength)
    w = Writer(page, rng, doc["languages"])
    _header(w, size[0], doc["country_name"], "passport")
    photo_left = rng.random() < 0.85
    px0 = rng.uniform(4, 8) if photo_left else size[0] - 40
    _paste_portrait(page, rng, (px0, rng.uniform(13, 16), 32, 40), (size[0] - 24, 48, 16, 20) if rng.random() < .5
                    else None)
    x = 42 if photo_left else 6
    col = 40
    y = 13.5
    w.field(x, y, "type", "P")
    w.field(x + 14, y, "code", doc["issuing_country"])
    w.field(x + col, y, "number", doc["document_number"])
    y = w.field(x, y + 7.5, "surname", doc["surname_printed"].upper(), 74)
    y = w.field(x, y + 0.5, "given", doc["given_names_printed"].upper() or "—", 74)
    y2 = w.field(x, y + 0.5, "nationality", doc["nationality_printed"], col - 2)
    w.field(x + col, y + 0.5, "sex", doc["sex"])
    y = y2
    y2 = w.field(x, y + 0.5, "dob", viz_date(doc["date_of_birth"], doc["date_style"], w.languages), col - 2)
    w.field(x + col, y + 0.5, "pob", doc["place_of_birth"], 34)
    y = y2
    y2 = w.field(x, y + 0.5, "issue", viz_date(doc["issue_date"], doc["date_style"], w.languages), col - 2)
    w.field(x + col, y + 0.5, "authority", doc["authority"], 34)
    w.field(x, y2 + 0.5, "expiry", viz_date(doc["expiry_date"], doc["date_style"], w.languages), col - 2)
    signature(w.draw, rng, (px(x + col), px(y2 + 2), px(x + col + 25), px(y2 + 7)))
    _holo(page, rng, (rng.uniform(10, 70), rng.uniform(15, 45), rng.uniform(25, 45), rng.uniform(18, 30)))
    left = rng.uniform(1.2, 2.2) if tight else rng.uniform(4.5, 7.0)
    bottom = rng.uniform(0.6, 1.4) if tight else rng.uniform(3.5, 6.5)
    draw_mrz(page, rng, mrz_lines, left, bottom, size[0] - left - 0.8, style)
    return page


def upper_page(rng: random.Random, doc: dict, strength: float) -> Image.Image:
    """The facing page of an open passport (observations, or a stamp), printed on the same paper."""
    page = _page(rng, SIZES["td3"], strength * 0.8)
    w = Writer(page, rng, doc["languages"])
    if rng.random() < 0.5:
        w.text(8, 8, "OBSERVATIONS / OBSERVATIONS / ANMERKUNGEN", 2.2, w.label_colour)
        for i in range(rng.randint(0, 3)):
            w.text(10, 16 + 6 * i, rng.choice(["THE HOLDER IS ALSO KNOWN AS", "SEE PAGE 4", "VALID FOR ALL COUNTRIES",
                                               "NO ENDORSEMENTS"]), 2.6, w.value_colour)
    else:  # an entry stamp
        d = ImageDraw.Draw(page)
        cx, cy, r = px(rng.uniform(30, 90)), px(rng.uniform(25, 60)), px(rng.uniform(12, 18))
        colour = _hsv(rng.choice((0.0, 0.6, 0.35)), 0.7, 0.55)
        d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=colour, width=px(0.5))
        w.text(cx / PPM - 9, cy / PPM - 2, viz_date(doc["issue_date"], 1, ("en",)), 2.5, colour)
    return page


def id_card_front(rng, doc: dict, strength: float, layout: int) -> Image.Image:
    """TD1/TD2 front: three national layouts (photo left, photo right, number band on top)."""
    size = SIZES["td1"]
    page = _page(rng, size, strength)
    w = Writer(page, rng, doc["languages"])
    w.value_mm = rng.uniform(2.3, 2.9)
    w.label_mm = rng.uniform(1.2, 1.6)
    w.text(3, 2, doc["country_name"], 2.3, w.label_colour, True)
    w.text(3, 5.2, " / ".join(TITLES["id_card"][lang] for lang in w.languages[:2]), 1.8, w.label_colour)
    if layout == 2:  # number in red in the top corner
        w.text(size[0] - 24, 2.2, doc["document_number"], 3.0, (180, 30, 40), True)
    photo_x = 3 if layout != 1 else size[0] - 27
    _paste_portrait(page, rng, (photo_x, 10, 23, 30))
    x = 29 if layout != 1 else 3
    y = w.field(x, 9, "surname", doc["surname_printed"].upper(), 52)
    y = w.field(x, y, "given", doc["given_names_printed"].upper() or "—", 52)
    y2 = w.field(x, y, "dob", viz_date(doc["date_of_birth"], doc["date_style"], w.languages), 31)
    w.field(x + 33, y, "sex", doc["sex"])
    y = y2
    y2 = w.field(x, y, "nationality", doc["nationality_printed"], 22)
    w.field(x + 25, y, "expiry", viz_date(doc["expiry_date"], doc["date_style"], w.languages))
    if layout != 2:
        w.field(x, y2, "number", doc["document_number"])
    signature(w.draw, rng, (px(photo_x), px(42), px(photo_x + 22), px(50)))
    _holo(page, rng, (rng.uniform(15, 50), rng.uniform(8, 30), rng.uniform(15, 30), rng.uniform(12, 20)))
    return page


def id_card_back(rng, doc: dict, mrz_lines: list[str], style: dict, strength: float, tight: bool) -> Image.Image:
    """TD1 back: address, authority, issue date and often the number again above the 3-line MRZ."""
    size = SIZES["td1"]
    page = _page(rng, size, strength)
    w = Writer(page, rng, doc["languages"])
    w.value_mm = rng.uniform(2.0, 2.6)
    w.label_mm = rng.uniform(1.1, 1.5)
    y = w.field(4, 3, "address", doc["address"], 55)
    y = w.field(4, y, "authority", doc["authority"], 55)
    w.field(4, y, "issue", viz_date(doc["issue_date"], doc["date_style"], w.languages))
    if rng.random() < 0.6:
        w.text(size[0] - 26, 3, doc["document_number"], 2.6, w.value_colour, True)
    left = rng.uniform(0.8, 1.6) if tight else rng.uniform(3.0, 5.0)
    bottom = rng.uniform(0.5, 1.2) if tight else rng.uniform(2.5, 4.5)
    draw_mrz(page, rng, mrz_lines, left, bottom, size[0] - left - 0.6, style)
    return page


def td2_card(rng, doc: dict, mrz_lines: list[str], style: dict, strength: float, tight: bool) -> Image.Image:
    """TD2 (105 x 74 mm) card with a 2-line MRZ on its front."""
    size = SIZES["td2"]
    page = _page(rng, size, strength)
    w = Writer(page, rng, doc["languages"])
    _header(w, size[0], doc["country_name"], "id_card", y=2)
    _paste_portrait(page, rng, (4, 12, 26, 33))
    x = 34
    y = w.field(x, 12, "surname", doc["surname_printed"].upper(), 66)
    y = w.field(x, y, "given", doc["given_names_printed"].upper() or "—", 66)
    y2 = w.field(x, y, "dob", viz_date(doc["date_of_birth"], doc["date_style"], w.languages))
    w.field(x + 32, y, "sex", doc["sex"])
    y = y2
    w.field(x, y, "nationality", doc["nationality_printed"])
    w.field(x + 32, y, "expiry", viz_date(doc["expiry_date"], doc["date_style"], w.languages))
    w.text(4, 47, doc["document_number"], 2.8, (170, 35, 45) if rng.random() < .5 else w.value_colour, True)
    _holo(page, rng, (rng.uniform(20, 60), rng.uniform(10, 35), rng.uniform(20, 35), rng.uniform(14, 22)))
    left = rng.uniform(1.0, 2.0) if tight else rng.uniform(3.5, 6.0)
    bottom = rng.uniform(0.5, 1.3) if tight else rng.uniform(3.0, 5.5)
    draw_mrz(page, rng, mrz_lines, left, bottom, size[0] - left - 0.6, style)
    return page


def visa_on_page(rng, doc: dict, doc_class: str, mrz_lines: list[str], style: dict, strength: float,
                 tight: bool) -> Image.Image:
    """A visa sticker (MRV-A 120 x 80, MRV-B 105 x 74) glued on a passport visa page (125 x 88)."""
    page = _page(rng, SIZES["td3"], 0.3)
    ImageDraw.Draw(page).text((px(5), px(2)), str(rng.randint(4, 30)), fill=(120, 120, 140),
                              font=_font(str(SANS_FONT), px(3)))
    sw, sh = SIZES[doc_class]
    sticker = _page(rng, (sw, sh), strength)
    w = Writer(sticker, rng, doc["languages"])
    w.text(4, 2, f"{TITLES['visa']['en']}  {doc['country_name']}", 2.6, w.label_colour, True)
    _paste_portrait(sticker, rng, (3, 9, 24, 31))
    x = 30
    w.field(x, 8, "number", doc["document_number"])
    w.field(x + 40, 8, "type", rng.choice(["C", "D", "A"]))
    y = w.field(x, 16, "surname", doc["surname_printed"].upper(), sw - x - 3)
    y = w.field(x, y, "given", doc["given_names_printed"].upper() or "—", sw - x - 3)
    y2 = w.field(x, y, "dob", viz_date(doc["date_of_birth"], doc["date_style"], w.languages))
    w.field(x + 36, y, "sex", doc["sex"])
    w.field(x, y2, "expiry", viz_date(doc["expiry_date"], doc["date_style"], w.languages))
    w.field(x + 36, y2, "nationality", doc["nationality_printed"])
    _holo(sticker, rng, (rng.uniform(40, sw - 30), rng.uniform(5, 30), 24, 20))
    left = rng.uniform(0.8, 1.8) if tight else rng.uniform(2.5, 4.5)
    bottom = rng.uniform(0.5, 1.2) if tight else rng.uniform(2.0, 4.0)
    draw_mrz(sticker, rng, mrz_lines, left, bottom, sw - left - 0.6, style)
    # the sticker sits near the bottom of the page, slightly askew in position
    ox = (SIZES["td3"][0] - sw) / 2 + rng.uniform(-1.5, 1.5)
    oy = SIZES["td3"][1] - sh - rng.uniform(1.0, 3.5)
    page.paste(sticker, (px(ox), px(oy)))
    arr = np.asarray(page, np.float32)
    return Image.fromarray(arr.astype(np.uint8))


def pieces(rng: random.Random, doc_class: str, doc: dict, lines: list[str], degradation: str, photo: bool):
    """The printed pages of one capture and the vertical band (fractions of its height) holding the MRZ."""
    strength = rng.uniform(0.45, 0.8) if degradation == "guilloche" else rng.uniform(0.1, 0.35)
    tight = degradation == "tight_edge" or rng.random() < 0.1
    style = mrz_style(rng, doc_class, heavy=degradation == "guilloche")
    if doc_class == "td3":
        data = passport_page(rng, doc, lines, style, strength, tight)
        if not photo and not tight and rng.random() < 0.5:
            both = stack([upper_page(rng, doc, strength), data], gap=0, fold=True)
            return both, (0.85, 1.0)
        return data.convert("RGBA"), (0.7, 1.0)
    if doc_class == "td1":
        back = rounded_alpha(id_card_back(rng, doc, lines, style, strength, tight), PPM * 3)
        if not photo and not tight and rng.random() < 0.6:
            front = rounded_alpha(id_card_front(rng, doc, strength, rng.randrange(3)), PPM * 3)
            vertical = rng.random() < 0.7
            both = stack([front, back], gap=int(PPM * rng.uniform(4, 15)), vertical=vertical)
            return both, ((0.75, 1.0) if vertical else (0.6, 1.0))
        return back, (0.6, 1.0)
    if doc_class == "td2":
        card = td2_card(rng, doc, lines, style, strength, tight)
        return rounded_alpha(card, PPM * 3), (0.7, 1.0)
    page = visa_on_page(rng, doc, doc_class, lines, style, strength, tight)
    return page.convert("RGBA"), (0.7, 1.0)
