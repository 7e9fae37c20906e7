"""Safe document intake and OCR for onboarding documents (images and PDFs).

Every entry point validates the upload first (:func:`inspect_document`): the media type
comes from magic bytes, size and pixel limits are enforced *before* any pixel data is
decoded (decompression bombs), and images are fully decoded so truncated or corrupt
files fail early with a :class:`DocumentError`.

Images are OCRed with Tesseract after preprocessing (grayscale; a photographed document is
cut out of its background, its perspective undone and its lighting evened; upscaling of
small images, median denoise of noisy images, small-angle deskew, orientation by the best
OCR confidence over 0/180/90/270 degrees).  PDF pages use their text layer; scanned pages
(no text layer) are rendered with PDFium (pypdfium2) and OCRed.  Password-protected and
malformed PDFs raise :class:`DocumentError`.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from kyc_assets.onboarding import tesseract
from kyc_assets.onboarding.mrz import MRZError, find_mrz_lines, fuse_mrz_readings, parse_mrz
from kyc_assets.onboarding.mrz_band import BandReading, locate_band, read_band
from kyc_assets.onboarding.mrz_vote import VotedMRZ, confirmed, vote_mrz

# Tesseract's OpenMP threads fight each other on small machines; one thread is much faster.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # (also set in .tesseract, before libtesseract loads)

MRZ_WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
MAX_PAGES = 50
_MIN_OCR_WIDTH = 1000
_MAX_UPSCALE = 4
_NOISE_LEVEL = 4.0  # mean grey-level change under a median filter above which we denoise
_CONFIDENT = 0.5  # mean word confidence that accepts an orientation without trying others
_MRZ_LINE_PX = 26  # MRZ line height (px) Tesseract's recogniser reads best (measured)


class DocumentError(ValueError):
    """The uploaded document cannot be accepted or read (one-line reason in the message)."""


@dataclass
class PageText:
    """Text of one page; ``mean_confidence`` is the mean OCR word confidence in 0..1 (None for PDF text)."""

    page: int
    text: str
    mean_confidence: float | None
    method: str  # 'ocr' or 'pdf_text'
    note: str | None = None


# --------------------------------------------------------------------------- intake


def detect_media_type(data: bytes) -> str | None:
    """Media type from magic bytes: PNG, JPEG, TIFF, WebP or PDF; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return "application/pdf"
    return None


_IMAGE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, Image.DecompressionBombError)


def _open_image(data: bytes) -> Image.Image:
    """Open an image lazily (header only); Pillow's own bomb check raises before decoding."""
    with warnings.catch_warnings():
        # We enforce our own (stricter) pixel limit right after opening.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(data))


def _load_image_pages(data: bytes, max_pixels: int) -> list[Image.Image]:
    """Validate and fully decode every frame of an image, refusing oversized frames before decoding."""
    try:
        probe = _open_image(data)
        n_frames = getattr(probe, "n_frames", 1)
        if n_frames > MAX_PAGES:
            raise DocumentError(f"image has {n_frames} frames, more than the limit of {MAX_PAGES}")
        _check_pixels(probe.size, max_pixels)
        probe.verify()  # structural check (chunk CRCs etc.); the object is unusable afterwards
        image = _open_image(data)
        pages = []
        for index in range(n_frames):
            image.seek(index)
            _check_pixels(image.size, max_pixels)
            image.load()  # full decode: truncated data fails here
            pages.append(image.copy())
        return pages
    except Image.DecompressionBombError as exc:
        raise DocumentError("image declares too many pixels (decompression bomb refused)") from exc
    except DocumentError:
        raise
    except _IMAGE_ERRORS as exc:
        raise DocumentError(f"corrupt or truncated image: {type(exc).__name__}") from exc


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise DocumentError("image has no pixels")
    if width * height > max_pixels:
        raise DocumentError(
            f"image too large: {width}x{height} pixels exceeds the limit of {max_pixels} "
            "(decompression bomb refused)")


def _load_pdf(data: bytes) -> PdfReader:
    """Open a PDF and make sure its page tree is readable."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        # Owner-password-only PDFs (print/copy restrictions) open with the empty user password.
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("encrypted PDF: a password is required to open it")
        count = len(reader.pages)
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError, IndexError,
            NotImplementedError) as exc:
        raise DocumentError(f"corrupt PDF: {type(exc).__name__}") from exc
    if count == 0:
        raise DocumentError("corrupt PDF: no pages")
    if count > MAX_PAGES:
        raise DocumentError(f"PDF has {count} pages, more than the limit of {MAX_PAGES}")
    return reader


def _load_document(data: bytes, max_bytes: int = 25_000_000,
                   max_pixels: int = 40_000_000) -> tuple[dict, list[Image.Image] | PdfReader]:
    """Validate an upload and return (inspection info, decoded image pages or PDF reader)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DocumentError("document must be bytes")
    data = bytes(data)
    if not data:
        raise DocumentError("empty document")
    if len(data) > max_bytes:
        raise DocumentError(f"document too large: {len(data)} bytes exceeds the limit of {max_bytes}")
    media_type = detect_media_type(data)
    if media_type is None:
        raise DocumentError("unsupported document type (expected PNG, JPEG, TIFF, WebP or PDF)")
    if media_type == "application/pdf":
        reader = _load_pdf(data)
        info = {"media_type": media_type, "page_count": len(reader.pages), "width": None, "height": None}
        return info, reader
    pages = _load_image_pages(data, max_pixels)
    width, height = pages[0].size
    info = {"media_type": media_type, "page_count": len(pages), "width": width, "height": height}
    return info, pages


def inspect_document(data: bytes, *, max_bytes: int = 25_000_000, max_pixels: int = 40_000_000) -> dict:
    """Validate an uploaded document and describe it.

    Returns ``{"media_type", "page_count", "width", "height"}`` (width/height of the first
    page; None for PDFs).  Raises :class:`DocumentError` for empty, oversized, unsupported,
    decompression-bomb, corrupt or truncated input.
    """
    info, _ = _load_document(data, max_bytes, max_pixels)
    return info


# --------------------------------------------------------------------------- preprocessing


def _to_gray(image: Image.Image) -> Image.Image:
    """Grayscale on a white background (transparent areas become white)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("L")


def _otsu_threshold(gray: np.ndarray) -> int:
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    levels = np.arange(256)
    weight_bg = np.cumsum(hist)
    weight_fg = total - weight_bg
    cum_mean = np.cumsum(hist * levels)
    mean_bg = cum_mean / np.maximum(weight_bg, 1)
    mean_fg = (cum_mean[-1] - cum_mean) / np.maximum(weight_fg, 1)
    between = weight_bg * weight_fg * (mean_bg - mean_fg) ** 2
    return int(np.argmax(between))


def _binarise(gray: Image.Image) -> Image.Image:
    """Otsu binarisation (dark text on white) of a grayscale image, returned as mode 'L'."""
    arr = np.asarray(gray)
    threshold = _otsu_threshold(arr)
    out = np.where(arr > threshold, 255, 0).astype(np.uint8)
    if out.mean() < 127:  # light text on dark background: invert
        out = 255 - out
    return Image.fromarray(out, mode="L")


def _estimate_skew(binary: Image.Image, max_angle: float = 6.0, step: float = 0.5) -> float:
    """Small skew angle (degrees, PIL counter-clockwise) maximising the row-profile variance."""
    small = binary.copy()
    small.thumbnail((500, 500))
    ink = ImageOps.invert(small)
    best_angle, best_score = 0.0, -1.0
    for angle in np.arange(-max_angle, max_angle + step / 2, step):
        rotated = np.asarray(ink.rotate(float(angle), resample=Image.NEAREST, expand=False), dtype=np.float64)
        score = float(np.var(rotated.sum(axis=1)))
        if score > best_score:
            best_angle, best_score = float(angle), score
    return best_angle


def _is_noisy(gray: Image.Image) -> bool:
    """Speckle/sensor noise test: mean change under a 3x3 median filter."""
    small = gray.copy()
    small.thumbnail((800, 800))
    diff = np.abs(np.asarray(small, dtype=np.int16)
                  - np.asarray(small.filter(ImageFilter.MedianFilter(3)), dtype=np.int16))
    return float(diff.mean()) > _NOISE_LEVEL


def _perspective_coeffs(output: np.ndarray, source: np.ndarray) -> tuple[float, ...]:
    """PIL PERSPECTIVE coefficients mapping output corners to source corners (4x2 arrays)."""
    rows = []
    for (x, y), (u, v) in zip(output, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return tuple(np.linalg.solve(np.array(rows, dtype=float), source.astype(float).ravel()))


def _document_quad(gray: Image.Image) -> np.ndarray | None:
    """Corners (top-left, top-right, bottom-right, bottom-left) of a bright document photographed on a
    darker background, or None when the image is a scan (no dark surround) or no document stands out."""
    from scipy import ndimage

    small = gray.copy()
    small.thumbnail((480, 480))
    arr = np.asarray(small)
    bright = arr > _otsu_threshold(arr)
    border = np.concatenate([bright[0], bright[-1], bright[:, 0], bright[:, -1]])
    if border.mean() > 0.25 or not 0.2 < bright.mean() < 0.97:
        return None
    labels, count = ndimage.label(ndimage.binary_opening(bright, iterations=2))
    if count == 0:
        return None
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=range(1, count + 1))
    component = ndimage.binary_fill_holes(labels == int(np.argmax(sizes)) + 1)
    if component.mean() < 0.2:
        return None
    return _quad_corners(component) * (gray.width / small.width)


def _quad_corners(component: np.ndarray) -> np.ndarray:
    """Four corners of a roughly quadrilateral blob: the extreme hull points along the diagonals of its
    minimum-area bounding rectangle (angle kept within +-45 degrees, so the page stays the right way up)."""
    from scipy.spatial import ConvexHull, QhullError

    ys, xs = np.nonzero(component)
    points = np.column_stack([xs, ys]).astype(float) + 0.5
    try:
        hull = points[ConvexHull(points).vertices]
    except (QhullError, ValueError):
        hull = points
    edges = np.diff(np.vstack([hull, hull[:1]]), axis=0)
    best = (np.inf, 0.0)
    for angle in np.arctan2(edges[:, 1], edges[:, 0]):
        angle = (angle + np.pi / 4) % (np.pi / 2) - np.pi / 4  # same rectangle, angle in [-45, 45)
        c, s = np.cos(angle), np.sin(angle)
        u, v = hull @ np.array([c, s]), hull @ np.array([-s, c])
        area = np.ptp(u) * np.ptp(v)
        if area < best[0]:
            best = (area, angle)
    c, s = np.cos(best[1]), np.sin(best[1])
    u, v = hull @ np.array([c, s]), hull @ np.array([-s, c])
    u, v = (u - u.min()) / max(np.ptp(u), 1e-9), (v - v.min()) / max(np.ptp(v), 1e-9)
    return hull[[int(np.argmin(u + v)), int(np.argmax(u - v)), int(np.argmax(u + v)), int(np.argmin(u - v))]]


def _flatten_document(gray: Image.Image) -> Image.Image:
    """Cut a photographed document out of its background, undo the perspective (keystone) and even
    out the lighting; scans (no darker surround) are returned unchanged."""
    quad = _document_quad(gray)
    if quad is None:
        return gray
    width = int(max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1])))
    if width < 100 or height < 60:
        return gray
    target = np.array([(0, 0), (width, 0), (width, height), (0, height)], dtype=float)
    flat = gray.transform((width, height), Image.PERSPECTIVE, _perspective_coeffs(target, quad),
                          Image.BICUBIC, fillcolor=255)
    return _even_light(flat)


def _even_light(gray: Image.Image) -> Image.Image:
    """Divide out uneven lighting (a lamp on one side, a shadow): the paper becomes evenly white.

    The background is estimated from a max-filtered, blurred thumbnail (text strokes are thin, so
    the local maximum is the paper's brightness).
    """
    small = gray.resize((max(1, gray.width // 8), max(1, gray.height // 8)), Image.BILINEAR)
    background = small.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.GaussianBlur(2))
    background = np.asarray(background.resize(gray.size, Image.BILINEAR), dtype=np.float32)
    low, high = np.percentile(background, [2, 98])
    if low > 0.7 * high:  # even enough (tints, a photo placeholder): dividing would only add noise
        return gray
    out = np.asarray(gray, dtype=np.float32) * 255.0 / np.maximum(background, 1.0)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), mode="L")


def _preprocess(image: Image.Image, skew: float | None = None) -> Image.Image:
    """Grayscale, upscale small images, median-denoise noisy ones and deskew small rotations.

    Returns a grayscale image: Tesseract's LSTM recogniser reads anti-aliased grayscale
    better than a hard binarisation (measured on the sample documents); the Otsu
    binarisation is used for skew estimation, unless ``skew`` (degrees, PIL counter-clockwise) is known
    already (from the MRZ lines the detector found). A photographed document cut out of its background
    is upright after its perspective is undone, so it is not deskewed again.
    """
    gray = _to_gray(image)
    flat = _flatten_document(gray)
    if skew is not None and flat is not gray:
        skew = 0.0
    gray = flat
    if gray.width < _MIN_OCR_WIDTH:
        factor = min(_MAX_UPSCALE, -(-_MIN_OCR_WIDTH // gray.width))
        gray = gray.resize((gray.width * factor, gray.height * factor), Image.LANCZOS)
    if _is_noisy(gray):
        gray = gray.filter(ImageFilter.MedianFilter(3))
    angle = _estimate_skew(_binarise(gray)) if skew is None else skew
    if abs(angle) >= 0.5:
        gray = gray.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
    return gray


def _mrz_line_height(image: Image.Image) -> float | None:
    """Median height of wide text lines (MRZ lines span most of the page), from the row profile."""
    binary = np.asarray(_binarise(image)) == 0
    rows = binary.sum(axis=1) > max(3, binary.shape[1] // 200)
    heights = []
    start = None
    for y, on in enumerate(np.append(rows, False)):
        if on and start is None:
            start = y
        elif not on and start is not None:
            band = binary[start:y]
            cols = np.flatnonzero(band.any(axis=0))
            if y - start >= 6 and cols.size and cols[-1] - cols[0] > 0.45 * binary.shape[1]:
                heights.append(y - start)
            start = None
    return float(np.median(heights)) if heights else None


# --------------------------------------------------------------------------- tesseract


def _ocr_data(image: Image.Image, psm: int = 3, whitelist: str | None = None) -> tuple[str, float | None]:
    """Run Tesseract (``eng``); returns (text with a blank line between blocks, mean word confidence 0..1)."""
    try:
        data = tesseract.image_to_data(image, psm=psm, whitelist=whitelist)
    except tesseract.TesseractFailed as exc:
        raise DocumentError(str(exc)) from exc
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences = []
    for i, word in enumerate(data["text"]):
        word = (word or "").strip()
        if not word:
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, []).append(word)
        conf = float(data["conf"][i])
        if conf >= 0:
            confidences.append(conf)
    out: list[str] = []
    previous_block = None
    for (block, _, _), words in lines.items():
        if previous_block is not None and block != previous_block:
            out.append("")
        out.append(" ".join(words))
        previous_block = block
    mean = round(sum(confidences) / len(confidences) / 100.0, 4) if confidences else None
    return "\n".join(out), mean


def _rotate_cw(image: Image.Image, degrees: int) -> Image.Image:
    return image.rotate(-degrees, expand=True, fillcolor=255) if degrees else image


@dataclass
class _Prepared:
    """A preprocessed page, its OCR text, whether its orientation is trusted, and its MRZ band (if found)."""

    image: Image.Image
    text: str
    confidence: float | None
    oriented: bool
    band: BandReading | None = None


def _lines_are_vertical(gray: Image.Image) -> bool:
    """True when text lines run vertically (page turned by 90 degrees), from ink profiles.

    Horizontal text lines make the row profile vary much more than the column profile
    (ratio 2.9-6.3 upright vs 0.2-0.45 turned on the sample documents).
    """
    small = _binarise(gray)
    small.thumbnail((600, 600))
    ink = (np.asarray(small) == 0).astype(np.float64)
    row_var, col_var = np.var(ink.mean(axis=1)), np.var(ink.mean(axis=0))
    return bool(col_var > row_var)


def _is_blank(gray: Image.Image) -> bool:
    """True for an empty page (no ink at all: nearly uniform grey levels), which is not OCRed."""
    small = gray.copy()
    small.thumbnail((400, 400))
    return float(np.asarray(small, dtype=np.float64).std()) < 2.0


def _prepare_page(image: Image.Image) -> _Prepared:
    """Preprocess one page, OCR it and turn it upright.

    Text-line direction (ink profiles) decides between the 0/180 and 90/270 pairs; within
    them the first rotation is accepted when its mean word confidence reaches
    ``_CONFIDENT``, otherwise the other rotations are tried and the most confident wins.  Tesseract OSD (``image_to_osd``) is deliberately not used: on the sample
    identity documents (uppercase text, MRZ chevrons) it reported the wrong 0/180
    orientation with high confidence (script "Bengali"), and it fails outright
    ("Too few characters") on sparse pages.
    """
    raw = _to_gray(image)
    if _is_blank(raw):
        return _Prepared(raw, "", None, True)
    band = locate_band(raw)
    if band is not None:  # the learned detector found an MRZ band and with it the page's orientation and skew
        gray = _preprocess(band.image, skew=band.skew())
        text, conf = _ocr_data(gray)
        return _Prepared(gray, text, conf, True, band)
    gray = _preprocess(image)
    order = (90, 270, 0, 180) if _lines_are_vertical(gray) else (0, 180, 90, 270)
    best: _Prepared | None = None
    for degrees in order:
        candidate = _rotate_cw(gray, degrees)
        text, conf = _ocr_data(candidate)
        if best is None or (conf or 0.0) > (best.confidence or 0.0):
            best = _Prepared(candidate, text, conf, False)
        if (conf or 0.0) >= _CONFIDENT:
            break
    assert best is not None
    best.oriented = (best.confidence or 0.0) >= _CONFIDENT
    return best


def _mrz_candidate(image: Image.Image, viz_text: str | None = None) -> tuple[int, list[str] | None]:
    """OCR an image region with the MRZ whitelist; returns (quality, lines).

    Quality is 0 without MRZ-like text, -1 when the text has no filler ``<`` at all (no
    MRZ here, other scales need not be tried), else 1 + valid check digits (+10 if all valid).
    """
    text, _ = _ocr_data(image, psm=6, whitelist=MRZ_WHITELIST)
    if "<" not in text:
        return -1, None
    lines = find_mrz_lines(text)
    if lines is None:
        return 0, None
    return _mrz_quality(lines, viz_text), lines


def _mrz_quality(lines: list[str], viz_text: str | None) -> int:
    """1 + valid check digits (+10 when all are valid); 0 when the lines do not parse."""
    try:
        result = parse_mrz(lines, viz_text=viz_text, ocr=True)
    except MRZError:
        return 0
    return 1 + sum(result.check_digits.values()) + (10 if result.valid else 0)


def _mrz_scales(region: Image.Image) -> list[float]:
    """Scale factors bringing the MRZ line height to what the recogniser reads best."""
    height = _mrz_line_height(region)
    if height is None:
        return [1.0, 0.7, 0.5]
    base = min(3.0, max(0.25, _MRZ_LINE_PX / height))
    return [base, base * 0.85, base * 1.2]


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    if abs(factor - 1.0) < 0.02:
        return image
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.LANCZOS)


def _voted_band(prepared: _Prepared) -> VotedMRZ | None:
    """The MRZ of a page whose band the detector found: every engine's reading, combined by vote.

    When the vote leaves a check digit failing or a disagreement unsettled, the whole-page Tesseract
    search (:func:`_read_mrz_prepared`) adds a third reading and the vote is taken again.
    """
    if prepared.band is None:
        return None
    readings = prepared.band.readings
    if len(readings) == 1:
        engine, lines = next(iter(readings.items()))
        alone = confirmed(lines, prepared.text)
        if alone is not None:
            return VotedMRZ(alone, [], [engine])  # check digits and the visual zone vouch for it
    read_band(prepared.band)
    voted = vote_mrz(readings, prepared.text)
    if voted is not None and not voted.warnings and not voted.uncertain \
            and _mrz_quality(voted.lines, prepared.text) >= 10:
        return voted
    if "tesseract_page" not in readings:
        page_lines = _read_mrz_prepared(prepared)
        if page_lines is not None:
            readings["tesseract_page"] = page_lines
            voted = vote_mrz(readings, prepared.text)
    return voted


def _read_mrz_prepared(prepared: _Prepared) -> list[str] | None:
    """Find the MRZ in a page: lower part first, then the whole page, at normalised scales.

    Rotations 0/180/90/270 are tried when the page orientation is not trusted.  When no reading
    has all check digits valid, a binarised variant is read too and the readings are fused field
    by field (:func:`~kyc_assets.onboarding.mrz.fuse_mrz_readings`).
    """
    rotations = (0,) if prepared.oriented else (0, 180, 90, 270)
    best: tuple[int, list[str] | None] = (0, None)
    readings: list[list[str]] = []
    best_region: Image.Image | None = None
    for degrees in rotations:
        page = _rotate_cw(prepared.image, degrees)
        bottom = page.crop((0, int(page.height * 0.55), page.width, page.height))
        for region in (bottom, page):
            for factor in _mrz_scales(region):
                scaled = _scaled(region, factor)
                quality, lines = _mrz_candidate(scaled, prepared.text)
                if lines is not None:
                    readings.append(lines)
                if quality > best[0]:
                    best, best_region = (quality, lines), scaled
                if best[0] >= 10 or quality < 0:
                    break
            if best[0] >= 10:
                return best[1]
    if best[1] is None or best_region is None:
        return None
    return _fused_reading(best, best_region, readings, prepared.text)


def _fused_reading(best: tuple[int, list[str] | None], region: Image.Image, readings: list[list[str]],
                   viz_text: str) -> list[str] | None:
    """Last resort for an MRZ whose best reading fails a check digit: read a binarised and a sharpened
    variant of the best region and fuse all readings field by field."""
    for variant in (_binarise(region), region.filter(ImageFilter.UnsharpMask(radius=2, percent=120))):
        quality, lines = _mrz_candidate(variant, viz_text)
        if lines is not None:
            readings.append(lines)
            if quality >= 10:
                return lines
    fused = fuse_mrz_readings(readings, viz_text=viz_text)
    if fused is not None and _mrz_quality(fused, viz_text) > best[0]:
        return fused
    return best[1]


# --------------------------------------------------------------------------- PDF pages

_PDF_RENDER_DPI = 300
_PDF_RENDER_MAX_SIDE = 3300  # px: A4 at 300 dpi; larger pages are rendered at a lower resolution
_MIN_TEXT_LAYER_CHARS = 16  # fewer letters/digits than this: treat the page as scanned
_PDFIUM_LOCK = threading.Lock()  # PDFium is not thread-safe


def render_pdf_page(data: bytes, index: int, max_pixels: int = 40_000_000) -> Image.Image:
    """Render page ``index`` (0-based) of a PDF to a grayscale image for OCR (PDFium via pypdfium2).

    Renders at 300 dpi, capped at 3300 px on the longer side and at ``max_pixels``.
    Raises :class:`DocumentError` when the page cannot be rendered.
    """
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        pdf = None
        try:
            pdf = pdfium.PdfDocument(data)
            page = pdf[index]
            width, height = page.get_size()  # points (1/72 inch)
            scale = _PDF_RENDER_DPI / 72
            scale = min(scale, _PDF_RENDER_MAX_SIDE / max(width, height, 1))
            scale = min(scale, (max_pixels / max(width * height, 1)) ** 0.5)
            image = page.render(scale=scale, grayscale=True).to_pil().convert("L")
        except pdfium.PdfiumError as exc:
            raise DocumentError(f"corrupt PDF page {index + 1}: cannot be rendered ({exc})".split("\n")[0]) from exc
        finally:
            if pdf is not None:
                pdf.close()
    return image


@dataclass
class _Page:
    """One analysed page: its text and, for OCRed pages, the upright preprocessed image."""

    text: str
    confidence: float | None
    method: str  # 'ocr' or 'pdf_text'
    note: str | None = None
    prepared: _Prepared | None = None


def _has_text_layer(text: str) -> bool:
    return sum(ch.isalnum() for ch in text) >= _MIN_TEXT_LAYER_CHARS


def _pdf_pages(reader: PdfReader, data: bytes | None = None) -> list[_Page]:
    """Text of every PDF page: the text layer, or PDFium rendering + OCR for scanned pages.

    Without ``data`` (the PDF bytes) scanned pages are not rendered and keep an empty text.
    """
    pages = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = (page.extract_text() or "").strip()
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise DocumentError(f"corrupt PDF page {number}: {type(exc).__name__}") from exc
        if _has_text_layer(text):
            pages.append(_Page(text, None, "pdf_text"))
        elif data is None:
            pages.append(_Page(text, None, "pdf_text", "no text layer (scanned page); not rendered"))
        else:
            prepared = _prepare_page(render_pdf_page(data, number - 1))
            pages.append(_Page(prepared.text, prepared.confidence, "ocr",
                               "no text layer (scanned page): rendered and OCRed", prepared))
    return pages


# --------------------------------------------------------------------------- public OCR


_PAGES_CACHE: OrderedDict[str, list[_Page]] = OrderedDict()
_PAGES_CACHE_SIZE = 4
_PAGES_LOCK = threading.Lock()


def _analysed_pages(content: list[Image.Image] | PdfReader, data: bytes) -> list[_Page]:
    """Every page of a validated document, OCRed or from its text layer, cached by content digest.

    Callers typically run :func:`ocr_document` and then :func:`read_mrz` on the same bytes;
    the cache (a few documents, in memory only) avoids OCRing the pages twice.
    """
    key = hashlib.sha256(data).hexdigest()
    with _PAGES_LOCK:
        if key in _PAGES_CACHE:
            _PAGES_CACHE.move_to_end(key)
            return _PAGES_CACHE[key]
    if isinstance(content, PdfReader):
        pages = _pdf_pages(content, data)
    else:
        pages = []
        for image in content:
            prepared = _prepare_page(image)
            pages.append(_Page(prepared.text, prepared.confidence, "ocr", None, prepared))
    with _PAGES_LOCK:
        _PAGES_CACHE[key] = pages
        while len(_PAGES_CACHE) > _PAGES_CACHE_SIZE:
            _PAGES_CACHE.popitem(last=False)
    return pages


def document_pages(data: bytes) -> tuple[dict, list[_Page]]:
    """Validate a document and return (inspection info, analysed pages). Raises :class:`DocumentError`."""
    data = bytes(data) if isinstance(data, (bytearray, memoryview)) else data
    info, content = _load_document(data)
    return info, _analysed_pages(content, data)


def ocr_document(data: bytes) -> list[PageText]:
    """Text of every page of an uploaded document.

    Images (each TIFF frame is a page) are preprocessed and OCRed with Tesseract
    (method ``'ocr'``).  PDFs use their embedded text layer (method ``'pdf_text'``); pages
    without one (scanned PDFs) are rendered with PDFium and OCRed (method ``'ocr'``, with a
    ``note``).  Raises :class:`DocumentError`.
    """
    _, pages = document_pages(data)
    return [PageText(number, page.text, page.confidence, page.method, page.note)
            for number, page in enumerate(pages, start=1)]


def mrz_reading_from_pages(pages: list[_Page]) -> VotedMRZ | None:
    """MRZ lines (with the engines' unsettled disagreements as warnings) from the first OCRed page that
    has one (text-layer pages are left to the text parser).

    A band found by the learned detector is read by every engine and voted on; a page where it found
    none is searched with Tesseract over the whole page (the former path, slower).
    """
    for page in pages:
        if page.prepared is None:
            continue
        voted = _voted_band(page.prepared)
        if voted is not None:
            return voted
        if page.prepared.band is not None:
            continue  # the page search already ran inside the vote
        lines = _read_mrz_prepared(page.prepared)
        if lines is not None:
            return VotedMRZ(lines, [], ["tesseract_page"])
    return None


def mrz_from_pages(pages: list[_Page]) -> list[str] | None:
    """MRZ lines from the first OCRed page that has one (see :func:`mrz_reading_from_pages`)."""
    voted = mrz_reading_from_pages(pages)
    return voted.lines if voted is not None else None


def read_mrz(data: bytes) -> list[str] | None:
    """MRZ lines of an identity-document image or scanned PDF, or None when no MRZ is found.

    OCRs the lower part of each upright page (first page with an MRZ wins, e.g. the back
    of an ID card in a two-page TIFF) with the MRZ character whitelist, then the whole
    page, trying 0/180/90/270 degree rotations when the orientation is unknown.  PDF pages
    with a text layer are not searched here (their text holds the MRZ, if any).
    Raises :class:`DocumentError` for bad input.
    """
    _, pages = document_pages(data)
    return mrz_from_pages(pages)
