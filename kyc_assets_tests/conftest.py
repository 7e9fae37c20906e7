"""Shared fixtures: a small PNG that Tesseract can read, temporary platform settings."""

from __future__ import annotations

import io
import os
import uuid

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
    """Point every platform path at a temporary KYC_HOME, with none of the developer's settings:
    no KYC_* variable and no API key leaks in (a test must never send documents to a real LLM)."""
    home = tmp_path / "kyc"
    for var in list(os.environ):
        if var.startswith("KYC_") or var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KYC_HOME", str(home))
    return home


# The real PostgreSQL server (trust auth on 127.0.0.1). Outside CI a test needing it is skipped when
# the server is not running; in CI (CI=true) an unreachable server is a failure, never a skip.
PG = {"host": os.environ.get("KYC_TEST_PG_HOST", "127.0.0.1"), "port": int(os.environ.get("KYC_TEST_PG_PORT", "5432")),
      "user": os.environ.get("KYC_TEST_PG_USER", "postgres")}


def pg_admin():
    """An autocommit connection to the server's ``postgres`` database (skip or fail as above)."""
    import psycopg2

    try:
        conn = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    except psycopg2.OperationalError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL at {PG['host']}:{PG['port']} is unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG['host']}:{PG['port']} is not running (runs in CI): {exc}")
    conn.autocommit = True
    return conn


def pg_url(database: str) -> str:
    return f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{database}"


@pytest.fixture
def pg_database():
    """A fresh, uniquely named PostgreSQL database, dropped afterwards."""
    name = f"kyc_test_{uuid.uuid4().hex[:10]}"
    admin = pg_admin()
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')  # name is generated here, never user input
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
