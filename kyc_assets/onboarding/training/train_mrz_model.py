"""Train the shipped Tesseract LSTM model ``mrz.traineddata`` for MRZ lines printed in OCR-B.

Reproducible end to end with Debian's ``tesseract-ocr`` (``lstmtraining``, ``combine_lang_model``,
``unicharset_extractor``) and ``fonts-ocr-b``; nothing is downloaded::

    OMP_THREAD_LIMIT=1 nice -n 19 python -m kyc_assets.onboarding.training.train_mrz_model all \\
        --work /tmp/mrz-train --lines 5600 --max-iterations 30000

Steps (each is a sub-command, ``all`` runs them in order):

``generate``  MRZ-like lines (TD1 30, TD2 36, TD3 44 characters, visas; valid check digits, random
              names, numbers and dates, plus 15 % random strings of the 37 MRZ characters) rendered
              in OCR-B with varied weight, spacing, blur, noise, JPEG, rotation, guilloche / textured
              backgrounds, low resolution and contrast; written as multi-page TIFFs with a WordStr
              box file and a ``.gt.txt`` per chunk, then ``tesseract ... --psm 13 lstm.train``
              turns each chunk into an ``.lstmf`` file. Training seeds are ``TRAIN_SEED + chunk``.
``starter``   unicharset from the ground truth, a minimal langdata (no dictionary: an MRZ is not
              language) and ``combine_lang_model`` -> the starter traineddata.
``train``     ``lstmtraining`` from scratch with ``NET_SPEC`` (checkpoints in ``--work``).
``finish``    ``lstmtraining --stop_training --convert_to_int`` -> ``kyc_assets/data/tessdata``.
``evaluate``  char / line accuracy and ms per line of the shipped model and of Debian's ``eng``
              (MRZ whitelist) on held-out lines: other seeds (``HELDOUT_SEED``) and other
              degradations than training (``style="heldout"``).
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import shutil
import string
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

MRZ_ALPHABET = string.ascii_uppercase + string.digits + "<"
NET_SPEC = "[1,36,0,1 Ct3,3,16 Mp3,3 Lfys48 Lfx96 Lrx96 Lfx96 O1c###]"
TRAIN_SEED = 10_000          # chunk k of the training data uses seed TRAIN_SEED + k
HELDOUT_SEED = 5_550_000     # evaluation lines (never used for training)
CHUNK = 400                  # lines per multi-page TIFF / lstmf
FONT_DIR = Path("/usr/share/fonts/opentype/ocr-b")
TRAIN_FONTS = ("OCRB.otf", "OCRBS.otf")   # Debian fonts-ocr-b: regular and "sharp" renderings
PACKAGE_TESSDATA = Path(__file__).resolve().parents[2] / "data" / "tessdata"

COUNTRIES = ["UTO", "XXA", "D<<", "GBR", "FRA", "NLD", "ESP", "ITA", "USA", "CAN", "BEL", "CHE", "AUT",
             "POL", "SWE", "NOR", "FIN", "DNK", "IRL", "PRT", "GRC", "CZE", "HUN", "ROU", "BGR", "HRV",
             "SVN", "SVK", "LTU", "LVA", "EST", "LUX", "MLT", "CYP", "ISL", "TUR", "UKR", "IND", "CHN",
             "JPN", "KOR", "BRA", "ARG", "MEX", "ZAF", "NGA", "KEN", "EGY", "MAR", "AUS", "NZL", "XXB",
             "XXC", "XXX", "UNO", "UNA", "GBD", "GBN", "ZZZ", "RKS"]
SYLLABLES = ["AN", "NA", "MA", "RI", "KO", "LE", "SEN", "BER", "GUS", "TA", "VAN", "DER", "MOH", "AM",
             "ED", "OL", "IV", "IER", "SCH", "MID", "KAR", "LA", "WSKI", "NOV", "ZHA", "NG", "QU", "IX",
             "YU", "FE", "JO", "HAN", "PET", "ROS", "EL", "IN", "UR", "OG", "CK", "WA", "XI", "BE"]


# --------------------------------------------------------------------------- MRZ text


def check_digit(field: str) -> str:
    """ICAO 9303 check digit (weights 7, 3, 1; ``<`` = 0, A = 10 ... Z = 35)."""
    total = 0
    for i, ch in enumerate(field):
        value = int(ch) if ch.isdigit() else (ord(ch) - 55 if ch.isalpha() else 0)
        total += value * (7, 3, 1)[i % 3]
    return str(total % 10)


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4)))


def _names(rng: random.Random, width: int) -> str:
    """``SURNAME<<GIVEN<NAMES`` padded / truncated to ``width`` (filler-only and truncated cases)."""
    surname = "<".join(_word(rng) for _ in range(rng.choice((1, 1, 1, 2, 3))))
    roll = rng.random()
    if roll < 0.1:
        text = surname                                 # filler-only given names
    else:
        given = "<".join(_word(rng) for _ in range(rng.choice((1, 1, 2, 2, 3, 4))))
        text = surname + "<<" + given
    if roll > 0.9:
        text = text + "<" + "<".join(_word(rng) for _ in range(5))  # long: truncated at the width
    return text[:width].ljust(width, "<")


def _number(rng: random.Random, width: int = 9) -> str:
    n = rng.randint(6, width)
    pool = string.digits * 3 + string.ascii_uppercase
    return "".join(rng.choice(pool) for _ in range(n)).ljust(width, "<")


def _date(rng: random.Random) -> str:
    return f"{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"


def _optional(rng: random.Random, width: int) -> str:
    if rng.random() < 0.5:
        return "<" * width
    return "".join(rng.choice(MRZ_ALPHABET) for _ in range(rng.randint(1, width))).ljust(width, "<")[:width]


def mrz_document(rng: random.Random) -> list[str]:
    """The MRZ lines of one random document (TD1, TD2, TD3, MRV-A or MRV-B), valid check digits."""
    kind = rng.choice(("TD1", "TD1", "TD2", "TD3", "TD3", "MRVA", "MRVB"))
    issuer, nat = rng.choice(COUNTRIES), rng.choice(COUNTRIES)
    number, dob, expiry = _number(rng), _date(rng), _date(rng)
    sex = rng.choice("MFF<X")
    if kind == "TD1":
        doc = rng.choice(("I<", "ID", "IR", "AC", "C<", "IP"))
        opt1, opt2 = _optional(rng, 15), _optional(rng, 11)
        l1 = doc + issuer + number + check_digit(number) + opt1
        l2 = dob + check_digit(dob) + sex + expiry + check_digit(expiry) + nat + opt2
        composite = check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
        return [l1, l2 + composite, _names(rng, 30)]
    if kind == "TD2":
        doc = rng.choice(("I<", "ID", "A<", "C<"))
        opt = _optional(rng, 7)
        l2 = number + check_digit(number) + nat + dob + check_digit(dob) + sex + expiry + check_digit(expiry) + opt
        composite = check_digit(l2[0:10] + l2[13:20] + l2[21:35])
        return [doc + issuer + _names(rng, 31), l2 + composite]
    if kind == "TD3":
        doc = rng.choice(("P<", "P<", "PD", "PO", "PS"))
        personal = _optional(rng, 14)
        l2 = (number + check_digit(number) + nat + dob + check_digit(dob) + sex + expiry + check_digit(expiry)
              + personal + check_digit(personal))
        composite = check_digit(l2[0:10] + l2[13:20] + l2[21:43])
        return [doc + issuer + _names(rng, 39), l2 + composite]
    width = 44 if kind == "MRVA" else 36
    l2 = number + check_digit(number) + nat + dob + check_digit(dob) + sex + expiry + check_digit(expiry)
    return ["V" + rng.choice("<ABC") + issuer + _names(rng, width - 5), l2 + _optional(rng, width - len(l2))]


def training_line(rng: random.Random) -> str:
    """One ground-truth line: 85 % real MRZ structure, 15 % random MRZ characters (long ``<`` runs)."""
    if rng.random() < 0.15:
        width = rng.choice((30, 36, 44))
        out, fill = [], rng.random() * 0.6
        while len(out) < width:
            if rng.random() < fill:
                out.extend("<" * rng.randint(1, 8))
            else:
                out.append(rng.choice(MRZ_ALPHABET[:-1]))
        return "".join(out[:width])
    return rng.choice(mrz_document(rng))


# --------------------------------------------------------------------------- rendering


def font_path(name: str = "OCRB.otf") -> Path:
    path = FONT_DIR / name
    if not path.exists():
        raise SystemExit(f"OCR-B font {path} is missing: install it with `apt-get install fonts-ocr-b`")
    return path


_FONTS: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    key = (name, size)
    if key not in _FONTS:
        _FONTS[key] = ImageFont.truetype(str(font_path(name)), size)
    return _FONTS[key]


def _guilloche(draw: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random, base: int) -> None:
    """Security-print-like background: families of fine sine waves and a rosette."""
    for _ in range(rng.randint(1, 3)):
        amp, period = rng.uniform(0.1, 0.8) * h, rng.uniform(0.3, 3.0) * h
        step, tone = rng.uniform(3, 12), max(0, base - rng.randint(15, 90))
        width = rng.choice((1, 1, 2))
        for k in range(int(h * 1.5 / step)):
            y0, phase = -h * 0.25 + k * step, rng.uniform(0, 0.3) + k * 0.15
            pts = [(x, y0 + amp * math.sin(2 * math.pi * x / period + phase)) for x in range(0, w + 8, 6)]
            draw.line(pts, fill=tone, width=width)
    if rng.random() < 0.4:
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.5, 2.0) * h
        tone = max(0, base - rng.randint(20, 70))
        R, rr, d = r, r * rng.uniform(0.2, 0.6), r * rng.uniform(0.3, 0.9)
        pts = []
        for i in range(1500):
            t = i / 1500 * 2 * math.pi * 12
            pts.append((cx + (R - rr) * math.cos(t) + d * math.cos((R - rr) / rr * t),
                        cy + (R - rr) * math.sin(t) - d * math.sin((R - rr) / rr * t)))
        draw.line(pts, fill=tone, width=1)


def _noise_texture(w: int, h: int, rng: random.Random, scale: float, strength: int) -> Image.Image:
    small = Image.effect_noise((max(2, int(w / scale)), max(2, int(h / scale))), strength)
    return small.resize((w, h), Image.BICUBIC)


def _background(w: int, h: int, rng: random.Random, style: str) -> Image.Image:
    base = rng.randint(150, 255) if rng.random() < 0.85 else rng.randint(110, 160)
    bg = Image.new("L", (w, h), base)
    if style == "train":
        if rng.random() < 0.7:
            _guilloche(ImageDraw.Draw(bg), w, h, rng, base)
        if rng.random() < 0.5:   # paper / print texture
            tex = _noise_texture(w, h, rng, rng.uniform(1, 6), rng.randint(10, 50))
            bg = Image.blend(bg, tex.point(lambda v: base + (v - 128) * 0.4), rng.uniform(0.2, 0.6))
        if rng.random() < 0.4:   # smooth gradient (uneven light)
            grad = Image.linear_gradient("L").rotate(rng.choice((0, 90, 180, 270))).resize((w, h))
            bg = Image.blend(bg, grad.point(lambda v: base - 60 + v * 0.45), rng.uniform(0.1, 0.4))
    else:  # held-out: blotchy photo-like background, micro-print text, dots, vignette
        tex = _noise_texture(w, h, rng, rng.uniform(8, 30), 80)
        bg = Image.blend(bg, tex.point(lambda v: base - 40 + v * 0.3), rng.uniform(0.3, 0.7))
        draw = ImageDraw.Draw(bg)
        if rng.random() < 0.6:   # micro-print (lower-case, so the truth stays the MRZ)
            small = ImageFont.truetype(str(font_path("OCRB.otf")), max(6, h // 8))
            tone = max(0, base - rng.randint(30, 80))
            for y in range(0, h, max(6, h // 7)):
                draw.text((-rng.randint(0, 30), y), "republic of utopia passport " * 12, fill=tone, font=small)
        if rng.random() < 0.5:
            step = rng.randint(4, 10)
            tone = max(0, base - rng.randint(20, 60))
            for y in range(0, h, step):
                for x in range((y // step) % 2 * step // 2, w, step):
                    draw.point((x, y), fill=tone)
    return bg


@dataclass
class Rendered:
    image: Image.Image
    text: str


def render_line(text: str, rng: random.Random, style: str = "train") -> Image.Image:
    """``text`` in OCR-B on a degraded background, cropped roughly to the line (grayscale image)."""
    size = rng.randint(40, 64)                               # high-resolution drawing size in px
    fonts = TRAIN_FONTS if style == "train" else ("OCRB.otf",)
    font = _font(rng.choice(fonts), size)
    advance = font.getlength("0") * rng.uniform(0.9, 1.2)
    ascent, _descent = font.getmetrics()
    cap = font.getbbox("H")[3] - font.getbbox("H")[1]
    angle = rng.uniform(-1.5, 1.5) if style == "train" else rng.uniform(-2.0, 2.0)
    margin_x = int(rng.uniform(0.3, 2.5) * advance)
    w = int(advance * len(text) + 2 * margin_x)
    tilt = w / 2 * math.sin(math.radians(abs(angle)))   # the rotated line's ends move up / down
    margin_y = int(tilt + rng.uniform(0.1, 0.8) * cap)
    h = int(cap + 2 * margin_y)
    pad = size + int(tilt)                                   # room for rotation, cropped later
    W, H = w + 2 * pad, h + 2 * pad
    ink_mask = Image.new("L", (W, H), 0)
    draw = ImageDraw.Draw(ink_mask)
    top = pad + margin_y - (ascent - cap)                    # baseline so that caps sit in the box
    stroke = rng.choice((0, 0, 0, 1, 1, 2)) if style == "train" else rng.choice((0, 1))
    x = pad + margin_x
    for ch in text:
        jitter_y = rng.gauss(0, 0.02 * cap)
        draw.text((x + rng.gauss(0, 0.02 * advance), top + jitter_y), ch, fill=255, font=font,
                  stroke_width=stroke, stroke_fill=255)
        x += advance
    # Neighbouring MRZ lines cut by a tight crop (above and/or below).
    line_gap = cap * rng.uniform(1.5, 2.2)
    for direction in (-1, 1):
        if rng.random() < 0.25:
            other = training_line(rng)[: len(text)]
            draw.text((pad + margin_x, top + direction * line_gap), "".join(other), fill=255, font=font)
    if style == "train" and rng.random() < 0.3:
        ink_mask = ink_mask.filter(ImageFilter.MinFilter(3) if rng.random() < 0.5 else ImageFilter.MaxFilter(3))
    bg = _background(W, H, rng, style)
    ink = rng.randint(0, 70) if bg.getpixel((0, 0)) > 140 else rng.randint(0, 30)
    opacity = rng.uniform(0.7, 1.0)
    img = Image.composite(Image.new("L", (W, H), ink), bg, ink_mask.point(lambda v: int(v * opacity)))
    img = img.rotate(angle, resample=Image.BICUBIC, fillcolor=int(bg.getpixel((0, 0))))
    if style == "heldout" and rng.random() < 0.5:           # shear (slanted photo)
        k = rng.uniform(-0.12, 0.12)
        img = img.transform(img.size, Image.AFFINE, (1, k, -k * H / 2, 0, 1, 0), resample=Image.BICUBIC,
                            fillcolor=int(bg.getpixel((0, 0))))
    img = img.crop((pad, pad, pad + w, pad + h))
    # Down-scale to a scan resolution: cap height 10 .. 34 px in the final image.
    target = rng.uniform(10, 34)
    scale = target / cap
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.5) / scale * 0.5))
    resample = rng.choice((Image.BILINEAR, Image.BICUBIC, Image.LANCZOS, Image.BOX))
    if style == "heldout" and rng.random() < 0.3:
        resample = Image.NEAREST
    img = img.resize((max(8, int(w * scale)), max(8, int(h * scale))), resample)
    if style == "heldout" and rng.random() < 0.4:           # horizontal motion blur
        n = rng.choice((3, 5))
        img = img.filter(ImageFilter.Kernel((n, n), [1 if i // n == n // 2 else 0 for i in range(n * n)], n))
    elif rng.random() < 0.4:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    # Contrast / gamma, then sensor noise, then JPEG.
    lo, hi = rng.uniform(0, 60), rng.uniform(190, 255)
    gamma = rng.uniform(0.6, 1.6)
    img = img.point(lambda v: int(lo + (hi - lo) * (v / 255) ** gamma))
    if rng.random() < 0.6:
        noise = Image.effect_noise(img.size, rng.uniform(5, 40))
        img = Image.blend(img, noise, rng.uniform(0.05, 0.25))
    if style == "heldout" and rng.random() < 0.3:           # salt and pepper
        px = img.load()
        for _ in range(int(img.width * img.height * 0.01)):
            px[rng.randrange(img.width), rng.randrange(img.height)] = rng.choice((0, 255))
    if rng.random() < 0.7:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rng.randint(25, 95) if style == "train" else rng.randint(20, 60))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    return img


def sample_lines(n: int, seed: int, style: str = "train") -> list[Rendered]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        text = training_line(rng)
        out.append(Rendered(render_line(text, rng, style), text))
    return out


# --------------------------------------------------------------------------- pipeline


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    return subprocess.run(cmd, check=True, env=env, **kwargs)


def generate(work: Path, lines: int) -> None:
    """Rendered chunks -> ``chunk_K.tif`` + ``.box`` + ``.gt.txt`` -> ``chunk_K.lstmf``."""
    gt = work / "ground-truth"
    gt.mkdir(parents=True, exist_ok=True)
    listing = []
    for k in range(math.ceil(lines / CHUNK)):
        base = gt / f"chunk_{k:03d}"
        if not base.with_suffix(".lstmf").exists():
            samples = sample_lines(min(CHUNK, lines - k * CHUNK), TRAIN_SEED + k)
            pages = [s.image for s in samples]
            pages[0].save(base.with_suffix(".tif"), save_all=True, append_images=pages[1:], compression="tiff_lzw")
            with open(base.with_suffix(".box"), "w", encoding="utf-8") as box:
                for page, s in enumerate(samples):
                    w, h = s.image.size
                    box.write(f"WordStr 0 0 {w} {h} {page} #{s.text}\n\t 0 0 {w} {h} {page}\n")
            base.with_suffix(".gt.txt").write_text("\n".join(s.text for s in samples) + "\n", encoding="utf-8")
            _run(["tesseract", str(base.with_suffix(".tif")), str(base), "--psm", "13", "lstm.train"],
                 capture_output=True)
            base.with_suffix(".tif").unlink()   # the .lstmf holds the images; keep the disk small
            print(f"{datetime.now(UTC):%H:%M:%S} chunk {k}: {len(samples)} lines", flush=True)
        listing.append(str(base.with_suffix(".lstmf")))
    (work / "list.train").write_text("\n".join(listing) + "\n")


def starter(work: Path) -> Path:
    """unicharset from the ground truth + minimal langdata -> ``work/mrz/mrz.traineddata``."""
    gt_files = sorted(str(p) for p in (work / "ground-truth").glob("*.gt.txt"))
    text = "".join(Path(p).read_text() for p in gt_files)
    missing = set(MRZ_ALPHABET) - set(text)
    if missing:
        raise SystemExit(f"ground truth lacks MRZ characters {sorted(missing)}")
    _run(["unicharset_extractor", "--output_unicharset", str(work / "unicharset"), "--norm_mode", "1", *gt_files],
         capture_output=True)
    langdata = work / "langdata"
    langdata.mkdir(exist_ok=True)
    # No word list, numbers or punctuation patterns: an MRZ is not language, the model reads glyphs.
    # combine_lang_model wants script unicharsets (empty: properties come from the ground truth) and a
    # radical-stroke table (only used for Han; one placeholder entry).
    for script in ("Latin", "Common"):
        (langdata / f"{script}.unicharset").write_text("")
    (langdata / "radical-stroke.txt").write_text("19968\t1.0\n")
    _run(["combine_lang_model", "--input_unicharset", str(work / "unicharset"), "--script_dir", str(langdata),
          "--output_dir", str(work), "--lang", "mrz", "--pass_through_recoder"], capture_output=True)
    return work / "mrz" / "mrz.traineddata"


def train(work: Path, max_iterations: int, until: str | None, learning_rate: float = 0.002) -> None:
    """Run ``lstmtraining`` (resumes from ``work/checkpoints/mrz_checkpoint``); stop at ``until`` (HH:MM UTC)."""
    ckpt_dir = work / "checkpoints"
    ckpt_dir.mkdir(exist_ok=True)
    classes = int((work / "unicharset").read_text().split("\n", 1)[0])
    cmd = ["lstmtraining", "--traineddata", str(work / "mrz" / "mrz.traineddata"),
           "--model_output", str(ckpt_dir / "mrz"), "--train_listfile", str(work / "list.train"),
           "--max_iterations", str(max_iterations), "--target_error_rate", "0.05",
           "--learning_rate", str(learning_rate), "--net_mode", "192", "--momentum", "0.5",
           "--adam_beta", "0.999", "--debug_interval", "0"]
    checkpoint = ckpt_dir / "mrz_checkpoint"
    if checkpoint.exists():
        cmd += ["--continue_from", str(checkpoint)]
    else:
        cmd += ["--net_spec", NET_SPEC.replace("###", str(classes))]
    print(" ".join(cmd), flush=True)
    deadline = None
    if until:   # the next HH:MM (UTC) after now
        now = datetime.now(UTC)
        hour, minute = (int(v) for v in until.split(":"))
        deadline = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if deadline <= now:
            deadline += timedelta(days=1)
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    try:
        while proc.poll() is None:
            time.sleep(10)
            if deadline and datetime.now(UTC) >= deadline:
                print(f"stopping training at {until} UTC (the best checkpoint ships)", flush=True)
                proc.terminate()
                proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()


def finish(work: Path, checkpoint: Path | None = None, dest: Path = PACKAGE_TESSDATA) -> Path:
    """Best (or given) checkpoint -> integer runtime model ``dest/mrz.traineddata``."""
    ckpt_dir = work / "checkpoints"
    if checkpoint is None:   # lstmtraining keeps the best as mrz_<cer>_<iter>.checkpoint files
        best = sorted(ckpt_dir.glob("mrz_*_*.checkpoint"),
                      key=lambda p: (float(p.stem.split("_")[1]), -int(p.stem.split("_")[-1])))
        checkpoint = best[0] if best else ckpt_dir / "mrz_checkpoint"
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / "mrz.traineddata"
    _run(["lstmtraining", "--stop_training", "--convert_to_int", "--continue_from", str(checkpoint),
          "--traineddata", str(work / "mrz" / "mrz.traineddata"), "--model_output", str(out)],
         capture_output=True)
    print(f"{checkpoint.name} -> {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return out


def _errors(a: str, b: str) -> int:
    """Levenshtein distance."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def evaluate(n: int, seed: int = HELDOUT_SEED, tessdata: Path = PACKAGE_TESSDATA, psms: tuple[int, ...] = (13, 7),
             engines_wanted: tuple[str, ...] = ("mrz", "eng")) -> dict:
    """Char / line accuracy and ms per line: our model vs Debian's ``eng``, both with the MRZ whitelist.

    ``extra_K`` counts the ``K`` read beyond those in the truth (the filler ``<`` read as ``K``).
    """
    import pytesseract

    samples = sample_lines(n, seed, style="heldout")
    whitelist = f"-c tessedit_char_whitelist={MRZ_ALPHABET}"
    report = {}
    for lang in engines_wanted:
        for psm in psms:
            name = f"{'mrz (ours)' if lang == 'mrz' else 'eng + whitelist'} psm {psm}"
            config = f"--oem 1 --psm {psm} {whitelist}"
            if lang == "mrz":
                config = f'--tessdata-dir "{tessdata}" ' + config
            errors = chars = exact = extra_k = empty = 0
            start = time.perf_counter()
            for s in samples:
                got = "".join(pytesseract.image_to_string(s.image, lang=lang, config=config).split())
                errors += _errors(got, s.text)
                chars += len(s.text)
                exact += got == s.text
                empty += not got
                extra_k += max(0, got.count("K") - s.text.count("K"))
            elapsed = time.perf_counter() - start
            row = {"char_accuracy": round(1 - errors / chars, 4), "line_accuracy": round(exact / n, 4),
                   "ms_per_line": round(1000 * elapsed / n, 1), "extra_K": extra_k, "empty": empty}
            report[name] = row
            print(f"{name:22s} char acc {row['char_accuracy']:.4f}  line acc {row['line_accuracy']:.4f}  "
                  f"{row['ms_per_line']:6.1f} ms/line  extra K {extra_k:4d}  empty {empty:3d}  ({n} lines, seed {seed})",
                  flush=True)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("generate", "starter", "train", "finish", "all", "evaluate", "samples"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/mrz-train"))
    parser.add_argument("--lines", type=int, default=5600)
    parser.add_argument("--max-iterations", type=int, default=30000)
    parser.add_argument("--until", help="HH:MM UTC at which training stops (then the best checkpoint ships)")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--seed", type=int, default=HELDOUT_SEED)
    parser.add_argument("--psm", default="13,7", help="comma-separated page segmentation modes to evaluate")
    parser.add_argument("--engines", default="mrz,eng", help="comma-separated: mrz (ours), eng (Debian)")
    args = parser.parse_args(argv)
    for tool in ("tesseract", "lstmtraining", "combine_lang_model", "unicharset_extractor"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: install Debian's tesseract-ocr")
    if args.step == "samples":   # a few PNGs to look at
        args.work.mkdir(parents=True, exist_ok=True)
        for i, s in enumerate(sample_lines(12, TRAIN_SEED) + sample_lines(12, args.seed, "heldout")):
            s.image.save(args.work / f"sample_{i:02d}.png")
        return
    if args.step == "evaluate":
        evaluate(args.lines, args.seed, psms=tuple(int(v) for v in args.psm.split(",")), engines_wanted=tuple(args.engines.split(",")))
        return
    if args.step in ("generate", "all"):
        generate(args.work, args.lines)
    if args.step in ("starter", "all"):
        print(starter(args.work))
    if args.step in ("train", "all"):
        train(args.work, args.max_iterations, args.until)
    if args.step in ("finish", "all"):
        finish(args.work, args.checkpoint)


if __name__ == "__main__":
    sys.exit(main())
