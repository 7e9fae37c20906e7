"""The whole asset graph materialized in-process on a generated sample world."""

from __future__ import annotations

import io
import json

import dagster as dg
import pytest

from kyc_assets.demo import run_demo


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("kyc")
    dagster_home = home / "dagster_home"
    dagster_home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KYC_HOME", str(home))
        for var in ("KYC_INBOX_DIR", "KYC_DOCUMENT_STORE", "KYC_QUARANTINE_DIR", "KYC_WAREHOUSE_PATH",
                    "KYC_DATABASE_URL", "KYC_TRANSACTIONS_PATH", "KYC_WATCHLIST_PATHS"):
            mp.delenv(var, raising=False)
        instance = dg.DagsterInstance.local_temp(str(dagster_home))
        out = io.StringIO()
        summary = run_demo(seed=11, out=out, instance=instance,
                           world={"customers": 6, "transactions": 4000, "accounts": 120})
        yield {"home": home, "summary": summary, "printed": out.getvalue(), "instance": instance,
               "labels": json.loads((home / "sample" / "labels.json").read_text())}


def query(world, sql):
    from kyc_assets.storage import Warehouse

    with Warehouse(world["home"] / "warehouse").connect() as con:
        return con.execute(sql).fetchall()


def test_every_asset_check_passes_and_every_asset_has_one(world):
    from datetime import UTC, datetime

    from kyc_assets.risk.methodology import load_country_lists

    checks = world["summary"]["check_results"]
    # The bundled FATF/EU country lists are dated data: once older than their maximum age, that (warning)
    # check must say so, and it is the only one allowed to fail.
    stale = {"risk_country_lists_current"} if load_country_lists().stale(datetime.now(UTC).date()) else set()
    assert checks and {name for name, passed in checks if not passed} == stale
    from kyc_assets.definitions import build_definitions
    from kyc_assets.settings import Settings

    defs = build_definitions(Settings.from_env({}))
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert graph.get(key).check_keys, f"{key.to_user_string()} has no asset check"


def test_summary_reports_documents_hits_alerts_and_cases(world):
    s = world["summary"]
    assert s["documents"] == 9 and s["documents_rejected"] == 0
    assert s["customers"] >= 6
    assert s["screening_hits"] > 0 and s["alerts"] > 0 and s["open_cases"] > 0
    assert "open cases" in world["printed"] and "make dev" in world["printed"]


def test_planted_listed_customers_are_hit(world):
    listed = world["labels"]["listed_customers"]
    assert listed
    hits = query(world, """
        select upper(c.full_name), s.list_entity_id, s.decision from kyc.screening_results s
        join kyc.customers c using (customer_id) where s.decision <> 'no_match'""")
    hit_names = {name: entity for name, entity, _ in hits}
    for person in listed:
        assert person["full_name"].upper() in hit_names, person["full_name"]
        assert hit_names[person["full_name"].upper()] == person["ofac_entity_id"]


def test_every_customer_is_screened_against_the_recorded_list_version(world):
    unscreened = query(world, "select count(*) from kyc.customers where customer_id not in "
                              "(select customer_id from kyc.screening_results)")
    assert unscreened == [(0,)]
    versions = query(world, "select distinct list_version from kyc.watchlist_entries")
    assert query(world, "select distinct list_version from kyc.screening_results") == versions


def test_planted_structuring_is_alerted(world):
    planted = {t["account_id"] for t in world["labels"]["typologies"] if t["typology"] == "structuring"}
    assert planted
    alerted = {a for (a,) in query(world, "select distinct account_id from kyc.anomaly_scores "
                                          "where alert and triggered_rules like '%structuring%'")}
    assert planted <= alerted


def test_malformed_transactions_are_quarantined_with_reasons_and_nothing_is_lost(world):
    rows = dict(query(world, "select transaction_id, reason from kyc.transactions_quarantine"))
    for tx_id in world["labels"]["malformed_transaction_ids"][:6]:
        assert rows.get(tx_id)
    assert "duplicate transaction_id" in rows.values()
    total = query(world, "select (select count(*) from kyc.transactions) + "
                         "(select count(*) from kyc.transactions_quarantine)")[0][0]
    source_rows = sum(1 for _ in open(world["home"] / "sample" / "transactions.csv")) - 1
    assert total == source_rows


def test_cases_reference_their_evidence(world):
    cases = query(world, "select subject_type, evidence from kyc.escalated_cases")
    assert {t for t, _ in cases} == {"customer", "account"}
    version = query(world, "select distinct list_version from kyc.watchlist_entries")[0][0]
    store = world["home"] / "documents"
    for subject_type, evidence in cases:
        refs = json.loads(evidence)
        assert refs
        for ref in refs:
            assert ref["run_id"]
            if subject_type == "customer":
                assert ref["list_version"] == version
                assert ref["document_sha256s"]
                for sha in ref["document_sha256s"]:  # the auditor can reach the bytes
                    assert (store / sha[:2] / sha).exists()
            else:
                assert ref["partition"] and ref["reasons"]


def test_rematerializing_escalation_creates_no_duplicate_cases(world):
    from kyc_assets.definitions import build_assets, build_resources
    from kyc_assets.settings import Settings

    settings = Settings.from_env()
    before = query(world, "select count(*) from kyc.escalated_cases")
    result = dg.materialize(build_assets(settings), selection=["escalated_cases"], instance=world["instance"],
                            resources=build_resources(settings))
    assert result.success
    meta = result.asset_materializations_for_node("escalated_cases")[0].metadata
    assert meta["opened"].value == 0 and meta["evidence_added"].value == 0
    assert query(world, "select count(*) from kyc.escalated_cases") == before


def test_no_raw_pii_in_the_event_log(world):
    """Names and dates of birth of the sample customers never appear in Dagster's event log."""
    customers = (world["home"] / "sample" / "customers.csv").read_text().splitlines()[1:]
    secrets = set()
    for line in customers:
        _, name, dob, *_ = line.split(",")
        secrets.update({name, name.upper(), dob})
    records = world["instance"].get_event_records(dg.EventRecordsFilter(
        event_type=dg.DagsterEventType.ASSET_MATERIALIZATION), limit=1000)
    assert records
    text = " ".join(str(r.event_log_entry.dagster_event.event_specific_data) for r in records)
    leaked = [s for s in secrets if s and s in text]
    assert not leaked
