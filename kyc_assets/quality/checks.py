"""The Dagster side of data quality: materialization metadata and GX-backed check results."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd

from kyc_assets.quality import gx
from kyc_assets.quality.masking import masked_preview

_TYPES = {"i": "int", "u": "int", "f": "float", "b": "bool", "M": "timestamp", "O": "string"}


def table_schema(df: pd.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[
        dg.TableColumn(name=str(c), type=_TYPES.get(df[c].dtype.kind, str(df[c].dtype))) for c in df.columns
    ])


def table_metadata(df: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    """Row count, schema and a PII-masked preview, as every materialization of ours carries."""
    preview = masked_preview(df)
    return {
        "dagster/row_count": dg.MetadataValue.int(len(df)),
        "dagster/column_schema": dg.MetadataValue.table_schema(table_schema(df)),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "(empty)"),
        **extra,
    }


def gx_check(
    df: pd.DataFrame,
    expectations: list[gx.Expectation],
    *,
    check_name: str,
    asset_key: dg.AssetKey | str | None = None,
    extra_failures: list[str] | None = None,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    metadata: dict[str, Any] | None = None,
) -> dg.AssetCheckResult:
    """Validate ``df`` with Great Expectations and turn the outcome into an AssetCheckResult.

    ``extra_failures`` carries findings computed outside GX (cross-table rules) so that a
    check reports all its reasons in one place.
    """
    outcome = gx.validate(df, expectations, check_name)
    failures = outcome.failures + list(extra_failures or [])
    meta = {**outcome.metadata(), "failures": "; ".join(failures) or "none", "rows": len(df), **(metadata or {})}
    return dg.AssetCheckResult(
        check_name=check_name,
        asset_key=asset_key,
        passed=bool(outcome.passed and not extra_failures),
        severity=severity,
        metadata=meta,
    )
