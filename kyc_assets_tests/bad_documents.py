"""Hostile and broken uploads from the issue's bad-input list, made in memory (no fixtures on disk).

Each entry: file name, bytes, and the words its refusal reason must contain (None: the file is a
readable document and must flow through the pipeline).
"""

from __future__ import annotations

import io
import struct
import zlib
from datetime import date

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

PERSON = {
    "surname": "Eriksson", "given_names": "Anna Maria", "date_of_birth": date(1974, 8, 12), "sex": "F",
    "nationality": "UTO", "issuing_country": "UTO", "document_number": "L898902C3",
    "expiry_date": date(2031, 4, 15), "address": "12 Harbour Street\nLeeds LS1 4AB\nUnited Kingdom",
}


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring width x height pixels but carrying almost no data (a decompression bomb's shape)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def encrypted_pdf(user_password: str = "s3cret") -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    writer.encrypt(user_password, owner_password="owner", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def photo_without_document(seed: int = 0, size: tuple[int, int] = (960, 640)) -> Image.Image:
    """A 'holiday photo': sky gradient, hills, a sun and blurred foliage; no text, no document."""
    rng = np.random.default_rng(seed)
    w, h = size
    y = np.linspace(0, 1, h)[:, None]
    sky = np.stack([110 + 90 * y, 160 + 60 * y, 235 - 30 * y], axis=-1) * np.ones((1, w, 1))
    image = Image.fromarray(sky.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((w * 0.7, h * 0.1, w * 0.82, h * 0.28), fill=(250, 230, 140))
    for k, colour in enumerate([(70, 120, 60), (50, 100, 45)]):
        points = [(x, h * (0.55 + 0.1 * k) + 40 * np.sin(x / (90 + 30 * k) + k)) for x in range(0, w + 20, 20)]
        draw.polygon([*points, (w, h), (0, h)], fill=colour)
    leaves = (rng.random((h // 8, w // 8, 3)) * 80 + np.array([20, 70, 20])).astype(np.uint8)
    foliage = Image.fromarray(leaves, "RGB").resize((w, h // 3)).filter(ImageFilter.GaussianBlur(3))
    image.paste(foliage, (0, h - h // 3))
    return image


def good_passport_png() -> bytes:
    from kyc_assets.sample_data.documents import render_passport

    return encode(render_passport(PERSON, seed=3), "PNG")


def bad_inputs() -> list[tuple[str, bytes, str | None]]:
    """The issue's bad-input list; the last entry (a photo without a document) is readable."""
    from kyc_assets.sample_data.documents import render_id_card

    jpeg = encode(render_id_card(PERSON, seed=2), "JPEG", quality=85)
    return [
        ("zero-bytes.png", b"", "empty"),
        ("truncated.jpg", jpeg[: len(jpeg) // 2], "corrupt or truncated image"),
        ("huge-40000x40000.png", png_header_only(40_000, 40_000), "decompression bomb"),
        ("locked.pdf", encrypted_pdf(), "encrypted PDF"),
        ("malformed.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\n%%EOF\ngarbage", "corrupt PDF"),
        ("notes.jpg", b"Dear KYC team,\nplease find my passport attached.\n", "unsupported"),
        ("holiday-photo.jpg", encode(photo_without_document(), "JPEG", quality=90), None),
    ]
