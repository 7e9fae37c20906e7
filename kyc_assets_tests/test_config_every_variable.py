"""One source of configuration (issue 12): every variable of the README's Configuration table, set to a
non-default value, changes what the platform builds or does.

``observe`` collects what the settings flow into: the code location's resources (their config, and the
values Dagster resolves from ``dg.EnvVar``s), the values its assets and sensors are built with (their
closures), partitions, automation conditions and asset keys, and the places outside Dagster that
configuration reaches (the case store of the CLI and dashboard, the analyst directory, the SAR's
institution, the dashboard's session secret, the trace's Dagster instance). A variable that settings
read but nothing uses leaves ``observe`` unchanged and fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).parents[1]
FERNET = Fernet.generate_key().decode()


def readme_variables() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = []
    for line in section.splitlines():
        if line.startswith("| `"):
            names += re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])
    return names


# A non-default value for each variable, and (when it needs them) companion variables set in both runs.
VALUES: dict[str, str] = {
    "KYC_DEPLOYMENT": "production",  # without KYC_DATABASE_URL: refused (the effect observed) "KYC_DOCUMENT_KEYS": FERNET, "KYC_DATABASE_URL": "sqlite:////tmp/elsewhere.sqlite",
    "KYC_TRANSACTIONS_START_DATE": "2025-06-01", "KYC_TRANSACTIONS_TABLE": "tx",
    "KYC_TRANSACTIONS_URL": "postgresql+psycopg2://tx:pw@127.0.0.1/tx", "KYC_TRANSACTIONS_CHUNK_ROWS": "1234",
    "KYC_MODEL_TRAINING_DAYS": "9", "KYC_MODEL_RETRAIN_CRON": "0 5 * * *", "KYC_MODEL_CONTAMINATION": "0.05",
    "KYC_MODEL_MAX_AGE_DAYS": "3", "KYC_ALERT_POLICY": "threshold", "KYC_ALERT_THRESHOLD": "0.9",
    "KYC_ALERT_BUDGET": "0.02", "KYC_MODEL_MIN_LABELS": "7", "KYC_ALERT_SHARE_MIN": "0.01",
    "KYC_ALERT_SHARE_MAX": "0.5", "KYC_FEATURE_MAX_NULL_RATE": "0.2", "KYC_FEATURE_DRIFT_PSI": "0.5",
    "KYC_WATCHLIST_SOURCES": "mylist=/tmp/mylist.csv", "KYC_WATCHLIST_PATHS": "/tmp/other_list.csv",
    "KYC_WATCHLIST_MAX_AGE_HOURS": "6", "KYC_WATCHLIST_LOCAL_MAX_AGE_HOURS": "48",
    "KYC_WATCHLIST_TIMEOUT_SECONDS": "15", "KYC_WATCHLIST_MAX_MB": "64", "KYC_WATCHLIST_DOWNLOAD_ATTEMPTS": "2",
    "KYC_BASE_CURRENCY": "EUR", "KYC_REPORTING_THRESHOLD": "15000", "KYC_HIGH_RISK_COUNTRIES": "IR,KP",
    "KYC_CASE_SLA_DAYS": "8", "KYC_CASE_SLA_DAYS_BY_PRIORITY": "1:2,2:4", "KYC_CASE_KEYS": FERNET,
    "KYC_CASE_RETENTION_YEARS": "7", "KYC_TRUSTED_USER_HEADER": "X-Forwarded-User",
    "KYC_INSTITUTION_NAME": "First Test Bank", "KYC_SCREENING_DELTA": "false", "KYC_SCREENING_INDEX_DIR": "off",
    "KYC_SCREENING_PROVIDER_URL": "https://provider.example.test", "KYC_SCREENING_PROVIDER_TOKEN": "tok-123",
    "KYC_SCREENING_PROVIDER_NAME": "worldcheck", "KYC_SCREENING_PROVIDER_PATH": "/v2/match",
    "KYC_SCREENING_PROVIDER_RPS": "2", "KYC_SCREENING_PROVIDER_TIMEOUT_SECONDS": "3",
    "KYC_SCREENING_PROVIDER_SCORE_SCALE": "100", "KYC_ADVERSE_MEDIA_URL": "https://news.example.test/doc",
    "KYC_ADVERSE_MEDIA_RPS": "1", "KYC_ADVERSE_MEDIA_TIMESPAN": "1week",
    "KYC_DASHBOARD_URL": "https://kyc.example.test", "KYC_DAGSTER_UI_URL": "https://dagster.example.test",
    "KYC_SESSION_SECRET": "session-secret-0123456789", "KYC_SMTP_HOST": "smtp.example.test", "KYC_SMTP_PORT": "465",
    "KYC_SMTP_SECURITY": "ssl", "KYC_SMTP_USER": "kyc", "KYC_SMTP_PASSWORD": "smtp-pw", "KYC_SMTP_FROM": "a@x.test",
    "KYC_SMTP_TO": "b@x.test,c@x.test", "KYC_WEBHOOK_URL": "https://hooks.example.test/T/B/x",
    "KYC_WEBHOOK_ATTEMPTS": "2", "KYC_NOTIFY_MAX_PRIORITY": "3", "KYC_NOTIFY_MAX_PER_TICK": "5",
    "KYC_SENSOR_SETTLE_SECONDS": "9", "KYC_SENSOR_MAX_FILES_PER_TICK": "7",
    "OPENAI_API_KEY": "sk-test-123", "KYC_LLM_BASE_URL": "http://127.0.0.1:9/v1", "KYC_LLM_MODEL": "local-model",
    "KYC_LLM_SEND_IMAGES": "true", "KYC_LLM_TIMEOUT_SECONDS": "5", "KYC_LLM_MAX_ATTEMPTS": "2",
    "KYC_LLM_MAX_CONCURRENCY": "2", "KYC_LLM_REQUESTS_PER_MINUTE": "30",
    "KYC_AUDIT_KEYS": "k1:" + "s" * 40, "KYC_AUDIT_CHECKPOINT_EVERY": "10", "KYC_AUDIT_CHECKPOINT_MINUTES": "5",
    "KYC_DATABASE_OWNER_URL": "postgresql+psycopg2://owner@127.0.0.1/kyc", "KYC_WAREHOUSE_PII_KEYS": FERNET,
    "DAGSTER_PG_HOST": "db.example.test", "DAGSTER_PG_PORT": "6543", "DAGSTER_PG_USER": "dagster_user",
    "DAGSTER_PG_PASSWORD": "pg-secret", "DAGSTER_PG_DB": "dagster_db",
    # Shared storage (kyc_assets/storage).
    "KYC_STORAGE_URL": "s3://kyc-test/prod", "KYC_STORAGE_ENDPOINT_URL": "http://127.0.0.1:9000",
    "KYC_STORAGE_REGION": "eu-west-1", "KYC_STORAGE_ALLOW_HTTP": "true", "KYC_STORAGE_CONDITIONAL_PUT": "",
    "AWS_ACCESS_KEY_ID": "key-id", "AWS_SECRET_ACCESS_KEY": "key-secret",
}
COMPANIONS: dict[str, dict[str, str]] = {
    "KYC_TRANSACTIONS_TABLE": {"KYC_TRANSACTIONS_URL": "postgresql+psycopg2://tx@127.0.0.1/tx"},
    "KYC_SMTP_USER": {"KYC_SMTP_PASSWORD": "smtp-pw"},
    "KYC_SMTP_HOST": {"KYC_SMTP_FROM": "a@x.test", "KYC_SMTP_TO": "b@x.test"},
    "KYC_SCREENING_PROVIDER_URL": {"KYC_SCREENING_PROVIDER_TOKEN": "tok-123"},
    "KYC_CASE_SLA_DAYS": {}, "KYC_DATABASE_OWNER_URL": {"KYC_DATABASE_URL": "postgresql+psycopg2://app@127.0.0.1/kyc"},
}
# Variables whose "default" state is another value (they are only used together with a companion).
ALTERNATIVES: dict[str, tuple[str, dict[str, str]]] = {
    "KYC_TRANSACTIONS_URL": ("postgresql+psycopg2://other:pw@127.0.0.1/tx", {"KYC_TRANSACTIONS_TABLE": "tx"}),
    "KYC_SCREENING_PROVIDER_TOKEN": ("other-token", {"KYC_SCREENING_PROVIDER_URL": "https://provider.example.test"}),
    "KYC_SMTP_PASSWORD": ("other-pw", {"KYC_SMTP_USER": "kyc"}),
    "AWS_ACCESS_KEY_ID": ("other-key-id", {"AWS_SECRET_ACCESS_KEY": "key-secret"}),
    "AWS_SECRET_ACCESS_KEY": ("other-secret", {"AWS_ACCESS_KEY_ID": "key-id"}),
}


def _primitive(value, depth: int = 0):
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, Path):
        return str(value)
    if depth < 2 and isinstance(value, (tuple, list, set, frozenset)):
        return [_primitive(v, depth + 1) for v in value]
    if depth < 2 and isinstance(value, dict):
        return {str(k): _primitive(v, depth + 1) for k, v in value.items()}
    return None


def _closure(fn, depth: int = 0) -> list:
    cells = getattr(fn, "__closure__", None) or ()
    out = []
    for cell in cells:
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if type(value).__name__ == "Settings":
            continue  # the settings object itself is not an effect
        if callable(value) and hasattr(value, "__closure__") and depth < 2:
            out.append(_closure(value, depth + 1))  # a decorator's wrapper: the user function's values
            continue
        out.append(_primitive(value))
    return out


def _resource_config(resource) -> dict:
    if hasattr(resource, "model_dump"):
        return {k: (f"EnvVar({v.env_var_name})" if isinstance(v, dg.EnvVar) else _primitive(v))
                for k, v in resource.model_dump().items()}
    return {"type": type(resource).__name__}


def observe(env: dict[str, str], monkeypatch) -> dict:
    """What the platform builds and does under ``env`` (see the module docstring)."""
    from kyc_assets.cases.analysts import AnalystDirectory
    from kyc_assets.definitions import build_definitions
    from kyc_assets.settings import Settings

    monkeypatch.setattr(os, "environ", dict(env))  # code that reads os.environ (CLI, dashboard) sees env only
    try:
        settings = Settings.from_env(env)
    except ValueError as exc:
        return {"refused": str(exc)}
    defs = build_definitions(settings)
    out: dict = {"resources": {k: _resource_config(v) for k, v in (defs.resources or {}).items()}}
    with dg.build_resources({k: v for k, v in defs.resources.items() if k not in ("io_manager", "llm")}) as res:
        out["resolved"] = {k: _resource_config(getattr(res, k)) for k in defs.resources
                           if k not in ("io_manager", "llm")}
    out["llm"] = {"api_key": os.environ.get("OPENAI_API_KEY") if isinstance(defs.resources["llm"].api_key, dg.EnvVar)
                  else defs.resources["llm"].api_key}
    graph = defs.resolve_asset_graph()
    out["assets"] = sorted(k.to_user_string() for k in graph.get_all_asset_keys())
    out["partitions"] = sorted({str(getattr(n.partitions_def, "start", None)) for n in graph.asset_nodes})
    out["automation"] = sorted({repr(n.automation_condition) for n in graph.asset_nodes})
    out["asset_closures"] = [_closure(a.op.compute_fn.decorated_fn) for a in defs.assets
                             if isinstance(a, dg.AssetsDefinition) and a.is_executable]
    out["sensors"] = {s.name: _closure(getattr(s, "_run_status_sensor_fn", None) or s._raw_fn) for s in defs.sensors}
    directory = AnalystDirectory.from_env(env)
    out["analysts"] = [directory.configured, sorted(directory.names()) if directory.configured else [],
                       getattr(directory, "trusted_header", None)]
    from kyc_assets.cases import commands

    out["sar_institution"] = commands._institution()
    out["session_secret"] = os.environ.get("KYC_SESSION_SECRET") and _web_session_secret(env)
    out["trace_instance_home"] = str(settings.dagster_home)
    from kyc_assets.settings import screening_index_dir

    out["screening_index_dir"] = str(screening_index_dir())  # what screening_results and `kyc screen` call
    return out


def _web_session_secret(env) -> bool:
    from kyc_assets.cases.web import app

    config = app.config_from_env(env)
    return bool(config.session_secret)


def _case_store_values(env, monkeypatch) -> dict:
    """What the CLI's and the dashboard's case store is configured with (outside Dagster)."""
    monkeypatch.setattr(os, "environ", dict(env))
    from kyc_assets.cases.store import CaseStore

    store = CaseStore.from_env(env, migrate=False)
    try:
        return {"url": str(store.engine.url), "pii": store.stores_pii, "retention": store.retention_years,
                "audit_keys": repr(store.audit_keys), "checkpoints": str(getattr(store.checkpoints, "path", None)),
                "every": getattr(store.checkpoints, "every_entries", None)}
    finally:
        store.engine.dispose()


EXTERNAL = {
    # Read by the production Dagster instance (top-level dagster.yaml), not by the code location.
    "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB",
    # Read by Tesseract; the platform only supplies a default.
    "OMP_THREAD_LIMIT",
}


@pytest.mark.parametrize("name", [n for n in readme_variables() if n not in EXTERNAL])
def test_each_documented_variable_changes_what_the_platform_builds_or_does(name, tmp_path, monkeypatch):
    home = {"KYC_HOME": str(tmp_path / "home")}
    if name == "KYC_HOME":
        base, changed = {}, home
        monkeypatch.chdir(tmp_path)
    else:
        value = VALUES.get(name)
        if value is None:  # a path-like variable: a folder or file of its own under tmp_path
            value = str(tmp_path / name.lower())
        if name == "KYC_ANALYSTS_FILE":
            from kyc_assets.cases.analysts import hash_password

            Path(value).write_text(json.dumps({"analysts": [{"username": "alice",
                                                             "password_hash": hash_password("pw")}]}))
        if name == "KYC_ACCOUNT_ROLES_PATH":
            Path(value).write_text("account_id,role\nACC1,merchant\n")
        if name in ("KYC_RISK_METHODOLOGY", "KYC_RISK_COUNTRY_LISTS"):  # a valid copy with its own content hash
            from kyc_assets.risk.methodology import DEFAULT_COUNTRY_LISTS, DEFAULT_METHODOLOGY

            source = DEFAULT_METHODOLOGY if name == "KYC_RISK_METHODOLOGY" else DEFAULT_COUNTRY_LISTS
            Path(value).write_text(source.read_text() + "\n# a reviewed copy\n")
        alt, alt_companions = ALTERNATIVES.get(name, (None, {}))
        companions = {**COMPANIONS.get(name, {}), **alt_companions}
        base = {**home, **companions, **({name: alt} if alt is not None else {})}
        changed = {**home, **companions, name: value}
    before, after = observe(base, monkeypatch), observe(changed, monkeypatch)
    if before == after:
        before, after = _case_store_values(base, monkeypatch), _case_store_values(changed, monkeypatch)
    assert before != after, f"{name} is documented but setting it changes nothing"
    assert "refused" not in after or name == "KYC_DEPLOYMENT", after


def test_the_readme_table_is_what_this_test_walks():
    names = readme_variables()
    assert len(names) > 80 and len(names) == len(set(names))
    assert {"KYC_CASE_KEYS", "KYC_CASE_RETENTION_YEARS", "KYC_CASE_SLA_DAYS_BY_PRIORITY", "KYC_INSTITUTION_NAME",
            "KYC_AUDIT_KEYS", "KYC_INBOX_ARCHIVE_DIR", "KYC_WAREHOUSE_PII_KEYS"} <= set(names)


def test_the_production_instance_reads_the_dagster_pg_variables(tmp_path):
    """The DAGSTER_PG_* variables reach the production instance's storage (dagster.yaml), resolved by
    Dagster itself: the PostgreSQL URL it would connect to is built from them."""
    code = ("import sys, yaml\n"
            "from dagster._config import process_config\n"
            "from dagster_postgres import DagsterPostgresStorage\n"
            "from dagster_postgres.utils import pg_url_from_config\n"
            "pg = yaml.safe_load(open(sys.argv[1] + '/dagster.yaml'))['storage']['postgres']\n"
            "result = process_config(DagsterPostgresStorage.config_type(), pg)\n"
            "assert result.success, result.errors\n"
            "print(pg_url_from_config(result.value))\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **{k: VALUES[k] for k in VALUES if k.startswith("DAGSTER_PG_")}}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code, str(home)], env=env, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.strip() == "postgresql+psycopg2://dagster_user:pg-secret@db.example.test:6543/dagster_db"


@pytest.mark.parametrize("value, expected", [(None, "1"), ("3", "3")])
def test_omp_thread_limit_defaults_to_one_and_an_explicit_value_wins(value, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_THREAD_LIMIT"}
    if value is not None:
        env["OMP_THREAD_LIMIT"] = value
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-W", "ignore", "-c",
                          "import os, kyc_assets.onboarding.ocr; print(os.environ['OMP_THREAD_LIMIT'])"],
                         env=env, capture_output=True, text=True, timeout=180)
    assert out.stdout.strip() == expected, out.stderr[-500:]
