"""Transaction sources: day selection while streaming files and folders, and PostgreSQL tables."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from kyc_assets.monitoring.schema import TransactionSchemaError, read_transactions, validate_transactions
from kyc_assets.monitoring.sources import load_file_days, load_sql_days, select_days, sql_day_bounds
from kyc_assets.resources import TransactionSourceResource
from kyc_assets.sample_data.transactions import generate_transactions
from kyc_assets_tests.conftest import pg_url

NOW = pd.Timestamp("2026-11-01T00:00:00Z")
ROWS = [  # id, timestamp, sender, receiver, amount
    ("t1", "2026-09-01T10:00:00Z", "A", "B", "100"),
    ("t2", "2026-09-01T23:30:00-05:00", "B", "C", "200"),   # 2026-09-02 in UTC
    ("t3", "2026-09-02T08:00:00Z", "C", "A", "300"),
    ("t4", "not a date", "A", "C", "50"),                   # fallback day: the last usable day
    ("t5", "2026-09-03T09:00:00Z", "A", "B", "-5"),         # quarantined on its own day
    ("t3", "2026-09-02T09:00:00Z", "C", "B", "10"),         # duplicate id on the same day
    ("t6", "2099-01-01T00:00:00Z", "A", "B", "10"),         # future: fallback day, quarantined
    ("t7", "2026-09-03T12:00:00Z", "B", "A", "70"),
]


def _frame(rows=ROWS) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["transaction_id", "timestamp", "sender_account", "receiver_account", "amount"])


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "tx.csv"
    _frame().to_csv(path, index=False)
    return path


def test_each_row_lands_in_exactly_one_day(csv_file):
    by_day = {d: load_file_days(csv_file, [d], chunk_rows=2, now=NOW)
              for d in ("2026-09-01", "2026-09-02", "2026-09-03")}
    valid_ids = {d: sorted(v["transaction_id"]) for d, (v, _) in by_day.items()}
    assert valid_ids == {"2026-09-01": ["t1"], "2026-09-02": ["t2", "t3"], "2026-09-03": ["t7"]}
    reasons = {d: sorted(q["reason"]) for d, (_, q) in by_day.items()}
    assert reasons["2026-09-01"] == [] and reasons["2026-09-02"] == ["duplicate transaction_id"]
    assert reasons["2026-09-03"] == ["non-positive amount", "timestamp in the future", "unparseable timestamp"]
    total = sum(len(v) + len(q) for v, q in by_day.values())
    assert total == len(ROWS)
    for _, q in by_day.values():
        assert q["partition_date"].dt.tz is not None


def test_a_range_gives_the_same_rows_as_its_days_one_by_one(csv_file):
    days = ["2026-09-01", "2026-09-02", "2026-09-03"]
    valid, quarantine = load_file_days(csv_file, days, chunk_rows=3, now=NOW)
    singles = [load_file_days(csv_file, [d], now=NOW) for d in days]
    assert sorted(valid["source_row"]) == sorted(r for v, _ in singles for r in v["source_row"])
    assert sorted(quarantine["source_row"]) == sorted(r for _, q in singles for r in q["source_row"])


def test_streaming_keeps_only_the_requested_days(csv_file):
    from kyc_assets.monitoring.schema import iter_raw_transactions

    selection = select_days(iter_raw_transactions(csv_file, 2), ["2026-09-01"], now=NOW)
    assert selection.rows_scanned == len(ROWS)
    assert sorted(selection.rows["transaction_id"]) == ["t1", "t4", "t6"]  # + rows without a usable day
    assert selection.fallback_day == "2026-09-03"


def test_folder_of_csv_and_parquet_files(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _frame(ROWS[:3]).to_csv(folder / "a.csv", index=False)
    _frame([("p1", "2026-09-02T01:00:00Z", "X", "Y", "5")]).to_parquet(folder / "b.parquet")
    (folder / "notes.txt.bak").write_text("ignored")
    valid, _ = load_file_days(folder, ["2026-09-02"], now=NOW)
    assert sorted(valid["transaction_id"]) == ["p1", "t2", "t3"]
    assert set(valid["source_file"].map(lambda p: p.rsplit("/", 1)[-1])) == {"a.csv", "b.parquet"}


def test_missing_source_and_missing_column_are_clear_errors(tmp_path):
    with pytest.raises(TransactionSchemaError, match="does not exist"):
        load_file_days(tmp_path / "nope.csv", ["2026-09-01"])
    bad = tmp_path / "bad.csv"
    _frame().drop(columns="amount").to_csv(bad, index=False)
    with pytest.raises(TransactionSchemaError, match="missing required column"):
        load_file_days(bad, ["2026-09-01"])


def test_generated_world_matches_whole_file_validation(tmp_path):
    raw, _ = generate_transactions([f"C{i}" for i in range(80)], n=3000, start=date(2026, 9, 1), days=10, seed=2)
    path = tmp_path / "tx.csv"
    raw.to_csv(path, index=False)
    days = [f"2026-09-{d:02d}" for d in range(1, 11)]
    valid, quarantine = load_file_days(path, days, chunk_rows=700, now=NOW)
    whole_valid, _ = validate_transactions(read_transactions(path), now=NOW)
    assert len(valid) + len(quarantine) == len(raw)
    assert set(valid["transaction_id"]) == set(whole_valid["transaction_id"])


# --- PostgreSQL ---------------------------------------------------------------------------------------


def _pg_table(engine, name: str, typed: bool) -> None:
    ts_type = sa.DateTime(timezone=True) if typed else sa.Text()
    meta = sa.MetaData()
    table = sa.Table(name, meta, sa.Column("transaction_id", sa.Text), sa.Column("timestamp", ts_type),
                     sa.Column("sender_account", sa.Text), sa.Column("receiver_account", sa.Text),
                     sa.Column("amount", sa.Numeric(18, 2)), sa.Column("currency", sa.Text))
    meta.create_all(engine)
    rows = []
    for tx_id, ts, s, r, amount in ROWS:
        stamp = pd.to_datetime(ts, utc=True, errors="coerce")
        if typed and pd.isna(stamp):
            stamp = None  # a typed column cannot hold text: a missing timestamp instead
        value = (stamp.to_pydatetime() if stamp is not None else None) if typed else ts
        rows.append({"transaction_id": tx_id, "timestamp": value, "sender_account": s, "receiver_account": r,
                     "amount": amount, "currency": "USD"})
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)


@pytest.mark.parametrize("typed", [True, False], ids=["timestamptz", "text"])
def test_postgres_table_gives_the_partition_rows(pg_database, typed):
    engine = sa.create_engine(pg_url(pg_database))
    name = 'Bank "Tx"; DROP TABLE x; --'  # quoted by SQLAlchemy, never spliced into SQL text
    _pg_table(engine, name, typed)
    try:
        by_day = {d: load_sql_days("", name, [d], engine=engine, now=NOW, chunk_rows=2)
                  for d in ("2026-09-01", "2026-09-02", "2026-09-03")}
        assert sorted(by_day["2026-09-01"][0]["transaction_id"]) == ["t1"]
        assert sorted(by_day["2026-09-02"][0]["transaction_id"]) == ["t2", "t3"]
        assert sorted(by_day["2026-09-03"][0]["transaction_id"]) == ["t7"]
        reasons = sorted(by_day["2026-09-03"][1]["reason"])
        missing = "missing timestamp" if typed else "unparseable timestamp"
        assert reasons == sorted(["non-positive amount", "timestamp in the future", missing])
        assert sum(len(v) + len(q) for v, q in by_day.values()) == len(ROWS)
        valid, _ = by_day["2026-09-02"]
        assert valid["amount"].tolist() == [200.0, 300.0] or sorted(valid["amount"]) == [200.0, 300.0]
        assert (valid["source_file"] == f"table {name}").all()
    finally:
        engine.dispose()


def test_postgres_missing_table_and_resource_wiring(pg_database):
    url = pg_url(pg_database)
    with pytest.raises(TransactionSchemaError, match="does not exist"):
        load_sql_days(url, "no_such_table", ["2026-09-01"])
    engine = sa.create_engine(url)
    _pg_table(engine, "transactions", True)
    engine.dispose()
    source = TransactionSourceResource(url=url, table="transactions")
    valid, _ = source.load_days(["2026-09-01", "2026-09-02", "2026-09-03"])
    assert sorted(valid["transaction_id"]) == ["t1", "t2", "t3", "t7"]
    assert source.describe() == "table transactions" and "postgres" not in source.describe()
    with pytest.raises(ValueError, match="KYC_TRANSACTIONS_URL"):
        TransactionSourceResource(table="transactions").load_days(["2026-09-01"])


def test_sql_bounds_widen_by_a_day():
    assert sql_day_bounds(["2026-09-03", "2026-09-01"]) == (date(2026, 8, 31), date(2026, 9, 4))
