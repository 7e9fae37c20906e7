"""Dagster resources: the platform's external systems, configured once in definitions.py."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler

from kyc_assets.onboarding.store import DocumentStore


class _TypedPandasHandler(DuckDBPandasTypeHandler):
    """Stores an all-empty object column as text: DuckDB would otherwise create the table with a
    NULL-typed column from the first partition and refuse every later partition that has values."""

    def handle_output(self, context, table_slice, obj, connection):
        if isinstance(obj, pd.DataFrame):
            empty = [c for c in obj.columns if obj[c].dtype == object and obj[c].isna().all()]
            if empty:
                obj = obj.astype({c: "string" for c in empty})
        return super().handle_output(context, table_slice, obj, connection)


class WarehouseIOManager(DuckDBPandasIOManager):
    """Asset values as DuckDB tables (schema ``kyc``); creates the warehouse's folder on first use."""

    @staticmethod
    def type_handlers():
        return [_TypedPandasHandler()]

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        super().setup_for_execution(context)


class DocumentStoreResource(dg.ConfigurableResource):
    """Where documents arrive (inbox), are kept (content-addressed store) and are refused (quarantine)."""

    store_dir: str
    inbox_dir: str
    quarantine_dir: str

    def store(self) -> DocumentStore:
        return DocumentStore(self.store_dir)


class CaseStoreResource(dg.ConfigurableResource):
    """The SQL database holding cases, evidence and the audit log (SQLite or PostgreSQL)."""

    database_url: str

    def store(self):
        from kyc_assets.cases.store import CaseStore

        return CaseStore(self.database_url)


class TransactionSourceResource(dg.ConfigurableResource):
    """A canonical-schema transactions file (CSV or Parquet) or a folder of them."""

    path: str
    default_currency: str = "USD"
    base_currency: str = "USD"


class WatchlistSourceResource(dg.ConfigurableResource):
    """Configured sanctions lists (paths); empty means the bundled OFAC SDN subset."""

    paths: list[str] = []

    def resolved_paths(self) -> list[str]:
        from kyc_assets.watchlists.sources import default_watchlist_path

        return list(self.paths) or [str(default_watchlist_path())]


class MonitoringSettingsResource(dg.ConfigurableResource):
    """Tuning of transaction monitoring: thresholds, windows and the high-risk jurisdictions."""

    reporting_threshold: float = 10_000.0
    high_risk_countries: list[str] = ["IR", "KP", "MM", "SY", "AF", "YE", "RU"]
    windows: list[int] = [1, 7, 30]
    # Share of account-days the IsolationForest treats as outliers (its alert budget without rules).
    contamination: float = 0.01
    alert_threshold: float = 0.7
    seed: int = 0
