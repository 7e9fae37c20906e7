"""Masking of customer PII before anything reaches Dagster event logs or metadata previews."""

from __future__ import annotations

import hashlib

import pandas as pd

# Columns that hold personal data wherever they appear in the platform's tables.
PII_COLUMNS = frozenset({
    "surname", "given_names", "full_name", "name", "query_name", "date_of_birth", "document_number",
    "address", "optional_data", "raw_text", "text", "mrz", "original_name", "matched_name_query",
})


def mask_value(value: object) -> str:
    """'Anna Maria' -> 'A*** M***'; dates and numbers -> a fixed mask keeping only the length class."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value)
    if any(ch.isdigit() for ch in text):
        return "#" * min(len(text), 8)
    return " ".join(f"{word[0]}***" for word in text.split() if word)


def pseudonym(value: str, salt: str = "kyc") -> str:
    """A stable, non-reversible reference for logs (a salted sha256 prefix)."""
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:12]


def masked_preview(df: pd.DataFrame, rows: int = 5, max_width: int = 60) -> pd.DataFrame:
    head = df.head(rows).copy()
    for column in head.columns:
        if column in PII_COLUMNS:
            head[column] = head[column].map(mask_value)
        else:
            head[column] = head[column].map(lambda v: str(v)[:max_width])
    return head
