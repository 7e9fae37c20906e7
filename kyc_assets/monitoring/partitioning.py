"""Assign validated and quarantined transaction rows to daily partitions (plain pandas)."""

from __future__ import annotations

import pandas as pd


def partition_dates(valid: pd.DataFrame, quarantine: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The day (YYYY-MM-DD, UTC) each row belongs to.

    Valid rows belong to the day of their timestamp. A quarantined row belongs to the day of its
    timestamp when that parses; otherwise to the last day of the file, so that every row of the
    file is accounted for in exactly one partition and nothing is dropped.
    """
    valid_days = valid["timestamp"].dt.strftime("%Y-%m-%d") if len(valid) else pd.Series([], dtype=str)
    parsed = pd.to_datetime(quarantine["timestamp"], errors="coerce", utc=True, format="ISO8601") \
        if len(quarantine) else pd.Series([], dtype="datetime64[ns, UTC]")
    fallback = max(valid_days) if len(valid_days) else (
        parsed.max().strftime("%Y-%m-%d") if parsed.notna().any() else "1970-01-01")
    quarantine_days = parsed.dt.strftime("%Y-%m-%d").fillna(fallback) if len(quarantine) else pd.Series(
        [], dtype=str)
    return valid_days, quarantine_days
