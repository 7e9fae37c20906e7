"""Shared fixtures: a small PNG that Tesseract can read, temporary platform settings."""

from __future__ import annotations

import io
import os

import pytest

os.environ.setdefault("OMP_THREAD_LIMIT", "1")


@pytest.fixture
def png_bytes() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 120), "white")
    ImageDraw.Draw(image).text((10, 40), "ELECTRICITY BILL", fill="black")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def kyc_env(tmp_path, monkeypatch):
    """Point every platform path at a temporary KYC_HOME."""
    home = tmp_path / "kyc"
    monkeypatch.setenv("KYC_HOME", str(home))
    for var in ("KYC_INBOX_DIR", "KYC_DOCUMENT_STORE", "KYC_QUARANTINE_DIR", "KYC_WAREHOUSE_PATH",
                "KYC_DATABASE_URL", "KYC_TRANSACTIONS_PATH", "KYC_WATCHLIST_PATHS"):
        monkeypatch.delenv(var, raising=False)
    return home
