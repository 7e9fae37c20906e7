"""Locate the machine-readable zone with a learned text-line detector and read it with several engines.

The MRZ band is found with the PP-OCR text-line *detection* model shipped inside the
``rapidocr-onnxruntime`` wheel (Apache-2.0; no download at run time), run on a downscaled copy of
the page: it finds text lines on guilloche backgrounds, beside portraits and in photos taken at an
angle, where morphology tuned to clean renders does not.  Only the wide lines are kept and cut out
of the full-resolution page (each along its own oriented box, which undoes small rotations and
keystone), and only those are recognised:

* ``rapid``: the PP-OCR *recognition* model with its CTC output restricted to the 37 MRZ characters
  (the probability of look-alikes such as ``«``, ``〈`` or lower-case letters is folded into theirs);
* ``tesseract``: Tesseract, one line at a time (``--psm 7``) with the MRZ whitelist;
* ``tesseract_mrz``: the same with our own OCR-B model (``mrz.traineddata``) when it is installed.

Page orientation comes from the boxes: vertical lines mean a page turned by 90 degrees; whether it is
0/180 (or 90/270) is settled by which rotation reads as an MRZ.  The engines' readings are combined
by :func:`kyc_assets.onboarding.mrz_vote.vote_mrz`.

Sessions are created once per process with one intra-op thread, so parallel workers do not
oversubscribe a small machine.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from kyc_assets.onboarding.mrz import MRZError, _fit_length, _mrz_score, find_mrz_lines, parse_mrz

MRZ_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
_DETECT_MAX_SIDE = 960  # px: detection runs on a copy whose longer side is at most this (measured)
_MIN_ASPECT = 8.0  # length/height of a detected box for it to be an MRZ line candidate
_MAX_CANDIDATES = 6
_REC_HEIGHT = 48  # the PP-OCR recogniser's input height
_REC_STRETCH = 1.25  # horizontal stretch before recognition: more CTC steps per character (measured)
_CHUNK = 5000  # px (at the recogniser's 48 px height) of one recognition chunk, about a dozen MRZ characters
_CHUNK_OVERLAP = 96  # px shared by neighbouring chunks
_BLANK_WEIGHT = 1.0  # CTC blank weight (lower values make long "<" runs read as A: measured)
_TESS_LINE_HEIGHT = 40  # px height of a line crop given to Tesseract (measured)
_FOLD = {"«": "<", "‹": "<", "〈": "<", "＜": "<", "く": "<", "〔": "<", "О": "O", "０": "0"}


@dataclass
class BandReading:
    """The MRZ band found on one page: upright page image, rotation applied, line boxes, readings."""

    image: Image.Image  # upright grayscale page (rotated by ``rotation`` degrees clockwise)
    rotation: int
    quads: list[np.ndarray]  # MRZ line boxes (4x2, clockwise from top-left) in ``image`` coordinates
    readings: dict[str, list[str]] = field(default_factory=dict)  # engine -> MRZ lines (fitted to width)
    all_boxes: int = 0
    variants: dict[str, list[str]] = field(default_factory=dict)  # the recogniser's raw and fixed-pitch lines

    def skew(self) -> float:
        """The MRZ lines' mean angle in ``image`` (degrees; positive when they fall to the right): turning the
        image counter-clockwise by it levels them."""
        angles = [np.degrees(np.arctan2(q[1][1] - q[0][1], q[1][0] - q[0][0])) for q in self.quads]
        return float(np.mean(angles)) if angles else 0.0


class _RapidEngine:
    """PP-OCR detection and recognition sessions (one thread each), loaded once per process."""

    def __init__(self) -> None:
        import onnxruntime as ort
        import rapidocr_onnxruntime
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

        models = Path(rapidocr_onnxruntime.__file__).parent / "models"
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 4
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        self.det = ort.InferenceSession(str(models / "ch_PP-OCRv4_det_infer.onnx"), options, providers=providers)
        self.rec = ort.InferenceSession(str(models / "ch_PP-OCRv4_rec_infer.onnx"), options, providers=providers)
        self.cls = ort.InferenceSession(str(models / "ch_ppocr_mobile_v2.0_cls_infer.onnx"), options,
                                        providers=providers)
        self.post = DBPostProcess(thresh=0.3, box_thresh=0.5, max_candidates=1000, unclip_ratio=1.6,
                                  use_dilation=True, score_mode="fast")
        characters = ["blank", *self.rec.get_modelmeta().custom_metadata_map["character"].splitlines(), " "]
        # Output columns folded into each MRZ character (upper and lower case, look-alikes of '<').
        self.columns: list[list[int]] = [[0]]
        self.alphabet = [""]
        for ch in MRZ_ALPHABET:
            wanted = {ch, ch.lower()} | {k for k, v in _FOLD.items() if v == ch}
            self.columns.append([i for i, c in enumerate(characters) if c in wanted])
            self.alphabet.append(ch)
        self.lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[np.ndarray]:
        """Text-line boxes (4x2 float arrays, in ``rgb`` pixel coordinates) of an RGB uint8 image."""
        height, width = rgb.shape[:2]
        ratio = min(1.0, _DETECT_MAX_SIDE / max(height, width))
        new_h, new_w = max(32, int(np.round(height * ratio / 32)) * 32), max(32, int(np.round(width * ratio / 32)) * 32)
        small = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.BILINEAR), dtype=np.float32)
        tensor = ((small / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        with self.lock:
            pred = self.det.run(None, {self.det.get_inputs()[0].name: tensor})[0]
        boxes, _ = self.post(pred, (height, width))
        return [np.asarray(box, dtype=np.float32) for box in boxes]

    def upside_down(self, crops: list[np.ndarray]) -> float:
        """Mean probability (0..1) that text line crops are upside down (PP-OCR's 0/180 classifier),
        from up to four 4:1 chunks of each crop."""
        chunks = []
        for crop in crops:
            h, w = crop.shape[:2]
            scaled = np.asarray(Image.fromarray(crop).resize((max(1, int(w * 48 / max(h, 1))), 48), Image.BILINEAR),
                                dtype=np.float32)
            for start in range(0, max(1, scaled.shape[1] - 96), 192)[:4]:
                piece = scaled[:, start:start + 192]
                chunk = np.zeros((3, 48, 192), dtype=np.float32)
                chunk[:, :, : piece.shape[1]] = ((piece / 255.0 - 0.5) / 0.5)[None]
                chunks.append(chunk)
        if not chunks:
            return 0.0
        with self.lock:
            probs = self.cls.run(None, {self.cls.get_inputs()[0].name: np.stack(chunks)})[0]
        return float(probs[:, 1].mean())

    def recognise(self, crops: list[np.ndarray]) -> list[LineRead]:
        """MRZ text and mean character probability of each line crop (grayscale uint8 arrays).

        The recogniser drops characters on very long lines, so each line is read in overlapping chunks
        of about a dozen characters; a character is kept from the chunk whose core holds its position
        (the CTC time step), which needs no string alignment (filler runs would make that ambiguous).
        Blank is down-weighted (:data:`_BLANK_WEIGHT`): the model tends to leave long ``<`` runs blank.
        """
        if not crops:
            return []
        pieces: list[tuple[int, int, int, bool, bool]] = []  # crop index, x0, x1, first, last
        scaled = []
        for index, crop in enumerate(crops):
            h, w = crop.shape[:2]
            new_w = max(16, int(np.round(w * _REC_HEIGHT / max(h, 1) * _REC_STRETCH)))
            line = np.asarray(Image.fromarray(crop).resize((new_w, _REC_HEIGHT), Image.BILINEAR), dtype=np.float32)
            scaled.append(line)
            starts = list(range(0, max(1, new_w - _CHUNK_OVERLAP), _CHUNK - _CHUNK_OVERLAP))
            for k, x0 in enumerate(starts):
                pieces.append((index, x0, min(new_w, x0 + _CHUNK), k == 0, k == len(starts) - 1))
        batch_width = max(x1 - x0 for _, x0, x1, _, _ in pieces)
        batch = np.zeros((len(pieces), 3, _REC_HEIGHT, batch_width), dtype=np.float32)
        for i, (index, x0, x1, _, _) in enumerate(pieces):
            batch[i, :, :, : x1 - x0] = ((scaled[index][:, x0:x1] / 255.0 - 0.5) / 0.5)[None]
        with self.lock:
            probs = self.rec.run(None, {self.rec.get_inputs()[0].name: batch})[0]  # (N, T, C) softmax
        folded = np.stack([probs[:, :, cols].sum(axis=2) for cols in self.columns], axis=2)
        folded[:, :, 0] *= _BLANK_WEIGHT
        step = batch_width / folded.shape[1]
        margin = _REC_HEIGHT * 0.3  # about half a character pitch
        found: list[list[tuple[float, str, float, float, int]]] = [[] for _ in crops]
        for i, (index, x0, x1, first, last) in enumerate(pieces):
            core0 = -np.inf if first else x0 + _CHUNK_OVERLAP / 2 - margin
            core1 = np.inf if last else x1 - _CHUNK_OVERLAP / 2 + margin
            best = folded[i].argmax(axis=1)
            previous = 0
            for t, k in enumerate(best):
                x = x0 + (t + 0.5) * step
                if k != 0 and k != previous and core0 <= x < core1 and x < x1:
                    edge = min(np.inf if first else x - x0, np.inf if last else x1 - x)
                    found[index].append((x, self.alphabet[k], float(folded[i, t, k]), edge, i))
                previous = k
        out = []
        for index, chars in enumerate(found):
            chars.sort()
            kept: list[tuple[float, str, float, float, int]] = []
            for item in chars:  # the same character seen by two neighbouring chunks: keep the better-placed
                if kept and kept[-1][4] != item[4] and item[0] - kept[-1][0] < margin:
                    if item[3] > kept[-1][3]:
                        kept[-1] = item
                    continue
                kept.append(item)
            out.append(LineRead([(x, c) for x, c, _, _, _ in kept], *_ink_extent(scaled[index]),
                                float(np.mean([p for _, _, p, _, _ in kept])) if kept else 0.0))
        return out


@dataclass
class LineRead:
    """Characters recognised on one line with their x positions, and the line's ink extent (same scale)."""

    chars: list[tuple[float, str]]
    ink_start: float
    ink_end: float
    confidence: float

    @property
    def text(self) -> str:
        return "".join(c for _, c in self.chars)

    def slots(self, width: int) -> str:
        """The line as ``width`` fixed-pitch character cells (an MRZ is monospaced): each recognised
        character goes to its cell (or a free neighbour), empty cells are filler ``<``."""
        pitch = (self.ink_end - self.ink_start) / max(width - 0.2, 1)
        origin = self.ink_start - 0.1 * pitch
        cells: list[str | None] = [None] * width
        for x, ch in self.chars:
            pos = (x - origin) / pitch - 0.5
            cell = int(np.round(min(max(pos, 0), width - 1)))
            if cells[cell] is None:
                cells[cell] = ch
                continue
            for other in ((cell + 1, cell - 1) if pos > cell else (cell - 1, cell + 1)):
                if 0 <= other < width and cells[other] is None:
                    cells[other] = ch
                    break
        return "".join(c or "<" for c in cells)


def _ink_extent(line: np.ndarray) -> tuple[float, float]:
    """First and last dark column of a line image (dark: nearer the ink than the paper level)."""
    rows = line[int(line.shape[0] * 0.2): max(int(line.shape[0] * 0.8), int(line.shape[0] * 0.2) + 1)]
    ink, paper = np.percentile(rows, 3), np.percentile(rows, 60)
    cols = np.flatnonzero((rows < (ink + paper) / 2).sum(axis=0) >= 2)
    if cols.size == 0:
        return 0.0, float(line.shape[1])
    return float(cols[0]), float(cols[-1] + 1)


_ENGINE: _RapidEngine | None = None
_ENGINE_LOCK = threading.Lock()


def rapid_engine() -> _RapidEngine:
    """The process-wide PP-OCR engine (loaded on first use, about 0.5 s)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = _RapidEngine()
        return _ENGINE


# --------------------------------------------------------------------------- geometry


def _box_size(quad: np.ndarray) -> tuple[float, float]:
    """(length along the top edge, height along the left edge) of a clockwise box."""
    return float(np.linalg.norm(quad[1] - quad[0])), float(np.linalg.norm(quad[3] - quad[0]))


def _rotate_quads(quads: list[np.ndarray], size: tuple[int, int], degrees: int) -> list[np.ndarray]:
    """Box coordinates after turning an image of ``size`` (w, h) by ``degrees`` clockwise, re-ordered
    clockwise from the top-left corner."""
    w, h = size
    out = []
    for q in quads:
        x, y = q[:, 0], q[:, 1]
        if degrees == 90:
            p = np.column_stack([h - y, x])
        elif degrees == 180:
            p = np.column_stack([w - x, h - y])
        elif degrees == 270:
            p = np.column_stack([y, w - x])
        else:
            p = q.copy()
        out.append(_order(p))
    return out


def _order(points: np.ndarray) -> np.ndarray:
    """Order 4 points clockwise starting top-left (by the box's own axis, so long boxes stay long)."""
    centre = points.mean(axis=0)
    angles = np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0])
    pts = points[np.argsort(angles)]  # clockwise in image coordinates (y down), starting near -180 degrees
    start = int(np.argmin(pts[:, 0] + pts[:, 1]))
    return np.roll(pts, -start, axis=0).astype(np.float32)


def _merge_collinear(quads: list[np.ndarray]) -> list[np.ndarray]:
    """Join boxes that continue one another on the same text line (a line split at a gap or glare)."""
    items = sorted(quads, key=lambda q: float(q[:, 0].min()))
    merged: list[np.ndarray] = []
    for q in items:
        _, h = _box_size(q)
        joined = False
        for i, m in enumerate(merged):
            _, mh = _box_size(m)
            right_mid = (m[1] + m[2]) / 2
            left_mid = (q[0] + q[3]) / 2
            gap = left_mid[0] - right_mid[0]
            if abs(left_mid[1] - right_mid[1]) < 0.4 * max(h, mh) and -0.5 * mh < gap < 1.5 * max(h, mh) \
                    and 0.6 < h / max(mh, 1e-6) < 1.6:
                merged[i] = np.array([m[0], q[1], q[2], m[3]], dtype=np.float32)
                joined = True
                break
        if not joined:
            merged.append(q)
    return merged


def crop_line(gray: np.ndarray, quad: np.ndarray, pad: float = 0.3) -> np.ndarray:
    """Cut a text line out along its oriented box (perspective-corrected), with a little margin."""
    import cv2

    length, height = _box_size(quad)
    along = (quad[1] - quad[0]) / max(length, 1e-6)
    across = (quad[3] - quad[0]) / max(height, 1e-6)
    dx, dy = along * height * pad, across * height * pad
    src = np.array([quad[0] - dx - dy, quad[1] + dx - dy, quad[2] + dx + dy, quad[3] - dx + dy], dtype=np.float32)
    out_w, out_h = int(np.round(length + 2 * height * pad)), int(np.round(height * (1 + 2 * pad)))
    dst = np.array([(0, 0), (out_w, 0), (out_w, out_h), (0, out_h)], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(gray, matrix, (max(out_w, 1), max(out_h, 1)), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)


def _extend_along_ink(gray: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Grow a line box along its own axis over ink that continues the line.

    The detector often stops where a name ends and the ``<`` filler run begins (chevrons on a
    security background do not look like words to it); the filler belongs to the MRZ line, so the box
    is extended left and right while dark ink (as dark as the box's own text) follows within a gap of
    one line height.
    """
    import cv2

    length, height = _box_size(quad)
    if height < 4 or length < 2 * height:
        return quad
    along = (quad[1] - quad[0]) / max(length, 1e-6)
    reach = float(max(gray.shape))
    src = np.array([quad[0] - along * reach, quad[1] + along * reach, quad[2] + along * reach,
                    quad[3] - along * reach], dtype=np.float32)
    out_w, out_h = int(length + 2 * reach), max(4, int(np.round(height)))
    dst = np.array([(0, 0), (out_w, 0), (out_w, out_h), (0, out_h)], dtype=np.float32)
    strip = cv2.warpPerspective(gray, cv2.getPerspectiveTransform(src, dst), (out_w, out_h),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    inside = strip[:, int(reach):int(reach + length)]
    ink_level, paper = np.percentile(inside, 5), np.percentile(inside, 50)
    if paper - ink_level < 40:
        return quad
    core = strip[int(out_h * 0.25):max(int(out_h * 0.25) + 1, int(out_h * 0.75))]
    ink = (core < (ink_level + paper) / 2).sum(axis=0) >= 2
    gap = int(height)

    def walk(start: int, step: int) -> int:
        last, x = start, start
        while 0 <= x < out_w and abs(x - last) <= gap:
            if ink[x]:
                last = x
            x += step
        return last

    right = walk(int(reach + length) - 1, 1) - (reach + length)
    left = int(reach) - walk(int(reach), -1)
    if right <= 0 and left <= 0:
        return quad
    grow_r, grow_l = along * (max(0, right) + height * 0.15), along * (max(0, left) + height * 0.15)
    return np.array([quad[0] - grow_l, quad[1] + grow_r, quad[2] + grow_r, quad[3] - grow_l], dtype=np.float32)


def _rotate_cw(image: Image.Image, degrees: int) -> Image.Image:
    return image.rotate(-degrees, expand=True, fillcolor=255) if degrees else image


# --------------------------------------------------------------------------- locating the band


def _candidates(quads: list[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    """Wide, horizontal boxes long enough for an MRZ line, top to bottom."""
    longest = max(size)
    keep = []
    for q in quads:
        length, height = _box_size(q)
        angle = abs(np.degrees(np.arctan2(q[1][1] - q[0][1], q[1][0] - q[0][0])))
        if height > 0 and length / height >= _MIN_ASPECT and length >= 0.18 * longest and angle < 30:
            keep.append(q)
    keep.sort(key=lambda q: -_box_size(q)[0])
    unique: list[np.ndarray] = []
    for q in keep:  # the detector sometimes returns a line twice (nested boxes): keep the longer one
        _, h = _box_size(q)
        y, x0, x1 = float(q[:, 1].mean()), float(q[:, 0].min()), float(q[:, 0].max())
        if not any(abs(float(u[:, 1].mean()) - y) < 0.5 * max(h, _box_size(u)[1])
                   and min(x1, float(u[:, 0].max())) - max(x0, float(u[:, 0].min())) > 0.5 * (x1 - x0)
                   for u in unique):
            unique.append(q)
    keep = unique[:_MAX_CANDIDATES]
    keep.sort(key=lambda q: float(q[:, 1].mean()))
    return keep


def _band_groups(cands: list[np.ndarray]) -> list[list[int]]:
    """Runs of 2-3 consecutive candidate lines shaped like an MRZ band (same length and height, evenly
    stacked, aligned on the left), best first: longest lines, then lowest on the page."""
    sizes = [_box_size(q) for q in cands]
    groups = []
    for count in (3, 2):
        for start in range(len(cands) - count + 1):
            idx = list(range(start, start + count))
            lengths = [sizes[i][0] for i in idx]
            heights = [sizes[i][1] for i in idx]
            h = float(np.median(heights))
            tops = [float(cands[i][:, 1].mean()) for i in idx]
            lefts = [float(cands[i][0][0]) for i in idx]
            if max(lengths) > 1.15 * min(lengths) or max(heights) > 1.5 * min(heights):
                continue
            if any(not 0.8 * h < b - a < 2.6 * h for a, b in itertools.pairwise(tops)) or max(lefts) - min(lefts) > 1.5 * h:
                continue
            groups.append((sum(lengths) / count, count, tops[-1], idx))
    groups.sort(key=lambda g: (-round(g[0] / 20), -g[1], -g[2]))
    return [g[3] for g in groups]


def _best_block(texts: list[str]) -> tuple[float, list[int], list[str]] | None:
    """The consecutive 2 or 3 candidate lines that read most like an MRZ: (score, indices, fitted lines)."""
    best = None
    for count in (2, 3):
        for start in range(len(texts) - count + 1):
            block = texts[start:start + count]
            lines = find_mrz_lines("\n".join(block))
            if lines is None or len(lines) != count:
                continue
            score = _mrz_score(lines)
            if best is None or score > best[0]:
                best = (score, list(range(start, start + count)), lines)
    return best


def locate_band(gray: Image.Image) -> BandReading | None:
    """Find the MRZ band on a grayscale page and read it with the PP-OCR recogniser (engine ``rapid``).

    The page turn comes from the boxes (vertical lines: 90 or 270 degrees) and PP-OCR's 0/180 line
    classifier; when that rotation gives no MRZ-shaped lines, the opposite one is tried, then the other
    pair.  Returns None when no rotation gives MRZ-shaped lines.
    """
    engine = rapid_engine()
    rgb = np.repeat(np.asarray(gray)[:, :, None], 3, axis=2)
    quads = [_order(q) for q in engine.detect(rgb)]
    if not quads:
        return None
    wide = [_box_size(q) for q in quads]
    wide = [(length, height) for length, height in wide if max(length, height) / max(min(length, height), 1e-6) >= _MIN_ASPECT]
    vertical = sum(1 for length, height in wide if height > length)
    first = 90 if wide and vertical > len(wide) / 2 else 0
    turned = _rotate_cw(gray, first)
    arr = np.asarray(turned)
    cands = _candidates(_merge_collinear([_extend_along_ink(arr, q) for q in _rotate_quads(quads, gray.size, first)]),
                        turned.size)
    if cands and engine.upside_down([crop_line(arr, q) for q in sorted(cands, key=lambda q: -_box_size(q)[0])[:2]]) > 0.5:
        first = (first + 180) % 360
    order = [first, (first + 180) % 360, (first + 90) % 360, (first + 270) % 360]
    best: tuple[float, BandReading] | None = None
    for degrees in order:
        turned = _rotate_cw(gray, degrees)
        arr = np.asarray(turned)
        cands = _candidates(_merge_collinear([_extend_along_ink(arr, q)
                                              for q in _rotate_quads(quads, gray.size, degrees)]), turned.size)
        if len(cands) < 2:
            continue
        # Recognition costs most: read the band-shaped group first (with the PP-OCR recogniser, then with our
        # OCR-B Tesseract model, which is cheap), and every other candidate only when both fail.
        reads: dict[int, LineRead] = {}

        def read(indices, arr=arr, cands=cands, reads=reads) -> None:
            todo = [i for i in indices if i not in reads]
            if todo:
                reads.update(zip(todo, engine.recognise([crop_line(arr, cands[i]) for i in todo]), strict=True))

        groups = _band_groups(cands)
        block = None
        if groups:
            subset = groups[0]
            read(subset)
            found = _best_block([reads[i].text for i in subset])
            if found is not None and found[0] >= 4:
                block = (found[0], [subset[i] for i in found[1]], found[2])
            else:
                tess = _tesseract_block(arr, [cands[i] for i in subset])
                if tess is not None and tess[0] >= 4:
                    reading = BandReading(turned, degrees, [cands[subset[i]] for i in tess[1]],
                                          {"tesseract_mrz": tess[2]}, len(quads))
                    if best is None or tess[0] > best[0]:
                        best = (tess[0], reading)
                    break
        if block is None:
            read(range(len(cands)))
            block = _best_block([reads[i].text for i in range(len(cands))])
        if block is None:
            continue
        score, indices, lines = block
        # The same characters placed in fixed-pitch cells: fillers the recogniser left blank come back.
        slotted = [reads[i].slots(len(lines[0])) for i in indices]
        slot_score = _mrz_score(slotted)
        variants = {"text": lines, "slots": slotted}
        if slot_score >= score:
            score, lines = slot_score, slotted
        reading = BandReading(turned, degrees, [cands[i] for i in indices], {"rapid": lines}, len(quads))
        reading.variants = variants
        if best is None or score > best[0]:
            best = (score, reading)
        if score >= 4:  # parses with check digits: this rotation is right
            break
    return best[1] if best else None


def _all_checks_valid(lines: list[str]) -> bool:
    try:
        return parse_mrz(lines).valid
    except MRZError:
        return False


# --------------------------------------------------------------------------- Tesseract on the band lines


def mrz_tessdata_dir() -> Path | None:
    """Folder holding our own OCR-B MRZ model (``mrz.traineddata``), when it is installed."""
    folder = Path(__file__).resolve().parents[1] / "data" / "tessdata"
    return folder if (folder / "mrz.traineddata").is_file() else None


def tesseract_lines(band: BandReading, lang: str = "eng", tessdata: Path | None = None,
                    psm: int = 7) -> list[str] | None:
    """Read the band's lines one by one with Tesseract (one line per call, MRZ whitelist), fitted to the MRZ
    width; None when a line cannot be fitted."""
    reading = next(iter(band.readings.values()), None)
    width = len(reading[0]) if reading else None
    texts = _tesseract_texts(np.asarray(band.image), band.quads, lang, tessdata, psm)
    if texts is None:
        return None
    out = []
    n = len(band.quads)
    for k, text in enumerate(texts):
        if width is not None:
            name_line = (2 if n == 3 else 0) == k
            fitted = _fit_length(text, width, (0 if n == 3 else 5) if name_line else None)
            if fitted is None:
                return None
            text = fitted
        out.append(text)
    return out


def _tesseract_block(arr: np.ndarray, quads: list[np.ndarray]) -> tuple[float, list[int], list[str]] | None:
    """The band-shaped lines read with our OCR-B Tesseract model (one raw line per call, which is cheap) when
    the PP-OCR recogniser could not read them as an MRZ: (score, indices, fitted lines) as :func:`_best_block`."""
    tessdata = mrz_tessdata_dir()
    if tessdata is None:
        return None
    texts = _tesseract_texts(arr, quads, "mrz", tessdata, 13)
    return _best_block(texts) if texts is not None else None


def _tesseract_texts(arr: np.ndarray, quads: list[np.ndarray], lang: str, tessdata: Path | None,
                     psm: int) -> list[str] | None:
    """Each line box read by Tesseract with the MRZ whitelist (MRZ characters only); None when it fails."""
    from kyc_assets.onboarding import tesseract

    out = []
    for quad in quads:
        crop = crop_line(arr, quad, pad=0.25)
        scale = _TESS_LINE_HEIGHT / max(crop.shape[0], 1)
        image = Image.fromarray(crop).resize((max(1, int(crop.shape[1] * scale)), _TESS_LINE_HEIGHT), Image.LANCZOS)
        try:
            text = tesseract.image_to_string(image, lang=lang, psm=psm, whitelist=MRZ_ALPHABET, tessdata=tessdata)
        except tesseract.TesseractFailed:
            return None
        out.append("".join(ch for ch in text.upper() if ch in MRZ_ALPHABET))
    return out


def read_band(band: BandReading) -> BandReading:
    """Add a Tesseract reading of the band's lines: with our own OCR-B MRZ model (``tesseract_mrz``) when
    it is installed, else Debian's ``eng`` model with the MRZ whitelist (``tesseract``).

    The own model replaces ``eng`` rather than joining it: on held-out OCR-B lines it reads 0.82 of the
    characters against 0.64 and almost never reads ``<`` as ``K`` (see ``data/tessdata/MODEL_CARD.md``),
    and each Tesseract call costs about as much as the whole PP-OCR recognition.
    """
    tessdata = mrz_tessdata_dir()
    name, lang, psm = ("tesseract_mrz", "mrz", 13) if tessdata is not None else ("tesseract", "eng", 7)
    if name in band.readings:  # already read (the band was found by this engine)
        return band
    lines = tesseract_lines(band, lang, tessdata, psm)
    if lines is not None:
        band.readings[name] = lines
    return band
