"""The `kyc` command: outputs, one-line errors, exit codes, no half-written files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from kyc_assets.cli import main


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    assert main(["generate-sample", "--out", str(out), "--seed", "3", "--customers", "3",
                 "--transactions", "3000"]) == 0
    return out


def test_generate_sample_is_deterministic(sample, tmp_path):
    assert main(["generate-sample", "--out", str(tmp_path), "--seed", "3", "--customers", "3",
                 "--transactions", "3000"]) == 0
    for name in ("transactions.csv", "labels.json", "customers.csv"):
        assert (tmp_path / name).read_bytes() == (sample / name).read_bytes(), name
    images = sorted(p.relative_to(sample) for p in (sample / "inbox").rglob("*.png"))
    assert len(images) == 5  # 3 identity documents + 2 utility bills
    for rel in images:
        assert (tmp_path / rel).read_bytes() == (sample / rel).read_bytes()
    labels = json.loads((sample / "labels.json").read_text())
    assert {t["typology"] for t in labels["typologies"]} >= {"structuring", "fan_in", "fan_out", "cycle",
                                                              "rapid_pass_through", "high_risk_corridor"}


def test_monitor_scores_accounts_and_flags_structuring(sample, tmp_path):
    out = tmp_path / "scores.csv"
    # the threshold policy: a triggered rule alerts (the default policy is the daily alert budget)
    assert main(["monitor", "--transactions", str(sample / "transactions.csv"), "--output", str(out),
                 "--policy", "threshold"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["account_id", "risk_score", "alert", "reasons"]
    assert all(0 <= float(r["risk_score"]) <= 1 and r["alert"] in ("true", "false") for r in rows)
    labels = json.loads((sample / "labels.json").read_text())
    structuring = {t["account_id"] for t in labels["typologies"] if t["typology"] == "structuring"}
    flagged = {r["account_id"] for r in rows if r["alert"] == "true" and "structuring" in r["reasons"]}
    assert structuring and structuring <= flagged


def test_monitor_budget_option_and_summary(sample, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KYC_HOME", str(tmp_path / "home"))
    counts = {}
    for budget in ("0.005", "0.05"):
        out = tmp_path / f"scores-{budget}.csv"
        assert main(["monitor", "--transactions", str(sample / "transactions.csv"), "--output", str(out),
                     "--budget", budget]) == 0
        rows = list(csv.DictReader(out.open()))
        assert list(rows[0]) == ["account_id", "risk_score", "alert", "reasons"]
        counts[budget] = sum(r["alert"] == "true" for r in rows)
        err = capsys.readouterr().err
        assert f"budget {float(budget):.2%} of active accounts per day" in err
        assert "no anomaly model registered" in err and "fitted one on this batch" in err
    assert 0 < counts["0.005"] < counts["0.05"]


def test_monitor_missing_column_is_a_one_line_error_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("transaction_id,timestamp,sender_account,receiver_account\nT1,2026-01-01,A,B\n")
    out = tmp_path / "out.csv"
    assert main(["monitor", "--transactions", str(bad), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kyc: error:") and "amount" in err and "\n" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_extract_reads_a_passport_and_reports_a_junk_file(tmp_path, capsys):
    from kyc_assets.sample_data.documents import render_passport

    person = {"surname": "ERIKSSON", "given_names": "ANNA MARIA", "date_of_birth": date(1974, 8, 12), "sex": "F",
              "nationality": "UTO", "issuing_country": "UTO", "document_number": "L898902C3",
              "expiry_date": date(2031, 4, 15), "address": "1 High Street\nLondon"}
    render_passport(person).save(tmp_path / "passport.png")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    code = main(["extract", str(tmp_path / "passport.png"), str(tmp_path / "junk.png"), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1  # one file failed
    passport, junk = lines
    assert passport["document_type"] == "passport" and passport["mrz_valid"] is True
    assert passport["surname"] == "ERIKSSON" and passport["date_of_birth"] == "1974-08-12"
    assert passport["document_number"] == "L898902C3" and passport["method"] == "mrz"
    assert junk["error"] and junk["document_type"] is None


def test_screen_finds_a_listed_name_with_a_typo(tmp_path):
    from kyc_assets.watchlists.sources import default_watchlist_path

    names = tmp_path / "names.csv"
    names.write_text("customer_id,full_name\nX1,Elias Jose Jaua Milamo\nX2,Jane Ordinary\n")
    out = tmp_path / "hits.csv"
    assert main(["screen", "--watchlist", str(default_watchlist_path()), "--input", str(names),
                 "--output", str(out)]) == 0
    hits = list(csv.DictReader(out.open()))
    assert hits and {h["customer_id"] for h in hits} == {"X1"}
    assert hits[0]["list_entity_id"] == "us_ofac_sdn:22748" and hits[0]["explanation"]


def test_unsupported_watchlist_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "list.txt").write_text("not a list\n")
    (tmp_path / "names.csv").write_text("full_name\nA B\n")
    assert main(["screen", "--watchlist", str(tmp_path / "list.txt"), "--input", str(tmp_path / "names.csv")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_audit_verify_on_a_fresh_store(kyc_env, capsys):
    assert main(["audit", "verify"]) == 0
    assert "intact: 0 entries" in capsys.readouterr().out


def test_console_script_is_installed():
    kyc = Path(sys.executable).parent / "kyc"
    out = subprocess.run([str(kyc), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "generate-sample" in out.stdout and "monitor" in out.stdout
