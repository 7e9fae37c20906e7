"""Dagster resources: the platform's external systems, configured once in definitions.py."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_openai import OpenAIResource, with_usage_metadata
from pydantic import Field

from kyc_assets.onboarding.store import DocumentStore
from kyc_assets.resources.warehouse import (  # noqa: F401  (re-exported: the one way to the warehouse)
    ObjectStoreResource,
    WarehouseIOManager,
    WarehouseResource,
    build_storage_resources,
    warehouse_io_manager_fields,
)


class DocumentStoreResource(ObjectStoreResource):
    """Where documents arrive (inbox), are kept (content-addressed store) and are refused (quarantine):
    local folders, or object-store URLs (``s3://...``) reached with the object-store fields (endpoint,
    region, keys through ``dg.EnvVar``) it inherits from ObjectStoreResource."""

    store_dir: str
    inbox_dir: str
    quarantine_dir: str
    # Fernet keys, comma-separated, newest first (KYC_DOCUMENT_KEYS through dg.EnvVar); None = plaintext.
    encryption_keys: str | None = None
    # Where inbox files go once stored (KYC_INBOX_ARCHIVE_DIR); None = deleted from the inbox.
    archive_dir: str | None = None

    def store(self) -> DocumentStore:
        return DocumentStore(self.store_dir, self.encryption_keys, options=self.options())

    def files(self, kind: str):
        """The :class:`~kyc_assets.storage.FileStore` of ``inbox`` or ``quarantine`` (list, read, write, move)."""
        from kyc_assets.storage import FileStore

        roots = {"inbox": self.inbox_dir, "quarantine": self.quarantine_dir, "documents": self.store_dir}
        return FileStore(roots[kind], self.options())


class CaseStoreResource(dg.ConfigurableResource):
    """The SQL database holding cases, evidence and the audit log (SQLite or PostgreSQL)."""

    # The URL; definitions.py passes dg.EnvVar("KYC_DATABASE_URL") when it is set (it may hold a password).
    database_url: str
    # Fernet keys for the PII columns, newest first (KYC_CASE_KEYS through dg.EnvVar); None = no PII stored.
    pii_keys: str | None = None
    retention_years: int = 5
    # The audit chain: HMAC keys (KYC_AUDIT_KEYS through dg.EnvVar; None = unkeyed) and signed checkpoints.
    audit_keys: str | None = None
    audit_checkpoint_dir: str | None = None
    audit_checkpoint_every: int = 1000
    audit_checkpoint_minutes: float = 60.0
    # The schema owner's URL (KYC_DATABASE_OWNER_URL through dg.EnvVar): migrations only.
    owner_url: str | None = None

    def store(self):
        from kyc_assets.cases.store import CaseStore

        return CaseStore(self.database_url, pii_keys=self.pii_keys, retention_years=self.retention_years,
                         audit_keys=self.audit_keys, checkpoint_dir=self.audit_checkpoint_dir,
                         checkpoint_every=self.audit_checkpoint_every,
                         checkpoint_minutes=self.audit_checkpoint_minutes, owner_url=self.owner_url)


class TransactionSourceResource(dg.ConfigurableResource):
    """Where transactions come from: a canonical-schema CSV/Parquet file or folder (``path``), or a SQL
    table (``url`` + ``table``; the URL may hold a password, so definitions.py passes it as
    ``dg.EnvVar("KYC_TRANSACTIONS_URL")``). A configured ``table`` takes precedence over ``path``."""

    path: str = ""
    url: str = ""
    table: str = ""
    db_schema: str = ""
    chunk_rows: int = 500_000
    default_currency: str = "USD"
    base_currency: str = "USD"

    def describe(self) -> str:
        """The source without credentials, for metadata."""
        return f"table {self.table}" if self.table else f"file {Path(self.path).name}"

    def load_days(self, days: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(valid, quarantine)`` of the given UTC days (YYYY-MM-DD), see ``monitoring.sources``."""
        from kyc_assets.monitoring.sources import load_file_days, load_sql_days

        options = {"default_currency": self.default_currency, "base_currency": self.base_currency}
        if self.table:
            if not self.url:
                raise ValueError("transactions table configured without KYC_TRANSACTIONS_URL")
            return load_sql_days(self.url, self.table, days, schema=self.db_schema or None,
                                 chunk_rows=self.chunk_rows, **options)
        if not self.path:
            raise ValueError("no transactions source configured (KYC_TRANSACTIONS_PATH or KYC_TRANSACTIONS_TABLE)")
        return load_file_days(self.path, days, chunk_rows=self.chunk_rows, **options)


class WatchlistSourceResource(dg.ConfigurableResource):
    """Where configured lists are cached and how they are downloaded and judged fresh.

    Which lists exist is decided when the definitions are built (one asset per list, see
    kyc_assets/watchlists/assets.py); ``paths`` is the legacy list of local files.
    """

    paths: list[str] = []
    cache_dir: str = ".kyc/watchlists"
    max_age_hours: float = 24.0
    local_max_age_hours: float | None = None
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    max_bytes: int = 2 * 1024**3
    attempts: int = 5
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0

    def resolved_paths(self) -> list[str]:
        from kyc_assets.watchlists.sources import default_watchlist_path

        return list(self.paths) or [str(default_watchlist_path())]

    def policy(self):
        """The download policy (timeouts, size limit, attempts, backoff)."""
        from kyc_assets.watchlists.download import DownloadPolicy

        return DownloadPolicy(connect_timeout=self.connect_timeout_seconds, read_timeout=self.read_timeout_seconds,
                              max_bytes=self.max_bytes, attempts=self.attempts,
                              backoff_base=self.backoff_base_seconds, backoff_max=self.backoff_max_seconds)

    def refresh(self, spec):
        """Fetch (URL sources) and load one configured list; see watchlists.refresh.refresh_source."""
        from kyc_assets.watchlists.refresh import refresh_source

        return refresh_source(spec, self.cache_dir, self.policy())

    def freshness(self, spec):
        """How old the copy of one list in use is, against its limit; see watchlists.refresh.freshness."""
        from kyc_assets.watchlists.refresh import freshness

        return freshness(spec, self.cache_dir, self.max_age_hours, self.local_max_age_hours)


class MonitoringSettingsResource(dg.ConfigurableResource):
    """Tuning of transaction monitoring: thresholds, windows, high-risk jurisdictions, the anomaly model
    (training window, registry folder), the alert policy and the thresholds of the monitoring checks."""

    reporting_threshold: float = 10_000.0
    high_risk_countries: list[str] = ["IR", "KP", "MM", "SY", "AF", "YE", "RU"]
    windows: list[int] = [1, 7, 30]
    # Share of account-days the IsolationForest treats as outliers (its alert budget without rules).
    contamination: float = 0.01
    alert_threshold: float = 0.7
    seed: int = 0
    # Alert policy: "budget" (top alert_budget share of each day's accounts) or "threshold" (risk >= threshold).
    alert_policy: str = "budget"
    alert_budget: float = 0.005
    # Decided alert cases needed before a supervised model is trained beside the anomaly model.
    model_min_labels: int = 50
    # The anomaly model: artefacts folder, and the warehouse (the io_manager's Delta tables) it reads its
    # training window of transaction_features from: the last model_training_days as-of dates.
    models_dir: str = ""
    warehouse: WarehouseResource | None = None
    model_training_days: int = 30
    model_max_training_rows: int = 500_000
    # Checks: model age, alert share per day, feature null rate, feature drift (PSI) against the day before.
    model_max_age_days: int = 14
    alert_share_min: float = 0.0
    alert_share_max: float = 0.2
    feature_max_null_rate: float = 0.05
    feature_drift_psi: float = 0.25

    @property
    def warehouse_path(self):
        """The :class:`~kyc_assets.storage.Warehouse` the model reads features and scores from."""
        if self.warehouse is None:
            raise ValueError("no warehouse configured for monitoring")
        return self.warehouse.warehouse()

    def registry(self):
        """The model registry (versioned artefacts) in ``models_dir``."""
        from kyc_assets.monitoring.model import ModelRegistry

        if not self.models_dir:
            raise ValueError("models_dir is not configured (KYC_MODELS_DIR)")
        return ModelRegistry(self.models_dir)


class LlmExtractorResource(OpenAIResource):
    """dagster-openai's ``OpenAIResource`` with the platform's document-extraction settings.

    Disabled (``enabled`` is False, no client is created) when ``api_key`` is empty, so the code
    location loads and runs without credentials; ``definitions.py`` passes
    ``dg.EnvVar("OPENAI_API_KEY")`` only when that variable is set. ``base_url`` points it at any
    OpenAI-compatible server (a local model server, a proxy).

    The client's own retries are switched off: :class:`~kyc_assets.onboarding.llm.LlmExtractor`
    retries explicitly (bounded, exponential backoff with jitter) and limits concurrency and rate.
    """

    api_key: str = Field(default="", description="OpenAI API key (from OPENAI_API_KEY); empty disables the LLM")
    model: str = Field(default="gpt-4o-mini", description="chat model with JSON-schema structured output")
    timeout_seconds: float = Field(default=30.0, description="per-request timeout")
    max_attempts: int = Field(default=5, description="requests per document at most (1 = no retry)")
    backoff_seconds: float = Field(default=1.0, description="first retry delay; doubles per attempt")
    max_backoff_seconds: float = Field(default=30.0, description="ceiling of one retry delay")
    max_concurrency: int = Field(default=4, description="requests in flight at once within one run")
    requests_per_minute: int = Field(default=0, description="client-side rate limit per run (0 = none)")
    send_images: bool = Field(default=False, description="also send the page image (default: OCR text only)")
    max_text_chars: int = Field(default=12_000, description="OCR text sent per document at most")

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    @property
    def enabled(self) -> bool:
        """True when an API key is configured."""
        return bool(self.api_key)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.enabled:
            super().setup_for_execution(context)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self.enabled:
            super().teardown_after_execution(context)

    def extractor(self, client):
        """An :class:`~kyc_assets.onboarding.llm.LlmExtractor` over ``client`` (from ``get_client``),
        with this resource's timeout, retry, concurrency and rate settings."""
        from kyc_assets.onboarding.llm import LlmExtractor, RateLimiter, RetryPolicy

        if not self.enabled:
            raise RuntimeError("LLM extraction is disabled: OPENAI_API_KEY is not set")
        # A copy of the client without its built-in retries (ours are explicit) and with our timeout.
        raw = client.with_options(timeout=self.timeout_seconds, max_retries=0)
        return LlmExtractor(raw.chat.completions.create, self.model,
                            retry=RetryPolicy(self.max_attempts, self.backoff_seconds, self.max_backoff_seconds),
                            limiter=RateLimiter(self.requests_per_minute), max_concurrency=self.max_concurrency,
                            max_text_chars=self.max_text_chars)

    @staticmethod
    def record_usage(context: dg.AssetExecutionContext, responses: list) -> None:
        """Add the token usage of ``responses`` to the asset's materialization metadata
        (``openai.<model>.calls`` / ``prompt_tokens`` / ``completion_tokens`` / ``total_tokens``),
        through dagster-openai's ``with_usage_metadata``.

        Requests run in worker threads on a client copy that ``get_client`` did not wrap; the
        counting happens here, in the asset's thread, because dagster-openai's counters are not
        thread-safe. Replies whose content was unusable still cost tokens and are counted too.
        """
        output_name = context.output_for_asset_key(context.asset_key)
        for response in responses:
            if getattr(response, "usage", None) is not None:
                with_usage_metadata(context, output_name=output_name, func=lambda r=response: r)()


class ScreeningStateResource(dg.ConfigurableResource):
    """Where screening keeps the entry hashes of its last run (a table in the warehouse), so that a new
    list version re-scores only added or changed entries; ``delta=False`` always screens in full."""

    warehouse: WarehouseResource
    schema_name: str = "kyc"
    delta: bool = True

    @property
    def database(self):
        """The :class:`~kyc_assets.storage.Warehouse` holding the state and the results."""
        return self.warehouse.warehouse()


class RestScreeningProviderResource(dg.ConfigurableResource):
    """A commercial screening API over REST (World-Check/Trulioo style); off unless ``base_url`` is set.

    ``token`` comes from ``dg.EnvVar("KYC_SCREENING_PROVIDER_TOKEN")`` (no default); it is sent as a
    bearer token and never logged."""

    base_url: str = ""
    name: str = "rest_provider"
    token: str | None = None
    screen_path: str = "/v1/screen"
    timeout_seconds: float = 10.0
    max_retries: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    requests_per_second: float = 5.0
    score_scale: float = 1.0

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)

    def client(self):
        """The configured client, or None when the provider is off."""
        if not self.enabled:
            return None
        from kyc_assets.screening.providers import RestScreeningClient, RetryPolicy

        if not self.token:
            raise ValueError(f"{self.name}: KYC_SCREENING_PROVIDER_URL is set but KYC_SCREENING_PROVIDER_TOKEN is not")
        return RestScreeningClient(self.base_url, self.token, name=self.name, screen_path=self.screen_path,
                                   timeout_seconds=self.timeout_seconds, requests_per_second=self.requests_per_second,
                                   score_scale=self.score_scale,
                                   retry=RetryPolicy(max_retries=self.max_retries, backoff_seconds=self.backoff_seconds,
                                                     max_backoff_seconds=self.max_backoff_seconds))


class AdverseMediaResource(dg.ConfigurableResource):
    """Adverse-media search (GDELT DOC 2.0 API or a compatible endpoint); off unless ``url`` is set."""

    url: str = ""
    timespan: str = "3months"
    max_records: int = 50
    timeout_seconds: float = 20.0
    requests_per_second: float = 0.2
    max_retries: int = 5
    backoff_seconds: float = 2.0

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def client(self):
        """The GDELT client, or None when adverse-media screening is off."""
        if not self.enabled:
            return None
        from kyc_assets.screening.providers import GdeltDocClient, RetryPolicy

        return GdeltDocClient(url=self.url, timespan=self.timespan, max_records=self.max_records,
                              timeout_seconds=self.timeout_seconds, requests_per_second=self.requests_per_second,
                              retry=RetryPolicy(max_retries=self.max_retries, backoff_seconds=self.backoff_seconds))


class SmtpNotifierResource(dg.ConfigurableResource):
    """Email notifications over SMTP (escalated cases, failed runs); off unless ``host`` is set.

    ``password`` comes from ``dg.EnvVar("KYC_SMTP_PASSWORD")`` (no default), only when a user is set;
    it is never logged."""

    host: str = ""
    port: int = 587
    user: str = ""
    password: str | None = None
    sender: str = ""
    recipients: list[str] = Field(default_factory=list)
    security: str = "starttls"  # starttls | ssl | none (a local relay)
    timeout_seconds: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    def notifier(self):
        """The configured email channel, or None when email is off."""
        if not self.enabled:
            return None
        from kyc_assets.cases.notifications import EmailNotifier

        return EmailNotifier(host=self.host, port=self.port, sender=self.sender, recipients=self.recipients,
                             user=self.user, password=self.password, security=self.security,
                             timeout_seconds=self.timeout_seconds)


class WebhookNotifierResource(dg.ConfigurableResource):
    """Slack/Teams/Jira-compatible JSON webhook notifications; off unless ``url`` is set. The URL often
    embeds a token, so definitions.py passes it as ``dg.EnvVar("KYC_WEBHOOK_URL")``."""

    url: str | None = None
    attempts: int = 4
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    timeout_seconds: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def notifier(self):
        """The configured webhook channel, or None when the webhook is off."""
        if not self.enabled:
            return None
        from kyc_assets.cases.notifications import WebhookNotifier

        return WebhookNotifier(self.url, attempts=self.attempts, backoff_seconds=self.backoff_seconds,
                               max_backoff_seconds=self.max_backoff_seconds, timeout_seconds=self.timeout_seconds)
