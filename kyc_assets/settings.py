"""Where the platform keeps its files and how it is tuned, read from the environment once.

Every setting has an embedded default under ``KYC_HOME`` so that ``make demo`` needs no
configuration; production deployments override them with environment variables (documented
in the README). Secrets never live here: they are read through ``dg.EnvVar`` by resources.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    deployment: str
    home: Path
    inbox_dir: Path
    document_store_dir: Path
    quarantine_dir: Path
    warehouse_path: Path
    database_url: str
    transactions_path: Path
    transactions_start_date: str
    watchlist_paths: tuple[str, ...]
    base_currency: str
    reporting_threshold: float
    high_risk_countries: tuple[str, ...]
    case_sla_days: int
    sensor_settle_seconds: float
    sensor_max_files_per_tick: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("KYC_HOME", ".kyc")).expanduser().resolve()

        def path(name: str, default: Path) -> Path:
            return Path(env[name]).expanduser().resolve() if env.get(name) else default

        deployment = env.get("KYC_DEPLOYMENT", "local")
        if deployment not in ("local", "production"):
            raise ValueError(f"KYC_DEPLOYMENT must be 'local' or 'production', not {deployment!r}")
        if deployment == "production" and not env.get("KYC_DATABASE_URL"):
            # A production case store must be a real database, never a SQLite file inside a container.
            raise ValueError("KYC_DEPLOYMENT=production needs KYC_DATABASE_URL (e.g. postgresql+psycopg2://...)")
        start = env.get("KYC_TRANSACTIONS_START_DATE", "2026-01-01")
        date.fromisoformat(start)  # fail at load with a clear error, not at run time
        return cls(
            deployment=deployment,
            home=home,
            inbox_dir=path("KYC_INBOX_DIR", home / "inbox"),
            document_store_dir=path("KYC_DOCUMENT_STORE", home / "documents"),
            quarantine_dir=path("KYC_QUARANTINE_DIR", home / "quarantine"),
            warehouse_path=path("KYC_WAREHOUSE_PATH", home / "warehouse.duckdb"),
            database_url=env.get("KYC_DATABASE_URL") or f"sqlite:///{home / 'cases.sqlite'}",
            transactions_path=path("KYC_TRANSACTIONS_PATH", home / "sample" / "transactions.csv"),
            transactions_start_date=start,
            watchlist_paths=_csv(env.get("KYC_WATCHLIST_PATHS", "")),
            base_currency=env.get("KYC_BASE_CURRENCY", "USD").upper(),
            reporting_threshold=float(env.get("KYC_REPORTING_THRESHOLD", "10000")),
            high_risk_countries=_csv(env.get("KYC_HIGH_RISK_COUNTRIES", "IR,KP,MM,SY,AF,YE,RU")),
            case_sla_days=int(env.get("KYC_CASE_SLA_DAYS", "5")),
            sensor_settle_seconds=float(env.get("KYC_SENSOR_SETTLE_SECONDS", "2")),
            sensor_max_files_per_tick=int(env.get("KYC_SENSOR_MAX_FILES_PER_TICK", "100")),
        )
