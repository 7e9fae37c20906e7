"""The production instance config (top-level dagster.yaml) against the real PostgreSQL server.

Outside CI the test is skipped when no server listens on 127.0.0.1:5432; in CI (CI=true) an
unreachable server is a failure, never a skip.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg2

from kyc_assets_tests.conftest import PG

ROOT = Path(__file__).resolve().parents[1]


def test_materialization_runs_and_events_are_read_back_from_postgres(pg_database, tmp_path, monkeypatch, kyc_env):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    for var, value in {"DAGSTER_PG_HOST": PG["host"], "DAGSTER_PG_PORT": str(PG["port"]),
                       "DAGSTER_PG_USER": PG["user"], "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": pg_database}.items():
        monkeypatch.setenv(var, value)

    from kyc_assets.definitions import build_assets, build_resources
    from kyc_assets.settings import Settings

    settings = Settings.from_env()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = dg.materialize(build_assets(settings), selection=["watchlist_us_ofac_sdn", "watchlist_entries"], instance=instance,
                                resources=build_resources(settings))
        assert result.success
        run_id = result.run_id

    # Read back with a plain PostgreSQL client: the run and its events are in the database.
    with psycopg2.connect(dbname=pg_database, **PG) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
        assert cur.fetchone() == ("SUCCESS",)
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
                    (run_id, "ASSET_MATERIALIZATION"))
        assert cur.fetchone()[0] == 2
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
                    (run_id, "ASSET_CHECK_EVALUATION"))
        assert cur.fetchone()[0] == 5

    with dg.DagsterInstance.from_config(str(home)) as instance:  # and through Dagster again
        record = instance.get_latest_materialization_event(dg.AssetKey("watchlist_entries"))
        assert record is not None and record.run_id == run_id
        assert record.asset_materialization.metadata["dagster/row_count"].value > 1000


def test_case_store_and_audit_chain_on_postgres(pg_database):
    from kyc_assets.cases.escalation import CaseCandidate, Evidence
    from kyc_assets.cases.store import CaseStore

    url = f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{pg_database}"
    store = CaseStore(url)
    evidence = Evidence(kind="screening_hit", risk=0.95, reason="sanctions match", identity=("C-1", "e1"),
                        reference={"asset_key": "screening_results", "run_id": "r"})
    candidates = [CaseCandidate("customer", "C-1", [evidence])]
    assert store.escalate(candidates, sla_days=3)["opened"] == 1
    assert store.escalate(candidates, sla_days=3)["opened"] == 0
    assert [c["subject_id"] for c in store.open_cases()] == ["C-1"]
    report = store.verify_audit()
    # case_opened and the case_state entry recording the new case's row (audit/state.py)
    assert report.intact and report.entries == 2 and report.cases_checked == 1
    store.engine.dispose()
