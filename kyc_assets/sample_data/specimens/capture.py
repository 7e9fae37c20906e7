"""How a document reaches a bank: flatbed scans (cropped or on a page, lid open or closed) and phone
photos (at an angle, on a table, held by a hand, among clutter), with light, glare, shadow, blur,
sensor noise, resampling and JPEG. Everything here works on RGB(A) images in pixels; ``ppm`` is the
pixels per millimetre of the input drawing."""

from __future__ import annotations

import io
import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .render import MONO_FONT, PPM, _font, _hsv


def _np_rng(rng: random.Random) -> np.random.Generator:
    return np.random.default_rng(rng.randrange(2**32))


def rounded_alpha(image: Image.Image, radius: int) -> Image.Image:
    """RGBA copy of a card with rounded corners."""
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle([0, 0, image.width - 1, image.height - 1], radius=radius, fill=255)
    out = image.convert("RGBA")
    out.putalpha(mask)
    return out


def stack(pieces: list[Image.Image], gap: int, vertical: bool = True, fold: bool = False) -> Image.Image:
    """Pieces one above the other (or side by side) on a transparent canvas; ``fold`` darkens the
    gutter of an open passport."""
    if vertical:
        w = max(p.width for p in pieces)
        h = sum(p.height for p in pieces) + gap * (len(pieces) - 1)
    else:
        w = sum(p.width for p in pieces) + gap * (len(pieces) - 1)
        h = max(p.height for p in pieces)
    out = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    pos = 0
    for p in pieces:
        out.alpha_composite(p.convert("RGBA"), (0, pos) if vertical else (pos, 0))
        pos += (p.height if vertical else p.width) + gap
    if fold and vertical and len(pieces) == 2:
        arr = np.asarray(out, np.float32)
        y = pieces[0].height + gap / 2
        ys = np.arange(h, dtype=np.float32)[:, None]
        shade = 1 - 0.35 * np.exp(-((ys - y) / (0.03 * h)) ** 2)
        arr[..., :3] *= shade[..., None]
        out = Image.fromarray(arr.astype(np.uint8), "RGBA")
    return out


# --------------------------------------------------------------------------- backgrounds


def table(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """Wood, fabric, desk or paper-strewn surface."""
    w, h = size
    g = _np_rng(rng)
    kind = rng.randrange(4)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # wood grain
        base = np.array(_hsv(rng.uniform(0.05, 0.1), rng.uniform(0.4, 0.7), rng.uniform(0.35, 0.75)), np.float32)
        grain = np.sin(ys / rng.uniform(4, 12) + 3 * np.sin(xs / rng.uniform(80, 200))) * 0.12
        arr = base * (1 + grain[..., None])
    elif kind == 1:  # woven fabric
        base = np.array(_hsv(rng.random(), rng.uniform(0.2, 0.6), rng.uniform(0.3, 0.8)), np.float32)
        period = rng.uniform(3, 8)
        weave = (np.sin(xs / period) * np.sin(ys / period)) * 0.15
        arr = base * (1 + weave[..., None])
    elif kind == 2:  # plain desk
        base = np.array(_hsv(rng.random(), rng.uniform(0.0, 0.2), rng.uniform(0.2, 0.9)), np.float32)
        arr = np.broadcast_to(base, (h, w, 3)).copy()
    else:  # marble-like
        base = np.array(_hsv(rng.random(), 0.05, rng.uniform(0.6, 0.9)), np.float32)
        veins = np.abs(np.sin((xs + 40 * np.sin(ys / 60)) / rng.uniform(30, 60))) ** 8 * 0.25
        arr = base * (1 - veins[..., None])
    arr = arr + g.normal(0, 6, (h, w, 1))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).convert("RGBA")


def clutter(rng: random.Random, canvas: Image.Image, scale: float) -> None:
    """Coins, a pen, a phone and a printed receipt (text distractors) on the table; ``scale`` px/mm."""
    draw = ImageDraw.Draw(canvas)
    w, h = canvas.size
    for _ in range(rng.randint(2, 5)):  # coins
        r = rng.uniform(8, 13) * scale
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        tone = _hsv(rng.uniform(0.08, 0.14), rng.uniform(0.2, 0.6), rng.uniform(0.5, 0.85))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=tone, outline=tuple(int(c * 0.7) for c in tone),
                     width=max(1, int(scale)))
    # pen
    a = rng.uniform(0, math.pi)
    cx, cy, length = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(110, 150) * scale
    dx, dy = math.cos(a) * length / 2, math.sin(a) * length / 2
    draw.line([cx - dx, cy - dy, cx + dx, cy + dy], fill=_hsv(rng.random(), 0.6, 0.4), width=int(8 * scale))
    # phone
    if rng.random() < 0.5:
        px0, py0 = rng.uniform(-40, w - 40) if w > 80 else 0, rng.uniform(-60, h - 60) if h > 120 else 0
        draw.rounded_rectangle([px0, py0, px0 + 70 * scale, py0 + 145 * scale], radius=int(8 * scale),
                               fill=(25, 25, 30))
    # receipt with text
    rw, rh = int(60 * scale), int(110 * scale)
    receipt = Image.new("RGBA", (rw, rh), (245, 243, 235, 255))
    rd = ImageDraw.Draw(receipt)
    font = _font(str(MONO_FONT), max(6, int(2.6 * scale)))
    for i in range(int(rh / (4 * scale))):
        words = ["TOTAL", "EUR", "CASH", "VAT", "REF", "CARD", "ITEM", "QTY", "AUTH"]
        text = f"{rng.choice(words)} {rng.randint(1, 999)}.{rng.randint(0, 99):02d} {rng.choice(words)}" \
            if rng.random() < 0.8 else "".join(rng.choice("ABCDEFGHKLMNPRSTUVXYZ0123456789<") for _ in range(18))
        rd.text((3 * scale, (2 + 4 * i) * scale), text, font=font, fill=(40, 40, 40, 255))
    receipt = receipt.rotate(rng.uniform(-40, 40), expand=True, resample=Image.BICUBIC)
    canvas.alpha_composite(receipt, (int(rng.uniform(-rw / 2, w - rw / 2)), int(rng.uniform(-rh / 2, h - rh / 2))))


def hand(rng: random.Random, canvas: Image.Image, quad: list[tuple[float, float]], scale: float) -> None:
    """A thumb over one side edge of the document (upper half, away from the MRZ) and the palm beyond."""
    tl, tr, br, bl = quad
    left = rng.random() < 0.5
    top, bottom = (tl, bl) if left else (tr, br)
    other = tr if left else tl
    t = rng.uniform(0.1, 0.45)
    p = (top[0] + (bottom[0] - top[0]) * t, top[1] + (bottom[1] - top[1]) * t)
    out = (top[0] - other[0], top[1] - other[1])
    norm = math.hypot(*out) or 1.0
    out = (out[0] / norm, out[1] / norm)
    skin = _hsv(rng.uniform(0.03, 0.09), rng.uniform(0.3, 0.6), rng.uniform(0.4, 0.9))
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)

    def blob(center, length, width, colour):
        ang = math.atan2(out[1], out[0])
        pts = [(center[0] + length / 2 * math.cos(a) * math.cos(ang) - width / 2 * math.sin(a) * math.sin(ang),
                center[1] + length / 2 * math.cos(a) * math.sin(ang) + width / 2 * math.sin(a) * math.cos(ang))
               for a in np.linspace(0, 2 * math.pi, 60)]
        draw.polygon(pts, fill=colour)

    inside = rng.uniform(5, 10) * scale
    length = 30 * scale
    blob((p[0] + out[0] * (length / 2 - inside), p[1] + out[1] * (length / 2 - inside)), length, 17 * scale,
         skin + (255,))
    blob((p[0] + out[0] * (length + 25 * scale), p[1] + out[1] * (length + 25 * scale)), 80 * scale, 70 * scale,
         tuple(int(c * 0.92) for c in skin) + (255,))
    layer = layer.filter(ImageFilter.GaussianBlur(max(1, scale * 0.8)))
    canvas.alpha_composite(layer)


# --------------------------------------------------------------------------- geometry


def perspective_coeffs(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> list[float]:
    """PIL PERSPECTIVE data mapping output points ``dst`` to input points ``src``."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.append(v)
    return np.linalg.solve(np.array(rows, float), np.array(rhs, float)).tolist()


def place(canvas: Image.Image, doc: Image.Image, quad: list[tuple[float, float]]) -> None:
    """Warp ``doc`` (RGBA) onto ``quad`` (tl, tr, br, bl) of ``canvas``, with a soft drop shadow."""
    w, h = doc.size
    coeffs = perspective_coeffs(quad, [(0, 0), (w, 0), (w, h), (0, h)])
    warped = doc.transform(canvas.size, Image.PERSPECTIVE, coeffs, Image.BICUBIC)
    alpha = warped.getchannel("A")
    shadow = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    shadow.putalpha(alpha.filter(ImageFilter.GaussianBlur(max(2, canvas.width / 300))).point(lambda a: a * 0.45))
    canvas.alpha_composite(shadow, (int(canvas.width / 250) + 1, int(canvas.width / 200) + 1))
    canvas.alpha_composite(warped)


# --------------------------------------------------------------------------- light


def uneven_light(arr: np.ndarray, rng: random.Random, depth: float) -> np.ndarray:
    h, w = arr.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 2 * math.pi)
    ramp = (xs / w - 0.5) * math.cos(a) + (ys / h - 0.5) * math.sin(a)
    cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.4, 1.0) * max(w, h)
    spot = np.exp(-(((xs - cx) ** 2 + (ys - cy) ** 2) / (r * r)))
    field = 1 - depth * (0.5 + ramp) * 0.8 + depth * 0.4 * spot
    tint = np.array([1.0, 1.0 - rng.uniform(0, 0.05), 1.0 - rng.uniform(0, 0.12)], np.float32)
    return arr * field[..., None] * tint


def shadow(arr: np.ndarray, rng: random.Random, band: tuple[float, float], depth: float) -> np.ndarray:
    """A soft-edged shadow (a phone or a head) over part of the image, crossing the rows ``band``
    (fractions of the height, where the MRZ is)."""
    h, w = arr.shape[:2]
    mask = Image.new("L", (w, h), 0)
    y = rng.uniform(*band) * h
    x_edge = rng.uniform(0.3, 0.7) * w
    slope = rng.uniform(-0.6, 0.6) * h
    if rng.random() < 0.5:
        pts = [(0, 0), (x_edge + slope, 0), (x_edge - slope, h), (0, h)]
    else:
        pts = [(0, y - rng.uniform(0.05, 0.3) * h), (w, y + rng.uniform(-0.1, 0.1) * h), (w, h), (0, h)]
    ImageDraw.Draw(mask).polygon(pts, fill=255)
    m = np.asarray(mask.filter(ImageFilter.GaussianBlur(rng.uniform(0.01, 0.05) * w)), np.float32) / 255
    colour = np.array([1.0, 1.0, 1.08], np.float32)
    return arr * (1 - depth * m[..., None] * colour[None, None, :].clip(0, 1.2))


def glare(arr: np.ndarray, rng: random.Random, centre: tuple[float, float], strength: float) -> np.ndarray:
    """Specular laminate glare: a bright elongated blob washing out print, plus a faint halo."""
    h, w = arr.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = centre[0] * w, centre[1] * h
    a = rng.uniform(0, math.pi)
    rx, ry = rng.uniform(0.06, 0.2) * w, rng.uniform(0.02, 0.07) * w
    dx, dy = xs - cx, ys - cy
    u = (dx * math.cos(a) + dy * math.sin(a)) / rx
    v = (-dx * math.sin(a) + dy * math.cos(a)) / ry
    core = np.exp(-(u * u + v * v) ** 1.5)
    halo = np.exp(-(u * u + v * v) / 9) * 0.35
    alpha = np.clip(strength * core + strength * halo, 0, 0.95)[..., None]
    return arr * (1 - alpha) + 255 * alpha


# --------------------------------------------------------------------------- output


def finish(image: Image.Image, rng: random.Random, width: int, blur: float, noise: float, quality: int,
           low_res_width: int | None = None) -> tuple[Image.Image, bytes]:
    """Resample to ``width`` pixels (via ``low_res_width`` first when given), blur, add sensor noise, and
    JPEG-encode; returns the decoded image and the file bytes."""
    height = max(1, round(image.height * width / image.width))
    if low_res_width:
        small = image.resize((low_res_width, max(1, round(image.height * low_res_width / image.width))),
                             Image.BOX)
        image = small.resize((width, height), Image.BILINEAR)
    else:
        image = image.resize((width, height), Image.LANCZOS, reducing_gap=3.0)
    if blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(image, np.float32)
    g = _np_rng(rng)
    arr = arr + g.normal(0, noise, arr.shape[:2] + (1,)) + g.normal(0, noise * 0.4, arr.shape)
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, subsampling=2 if quality < 70 else 0)
    data = buffer.getvalue()
    return Image.open(io.BytesIO(data)), data


# --------------------------------------------------------------------------- the capture of one specimen


def capture(rng: random.Random, assembly, mrz_band: tuple[float, float], degradation: str, photo: bool):
    """Scan or photograph ``assembly`` (RGBA at PPM) with ``degradation`` dominant; (jpeg bytes, meta)."""
    aw, ah = assembly.size
    if photo:
        out_w = rng.randint(900, 1200) if degradation != "clutter" else rng.randint(800, 1200)
        frac = rng.uniform(0.62, 0.85) if degradation != "clutter" else rng.uniform(0.5, 0.68)
        work = max(3.0, min(PPM, out_w / (aw / PPM / frac) * 1.6))  # px/mm of the working canvas
        doc = assembly.resize((max(1, int(aw * work / PPM)), max(1, int(ah * work / PPM))), Image.LANCZOS)
        cw = int(doc.width / frac)
        ch = int(max(doc.height * rng.uniform(1.25, 1.6), cw * rng.uniform(0.6, 0.8)))
        canvas = table(rng, (cw, ch))
        if degradation == "clutter":
            clutter(rng, canvas, work)
        jitter = 0.12 if degradation == "photo_angle" else 0.04
        ox, oy = (cw - doc.width) / 2, (ch - doc.height) / 2
        angle = math.radians(rng.uniform(-8, 8) if degradation == "photo_angle" else rng.uniform(-3, 3))
        quad = []
        for cx, cy in ((0, 0), (doc.width, 0), (doc.width, doc.height), (0, doc.height)):
            x, y = cx - doc.width / 2, cy - doc.height / 2
            x, y = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
            quad.append((ox + doc.width / 2 + x + rng.uniform(-jitter, jitter) * doc.width,
                         oy + doc.height / 2 + y + rng.uniform(-jitter, jitter) * doc.height * 0.7))
        place(canvas, doc, quad)
        if degradation in ("clutter", "photo_angle") or rng.random() < 0.3:
            hand(rng, canvas, quad, work)
        arr = np.asarray(canvas.convert("RGB"), np.float32)
        arr = uneven_light(arr, rng, rng.uniform(0.15, 0.45))
        if rng.random() < 0.3:
            top = min(q[1] for q in quad) / ch
            bottom = max(q[1] for q in quad) / ch
            arr = glare(arr, rng, (rng.uniform(0.3, 0.7), top + (bottom - top) * rng.uniform(0.2, 0.6)), 0.6)
        image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        blur = rng.uniform(1.2, 2.0) if degradation == "blur" else rng.uniform(0.2, 0.7)
        quality = rng.randint(55, 88)
        out, data = finish(image, rng, out_w, blur, rng.uniform(2.5, 6), quality)
        dpi = round(out_w / (cw / work) * 25.4)
        return data, {"width": out.width, "height": out.height, "dpi": dpi, "jpeg_quality": quality,
                      "capture": "photo"}
    # flatbed scan
    tight = degradation == "tight_edge"
    lid_open = tight and rng.random() < 0.5 or rng.random() < 0.15
    bg = (rng.randint(10, 50),) * 3 if lid_open else (rng.randint(232, 252),) * 3
    margin = int(PPM * (rng.uniform(0, 1.0) if tight else rng.uniform(2, 14)))
    angle = rng.uniform(-2.5, 2.5)
    rotated = assembly.rotate(angle, resample=Image.BICUBIC, expand=True)
    canvas = Image.new("RGBA", (rotated.width + 2 * margin, rotated.height + 2 * margin), bg + (255,))
    canvas.alpha_composite(rotated, (margin, margin))
    if tight:  # cropped to the card: the MRZ runs up to the image edge
        cut = int(PPM * rng.uniform(0.3, 1.0))
        canvas = canvas.crop((cut, cut, canvas.width - cut, canvas.height - cut))
    arr = np.asarray(canvas.convert("RGB"), np.float32)
    arr = uneven_light(arr, rng, rng.uniform(0.05, 0.2) if degradation != "shadow" else 0.2)
    band = (mrz_band[0], mrz_band[1])
    if degradation == "shadow":
        arr = shadow(arr, rng, band, rng.uniform(0.3, 0.55))
    if degradation == "glare":
        centre = (rng.uniform(0.2, 0.8), rng.uniform(*band))
        arr = glare(arr, rng, centre, rng.uniform(0.6, 0.85))
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    width_mm = image.width / PPM
    dpi = rng.uniform(150, 300)
    out_w = int(min(1200, max(600, width_mm / 25.4 * dpi)))
    low = None
    if degradation == "low_res":
        low = int(width_mm / 25.4 * rng.uniform(85, 115))
        out_w = max(600, min(900, low * 2))
    quality = rng.randint(38, 48) if degradation == "jpeg_low" else rng.randint(60, 90)
    blur = rng.uniform(0.3, 0.8)
    out, data = finish(image, rng, out_w, blur, rng.uniform(1.5, 4), quality, low)
    dpi = round((low or out_w) / width_mm * 25.4)
    return data, {"width": out.width, "height": out.height, "dpi": dpi, "jpeg_quality": quality,
                  "capture": "scan"}
