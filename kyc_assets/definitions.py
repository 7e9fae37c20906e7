"""The code location: every asset, check, sensor, schedule and resource, assembled in one place.

The deployment's paths and tuning are read from the environment once, here (see settings.py);
loading needs no credentials and no network.
"""

from __future__ import annotations

import dagster as dg

from kyc_assets.cases.assets import build_escalated_cases
from kyc_assets.monitoring.assets import build_monitoring_assets
from kyc_assets.onboarding.assets import customers, document_text, extracted_entities, raw_documents
from kyc_assets.onboarding.sensors import build_inbox_sensor, onboarding_job
from kyc_assets.resources import (
    CaseStoreResource,
    DocumentStoreResource,
    MonitoringSettingsResource,
    TransactionSourceResource,
    WarehouseIOManager,
    WatchlistSourceResource,
)
from kyc_assets.screening.assets import screening_results
from kyc_assets.settings import Settings
from kyc_assets.watchlists.assets import watchlist_entries


def build_resources(settings: Settings) -> dict:
    return {
        "io_manager": WarehouseIOManager(database=str(settings.warehouse_path), schema="kyc"),
        "documents": DocumentStoreResource(store_dir=str(settings.document_store_dir),
                                           inbox_dir=str(settings.inbox_dir),
                                           quarantine_dir=str(settings.quarantine_dir)),
        "watchlists": WatchlistSourceResource(paths=list(settings.watchlist_paths)),
        "transaction_source": TransactionSourceResource(path=str(settings.transactions_path),
                                                        base_currency=settings.base_currency),
        "monitoring": MonitoringSettingsResource(reporting_threshold=settings.reporting_threshold,
                                                 high_risk_countries=list(settings.high_risk_countries)),
        "case_store": CaseStoreResource(database_url=settings.database_url),
    }


def build_assets(settings: Settings) -> list:
    return [
        raw_documents, document_text, extracted_entities, customers,
        watchlist_entries, screening_results,
        *build_monitoring_assets(settings.transactions_start_date),
        build_escalated_cases(settings.case_sla_days),
    ]


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    assets = build_assets(settings)
    transactions_assets = dg.AssetSelection.assets("transactions", "transactions_quarantine",
                                                   "transaction_features", "anomaly_scores")
    monitoring_job = dg.define_asset_job("monitoring_job", selection=transactions_assets,
                                         description="Validate, featurise and score one day of transactions.")
    return dg.Definitions(
        assets=assets,
        jobs=[onboarding_job, monitoring_job],
        sensors=[
            build_inbox_sensor(settings.sensor_settle_seconds, settings.sensor_max_files_per_tick),
            # On by default: a new list version re-screens customers, new documents update profiles.
            dg.AutomationConditionSensorDefinition("default_automation_condition_sensor",
                                                   target=dg.AssetSelection.all(),
                                                   default_status=dg.DefaultSensorStatus.RUNNING),
        ],
        schedules=[dg.build_schedule_from_partitioned_job(monitoring_job, hour_of_day=2,
                                                          default_status=dg.DefaultScheduleStatus.RUNNING)],
        resources=build_resources(settings),
    )


defs = build_definitions()
