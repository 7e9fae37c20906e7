"""``make demo``: generate the sample world and materialize every asset on the embedded defaults.

The documents go through the real inbox sensor (the same code the daemon runs), then every
asset is materialized in-process against the local Dagster instance (``DAGSTER_HOME``), so
``make dev`` shows the same runs, materializations and check results in the UI.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import dagster as dg

# We use backfill policies and partition mappings on purpose; their beta notices are noise here.
warnings.filterwarnings("ignore", category=dg.BetaWarning)


# The event log keeps every event; the console shows only warnings and errors.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _copy_tree(src: Path, dst: Path) -> int:
    copied = 0
    for path in sorted(src.rglob("*")):
        if path.is_file():
            target = dst / path.relative_to(src)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                copied += 1
    return copied


def ingest_inbox(instance: dg.DagsterInstance, documents) -> list[str]:
    """Run the inbox sensor until the inbox is drained; register the partitions it asks for."""
    from kyc_assets.onboarding.sensors import build_inbox_sensor, tick_inbox_sensor

    sensor = build_inbox_sensor(settle_seconds=0, max_files_per_tick=10_000)
    cursor, keys = None, []
    for _ in range(2):  # tick 1 sees the files, tick 2 finds them stable
        result = tick_inbox_sensor(sensor, instance, documents, cursor)
        cursor = result.cursor
        keys.extend(request.partition_key for request in result.run_requests)
    return keys


def partition_range_tags(keys: list[str]) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}


def run_demo(seed: int = 7, out=sys.stdout, *, instance: dg.DagsterInstance | None = None,
             world: dict | None = None) -> dict:
    """Generate (once) and ingest the sample world, then materialize every asset; returns the summary.

    ``world`` passes size options to ``generate_world`` (tests use a smaller world); the summary's
    ``check_results`` lists every asset check evaluation as (check name, passed).
    """
    from kyc_assets.definitions import build_assets, build_resources
    from kyc_assets.monitoring.schema import read_transactions
    from kyc_assets.sample_data.world import generate_world
    from kyc_assets.settings import Settings

    settings = Settings.from_env()
    if not os.environ.get("KYC_TRANSACTIONS_PATH"):
        os.environ["KYC_TRANSACTIONS_PATH"] = str(settings.transactions_path)
    sample = settings.home / "sample"
    started = time.perf_counter()
    if not (sample / "labels.json").exists():
        print(f"generating the sample world in {sample} (seed {seed}) ...", file=out, flush=True)
        generate_world(sample, seed=seed, **(world or {}))
    _copy_tree(sample / "inbox", settings.inbox_dir)
    generated = time.perf_counter()

    instance = instance or dg.DagsterInstance.get()
    resources = build_resources(settings)
    assets = build_assets(settings)
    ingest_inbox(instance, resources["documents"])
    keys = instance.get_dynamic_partitions("documents")
    timings: dict[str, float] = {}
    checks: list[tuple[str, bool]] = []

    def materialize(selection: list[str], tags: dict | None = None) -> dg.ExecuteInProcessResult:
        t = time.perf_counter()
        result = dg.materialize(assets, selection=selection, instance=instance, resources=resources,
                                tags=tags or {}, raise_on_error=True, run_config=QUIET)
        timings[",".join(selection)] = round(time.perf_counter() - t, 1)
        checks.extend((e.check_name, e.passed) for e in result.get_asset_check_evaluations())
        return result

    print(f"reading {len(keys)} documents (OCR, MRZ, extraction) ...", file=out, flush=True)
    materialize(["raw_documents", "document_text", "extracted_entities"], partition_range_tags(keys))
    print("customers, watchlist and screening ...", file=out, flush=True)
    from kyc_assets.watchlists.assets import list_asset_name

    lists = [list_asset_name(spec) for spec in settings.watchlist_specs]
    materialize(["customers", *lists, "watchlist_entries", "screening_results", "adverse_media_results"])

    tx = read_transactions(settings.transactions_path)
    days = sorted({ts[:10] for ts in tx["timestamp"] if len(ts) >= 10 and ts[:4].isdigit()})
    print(f"transaction monitoring over {len(days)} days ...", file=out, flush=True)
    materialize(["transactions", "transactions_quarantine", "transaction_features"], partition_range_tags(days))
    print("anomaly model, scores and validation report ...", file=out, flush=True)
    materialize(["anomaly_model"])  # unpartitioned: trained on the last days of features
    materialize(["anomaly_scores"], partition_range_tags(days))
    materialize(["model_validation_report"])
    materialize(["escalated_cases"])
    print("risk ratings and reviews due today ...", file=out, flush=True)
    materialize(["risk_country_lists", "customer_risk_ratings", "risk_methodology_impact"])
    materialize(["kyc_reviews_due"], {"dagster/partition": time.strftime("%Y-%m-%d", time.gmtime())})
    finished = time.perf_counter()
    summary = summarize(settings, resources)
    summary.update(seconds_generate=round(generated - started, 1), seconds_materialize=round(finished - generated, 1),
                   seconds_by_stage=timings, check_results=checks)
    print_summary(summary, settings, out)
    return summary


def summarize(settings, resources) -> dict:
    from kyc_assets.settings import warehouse

    with warehouse(settings).connect() as con:
        tables = {t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'kyc'").fetchall()}

        def one(sql: str) -> int:
            table = sql.split(" from kyc.")[1].split()[0]
            return int(con.execute(sql).fetchone()[0]) if table in tables else 0  # empty outputs write no table

        summary = {
            "documents": one("select count(*) from kyc.raw_documents"),
            "documents_rejected": one("select count(*) from kyc.raw_documents where status <> 'ok'"),
            "customers": one("select count(*) from kyc.customers"),
            "screening_hits": one("select count(*) from kyc.screening_results where decision <> 'no_match'"),
            "customers_hit": one("select count(distinct customer_id) from kyc.screening_results "
                                 "where decision <> 'no_match'"),
            "transactions": one("select count(*) from kyc.transactions"),
            "transactions_quarantined": one("select count(*) from kyc.transactions_quarantine"),
            "alerts": one("select count(*) from kyc.anomaly_scores where alert"),
            "accounts_alerted": one("select count(distinct account_id) from kyc.anomaly_scores where alert"),
            "open_cases": one("select count(*) from kyc.escalated_cases"),
        }
        by_priority = {p: 0 for p in (1, 2, 3, 4)}
        if "escalated_cases" in tables:
            for priority, count in con.execute("select priority, count(*) from kyc.escalated_cases "
                                               "group by priority").fetchall():
                by_priority[int(priority)] = int(count)
        summary["cases_by_priority"] = by_priority
    return summary


def print_summary(summary: dict, settings, out) -> None:
    s = summary
    print("\nKYC/AML demo finished", file=out)
    print(f"  documents processed   {s['documents']} ({s['documents_rejected']} rejected)", file=out)
    print(f"  customers             {s['customers']}", file=out)
    print(f"  screening hits        {s['screening_hits']} on {s['customers_hit']} customers", file=out)
    print(f"  transactions          {s['transactions']} ({s['transactions_quarantined']} quarantined)", file=out)
    print(f"  alerts                {s['alerts']} account-days on {s['accounts_alerted']} accounts", file=out)
    print(f"  open cases            {s['open_cases']}", file=out)
    by_priority = s.get("cases_by_priority") or {}
    if by_priority:
        print("  by priority           " + ", ".join(f"P{p}: {n}" for p, n in sorted(by_priority.items()))
              + "  (1 = act today)", file=out)
    failed = sorted({name for name, passed in s.get("check_results", []) if not passed})
    print(f"  asset checks          {len(s.get('check_results', []))} evaluated, "
          f"{'all passed' if not failed else 'failed: ' + ', '.join(failed)}", file=out)
    print(f"  time                  {s['seconds_generate']} s sample data, {s['seconds_materialize']} s "
          f"materialization", file=out)
    for stage, seconds in s.get("seconds_by_stage", {}).items():
        print(f"      {seconds:6.1f} s  {stage}", file=out)
    from sqlalchemy.engine import make_url

    cases_url = make_url(settings.database_url).render_as_string(hide_password=True)  # never print a password
    print(f"\nData: {settings.home}  (warehouse {settings.warehouse_url}, cases {cases_url})", file=out)
    print("Next: `make dev` opens the Dagster UI on http://127.0.0.1:3000 over the same instance.", file=out)


if __name__ == "__main__":
    run_demo(seed=int(os.environ.get("KYC_SEED", "7")))
