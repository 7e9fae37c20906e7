"""Optional encryption of PII columns in the DuckDB warehouse (off by default).

By default the warehouse holds customer PII in clear: ``customers`` (full name, date of birth,
document number, address), ``extracted_entities`` (the fields read from each document) and
``document_text`` (the OCR text and MRZ lines, which contain all of them). Anyone who can read the
warehouse file reads them. Deployments that need more set ``KYC_WAREHOUSE_PII_KEYS`` (Fernet keys,
comma-separated, newest first; from the environment through ``dg.EnvVar``): the warehouse IO manager
then encrypts the columns of ``PII_COLUMNS`` on write and decrypts them on read, so assets keep
working on clear values in memory while the file holds only Fernet tokens (``kyc:`` prefixed).

Limits: encrypted columns cannot be filtered or joined in SQL (use the ids); values are stored as
text (a date column comes back as ISO text); the review dashboard decrypts with the same keys;
another reader of the file (a BI tool) sees tokens. Rotation: prepend a new key (old tokens still
read) and re-materialize the assets to re-encrypt.
"""

from __future__ import annotations

import pandas as pd

from kyc_assets.cases.pii import PiiCipher

PII_COLUMNS = ("full_name", "surname", "given_names", "date_of_birth", "document_number", "address", "text",
               "mrz_lines")
PREFIX = "kyc:"


class WarehouseCipher:
    def __init__(self, keys: str):
        self._cipher = PiiCipher(keys)

    @classmethod
    def maybe(cls, keys: str | None) -> WarehouseCipher | None:
        return cls(keys) if keys and keys.strip() else None

    def _encrypt(self, value):
        if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
            return value
        if isinstance(value, str) and value.startswith(PREFIX):
            return value  # already a token
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
        return PREFIX + self._cipher.encrypt(text)

    def _decrypt(self, value):
        if isinstance(value, str) and value.startswith(PREFIX):
            return self._cipher.decrypt(value[len(PREFIX):])
        return value

    def protect(self, df: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``df`` with its PII columns encrypted (other columns untouched)."""
        cols = [c for c in PII_COLUMNS if c in df.columns]
        if not cols:
            return df
        out = df.copy()
        for c in cols:
            out[c] = out[c].astype(object).map(self._encrypt)
        return out

    def reveal(self, df: pd.DataFrame) -> pd.DataFrame:
        cols = [c for c in PII_COLUMNS if c in df.columns]
        for c in cols:
            df[c] = df[c].map(self._decrypt)
        return df

    def reveal_row(self, row: dict) -> dict:
        return {k: self._decrypt(v) if k in PII_COLUMNS else v for k, v in row.items()}
