"""Tesseract calls for the OCR modules: in process through ``tesserocr`` when it is installed, else the
``tesseract`` command through ``pytesseract``.

Starting the ``tesseract`` command costs about 0.3 s of CPU per call with Debian's ``eng`` model before
any pixel is read (``UnicharAmbigs::LoadUniversal`` while loading the language, measured with
callgrind: 76 % of a call on a blank image), and pytesseract PNG-encodes every image it passes.  A
document needs one to a dozen calls, so that start-up cost was a large part of reading one.  With
``tesserocr`` (MIT, a wheel bundling libtesseract) each thread keeps one initialised engine per
(tessdata folder, language) and images are handed over in memory.

Both paths return the same thing: :func:`image_to_data` the word table of ``pytesseract.image_to_data``
(``text``, ``conf``, ``block_num``, ``par_num``, ``line_num``, ...), :func:`image_to_string` the text.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from functools import cache
from pathlib import Path

from PIL import Image

# Tesseract's OpenMP threads fight each other on small machines; one thread is much faster.  Set before
# libtesseract (and its OpenMP runtime) is loaded.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

_TIMEOUT = 60  # seconds per call of the tesseract command (the in-process engine has no timeout)
_COLUMNS = ("level", "page_num", "block_num", "par_num", "line_num", "word_num", "left", "top", "width", "height",
            "conf", "text")


class TesseractFailed(RuntimeError):
    """Tesseract could not read an image (one-line reason)."""


@cache
def _tesserocr():
    """The ``tesserocr`` module, or None when it is not installed (the command is used instead)."""
    try:
        import tesserocr
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return tesserocr


@cache
def system_tessdata() -> str | None:
    """The folder of the system's language models (``eng``), as the ``tesseract`` command reports it."""
    try:
        out = subprocess.run(["tesseract", "--list-langs"], check=False, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'"([^"]+)"', out.stdout + out.stderr)
    return match.group(1) if match else None


_LOCAL = threading.local()


def _engine(lang: str, tessdata: Path | str | None):
    """This thread's initialised ``tesserocr`` engine for (tessdata, lang), created on first use."""
    tesserocr = _tesserocr()
    path = str(tessdata) if tessdata is not None else system_tessdata()
    if tesserocr is None or path is None:
        return None
    engines = getattr(_LOCAL, "engines", None)
    if engines is None:
        engines = _LOCAL.engines = {}
    key = (path, lang)
    if key not in engines:
        try:
            engines[key] = tesserocr.PyTessBaseAPI(path=path.rstrip("/") + "/", lang=lang,
                                                   oem=tesserocr.OEM.LSTM_ONLY)
        except RuntimeError:  # the language is missing from that folder: let the command report it
            engines[key] = None
    return engines[key]


def _run_engine(api, image: Image.Image, psm: int, whitelist: str | None):
    api.SetPageSegMode(psm)
    api.SetVariable("tessedit_char_whitelist", whitelist or "")
    api.SetImage(image)
    return api


def _parse_tsv(tsv: str) -> dict[str, list]:
    data: dict[str, list] = {c: [] for c in _COLUMNS}
    for row in tsv.splitlines():
        parts = row.split("\t")
        if len(parts) < len(_COLUMNS) - 1 or not parts[0].isdigit():
            continue
        parts += [""] * (len(_COLUMNS) - len(parts))
        for name, value in zip(_COLUMNS, parts):
            data[name].append(value if name == "text" else (float(value) if name == "conf" else int(value)))
    return data


def _config(psm: int, whitelist: str | None, tessdata: Path | str | None) -> str:
    config = f"--psm {psm}"
    if whitelist:
        config += f" -c tessedit_char_whitelist={whitelist}"
    if tessdata is not None:
        config = f'--tessdata-dir "{tessdata}" --oem 1 ' + config
    return config


def image_to_data(image: Image.Image, lang: str = "eng", psm: int = 3, whitelist: str | None = None,
                  tessdata: Path | str | None = None) -> dict[str, list]:
    """Tesseract's word table of ``image`` (columns as ``pytesseract.image_to_data`` with ``Output.DICT``).
    Raises :class:`TesseractFailed`."""
    api = _engine(lang, tessdata)
    if api is not None:
        _run_engine(api, image, psm, whitelist)
        tsv = api.GetTSVText(0)
        if tsv is None:
            raise TesseractFailed("OCR failed: no result")
        return _parse_tsv(tsv)
    import pytesseract

    try:
        return pytesseract.image_to_data(image, lang=lang, config=_config(psm, whitelist, tessdata),
                                         output_type=pytesseract.Output.DICT, timeout=_TIMEOUT)
    except (pytesseract.TesseractError, RuntimeError) as exc:
        raise TesseractFailed(f"OCR failed: {type(exc).__name__}") from exc


def image_to_string(image: Image.Image, lang: str = "eng", psm: int = 3, whitelist: str | None = None,
                    tessdata: Path | str | None = None) -> str:
    """Tesseract's text of ``image``. Raises :class:`TesseractFailed`."""
    api = _engine(lang, tessdata)
    if api is not None:
        _run_engine(api, image, psm, whitelist)
        return api.GetUTF8Text() or ""
    import pytesseract

    try:
        return pytesseract.image_to_string(image, lang=lang, config=_config(psm, whitelist, tessdata),
                                           timeout=_TIMEOUT)
    except (pytesseract.TesseractError, RuntimeError) as exc:
        raise TesseractFailed(f"OCR failed: {type(exc).__name__}") from exc
