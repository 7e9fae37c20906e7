"""The code location loads with an empty environment, and the asset graph matches its snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "fixtures" / "asset_graph_snapshot.json"


def graph_snapshot() -> dict:
    from kyc_assets.definitions import build_definitions
    from kyc_assets.settings import Settings

    defs = build_definitions(Settings.from_env({}))
    graph = defs.resolve_asset_graph()
    snapshot = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        condition = node.automation_condition
        snapshot[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "owners": list(node.owners),
            "kinds": sorted(node.kinds),
            "partitions": type(node.partitions_def).__name__ if node.partitions_def else None,
            "automation": condition.get_label() or type(condition).__name__ if condition else None,
            "checks": sorted(k.name for k in node.check_keys),
            "code_version": node.code_version,
        }
    return snapshot


def test_definitions_load_with_an_empty_environment_and_touch_nothing(tmp_path):
    """No credentials, no network, no files written: a fresh process with an empty environment."""
    code = ("import dagster as dg; from kyc_assets.definitions import defs; "
            "dg.Definitions.validate_loadable(defs); print(len(defs.resolve_asset_graph().get_all_asset_keys()))")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip()) == 15
    assert list(tmp_path.iterdir()) == [], "loading the definitions must not create files"


def test_asset_graph_matches_the_snapshot():
    current = graph_snapshot()
    if os.environ.get("UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, "asset graph changed: review, then regenerate with UPDATE_SNAPSHOT=1"


def test_every_group_and_every_asset_is_checked():
    snapshot = graph_snapshot()
    assert {a["group"] for a in snapshot.values()} == {"onboarding", "watchlists", "screening", "monitoring", "cases",
                                                       "kyc_risk"}
    assert all(a["checks"] for a in snapshot.values())
    assert all(a["owners"] for a in snapshot.values())


def test_settings_read_every_documented_variable(tmp_path):
    from kyc_assets.settings import Settings

    s = Settings.from_env({"KYC_HOME": str(tmp_path), "KYC_INBOX_DIR": str(tmp_path / "in"),
                           "KYC_DATABASE_URL": "postgresql+psycopg2://u@h/db", "KYC_WATCHLIST_PATHS": "a, b",
                           "KYC_HIGH_RISK_COUNTRIES": "IR,KP", "KYC_REPORTING_THRESHOLD": "15000"})
    assert s.inbox_dir == tmp_path / "in" and s.quarantine_dir == tmp_path / "quarantine"
    assert s.database_url.startswith("postgresql") and s.watchlist_paths == ("a", "b")
    assert s.high_risk_countries == ("IR", "KP") and s.reporting_threshold == 15000.0
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for var in ("KYC_HOME", "KYC_INBOX_DIR", "KYC_DOCUMENT_STORE", "KYC_QUARANTINE_DIR", "KYC_WAREHOUSE_PATH",
                "KYC_DATABASE_URL", "KYC_TRANSACTIONS_PATH", "KYC_TRANSACTIONS_START_DATE", "KYC_WATCHLIST_PATHS",
                "KYC_BASE_CURRENCY", "KYC_REPORTING_THRESHOLD", "KYC_HIGH_RISK_COUNTRIES", "KYC_CASE_SLA_DAYS",
                "KYC_SENSOR_SETTLE_SECONDS", "KYC_SENSOR_MAX_FILES_PER_TICK", "KYC_DEPLOYMENT", "DAGSTER_PG_HOST",
                "DAGSTER_PG_PASSWORD", "DAGSTER_HOME", "KYC_TRANSACTIONS_TABLE", "KYC_TRANSACTIONS_URL",
                "KYC_TRANSACTIONS_CHUNK_ROWS", "KYC_MODELS_DIR", "KYC_MODEL_TRAINING_DAYS", "KYC_MODEL_RETRAIN_CRON",
                "KYC_MODEL_CONTAMINATION", "KYC_MODEL_MAX_AGE_DAYS", "KYC_ALERT_POLICY", "KYC_ALERT_THRESHOLD",
                "KYC_ALERT_BUDGET", "KYC_ALERT_SHARE_MIN", "KYC_ALERT_SHARE_MAX", "KYC_FEATURE_MAX_NULL_RATE",
                "KYC_FEATURE_DRIFT_PSI"):
        assert f"`{var}`" in readme, f"{var} is not documented in the README"


def test_every_variable_settings_reads_is_documented_in_the_readme():
    """settings.py is the one place that reads the environment: every variable it names must have a
    row in the README's configuration table (a new knob cannot land undocumented)."""
    import re

    root = Path(__file__).parents[1]
    source = (root / "kyc_assets" / "settings.py").read_text()
    names = set(re.findall(r"[\"']((?:KYC|DAGSTER)_[A-Z0-9_]+)[\"']", source))
    assert len(names) > 40  # the pattern really finds the variables
    readme = (root / "README.md").read_text()
    missing = sorted(n for n in names if f"`{n}`" not in readme and not n.startswith("DAGSTER_PG_"))
    assert not missing, f"read in settings.py but not documented in the README: {missing}"


def test_production_deployment_requires_a_real_case_database():
    import pytest

    from kyc_assets.settings import Settings

    with pytest.raises(ValueError, match="KYC_DATABASE_URL"):
        Settings.from_env({"KYC_DEPLOYMENT": "production"})
    with pytest.raises(ValueError, match="KYC_DEPLOYMENT must be"):
        Settings.from_env({"KYC_DEPLOYMENT": "staging"})
    assert Settings.from_env({"KYC_DEPLOYMENT": "production",
                              "KYC_DATABASE_URL": "postgresql+psycopg2://kyc@db/kyc"}).deployment == "production"


def test_dagster_definitions_validate_passes(tmp_path):
    dagster = Path(sys.executable).parent / "dagster"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([str(dagster), "definitions", "validate", "-m", "kyc_assets.definitions"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "All code locations passed validation" in out.stderr + out.stdout


# Every secret the platform reads, with a recognisable value (and the settings it needs to be used).
SECRETS = {
    "KYC_DATABASE_URL": ("postgresql+psycopg2://kyc:DbPw-7f3a9c@127.0.0.1:5432/kyc", "DbPw-7f3a9c"),
    "KYC_DATABASE_OWNER_URL": ("postgresql+psycopg2://kyc_owner:OwnerPw-51be@127.0.0.1/kyc", "OwnerPw-51be"),
    "KYC_CASE_KEYS": ("Zm9vYmFyYmF6cXV4Y2FzZWtleXMxMjM0NTY3ODkwMTI=",) * 2,
    "KYC_DOCUMENT_KEYS": ("ZG9jdW1lbnRrZXlzZG9jdW1lbnRrZXlzMTIzNDU2Nzg=",) * 2,
    "KYC_AUDIT_KEYS": ("k1:AuditSecret-0d1e2f3a4b5c6d7e8f", "AuditSecret-0d1e2f3a4b5c6d7e8f"),
    "KYC_WAREHOUSE_PII_KEYS": ("d2FyZWhvdXNla2V5c3dhcmVob3VzZWtleXMxMjM0NTY=",) * 2,
    "KYC_SMTP_PASSWORD": ("SmtpPw-93ac",) * 2,
    "KYC_WEBHOOK_URL": ("https://hooks.example.test/services/T000/B000/HookTok-77aa", "HookTok-77aa"),
    "OPENAI_API_KEY": ("sk-OpenAiKey-4242",) * 2,
    "KYC_SCREENING_PROVIDER_TOKEN": ("ProvTok-c0ffee",) * 2,
    "KYC_TRANSACTIONS_URL": ("postgresql+psycopg2://tx:TxPw-beef@127.0.0.1/tx", "TxPw-beef"),
    "KYC_SESSION_SECRET": ("SessionSecret-1234567890",) * 2,
}
SECRET_COMPANIONS = {"KYC_SMTP_HOST": "smtp.example.test", "KYC_SMTP_USER": "kyc", "KYC_SMTP_FROM": "kyc@example.test",
                     "KYC_SMTP_TO": "aml@example.test", "KYC_SCREENING_PROVIDER_URL": "https://provider.example.test",
                     "KYC_TRANSACTIONS_TABLE": "transactions"}


def test_no_secret_reaches_the_repository_snapshot_or_the_demo_output(tmp_path):
    """The serialized repository snapshot (what the Dagster UI shows: jobs, run config schema and
    defaults, resources and their config) holds no configured secret; secrets are dg.EnvVars. The
    demo's closing lines do not print the database password either."""
    code = ("from dagster._core.remote_representation.external_data import RepositorySnap\n"
            "from dagster._serdes import serialize_value\n"
            "from kyc_assets.definitions import defs\n"
            "repo = defs.get_repository_def()\n"
            "print(serialize_value(RepositorySnap.from_def(repo)))\n"
            "for job in repo.get_all_jobs():\n"
            "    print(serialize_value(job.get_job_snapshot()))\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "KYC_HOME": str(tmp_path / "kyc"),
           "PYTHONPATH": str(Path(__file__).parents[1]), **SECRET_COMPANIONS, **{k: v for k, (v, _) in SECRETS.items()}}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    snapshot = out.stdout + out.stderr
    import re

    # the snapshot holds the resources' config defaults, naming each secret's variable instead of its value
    for name in ("KYC_DATABASE_URL", "KYC_CASE_KEYS", "KYC_AUDIT_KEYS", "KYC_DOCUMENT_KEYS", "OPENAI_API_KEY"):
        assert re.search(r"env\W+" + name, snapshot), name
    leaked = sorted(name for name, (_, secret) in SECRETS.items() if secret in snapshot)
    assert not leaked, f"secrets in the repository snapshot: {leaked}"

    import io

    from kyc_assets.demo import print_summary
    from kyc_assets.settings import Settings

    settings = Settings.from_env({"KYC_HOME": str(tmp_path), "KYC_DATABASE_URL": SECRETS["KYC_DATABASE_URL"][0]})
    printed = io.StringIO()
    print_summary({"documents": 1, "documents_rejected": 0, "customers": 1, "screening_hits": 0, "customers_hit": 0,
                   "transactions": 1, "transactions_quarantined": 0, "alerts": 0, "accounts_alerted": 0,
                   "open_cases": 0, "seconds_generate": 1, "seconds_materialize": 1}, settings, printed)
    assert "kyc:***@127.0.0.1" in printed.getvalue() and "DbPw-7f3a9c" not in printed.getvalue()
