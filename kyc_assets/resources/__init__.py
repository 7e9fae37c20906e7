"""Dagster resources: the platform's external systems, configured once in definitions.py."""

from __future__ import annotations

import dagster as dg

from kyc_assets.onboarding.store import DocumentStore


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
