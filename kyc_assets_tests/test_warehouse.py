"""The Delta Lake warehouse: partitions written independently (two processes, different partitions of one
table, lose nothing), a partition rewrite replaces only that partition (document keys, days, day ranges),
readers see the tables through DuckDB, and the same code on an S3-compatible store (moto on 127.0.0.1)."""

import multiprocessing
import os
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import pytest

from kyc_assets.resources import WarehouseIOManager
from kyc_assets.storage import ObjectStoreOptions, Warehouse
from kyc_assets.storage.warehouse import partition_filter

KEYS = [f"{i:02x}" * 32 for i in range(8)]  # sha256-like document keys
documents = dg.StaticPartitionsDefinition(KEYS)


def _document_asset(rows: int, label: str):
    @dg.asset(name="documents_table", partitions_def=documents, metadata={"partition_expr": "document_sha256"})
    def documents_table(context: dg.AssetExecutionContext) -> pd.DataFrame:
        key = context.partition_key
        return pd.DataFrame({"document_sha256": [key] * rows, "line": list(range(rows)), "label": [label] * rows})

    return documents_table


def _write_partitions(root: str, keys: list[str], rounds: int) -> int:
    """Materialize ``keys`` (``rounds`` times each) through the IO manager, in this process."""
    asset = _document_asset(rows=50, label=f"pid{os.getpid()}")
    resources = {"io_manager": WarehouseIOManager(root_uri=root)}
    done = 0
    for _ in range(rounds):
        for key in keys:
            assert dg.materialize([asset], partition_key=key, resources=resources).success
            done += 1
    return done


def test_two_processes_writing_different_partitions_lose_nothing(tmp_path):
    root = str(tmp_path / "warehouse")
    ctx = multiprocessing.get_context("spawn")  # delta-rs's runtime does not survive fork
    with ctx.Pool(2) as pool:
        done = pool.starmap(_write_partitions, [(root, KEYS[:4], 2), (root, KEYS[4:], 2)])
    assert done == [8, 8]
    table = Warehouse(root).read("documents_table")
    assert sorted(table["document_sha256"].unique()) == sorted(KEYS), "every partition of both writers is there"
    assert len(table) == 8 * 50, "each rewrite replaced its partition: no duplicates, nothing lost"
    assert table.groupby("document_sha256")["line"].apply(lambda s: sorted(s) == list(range(50))).all()
    assert Warehouse(root).version("documents_table") >= 15  # 16 commits from two processes, none lost


def test_a_partition_rewrite_replaces_only_that_partition(tmp_path):
    root = str(tmp_path / "warehouse")
    resources = {"io_manager": WarehouseIOManager(root_uri=root)}
    first = _document_asset(rows=3, label="first")
    for key in KEYS[:3]:
        assert dg.materialize([first], partition_key=key, resources=resources).success
    again = _document_asset(rows=2, label="again")
    assert dg.materialize([again], partition_key=KEYS[1], resources=resources).success
    table = Warehouse(root).read("documents_table")
    by_key = table.groupby("document_sha256")["label"].agg(lambda s: sorted(set(s))).to_dict()
    assert by_key == {KEYS[0]: ["first"], KEYS[1]: ["again"], KEYS[2]: ["first"]}
    assert table["document_sha256"].value_counts().to_dict() == {KEYS[0]: 3, KEYS[1]: 2, KEYS[2]: 3}


daily = dg.DailyPartitionsDefinition(start_date="2026-01-01")


def _daily_asset(label: str):
    @dg.asset(name="events", partitions_def=daily, metadata={"partition_expr": '"timestamp"'})
    def events(context: dg.AssetExecutionContext) -> pd.DataFrame:
        window = context.partition_time_window
        days = pd.date_range(window.start.replace(tzinfo=None), window.end.replace(tzinfo=None), freq="D",
                             inclusive="left")
        stamps = [d + pd.Timedelta(hours=h) for d in days for h in (0, 12, 23)]
        return pd.DataFrame({"timestamp": stamps, "label": label})

    @dg.asset(partitions_def=daily, io_manager_key="mem")
    def event_counts(events: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"rows": [len(events)], "labels": [",".join(sorted(set(events["label"])))]})

    return events, event_counts


def test_daily_partitions_and_ranges_replace_their_days_and_load_their_days(tmp_path):
    """A time window selects rows by range on a timestamp column (three rows a day, the last at 23:00);
    a backfill run over a range of days writes and replaces exactly those days."""
    root = str(tmp_path / "warehouse")
    resources = {"io_manager": WarehouseIOManager(root_uri=root)}
    events, _ = _daily_asset("one")
    tags = {"dagster/asset_partition_range_start": "2026-01-01", "dagster/asset_partition_range_end": "2026-01-04"}
    assert dg.materialize([events], resources=resources, tags=tags).success
    events2, counts2 = _daily_asset("two")
    assert dg.materialize([events2], partition_key="2026-01-02", resources=resources).success
    table = Warehouse(root).read("events")
    table["day"] = table["timestamp"].dt.strftime("%Y-%m-%d")
    assert table.groupby("day")["label"].agg(lambda s: ",".join(sorted(set(s)))).to_dict() == {
        "2026-01-01": "one", "2026-01-02": "two", "2026-01-03": "one", "2026-01-04": "one"}
    assert table["day"].value_counts().to_dict() == {d: 3 for d in ("2026-01-01", "2026-01-02", "2026-01-03",
                                                                    "2026-01-04")}
    # Loading one day's partition reads that day only (23:00 included, the next midnight excluded).
    result = dg.materialize([events2, counts2], selection=["event_counts"], partition_key="2026-01-02",
                            resources={**resources, "mem": dg.InMemoryIOManager()})
    assert result.output_for_node("event_counts").to_dict("records") == [{"rows": 3, "labels": "two"}]


def test_partition_predicates_quote_keys_and_type_time_bounds():
    import pyarrow as pa
    from dagster._core.storage.db_io_manager import TablePartitionDimension

    schema = pa.schema([("k", pa.string()), ("ts", pa.timestamp("us")), ("d", pa.string())])
    sql, _ = partition_filter([TablePartitionDimension("k", ["a'b", "c"])], schema)
    assert sql == """("k" IN ('a''b', 'c'))"""
    window = dg.TimeWindow(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC))
    sql, expr = partition_filter([TablePartitionDimension('"ts"', window)], schema)
    assert sql == """("ts" >= '2026-01-01 00:00:00' AND "ts" < '2026-01-03 00:00:00')"""
    rows = pa.table({"k": ["x"] * 3, "ts": pa.array([datetime(2026, 1, 1), datetime(2026, 1, 2, 23),
                                                      datetime(2026, 1, 3)], type=pa.timestamp("us")),
                     "d": ["2026-01-01", "2026-01-02", "2026-01-03"]})
    assert rows.filter(expr).num_rows == 2
    sql, expr = partition_filter([TablePartitionDimension("d", window)], schema)
    assert sql == """("d" >= '2026-01-01' AND "d" < '2026-01-03')""" and rows.filter(expr).num_rows == 2
    with pytest.raises(ValueError, match="not a column"):
        partition_filter([TablePartitionDimension("missing", ["a"])], schema)


def test_readers_query_the_tables_through_duckdb_and_frames_keep_their_types(tmp_path):
    warehouse = Warehouse(tmp_path / "warehouse")
    frame = pd.DataFrame({"id": ["a", "b"], "n": pd.array([1, None], dtype="Int64"), "empty": [None, None],
                          "tags": [["x"], []], "mixed": [{"a": 1}, "text"], "at": pd.to_datetime(["2026-01-01"] * 2)})
    warehouse.write("things", frame)
    assert warehouse.tables() == ["things"] and not warehouse.exists("other")
    with warehouse.connect() as con:
        assert con.execute("select count(*), count(n) from kyc.things").fetchone() == (2, 1)
        assert con.execute("select table_name from information_schema.tables where table_schema = 'kyc'"
                           ).fetchall() == [("things",)]
    back = warehouse.read("things")
    assert back["tags"].map(list).tolist() == [["x"], []] and back["mixed"].tolist() == ['{"a": 1}', "text"]
    assert str(back["at"].dtype).startswith("datetime64")
    with pytest.raises(LookupError, match="does not exist"):
        warehouse.read("other")


# -- the same code on an S3-compatible store ----------------------------------------------------------------

@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on 127.0.0.1 (an ephemeral port) with one bucket; yields the connection options."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = ObjectStoreOptions(endpoint_url=f"http://{host}:{port}", region="us-east-1",
                                 access_key_id="test-key", secret_access_key="test-secret")
    boto3.client("s3", endpoint_url=options.endpoint_url, region_name="us-east-1", aws_access_key_id="test-key",
                 aws_secret_access_key="test-secret").create_bucket(Bucket="kyc-test")
    yield options
    server.stop()


def test_the_warehouse_on_s3_rewrites_partitions_and_reads_through_duckdb(s3, monkeypatch):
    from kyc_assets.resources.warehouse import warehouse_io_manager_fields
    from kyc_assets.settings import Settings

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    settings = Settings.from_env({"KYC_HOME": "/nonexistent", "KYC_STORAGE_URL": "s3://kyc-test/prod",
                                  "KYC_STORAGE_ENDPOINT_URL": s3.endpoint_url, "KYC_STORAGE_REGION": "us-east-1",
                                  "AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret"})
    assert settings.warehouse_url == "s3://kyc-test/prod/warehouse"
    assert settings.document_store_url == "s3://kyc-test/prod/documents"
    fields = warehouse_io_manager_fields(settings)
    assert isinstance(fields["storage_options"].access_key_id, dg.EnvVar), "keys reach Dagster only as EnvVar"
    resources = {"io_manager": WarehouseIOManager(**fields)}
    first = _document_asset(rows=2, label="first")
    for key in KEYS[:2]:
        assert dg.materialize([first], partition_key=key, resources=resources).success
    assert dg.materialize([_document_asset(rows=1, label="again")], partition_key=KEYS[0], resources=resources).success

    warehouse = Warehouse(settings.warehouse_url, s3)
    assert warehouse.tables() == ["documents_table"]
    with warehouse.connect() as con:
        rows = con.execute("select document_sha256, label, count(*) from kyc.documents_table group by all "
                           "order by 1").fetchall()
    assert rows == [(KEYS[0], "again", 1), (KEYS[1], "first", 2)]


def _s3_writer(options: ObjectStoreOptions, keys: list[str]) -> int:
    warehouse = Warehouse("s3://kyc-test/concurrent", options)
    for key in keys:
        frame = pd.DataFrame({"document_sha256": [key] * 10, "line": range(10)})
        warehouse.write("documents_table", frame, predicate=f"\"document_sha256\" IN ('{key}')")
    return len(keys)


def test_two_processes_commit_to_one_s3_table_with_conditional_puts(s3):
    """Two processes commit to one table on the S3 server concurrently (conditional-put commits, no lock
    service): every partition of both is there once."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        assert pool.starmap(_s3_writer, [(s3, KEYS[:4]), (s3, KEYS[4:])]) == [4, 4]
    table = Warehouse("s3://kyc-test/concurrent", s3).read("documents_table")
    assert table["document_sha256"].value_counts().to_dict() == {k: 10 for k in KEYS}
