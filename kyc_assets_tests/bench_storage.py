"""Storage figures for `make bench` (called from bench.py); see the README's "Shared storage" section.

``bench_concurrent_partitions``: 4 processes write different partitions of one Delta table at the same
time (each partition written twice: a first write and a rewrite), through the same ``Warehouse.write`` the
IO manager uses; reports commits, explicit retries after unresolved conflicts, and rows lost (expected 0).

``bench_run_overhead``: the per-run storage cost of one document partition and of one monitoring day (a
write of the partition through the IO manager plus a downstream read of it), for the DuckDB IO manager
that was the embedded default before, the Delta warehouse on a local folder (the embedded default now),
and the Delta warehouse on an S3-compatible server (moto on 127.0.0.1, the production path), measured
side by side in one process.
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _partition_writer(root: str, worker: int, partitions: int, rows: int, options=None) -> dict:
    import pandas as pd

    from kyc_assets.storage import warehouse as wh

    store = wh.Warehouse(root, options)
    started = time.perf_counter()
    for rewrite in (0, 1):
        for p in range(partitions):
            key = f"w{worker}-p{p:03d}"
            frame = pd.DataFrame({"partition_key": [key] * rows, "row": range(rows), "pass": rewrite,
                                  "amount": [float(i) for i in range(rows)]})
            store.write("bench_table", frame, predicate=f"\"partition_key\" IN ('{key}')")
    return {"commits": wh.stats["commits"], "retries": wh.stats["retries"],
            "seconds": time.perf_counter() - started}


def bench_concurrent_partitions(writers: int = 4, partitions: int = 15, rows: int = 200, s3: bool = False) -> dict:
    import pandas as pd

    from kyc_assets.storage import Warehouse

    with tempfile.TemporaryDirectory() as tmp, _maybe_moto(s3) as options:
        root = "s3://kyc-bench/concurrent" if s3 else str(Path(tmp) / "warehouse")
        ctx = multiprocessing.get_context("spawn")  # delta-rs does not survive fork
        started = time.perf_counter()
        with ctx.Pool(writers) as pool:
            results = pool.starmap(_partition_writer, [(root, w, partitions, rows, options) for w in range(writers)])
        seconds = time.perf_counter() - started
        store = Warehouse(root, options)
        table = store.read("bench_table")
        expected = writers * partitions * rows
        rewritten = int((table["pass"] == 1).sum()) if len(table) else 0
        return {"store": "s3 (moto)" if s3 else "local folder", "writers": writers,
                "commits": sum(r["commits"] for r in results), "table_version": store.version("bench_table"),
                "retries": sum(r["retries"] for r in results), "rows_expected": expected, "rows": len(table),
                "rows_lost": expected - rewritten, "duplicates": len(table) - len(table.drop_duplicates(
                    ["partition_key", "row"])), "seconds": round(seconds, 1),
                "commits_per_second": round(sum(r["commits"] for r in results) / seconds, 1),
                "dtypes_ok": bool(pd.api.types.is_float_dtype(table["amount"])) if len(table) else False}


class _maybe_moto:
    """A moto S3 server on 127.0.0.1 with bucket ``kyc-bench`` (when wanted); yields ObjectStoreOptions."""

    def __init__(self, wanted: bool):
        self.wanted, self.server = wanted, None

    def __enter__(self):
        if not self.wanted:
            return None
        import boto3
        from moto.server import ThreadedMotoServer

        from kyc_assets.storage import ObjectStoreOptions

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        options = ObjectStoreOptions(endpoint_url=f"http://{host}:{port}", region="us-east-1",
                                     access_key_id="bench", secret_access_key="bench")
        boto3.client("s3", endpoint_url=options.endpoint_url, region_name="us-east-1", aws_access_key_id="bench",
                     aws_secret_access_key="bench").create_bucket(Bucket="kyc-bench")
        return options

    def __exit__(self, *exc):
        if self.server is not None:
            self.server.stop()


def _frames(n_tx: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(5)
    document = pd.DataFrame([{"document_sha256": "ab" * 32, "status": "ok", "document_type": "passport",
                              "surname": "DOE", "given_names": "JANE", "document_number": "X1234567",
                              "date_of_birth": "1970-01-01", "nationality": "GBR", "mrz_valid": True,
                              "warnings": "[]", "field_sources": "{}", "method": "mrz"}])
    day = pd.Timestamp("2026-01-02")
    tx = pd.DataFrame({"transaction_id": [f"T{i}" for i in range(n_tx)],
                       "timestamp": day + pd.to_timedelta(rng.integers(0, 86_400, n_tx), unit="s"),
                       "sender_account": [f"A{i % 2000}" for i in range(n_tx)],
                       "receiver_account": [f"A{(i * 7) % 2000}" for i in range(n_tx)],
                       "amount": rng.lognormal(5, 1, n_tx), "currency": "USD", "channel": "wire",
                       "sender_country": "US", "receiver_country": "GB"})
    return document, tx


def _assets(document, tx):
    import dagster as dg
    import pandas as pd

    docs = dg.StaticPartitionsDefinition(["ab" * 32])
    days = dg.DailyPartitionsDefinition(start_date="2026-01-01")

    @dg.asset(partitions_def=docs, metadata={"partition_expr": "document_sha256"})
    def doc_table() -> pd.DataFrame:
        return document

    @dg.asset(partitions_def=docs, io_manager_key="mem")
    def doc_reader(doc_table: pd.DataFrame) -> int:
        return len(doc_table)

    @dg.asset(partitions_def=days, metadata={"partition_expr": '"timestamp"'})
    def tx_table() -> pd.DataFrame:
        return tx

    @dg.asset(partitions_def=days, io_manager_key="mem")
    def tx_reader(tx_table: pd.DataFrame) -> int:
        return len(tx_table)

    return [doc_table, doc_reader], [tx_table, tx_reader]


def bench_run_overhead(repeats: int = 5, n_tx: int = 20_000) -> dict:
    """Median seconds of one in-process run (write the partition, read it back downstream) per IO manager."""
    import dagster as dg
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    from kyc_assets.resources.warehouse import WarehouseIOManager

    document, tx = _frames(n_tx)
    doc_assets, tx_assets = _assets(document, tx)
    out: dict = {"transactions_per_day": n_tx, "repeats": repeats}
    with tempfile.TemporaryDirectory() as tmp, _maybe_moto(True) as s3:
        from dagster_deltalake.config import ClientConfig, S3Config

        managers = {
            "duckdb (before)": DuckDBPandasIOManager(database=str(Path(tmp) / "w.duckdb"), schema="kyc"),
            "delta, local folder": WarehouseIOManager(root_uri=str(Path(tmp) / "warehouse")),
            "delta, s3 (moto)": WarehouseIOManager(
                root_uri="s3://kyc-bench/warehouse", client_options=ClientConfig(allow_http=True),
                storage_options=S3Config(endpoint=s3.endpoint_url, region="us-east-1", access_key_id="bench",
                                         secret_access_key="bench")),
        }
        for label, manager in managers.items():
            resources = {"io_manager": manager, "mem": dg.InMemoryIOManager()}
            row = {}
            for what, assets, key in (("one_document_s", doc_assets, "ab" * 32), ("one_day_s", tx_assets,
                                                                                   "2026-01-02")):
                times = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    result = dg.materialize(assets, partition_key=key, resources=resources)
                    times.append(time.perf_counter() - started)
                    assert result.success
                row[what] = round(statistics.median(times), 3)
            out[label] = row
    base = out["duckdb (before)"]
    for label in ("delta, local folder", "delta, s3 (moto)"):
        out[label]["vs_duckdb"] = {k: round(out[label][k] / base[k], 2) for k in ("one_document_s", "one_day_s")}
    return out


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    if which in ("all", "partitions"):
        print(json.dumps(bench_concurrent_partitions(), indent=1), flush=True)
        print(json.dumps(bench_concurrent_partitions(s3=True), indent=1), flush=True)
    if which in ("all", "overhead"):
        print(json.dumps(bench_run_overhead(), indent=1), flush=True)
