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

from kyc_assets.watchlists.config import SourceSpec, configured_sources, parse_sources


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _flag(name: str, value: str) -> bool:
    low = value.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


@dataclass(frozen=True)
class Settings:
    deployment: str
    home: Path
    inbox_dir: Path
    document_store_dir: Path
    quarantine_dir: Path
    warehouse_url: str  # Delta Lake warehouse root: a local folder or s3://... (kyc_assets/storage)
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
    # LLM extraction (dagster-openai). Only whether a key is set lives here, never the key itself.
    llm_api_key_set: bool = False
    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_send_images: bool = False
    llm_timeout_seconds: float = 30.0
    llm_max_attempts: int = 5
    llm_max_concurrency: int = 4
    llm_requests_per_minute: int = 0
    # Transaction monitoring: SQL source (the URL is a secret: only whether it is set lives here),
    # the anomaly model and its registry, the alert policy and the monitoring checks.
    transactions_table: str = ""
    transactions_url_set: bool = False
    transactions_chunk_rows: int = 500_000
    models_dir: Path | None = None
    model_training_days: int = 30
    model_max_age_days: int = 14
    model_retrain_cron: str = "0 3 * * 1"
    model_contamination: float = 0.01
    model_min_labels: int = 50
    alert_policy: str = "budget"
    alert_threshold: float = 0.7
    alert_budget: float = 0.005
    alert_share_min: float = 0.0
    alert_share_max: float = 0.2
    feature_max_null_rate: float = 0.05
    feature_drift_psi: float = 0.25
    # Screening: delta re-screening, the REST screening provider and adverse media (both off by
    # default). The provider's bearer token is a secret: read at run time through dg.EnvVar only.
    screening_delta: bool = True
    # Saved screening index (kyc screen and screening_results reuse it per list and code version); None = off.
    screening_index_dir: Path | None = None
    screening_provider_url: str = ""
    screening_provider_name: str = "rest_provider"
    screening_provider_path: str = "/v1/screen"
    screening_provider_rps: float = 5.0
    screening_provider_timeout_seconds: float = 10.0
    screening_provider_score_scale: float = 1.0
    adverse_media_url: str = ""
    adverse_media_rps: float = 0.2
    adverse_media_timespan: str = "3months"
    # Watchlists: named sources (URL or path per list), the download cache and its limits, freshness.
    watchlist_sources: tuple[SourceSpec, ...] = ()
    watchlist_cache_dir: Path | None = None
    watchlist_max_age_hours: float = 24.0
    watchlist_local_max_age_hours: float | None = None
    watchlist_timeout_seconds: float = 60.0
    watchlist_max_mb: float = 2048.0
    watchlist_download_attempts: int = 5
    # Case work: service level per priority (days to decide; KYC_CASE_SLA_DAYS is the default for
    # priorities not listed), retention after a case closes, whether PII keys are set (never the keys),
    # the analyst list and the trusted proxy header of the dashboard.
    case_sla_days_by_priority: tuple[tuple[int, int], ...] = ()
    case_retention_years: int = 5
    case_keys_set: bool = False
    analysts_file: Path | None = None
    trusted_user_header: str = ""
    institution_name: str = "Example Bank (demo)"
    # Counterparty roles (cases/roles.py): an optional CSV of account_id,role (merchant, payroll).
    account_roles_path: Path | None = None
    # The Dagster instance the platform runs on (the Makefile exports the same default): `kyc trace`
    # and `kyc case export` read materializations from it.
    dagster_home: Path | None = None
    # Who may act on cases (kyc serve, kyc case ...; cases/analysts.py, cases/web/auth.py,
    # deployment_checks.py): the reverse proxies whose identity header is trusted, whether the proxy's
    # shared secret is set (never the secret: access_secrets() reads it), the header carrying the
    # analyst's roles, the idle timeout of a dashboard session, and the sign-in throttling.
    trusted_proxies: tuple[str, ...] = ()
    trusted_proxy_secret_set: bool = False
    trusted_roles_header: str = ""
    session_idle_minutes: int = 30
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    login_client_max_failures: int = 20

    @property
    def case_service_level(self) -> dict[int, int]:
        """Days to decide a case, per priority 1..4 (escalation's due date). Without
        KYC_CASE_SLA_DAYS_BY_PRIORITY the levels scale with KYC_CASE_SLA_DAYS (S): priority 1 in one
        day, 2 in ceil(S / 2), 3 in S, 4 in 2 S (1, 3, 5, 10 days by default); with it, the listed
        priorities take its values and the others S."""
        if not self.case_sla_days_by_priority:
            s = self.case_sla_days
            return {1: 1, 2: max(1, -(-s // 2)), 3: s, 4: 2 * s}
        levels = {p: self.case_sla_days for p in (1, 2, 3, 4)}
        levels.update(dict(self.case_sla_days_by_priority))
        return levels
    # Review dashboard and notifications (kyc serve, escalation and run-failure sensors). Secrets (the
    # SMTP password, the webhook URL, which embeds a token) are read through dg.EnvVar: only whether
    # they are set lives here.
    dashboard_url: str = "http://127.0.0.1:8000"
    dagster_ui_url: str = "http://127.0.0.1:3000"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_from: str = ""
    smtp_to: tuple[str, ...] = ()
    smtp_security: str = "starttls"
    smtp_password_set: bool = False
    webhook_url_set: bool = False
    webhook_attempts: int = 4
    notify_max_priority: int = 2
    notify_max_per_tick: int = 50
    # Scale-out (onboarding/sensors.py, deploy/executors.py): documents per onboarding run, and the executor
    # that runs the steps. The broker URL may hold a password: only whether it is set lives here.
    sensor_run_batch_size: int = 50
    executor: str = "default"
    celery_broker_url_set: bool = False
    celery_backend_url_set: bool = False
    # Risk rating and perpetual KYC (kyc_assets/risk): the methodology in force, a proposed one for the
    # impact report, the country lists, and the core-banking customer reference extract (accounts, type,
    # channel, residence, opening date). None = the bundled files / no proposal / no reference file.
    risk_methodology_path: Path | None = None
    risk_proposed_methodology_path: Path | None = None
    risk_country_lists_path: Path | None = None
    customer_reference_path: Path | None = None
    # Trust (kyc_assets/audit, issue 12): the audit chain's HMAC keys (only whether set), its signed
    # checkpoints outside the database, the schema owner's URL (only whether set), what happens to an
    # inbox file once stored, and warehouse PII protection (only whether a key is set).
    audit_keys_set: bool = False
    audit_checkpoint_dir: Path | None = None
    audit_checkpoint_every: int = 1000
    audit_checkpoint_minutes: float = 60.0
    database_owner_url_set: bool = False
    inbox_archive_dir: Path | None = None
    warehouse_pii_keys_set: bool = False
    database_url_set: bool = False
    document_keys_set: bool = False
    # Shared storage (kyc_assets/storage): KYC_STORAGE_URL puts the files (documents, inbox, quarantine)
    # on an object-store prefix; the object store's endpoint, region and commit protocol. The keys are
    # secrets (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY through dg.EnvVar): only whether they are set lives here.
    storage_url: str = ""
    storage_endpoint_url: str = ""
    storage_region: str = ""
    storage_allow_http: bool = False
    storage_conditional_put: str = "etag"
    storage_keys_set: bool = False

    @property
    def warehouse_path(self) -> str:
        """The warehouse location (``warehouse_url``), under the name its readers used for the DuckDB file."""
        return self.warehouse_url

    def files_url(self, kind: str, local: Path | None) -> str:
        """Where one kind of file lives: ``<KYC_STORAGE_URL>/<kind>`` when object storage is configured,
        else the local folder."""
        if self.storage_url:
            return f"{self.storage_url.rstrip('/')}/{kind}"
        return str(local if local is not None else self.home / kind)

    @property
    def document_store_url(self) -> str:
        return self.files_url("documents", self.document_store_dir)

    @property
    def inbox_url(self) -> str:
        return self.files_url("inbox", self.inbox_dir)

    @property
    def quarantine_url(self) -> str:
        return self.files_url("quarantine", self.quarantine_dir)

    def object_store_options(self, access_key_id: str | None = None, secret_access_key: str | None = None):
        """The object store's connection settings (keys passed in by the caller, e.g. from the environment
        in the CLI; Dagster resources get them through dg.EnvVar)."""
        from kyc_assets.storage.options import ObjectStoreOptions

        return ObjectStoreOptions(endpoint_url=self.storage_endpoint_url, region=self.storage_region,
                                  access_key_id=access_key_id, secret_access_key=secret_access_key,
                                  allow_http=self.storage_allow_http, conditional_put=self.storage_conditional_put)

    @property
    def watchlist_specs(self) -> tuple[SourceSpec, ...]:
        """Every configured list (named sources, then legacy paths; the bundled OFAC subset when none)."""
        return configured_sources(self.watchlist_sources, self.watchlist_paths)

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
            dagster_home=path("DAGSTER_HOME", home / "dagster_home"),
            warehouse_url=_location(env, "KYC_WAREHOUSE_URL", "warehouse", home),
            database_url=env.get("KYC_DATABASE_URL") or f"sqlite:///{home / 'cases.sqlite'}",
            transactions_path=path("KYC_TRANSACTIONS_PATH", home / "sample" / "transactions.csv"),
            transactions_start_date=start,
            watchlist_paths=_csv(env.get("KYC_WATCHLIST_PATHS", "")),
            watchlist_sources=parse_sources(env.get("KYC_WATCHLIST_SOURCES", "")),
            watchlist_cache_dir=path("KYC_WATCHLIST_CACHE_DIR", home / "watchlists"),
            watchlist_max_age_hours=float(env.get("KYC_WATCHLIST_MAX_AGE_HOURS", "24")),
            watchlist_local_max_age_hours=(float(env["KYC_WATCHLIST_LOCAL_MAX_AGE_HOURS"])
                                           if env.get("KYC_WATCHLIST_LOCAL_MAX_AGE_HOURS") else None),
            watchlist_timeout_seconds=float(env.get("KYC_WATCHLIST_TIMEOUT_SECONDS", "60")),
            watchlist_max_mb=float(env.get("KYC_WATCHLIST_MAX_MB", "2048")),
            watchlist_download_attempts=int(env.get("KYC_WATCHLIST_DOWNLOAD_ATTEMPTS", "5")),
            base_currency=env.get("KYC_BASE_CURRENCY", "USD").upper(),
            reporting_threshold=float(env.get("KYC_REPORTING_THRESHOLD", "10000")),
            high_risk_countries=_csv(env.get("KYC_HIGH_RISK_COUNTRIES", "IR,KP,MM,SY,AF,YE,RU")),
            case_sla_days=int(env.get("KYC_CASE_SLA_DAYS", "5")),
            case_sla_days_by_priority=_sla_by_priority(env.get("KYC_CASE_SLA_DAYS_BY_PRIORITY", "")),
            account_roles_path=path("KYC_ACCOUNT_ROLES_PATH", None),
            sensor_settle_seconds=float(env.get("KYC_SENSOR_SETTLE_SECONDS", "2")),
            sensor_max_files_per_tick=int(env.get("KYC_SENSOR_MAX_FILES_PER_TICK", "100")),
            llm_api_key_set=bool(env.get("OPENAI_API_KEY")),
            llm_base_url=env.get("KYC_LLM_BASE_URL") or None,
            llm_model=env.get("KYC_LLM_MODEL") or "gpt-4o-mini",
            llm_send_images=_flag("KYC_LLM_SEND_IMAGES", env.get("KYC_LLM_SEND_IMAGES", "")),
            llm_timeout_seconds=float(env.get("KYC_LLM_TIMEOUT_SECONDS", "30")),
            llm_max_attempts=max(1, int(env.get("KYC_LLM_MAX_ATTEMPTS", "5"))),
            llm_max_concurrency=max(1, int(env.get("KYC_LLM_MAX_CONCURRENCY", "4"))),
            llm_requests_per_minute=max(0, int(env.get("KYC_LLM_REQUESTS_PER_MINUTE", "0"))),
            **_monitoring_settings(env, home),
            **_screening_settings(env),
            screening_index_dir=screening_index_dir(env, home),
            **_review_settings(env),
            **_scale_settings(env),
            **_risk_settings(env, home),
            **_trust_settings(env, home),
            **_storage_settings(env),
            **_access_settings(env),
        )


# -- case triage (cases/triage.py) --------------------------------------------------------------

def _sla_by_priority(value: str) -> tuple[tuple[int, int], ...]:
    """``KYC_CASE_SLA_DAYS_BY_PRIORITY``: ``1:1,2:3,3:5,4:10`` (priority:days; empty = derived)."""
    out = []
    for part in _csv(value):
        priority, sep, days = part.partition(":")
        try:
            pair = (int(priority), int(days))
        except ValueError:
            pair = (0, 0)
        if not sep or pair[0] not in (1, 2, 3, 4) or pair[1] < 1:
            raise ValueError(f"KYC_CASE_SLA_DAYS_BY_PRIORITY: {part!r} is not PRIORITY:DAYS "
                             "(priority 1-4, days >= 1), e.g. 1:1,2:3,3:5,4:10")
        out.append(pair)
    return tuple(out)


def _http_url(name: str, value: str) -> str:
    value = value.strip()
    if value and not value.startswith(("http://", "https://")):
        raise ValueError(f"{name} must be an http:// or https:// URL")
    return value


def _review_settings(env: Mapping[str, str]) -> dict:
    """The review dashboard's links and the notification channels (off unless set)."""
    host = env.get("KYC_SMTP_HOST", "").strip()
    values = {
        "dashboard_url": _http_url("KYC_DASHBOARD_URL", env.get("KYC_DASHBOARD_URL", "")) or "http://127.0.0.1:8000",
        "dagster_ui_url": _http_url("KYC_DAGSTER_UI_URL", env.get("KYC_DAGSTER_UI_URL", "")) or "http://127.0.0.1:3000",
        "smtp_host": host,
        "smtp_port": int(env.get("KYC_SMTP_PORT", "587")),
        "smtp_user": env.get("KYC_SMTP_USER", "").strip(),
        "smtp_from": env.get("KYC_SMTP_FROM", "").strip(),
        "smtp_to": _csv(env.get("KYC_SMTP_TO", "")),
        "smtp_security": env.get("KYC_SMTP_SECURITY", "").strip().lower() or "starttls",
        "smtp_password_set": bool(env.get("KYC_SMTP_PASSWORD", "")),
        "webhook_url_set": bool(_http_url("KYC_WEBHOOK_URL", env.get("KYC_WEBHOOK_URL", ""))),
        "webhook_attempts": int(env.get("KYC_WEBHOOK_ATTEMPTS", "4")),
        "notify_max_priority": int(env.get("KYC_NOTIFY_MAX_PRIORITY", "2")),
        "notify_max_per_tick": int(env.get("KYC_NOTIFY_MAX_PER_TICK", "50")),
    }
    if values["smtp_security"] not in ("starttls", "ssl", "none"):
        raise ValueError("KYC_SMTP_SECURITY must be starttls, ssl or none")
    if host and not (values["smtp_from"] and values["smtp_to"]):
        raise ValueError("KYC_SMTP_HOST needs KYC_SMTP_FROM and KYC_SMTP_TO (comma-separated recipients)")
    if values["smtp_user"] and not values["smtp_password_set"]:
        raise ValueError("KYC_SMTP_USER needs KYC_SMTP_PASSWORD")
    if not 1 <= values["notify_max_priority"] <= 4 or values["webhook_attempts"] < 1 \
            or values["notify_max_per_tick"] < 1:
        raise ValueError("KYC_NOTIFY_MAX_PRIORITY must be 1-4; KYC_WEBHOOK_ATTEMPTS and KYC_NOTIFY_MAX_PER_TICK >= 1")
    return values


def screening_index_dir(env: Mapping[str, str] | None = None, home: Path | None = None) -> Path | None:
    """Folder of the saved screening index (``KYC_SCREENING_INDEX_DIR``, default ``$KYC_HOME/screening_index``);
    None when set to 'off' (every run then builds the index from the lists). Read here only; callers that
    need just this folder (``kyc screen``) use this function rather than ``Settings.from_env``."""
    env = os.environ if env is None else env
    if home is None:
        home = Path(env.get("KYC_HOME", ".kyc")).expanduser().resolve()
    value = env.get("KYC_SCREENING_INDEX_DIR", "").strip()
    if value.lower() in ("off", "none", "false", "0"):
        return None
    return Path(value).expanduser().resolve() if value else home / "screening_index"


def _screening_settings(env: Mapping[str, str]) -> dict:
    """Delta screening, the REST screening provider and adverse media (off unless a URL is set)."""
    provider_url = _http_url("KYC_SCREENING_PROVIDER_URL", env.get("KYC_SCREENING_PROVIDER_URL", ""))
    if provider_url and not env.get("KYC_SCREENING_PROVIDER_TOKEN", "").strip():
        raise ValueError("KYC_SCREENING_PROVIDER_URL needs KYC_SCREENING_PROVIDER_TOKEN (the bearer token)")
    values = {
        "screening_delta": _flag("KYC_SCREENING_DELTA", env.get("KYC_SCREENING_DELTA", "true")),
        "screening_provider_url": provider_url,
        "screening_provider_name": env.get("KYC_SCREENING_PROVIDER_NAME", "").strip() or "rest_provider",
        "screening_provider_path": env.get("KYC_SCREENING_PROVIDER_PATH", "").strip() or "/v1/screen",
        "screening_provider_rps": float(env.get("KYC_SCREENING_PROVIDER_RPS", "5")),
        "screening_provider_timeout_seconds": float(env.get("KYC_SCREENING_PROVIDER_TIMEOUT_SECONDS", "10")),
        "screening_provider_score_scale": float(env.get("KYC_SCREENING_PROVIDER_SCORE_SCALE", "1")),
        "adverse_media_url": _http_url("KYC_ADVERSE_MEDIA_URL", env.get("KYC_ADVERSE_MEDIA_URL", "")),
        "adverse_media_rps": float(env.get("KYC_ADVERSE_MEDIA_RPS", "0.2")),
        "adverse_media_timespan": env.get("KYC_ADVERSE_MEDIA_TIMESPAN", "").strip() or "3months",
    }
    for name in ("screening_provider_rps", "screening_provider_timeout_seconds", "screening_provider_score_scale",
                 "adverse_media_rps"):
        if values[name] <= 0:
            raise ValueError(f"KYC_{name.upper()} must be positive")
    return values


def _monitoring_settings(env: Mapping[str, str], home: Path) -> dict:
    """The transaction-monitoring settings (SQL source, anomaly model, alert policy, check thresholds)."""
    table = env.get("KYC_TRANSACTIONS_TABLE", "").strip()
    url_set = bool(env.get("KYC_TRANSACTIONS_URL", "").strip())
    if table and not url_set:
        raise ValueError("KYC_TRANSACTIONS_TABLE needs KYC_TRANSACTIONS_URL (a SQLAlchemy URL)")
    policy = env.get("KYC_ALERT_POLICY", "budget").strip().lower()
    if policy not in ("threshold", "budget"):
        raise ValueError(f"KYC_ALERT_POLICY must be 'threshold' or 'budget', not {policy!r}")
    values = {
        "transactions_table": table,
        "transactions_url_set": url_set,
        "transactions_chunk_rows": int(env.get("KYC_TRANSACTIONS_CHUNK_ROWS", "500000")),
        "models_dir": Path(env["KYC_MODELS_DIR"]).expanduser().resolve() if env.get("KYC_MODELS_DIR")
        else home / "models",
        "model_training_days": int(env.get("KYC_MODEL_TRAINING_DAYS", "30")),
        "model_max_age_days": int(env.get("KYC_MODEL_MAX_AGE_DAYS", "14")),
        "model_retrain_cron": env.get("KYC_MODEL_RETRAIN_CRON", "0 3 * * 1"),
        "model_contamination": float(env.get("KYC_MODEL_CONTAMINATION", "0.01")),
        # analysts' decided cases (confirmed / false positive) needed before a supervised model is trained
        "model_min_labels": int(env.get("KYC_MODEL_MIN_LABELS", "50")),
        "alert_policy": policy,
        "alert_threshold": float(env.get("KYC_ALERT_THRESHOLD", "0.7")),
        # share of the accounts active on a day that may be alerted (the default policy is this budget)
        "alert_budget": float(env.get("KYC_ALERT_BUDGET", "0.005")),
        "alert_share_min": float(env.get("KYC_ALERT_SHARE_MIN", "0")),
        "alert_share_max": float(env.get("KYC_ALERT_SHARE_MAX", "0.2")),
        "feature_max_null_rate": float(env.get("KYC_FEATURE_MAX_NULL_RATE", "0.05")),
        "feature_drift_psi": float(env.get("KYC_FEATURE_DRIFT_PSI", "0.25")),
    }
    if values["model_min_labels"] < 2:
        raise ValueError("KYC_MODEL_MIN_LABELS must be at least 2")
    if values["transactions_chunk_rows"] < 1 or values["model_training_days"] < 1:
        raise ValueError("KYC_TRANSACTIONS_CHUNK_ROWS and KYC_MODEL_TRAINING_DAYS must be at least 1")
    if not 0 < values["alert_threshold"] < 1 or not 0 < values["alert_budget"] <= 1:
        raise ValueError("KYC_ALERT_THRESHOLD must be in (0, 1) and KYC_ALERT_BUDGET in (0, 1]")
    if not 0 <= values["alert_share_min"] <= values["alert_share_max"] <= 1:
        raise ValueError("KYC_ALERT_SHARE_MIN/MAX must satisfy 0 <= min <= max <= 1")
    return values


# -- scale-out (onboarding/sensors.py, deploy/executors.py) ------------------------------------------

EXECUTORS = ("default", "celery", "k8s")


def _scale_settings(env: Mapping[str, str]) -> dict:
    """Documents per onboarding run and the executor (deploy/executors.py): ``default`` (embedded),
    ``celery`` (steps on Celery workers through the broker at ``KYC_CELERY_BROKER_URL``, read at run time
    as an environment variable) or ``k8s`` (a Kubernetes Job per step)."""
    executor = env.get("KYC_EXECUTOR", "").strip().lower() or "default"
    if executor not in EXECUTORS:
        raise ValueError(f"KYC_EXECUTOR must be one of {', '.join(EXECUTORS)}, not {executor!r}")
    broker_set = bool(env.get("KYC_CELERY_BROKER_URL", "").strip())
    if executor == "celery" and not broker_set:
        raise ValueError("KYC_EXECUTOR=celery needs KYC_CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    batch = int(env.get("KYC_SENSOR_RUN_BATCH_SIZE", "50"))
    if batch < 1:
        raise ValueError("KYC_SENSOR_RUN_BATCH_SIZE must be at least 1")
    return {"sensor_run_batch_size": batch, "executor": executor, "celery_broker_url_set": broker_set,
            "celery_backend_url_set": bool(env.get("KYC_CELERY_BACKEND_URL", "").strip())}


def celery_urls(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The Celery broker and result backend URLs (secrets: they may hold a password), read here only, when
    ``kyc worker`` starts; the executor reads the same variables at run time through Dagster's config."""
    env = os.environ if env is None else env
    broker = env.get("KYC_CELERY_BROKER_URL", "").strip()
    if not broker:
        raise ValueError("KYC_CELERY_BROKER_URL is not set (e.g. redis://127.0.0.1:6379/0)")
    return broker, env.get("KYC_CELERY_BACKEND_URL", "").strip() or broker
def _risk_settings(env: Mapping[str, str], home: Path) -> dict:
    """Risk rating: methodology files (validated when the definitions load) and the customer reference file
    (default ``$KYC_HOME/sample/customers.csv``, the sample world's core-banking extract, used when present)."""
    def path(name: str) -> Path | None:
        return Path(env[name]).expanduser().resolve() if env.get(name, "").strip() else None

    return {"risk_methodology_path": path("KYC_RISK_METHODOLOGY"),
            "risk_proposed_methodology_path": path("KYC_RISK_PROPOSED_METHODOLOGY"),
            "risk_country_lists_path": path("KYC_RISK_COUNTRY_LISTS"),
            "customer_reference_path": path("KYC_CUSTOMER_REFERENCE_PATH") or home / "sample" / "customers.csv"}


# -- trust: case store secrets, audit trail, data at rest (issue 12) -----------------------------------
# Secrets are read here, and only here, for the code that runs outside Dagster (the CLI, the dashboard);
# Dagster resources get them through dg.EnvVar (definitions.py), so they never enter run config or the
# repository snapshot. Settings itself only records whether each is set.

def _secret(name: str, env: Mapping[str, str] | None) -> str | None:
    env = os.environ if env is None else env
    return (env.get(name) or "").strip() or None


def analyst_password(env: Mapping[str, str] | None = None) -> str | None:
    """``KYC_ANALYST_PASSWORD``: a CLI analyst's password for one invocation (secret; else --password-stdin
    or the terminal prompt). Not stripped: a password may begin or end with a space."""
    env = os.environ if env is None else env
    return env.get("KYC_ANALYST_PASSWORD")


def case_keys(env: Mapping[str, str] | None = None) -> str | None:
    """``KYC_CASE_KEYS``: Fernet keys of the case store's PII columns, newest first (secret)."""
    return _secret("KYC_CASE_KEYS", env)


def audit_keys(env: Mapping[str, str] | None = None) -> str | None:
    """``KYC_AUDIT_KEYS``: ``id:secret`` HMAC keys of the audit chain, newest first (secret)."""
    return _secret("KYC_AUDIT_KEYS", env)


def database_owner_url(env: Mapping[str, str] | None = None) -> str | None:
    """``KYC_DATABASE_OWNER_URL``: the schema owner's URL, used for migrations only (secret)."""
    return _secret("KYC_DATABASE_OWNER_URL", env)


def document_keys(env: Mapping[str, str] | None = None) -> str | None:
    """``KYC_DOCUMENT_KEYS``: Fernet keys of the document store, newest first (secret)."""
    return _secret("KYC_DOCUMENT_KEYS", env)


def warehouse_pii_keys(env: Mapping[str, str] | None = None) -> str | None:
    """``KYC_WAREHOUSE_PII_KEYS``: keys protecting PII columns in the warehouse, newest first (secret)."""
    return _secret("KYC_WAREHOUSE_PII_KEYS", env)


def _trust_settings(env: Mapping[str, str], home: Path) -> dict:
    from kyc_assets.audit.log import AuditKeys

    checkpoints = env.get("KYC_AUDIT_CHECKPOINT_DIR", "").strip()
    if audit_keys(env):
        AuditKeys(audit_keys(env))  # a malformed key fails at load, in one line (never echoing the secret)
    retention = int(env.get("KYC_CASE_RETENTION_YEARS", "5"))
    if retention < 5:
        raise ValueError("KYC_CASE_RETENTION_YEARS must be at least 5 (FATF Recommendation 11)")
    values = {
        "case_keys_set": case_keys(env) is not None,
        "case_retention_years": retention,
        "institution_name": env.get("KYC_INSTITUTION_NAME", "").strip() or "Example Bank (demo)",
        "audit_keys_set": audit_keys(env) is not None,
        "audit_checkpoint_dir": None if checkpoints.lower() in ("off", "none", "false", "0")
        else Path(checkpoints).expanduser().resolve() if checkpoints else home / "audit_checkpoints",
        "audit_checkpoint_every": int(env.get("KYC_AUDIT_CHECKPOINT_EVERY", "1000")),
        "audit_checkpoint_minutes": float(env.get("KYC_AUDIT_CHECKPOINT_MINUTES", "60")),
        "database_owner_url_set": database_owner_url(env) is not None,
        "inbox_archive_dir": Path(env["KYC_INBOX_ARCHIVE_DIR"]).expanduser().resolve()
        if env.get("KYC_INBOX_ARCHIVE_DIR", "").strip() else None,
        "warehouse_pii_keys_set": warehouse_pii_keys(env) is not None,
        "database_url_set": bool(env.get("KYC_DATABASE_URL", "").strip()),
        "document_keys_set": document_keys(env) is not None,
    }
    if values["audit_checkpoint_every"] < 1 or values["audit_checkpoint_minutes"] <= 0:
        raise ValueError("KYC_AUDIT_CHECKPOINT_EVERY must be >= 1 and KYC_AUDIT_CHECKPOINT_MINUTES > 0")
    return values


# -- who may act on cases (cases/analysts.py, cases/web, deployment_checks.py) -------------------

def _access_settings(env: Mapping[str, str]) -> dict:
    """The analyst directory, the trusted reverse proxy, sessions and sign-in throttling."""
    import ipaddress

    proxies = _csv(env.get("KYC_TRUSTED_PROXIES", ""))
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ValueError(f"KYC_TRUSTED_PROXIES: {proxy[:60]!r} is not an IP address or network "
                             "(e.g. 127.0.0.1,10.0.0.0/8)") from None
    header = env.get("KYC_TRUSTED_USER_HEADER", "").strip()
    secret_set = bool(env.get("KYC_TRUSTED_PROXY_SECRET", "").strip())
    if header and not (proxies or secret_set):
        raise ValueError("KYC_TRUSTED_USER_HEADER needs KYC_TRUSTED_PROXIES (the proxy's addresses) or "
                         "KYC_TRUSTED_PROXY_SECRET (a secret the proxy sends): otherwise any client could name itself")
    analysts = env.get("KYC_ANALYSTS_FILE", "").strip()
    values = {
        "analysts_file": Path(analysts).expanduser().resolve() if analysts else None,
        "trusted_user_header": header,
        "trusted_proxies": proxies,
        "trusted_proxy_secret_set": secret_set,
        "trusted_roles_header": env.get("KYC_TRUSTED_ROLES_HEADER", "").strip(),
        "session_idle_minutes": int(env.get("KYC_SESSION_IDLE_MINUTES", "30")),
        "login_max_failures": int(env.get("KYC_LOGIN_MAX_FAILURES", "5")),
        "login_lockout_minutes": int(env.get("KYC_LOGIN_LOCKOUT_MINUTES", "15")),
        "login_client_max_failures": int(env.get("KYC_LOGIN_CLIENT_MAX_FAILURES", "20")),
    }
    for name in ("session_idle_minutes", "login_max_failures", "login_lockout_minutes", "login_client_max_failures"):
        if values[name] < 1:
            raise ValueError(f"KYC_{name.upper()} must be at least 1")
    return values


def access_secrets(env: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """The dashboard's secrets, read here only and handed to the web app (never stored in Settings):
    ``session_secret`` (KYC_SESSION_SECRET) and ``proxy_secret`` (KYC_TRUSTED_PROXY_SECRET)."""
    env = os.environ if env is None else env
    return {"session_secret": env.get("KYC_SESSION_SECRET") or None,
            "proxy_secret": env.get("KYC_TRUSTED_PROXY_SECRET", "").strip() or None}
# -- shared storage (kyc_assets/storage) -----------------------------------------------------------------

def _location(env: Mapping[str, str], name: str, default_kind: str, home: Path) -> str:
    """A storage location: an object-store URL as given, a local path resolved; the default is
    ``<KYC_STORAGE_URL>/<kind>`` when object storage is configured, else ``$KYC_HOME/<kind>``."""
    value = env.get(name, "").strip()
    if value:
        if "://" in value and not value.startswith("file://"):
            return value.rstrip("/")
        return str(Path(value.removeprefix("file://")).expanduser().resolve())
    root = env.get("KYC_STORAGE_URL", "").strip().rstrip("/")
    return f"{root}/{default_kind}" if root else str(home / default_kind)


def _storage_settings(env: Mapping[str, str]) -> dict:
    url = env.get("KYC_STORAGE_URL", "").strip().rstrip("/")
    if url and "://" not in url:
        raise ValueError(f"KYC_STORAGE_URL must be an object-store URL such as s3://bucket/kyc, not {url!r}")
    keys = [bool(env.get("AWS_ACCESS_KEY_ID")), bool(env.get("AWS_SECRET_ACCESS_KEY"))]
    if any(keys) and not all(keys):
        raise ValueError("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither")
    return {
        "storage_url": url,
        "storage_endpoint_url": env.get("KYC_STORAGE_ENDPOINT_URL", "").strip(),
        "storage_region": env.get("KYC_STORAGE_REGION", "").strip(),
        "storage_allow_http": _flag("KYC_STORAGE_ALLOW_HTTP", env.get("KYC_STORAGE_ALLOW_HTTP", "")),
        "storage_conditional_put": env.get("KYC_STORAGE_CONDITIONAL_PUT", "etag").strip(),
        "storage_keys_set": all(keys),
    }


def object_store_options(settings: Settings, env: Mapping[str, str] | None = None):
    """The object store's connection settings with its keys (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``)
    read from the environment, for code outside Dagster (the CLI, the dashboard); Dagster resources get the
    keys through ``dg.EnvVar`` instead."""
    return settings.object_store_options(_secret("AWS_ACCESS_KEY_ID", env), _secret("AWS_SECRET_ACCESS_KEY", env))


def warehouse(settings: Settings | None = None, env: Mapping[str, str] | None = None):
    """The configured :class:`~kyc_assets.storage.Warehouse` for code outside Dagster (CLI, dashboard, demo)."""
    from kyc_assets.storage.warehouse import Warehouse

    settings = settings or Settings.from_env(env)
    return Warehouse(settings.warehouse_url, object_store_options(settings, env))
