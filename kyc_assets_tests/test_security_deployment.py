"""Production refuses to run unsafe (issue 12): with KYC_DEPLOYMENT=production, the dashboard, the CLI's
case commands and the Dagster definitions refuse to start, in one line naming the setting, without an
analyst list or trusted proxy, with a SQLite case store, or without KYC_CASE_KEYS."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from kyc_assets.cli import main
from kyc_assets.deployment_checks import UnsafeDeployment, check_deployment, production_problems
from kyc_assets.settings import Settings

PG = "postgresql+psycopg2://kyc@db.invalid/kyc"  # never connected to: the check comes first


def _env(tmp_path, **overrides) -> dict[str, str]:
    analysts = tmp_path / "analysts.json"
    analysts.write_text(json.dumps({"analysts": [{"username": "alice", "password_hash": ""}]}))
    env = {"KYC_HOME": str(tmp_path / "home"), "KYC_DEPLOYMENT": "production", "KYC_DATABASE_URL": PG,
           "KYC_CASE_KEYS": Fernet.generate_key().decode(), "KYC_ANALYSTS_FILE": str(analysts)}
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


# (what is missing, the environment change, the setting the message must name)
UNSAFE = [
    ("no analyst list and no trusted proxy", {"KYC_ANALYSTS_FILE": None}, "KYC_ANALYSTS_FILE"),
    ("a SQLite case store", {"KYC_DATABASE_URL": "sqlite:///cases.sqlite"}, "KYC_DATABASE_URL"),
    ("no PII key", {"KYC_CASE_KEYS": None}, "KYC_CASE_KEYS"),
]


@pytest.mark.parametrize(("what", "change", "setting"), UNSAFE, ids=[u[0] for u in UNSAFE])
def test_the_check_names_the_missing_setting_in_one_line(tmp_path, what, change, setting):
    settings = Settings.from_env(_env(tmp_path, **change))
    problems = production_problems(settings)
    assert len(problems) == 1 and setting in problems[0]
    with pytest.raises(UnsafeDeployment) as exc:
        check_deployment(settings)
    assert setting in str(exc.value) and "\n" not in str(exc.value)


def test_a_safe_production_and_local_mode_start(tmp_path):
    assert production_problems(Settings.from_env(_env(tmp_path))) == []
    proxied = _env(tmp_path, KYC_ANALYSTS_FILE=None, KYC_TRUSTED_USER_HEADER="X-Forwarded-User",
                   KYC_TRUSTED_PROXIES="10.0.0.5")
    assert production_problems(Settings.from_env(proxied)) == []  # the proxy authenticates instead
    local = {"KYC_HOME": str(tmp_path / "home")}
    assert production_problems(Settings.from_env(local)) == []  # the demo: local mode, SQLite, no keys


@pytest.mark.parametrize(("what", "change", "setting"), UNSAFE, ids=[u[0] for u in UNSAFE])
def test_the_definitions_refuse_to_load(tmp_path, what, change, setting):
    from kyc_assets.definitions import build_definitions

    with pytest.raises(UnsafeDeployment, match=setting):
        build_definitions(Settings.from_env(_env(tmp_path, **change)))


@pytest.mark.parametrize(("what", "change", "setting"), UNSAFE, ids=[u[0] for u in UNSAFE])
def test_the_cli_case_commands_refuse_to_start(kyc_env, monkeypatch, capsys, tmp_path, what, change, setting):
    for name, value in _env(tmp_path, **change).items():
        monkeypatch.setenv(name, value)
    for argv in (["case", "decide", "CASE-1", "--decision", "escalate", "--reason", "r", "--as", "alice"],
                 ["case", "approve", "CASE-1", "--as", "alice"], ["case", "list"], ["case", "show", "CASE-1"]):
        code = main(argv)
        err = capsys.readouterr().err.strip()
        assert code == 2 and setting in err and len(err.splitlines()) == 1, (argv, err)
        assert err.startswith("kyc: error: KYC_DEPLOYMENT=production refuses to start")
    assert not (tmp_path / "home" / "cases.sqlite").exists()  # refused before any store was opened


@pytest.mark.parametrize(("what", "change", "setting"), UNSAFE, ids=[u[0] for u in UNSAFE])
def test_the_dashboard_configuration_refuses(tmp_path, what, change, setting):
    from kyc_assets.cases.web.app import config_from_env

    with pytest.raises(UnsafeDeployment, match=setting):
        config_from_env(_env(tmp_path, **change))


def test_kyc_serve_exits_with_one_line_in_an_unsafe_production(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KYC_")}, "PYTHONWARNINGS": "ignore",
           **_env(tmp_path, KYC_ANALYSTS_FILE=None)}
    done = subprocess.run([sys.executable, "-m", "kyc_assets.cli", "serve", "--port", "8791"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    expected = ("kyc: error: KYC_DEPLOYMENT=production refuses to start: set KYC_ANALYSTS_FILE (analysts with "
                "password hashes) or KYC_TRUSTED_USER_HEADER behind a reverse proxy (KYC_TRUSTED_PROXIES)")
    assert done.stderr.strip().splitlines() == [expected]


def test_a_trusted_header_needs_a_proxy_address_or_secret(tmp_path):
    with pytest.raises(ValueError, match="KYC_TRUSTED_USER_HEADER needs KYC_TRUSTED_PROXIES"):
        Settings.from_env({"KYC_HOME": str(tmp_path), "KYC_TRUSTED_USER_HEADER": "X-Forwarded-User"})
    with pytest.raises(ValueError, match="KYC_TRUSTED_PROXIES: 'proxy.example' is not an IP address"):
        Settings.from_env({"KYC_HOME": str(tmp_path), "KYC_TRUSTED_PROXIES": "proxy.example"})
    s = Settings.from_env({"KYC_HOME": str(tmp_path), "KYC_TRUSTED_USER_HEADER": "X-Forwarded-User",
                           "KYC_TRUSTED_PROXY_SECRET": "s3cret", "KYC_TRUSTED_ROLES_HEADER": "X-Forwarded-Groups"})
    assert s.trusted_proxy_secret_set and s.trusted_proxies == () and s.trusted_roles_header == "X-Forwarded-Groups"
    assert "s3cret" not in repr(s)  # the secret itself never lives in Settings


def _dashboard_access(env: dict[str, str]) -> dict:
    """What `kyc serve` is configured with, as far as access goes (its WebConfig and analyst directory)."""
    from dataclasses import fields

    from kyc_assets.cases.web.app import config_from_env

    config = config_from_env(env)
    try:
        directory = config.store.analysts
        values = {f.name: getattr(config, f.name) for f in fields(config) if f.name != "store"}
        return {**values, "header": directory.trusted_header, "roles_header": directory.trusted_roles_header}
    finally:
        config.store.engine.dispose()


ACCESS_VARIABLES = {  # a non-default value, and the companions it needs (set in both runs)
    "KYC_TRUSTED_PROXIES": ("10.0.0.0/8", {}),
    "KYC_TRUSTED_PROXY_SECRET": ("proxy-secret", {}),
    "KYC_TRUSTED_USER_HEADER": ("X-Forwarded-User", {"KYC_TRUSTED_PROXIES": "127.0.0.1"}),
    "KYC_TRUSTED_ROLES_HEADER": ("X-Forwarded-Groups", {"KYC_TRUSTED_USER_HEADER": "X-Forwarded-User",
                                                        "KYC_TRUSTED_PROXIES": "127.0.0.1"}),
    "KYC_SESSION_IDLE_MINUTES": ("5", {}),
    "KYC_LOGIN_MAX_FAILURES": ("3", {}),
    "KYC_LOGIN_LOCKOUT_MINUTES": ("30", {}),
    "KYC_LOGIN_CLIENT_MAX_FAILURES": ("50", {}),
}


@pytest.mark.parametrize("name", sorted(ACCESS_VARIABLES))
def test_each_access_variable_changes_the_dashboard(name, tmp_path, monkeypatch):
    value, companions = ACCESS_VARIABLES[name]
    base = {"KYC_HOME": str(tmp_path / "home"), **companions}
    monkeypatch.setattr(os, "environ", dict(base))
    before = _dashboard_access(base)
    monkeypatch.setattr(os, "environ", {**base, name: value})
    assert _dashboard_access({**base, name: value}) != before, f"{name} changes nothing in kyc serve"
