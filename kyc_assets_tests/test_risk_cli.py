"""`kyc risk rate | explain | what-if | override | review`, and the what-if on the sample world."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import date

import pandas as pd
import pytest
import yaml

from kyc_assets.cli import main
from kyc_assets.risk.methodology import DEFAULT_METHODOLOGY, load_country_lists, load_methodology

AS_OF = date(2026, 11, 1)  # the sample world's "today"


@pytest.fixture(scope="module")
def sample_world_inputs():
    """The demo world's 18 customers (seed 7: three bear OFAC-listed names), their accounts and 60 days of
    transactions, as the rating reads them: listed customers carry an open potential sanctions match."""
    from kyc_assets.risk.inputs import build_inputs
    from kyc_assets.sample_data.transactions import generate_transactions
    from kyc_assets.sample_data.world import TRANSACTIONS_DAYS, TRANSACTIONS_START, _customers, _listed_people

    rng = random.Random(7)
    people = _customers(rng, 18, _listed_people(rng, 3))
    accounts = [c.account_id for c in people] + [f"ACC{i:06d}" for i in range(19, 401)]
    tx, _ = generate_transactions(accounts, n=20_000, start=TRANSACTIONS_START, days=TRANSACTIONS_DAYS, seed=7)
    profiles = pd.DataFrame([{"customer_id": c.customer_id, "nationality": c.nationality,
                              "document_type": c.document_type, "document_number": c.document_number,
                              "expiry_date": c.expiry_date.isoformat(), "kyc_status": "verified", "warnings": "[]"}
                             for c in people])
    screening = pd.DataFrame([{"customer_id": c.customer_id, "list_entity_id": c.ofac_entity_id,
                               "hit_type": "sanctions" if c.ofac_entity_id else None,
                               "decision": "potential_match" if c.ofac_entity_id else "no_match", "suppressed": False}
                              for c in people])
    reference = pd.DataFrame([{"customer_id": None, "document_number": c.document_number, "account_id": c.account_id,
                               "customer_type": None, "onboarding_channel": None, "residence_country": None,
                               "account_opened": None} for c in people])
    return build_inputs(profiles, screening, as_of=AS_OF, home_country="GB", reference=reference, transactions=tx)


def _proposal(tmp_path, change) -> str:
    data = yaml.safe_load(DEFAULT_METHODOLOGY.read_text())
    change(data)
    path = tmp_path / "proposed.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_what_if_on_the_sample_world_moving_the_onboarding_channel_weight(sample_world_inputs, tmp_path):
    """Unknown onboarding channel (valued as remote, 0.5) weighted 5 instead of 1: total weight 24. An unlisted
    customer (person 0.1, nationality 0.1, residence unknown 0.8, corridors standard 0.075, account new 0.3)
    goes from 1.875/20 = 0.094 (low) to (1.375 + 2.5)/24 = 0.161 (medium); the three listed customers stay
    medium (open sanctions match). So 15 move up, none down, each with an event review, none needing EDD."""
    from kyc_assets.risk.whatif import compare, render_markdown

    proposed = load_methodology(_proposal(tmp_path, lambda d: d["factors"]["onboarding_channel"].update(weight=5.0)))
    impact = compare(sample_world_inputs, load_methodology(), proposed, load_country_lists(), as_of=AS_OF)
    assert (impact.up, impact.down) == (15, 0)
    assert impact.matrix["low"]["medium"] == 15 and impact.matrix["medium"]["medium"] == 3
    assert impact.drivers[0]["factor"] == "onboarding_channel" and impact.drivers[0]["customers_moved"] == 15
    assert impact.drivers[0]["score_change"] == pytest.approx(15 * (2.5 / 24 - 0.5 / 20), abs=1e-3)
    assert impact.reviews["proposed"] == {"event_reviews": 15, "periodic_reviews": 0, "reviews": 15, "edd_reviews": 0}
    assert impact.reviews["current"]["reviews"] == 0
    text = render_markdown(impact, AS_OF)
    assert "**15** customers move **up**" in text and "| onboarding_channel | 1.0 -> 5.0 |" in text


def _csv_out(capsys) -> list[dict]:
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))


def test_rate_offline_follows_the_interface(tmp_path, capsys, kyc_env):
    src = tmp_path / "customers.csv"
    src.write_text("customer_id,full_name,nationality,residence_country,customer_type,onboarding_channel,is_pep,"
                   "pep_domestic,sanctions_status,adverse_media,account_opened\n"
                   "c1,Ann,GB,GB,person,in_person,false,,none,false,2015-01-01\n"
                   "c2,Bob,Iran,GB,person,remote,false,,none,false,2020-01-01\n"
                   "c3,Cy,FR,FR,person,remote,true,false,none,false,2020-01-01\n"
                   "c4,Di,DE,DE,company,remote,false,,confirmed,false,2026-11-01\n"
                   ",Nameless,GB,,,,,,,,\n"
                   "c5,Ed,GB,GB,alien,in_person,false,,none,false,2020-01-01\n")
    assert main(["risk", "rate", "--input", str(src), "--as-of", "2026-12-01"]) == 0
    captured = capsys.readouterr()
    rows = {r["customer_id"]: r for r in csv.DictReader(io.StringIO(captured.out))}
    assert list(next(iter(rows.values()))) == ["customer_id", "score", "tier", "next_review_date",
                                               "methodology_version", "reasons"]
    assert rows["c1"]["tier"] == "low" and rows["c1"]["next_review_date"] == "2031-12-01"
    assert rows["c2"]["tier"] == "high" and rows["c2"]["reasons"].startswith("nationality=call_for_action")
    assert rows["c3"]["tier"] == "high" and rows["c4"]["tier"] == "prohibited"
    assert rows["c4"]["next_review_date"] == "2027-12-01"
    assert float(rows["c5"]["score"]) >= float(rows["c1"]["score"])  # an invalid value reads as unknown
    assert "line 6: quarantined: empty customer_id" in captured.err
    assert "customer_type 'alien'" in captured.err and "5 customers rated" in captured.err
    out = tmp_path / "out.csv"
    assert main(["risk", "rate", "--input", str(src), "--output", str(out)]) == 0
    assert len(list(csv.DictReader(out.open()))) == 5


def test_rate_refuses_bad_files_in_one_line(tmp_path, capsys, kyc_env):
    src = tmp_path / "c.csv"
    src.write_text("name\nAnn\n")
    assert main(["risk", "rate", "--input", str(src)]) == 2
    assert capsys.readouterr().err.strip() == f"kyc: error: {src}: missing required column customer_id"
    bad = tmp_path / "m.yaml"
    bad.write_text("version: 1\n")
    src.write_text("customer_id\nc1\n")
    assert main(["risk", "rate", "--input", str(src), "--methodology", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kyc: error: m.yaml:") and "\n" not in err
    out = tmp_path / "never.csv"
    assert main(["risk", "rate", "--input", str(tmp_path / "missing.csv"), "--output", str(out)]) == 2
    assert not out.exists()


@pytest.fixture
def warehouse(kyc_env, sample_world_inputs):
    from kyc_assets.risk.ratings import ratings_table
    from kyc_assets.settings import Settings

    table = ratings_table(sample_world_inputs, load_methodology(), load_country_lists(), as_of=AS_OF)
    table["input_versions"] = json.dumps({"customers": "abc123"})
    from kyc_assets.settings import warehouse

    warehouse(Settings.from_env()).write(
        "customer_risk_ratings", table.astype({c: str for c in table.columns if str(table[c].dtype) == "category"}))
    return table


def test_explain_and_what_if_read_the_latest_ratings(warehouse, tmp_path, capsys):
    assert main(["risk", "explain", "CUST-0001", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tier"] == "medium" and out["hard_rules"] == "open_sanctions_match"
    assert out["factors"][0]["factor"] == "sanctions" and out["factors"][0]["category"] == "potential"
    assert sum(f["contribution"] for f in out["factors"]) == pytest.approx(out["score"], abs=1e-4)
    assert out["input_versions"] == {"customers": "abc123"}
    assert main(["risk", "explain", "CUST-0004"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("CUST-0004: low, score 0.0938") and "account_age" in text
    assert main(["risk", "explain", "nobody"]) == 2
    assert "no rating for customer 'nobody'" in capsys.readouterr().err
    proposal = _proposal(tmp_path, lambda d: d["factors"]["onboarding_channel"].update(weight=5.0))
    assert main(["risk", "what-if", "--methodology", proposal, "--as-of", AS_OF.isoformat(), "--json"]) == 0
    impact = json.loads(capsys.readouterr().out)
    assert (impact["up"], impact["down"]) == (15, 0)


def test_overrides_and_reviews_from_the_command_line(warehouse, capsys):
    assert main(["risk", "override", "request", "CUST-0004", "--tier", "high", "--reason",
                 "relationship manager reports cash structuring", "--as", "ana"]) == 0
    override_id = capsys.readouterr().out.split(":")[0]
    assert main(["risk", "override", "approve", override_id, "--as", "ana"]) == 2
    assert "other than the one who requested" in capsys.readouterr().err
    assert main(["risk", "override", "approve", override_id, "--as", "bob"]) == 0
    assert "active" in capsys.readouterr().out
    assert main(["risk", "review", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
