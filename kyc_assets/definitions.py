"""The code location: every asset, check, sensor, schedule and resource, assembled in one place.

The deployment's paths and tuning are read from the environment once, here (see settings.py);
loading needs no credentials and no network.
"""

from __future__ import annotations

import dagster as dg

from kyc_assets.cases.assets import build_escalated_cases
from kyc_assets.cases.sensors import build_case_escalation_sensor, build_run_failure_sensor
from kyc_assets.monitoring.assets import build_monitoring_assets
from kyc_assets.onboarding.assets import customers, document_text, extracted_entities, raw_documents
from kyc_assets.onboarding.sensors import build_inbox_sensor, onboarding_job
from kyc_assets.resources import (
    AdverseMediaResource,
    CaseStoreResource,
    DocumentStoreResource,
    LlmExtractorResource,
    MonitoringSettingsResource,
    RestScreeningProviderResource,
    ScreeningStateResource,
    SmtpNotifierResource,
    TransactionSourceResource,
    WatchlistSourceResource,
    WebhookNotifierResource,
    build_storage_resources,
)
from kyc_assets.risk.assets import build_risk_assets
from kyc_assets.resources.warehouse import build_warehouse_resource, object_store_fields
from kyc_assets.screening.assets import adverse_media_results, screening_results
from kyc_assets.settings import Settings
from kyc_assets.watchlists.assets import build_watchlist_assets


def _document_keys(settings: Settings) -> dg.EnvVar | None:
    """At-rest encryption keys as a ``dg.EnvVar`` (the secret stays out of run config), only when set:
    definitions load and documents are stored in plaintext with an empty environment."""
    return dg.EnvVar("KYC_DOCUMENT_KEYS") if settings.document_keys_set else None


def build_resources(settings: Settings) -> dict:
    return {
        # Asset tables (io_manager) and their readers (warehouse): a local folder or s3://, chosen here.
        **build_storage_resources(settings),
        "documents": DocumentStoreResource(store_dir=settings.document_store_url,
                                           inbox_dir=settings.inbox_url,
                                           quarantine_dir=settings.quarantine_url,
                                           encryption_keys=_document_keys(settings),
                                           archive_dir=str(settings.inbox_archive_dir)
                                           if settings.inbox_archive_dir else None,
                                           **object_store_fields(settings)),
        "watchlists": WatchlistSourceResource(
            paths=list(settings.watchlist_paths),
            cache_dir=str(settings.watchlist_cache_dir or settings.home / "watchlists"),
            max_age_hours=settings.watchlist_max_age_hours,
            local_max_age_hours=settings.watchlist_local_max_age_hours,
            read_timeout_seconds=settings.watchlist_timeout_seconds,
            max_bytes=int(settings.watchlist_max_mb * 1024 * 1024),
            attempts=settings.watchlist_download_attempts),
        "transaction_source": build_transaction_source(settings),
        "monitoring": MonitoringSettingsResource(
            reporting_threshold=settings.reporting_threshold, high_risk_countries=list(settings.high_risk_countries),
            contamination=settings.model_contamination, alert_threshold=settings.alert_threshold,
            alert_policy=settings.alert_policy, alert_budget=settings.alert_budget,
            models_dir=str(settings.models_dir), warehouse=build_warehouse_resource(settings),
            model_training_days=settings.model_training_days, model_max_age_days=settings.model_max_age_days,
            model_min_labels=settings.model_min_labels,
            alert_share_min=settings.alert_share_min, alert_share_max=settings.alert_share_max,
            feature_max_null_rate=settings.feature_max_null_rate, feature_drift_psi=settings.feature_drift_psi),
        "case_store": build_case_store_resource(settings),
        **build_screening_resources(settings),
        "llm": build_llm_resource(settings),
        **build_notification_resources(settings),
    }


def build_case_store_resource(settings: Settings) -> CaseStoreResource:
    """The case store. Its URL (which may hold a password), the PII and audit keys and the owner's URL
    are ``dg.EnvVar``s when set, so no secret enters run config or the repository snapshot the UI shows."""
    return CaseStoreResource(
        database_url=dg.EnvVar("KYC_DATABASE_URL") if settings.database_url_set else settings.database_url,
        retention_years=settings.case_retention_years,
        pii_keys=dg.EnvVar("KYC_CASE_KEYS") if settings.case_keys_set else None,
        audit_keys=dg.EnvVar("KYC_AUDIT_KEYS") if settings.audit_keys_set else None,
        audit_checkpoint_dir=str(settings.audit_checkpoint_dir) if settings.audit_checkpoint_dir else None,
        audit_checkpoint_every=settings.audit_checkpoint_every,
        audit_checkpoint_minutes=settings.audit_checkpoint_minutes,
        owner_url=dg.EnvVar("KYC_DATABASE_OWNER_URL") if settings.database_owner_url_set else None)


def build_notification_resources(settings: Settings) -> dict:
    """Email (SMTP) and webhook channels for the notification sensors. The SMTP password and the webhook
    URL (which embeds a token) are ``dg.EnvVar``s, only when set: with an empty environment both
    channels are off and the sensors skip."""
    smtp = {"host": settings.smtp_host, "port": settings.smtp_port, "user": settings.smtp_user,
            "sender": settings.smtp_from, "recipients": list(settings.smtp_to), "security": settings.smtp_security}
    if settings.smtp_password_set:
        smtp["password"] = dg.EnvVar("KYC_SMTP_PASSWORD")
    webhook = {"attempts": settings.webhook_attempts}
    if settings.webhook_url_set:
        webhook["url"] = dg.EnvVar("KYC_WEBHOOK_URL")
    return {"email": SmtpNotifierResource(**smtp), "webhook": WebhookNotifierResource(**webhook)}


def build_llm_resource(settings: Settings) -> LlmExtractorResource:
    """The LLM extractor: enabled with the key from ``OPENAI_API_KEY`` (read at run time through
    ``dg.EnvVar``, never stored), disabled without one so that nothing needs credentials."""
    tuning = {"base_url": settings.llm_base_url, "model": settings.llm_model,
              "send_images": settings.llm_send_images, "timeout_seconds": settings.llm_timeout_seconds,
              "max_attempts": settings.llm_max_attempts, "max_concurrency": settings.llm_max_concurrency,
              "requests_per_minute": settings.llm_requests_per_minute}
    if settings.llm_api_key_set:
        return LlmExtractorResource(api_key=dg.EnvVar("OPENAI_API_KEY"), **tuning)
    return LlmExtractorResource(**tuning)


def build_screening_resources(settings: Settings) -> dict:
    """Delta-screening state, the REST screening provider and adverse media. The provider's token is
    a ``dg.EnvVar`` (read at run time, never stored) and only when a provider URL is configured, so
    that definitions load with an empty environment and nothing calls out by default."""
    provider = {"base_url": settings.screening_provider_url, "name": settings.screening_provider_name,
                "screen_path": settings.screening_provider_path,
                "requests_per_second": settings.screening_provider_rps,
                "timeout_seconds": settings.screening_provider_timeout_seconds,
                "score_scale": settings.screening_provider_score_scale}
    if settings.screening_provider_url:
        provider["token"] = dg.EnvVar("KYC_SCREENING_PROVIDER_TOKEN")
    return {
        "screening_state": ScreeningStateResource(warehouse=build_warehouse_resource(settings), schema_name="kyc",
                                                  delta=settings.screening_delta),
        "screening_provider": RestScreeningProviderResource(**provider),
        "adverse_media": AdverseMediaResource(url=settings.adverse_media_url,
                                              requests_per_second=settings.adverse_media_rps,
                                              timespan=settings.adverse_media_timespan),
    }


def build_transaction_source(settings: Settings) -> TransactionSourceResource:
    """The transactions source: a SQL table when ``KYC_TRANSACTIONS_TABLE`` is set (its URL, which may
    hold a password, read at run time through ``dg.EnvVar``), else the file or folder path."""
    common = {"path": str(settings.transactions_path), "base_currency": settings.base_currency,
              "chunk_rows": settings.transactions_chunk_rows}
    if settings.transactions_table:
        return TransactionSourceResource(url=dg.EnvVar("KYC_TRANSACTIONS_URL"), table=settings.transactions_table,
                                         **common)
    return TransactionSourceResource(**common)


def build_assets(settings: Settings) -> list:
    assets = [
        raw_documents, document_text, extracted_entities, customers,
        *build_watchlist_assets(settings.watchlist_specs), screening_results, adverse_media_results,
        *build_monitoring_assets(settings.transactions_start_date, settings.model_retrain_cron),
    ]
    # Escalation records each evidence item's exact lineage through this graph (audit/lineage.py).
    return [*assets, build_escalated_cases(settings.case_service_level, lineage_assets=assets,
                                             evidence_inputs=True, settings=settings),
            *build_risk_assets(settings)]  # risk rating and perpetual KYC (group kyc_risk)


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
            # Idle (a skip) until KYC_SMTP_HOST or KYC_WEBHOOK_URL is set.
            build_case_escalation_sensor(max_priority=settings.notify_max_priority,
                                         dashboard_url=settings.dashboard_url,
                                         max_per_tick=settings.notify_max_per_tick),
            build_run_failure_sensor(dagster_ui_url=settings.dagster_ui_url),
        ],
        schedules=[dg.build_schedule_from_partitioned_job(monitoring_job, hour_of_day=2,
                                                          default_status=dg.DefaultScheduleStatus.RUNNING)],
        resources=build_resources(settings),
    )


defs = build_definitions()
