"""Canonical transaction schema: reading files, typing valid rows, quarantining bad ones with a reason."""

import io

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kyc_assets.monitoring.schema import (
    CANONICAL_COLUMNS,
    REQUIRED_COLUMNS,
    TransactionSchemaError,
    read_transactions,
    validate_transactions,
)

HEADER = "transaction_id,timestamp,sender_account,receiver_account,amount,currency,channel,sender_country\n"


def _raw(rows: list[dict]) -> pd.DataFrame:
    base = {"transaction_id": "t", "timestamp": "2024-01-05", "sender_account": "A",
            "receiver_account": "B", "amount": "10", "currency": "", "channel": "", "sender_country": ""}
    return pd.DataFrame([{**base, **r} for r in rows], dtype=str)


def test_read_csv_adds_source_row_and_file(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(HEADER + "t1,2024-01-05,A,B,10,,wire,\nt2,2024-01-06,A,C,NA,,,\n", encoding="utf-8")
    raw = read_transactions(path)
    assert raw["source_row"].tolist() == [1, 2]
    assert raw["source_file"].iloc[0] == str(path)
    assert raw["amount"].tolist() == ["10", "NA"]  # strings, 'NA' is not turned into NaN
    assert raw["currency"].tolist() == ["", ""]


def test_missing_required_column_names_it(tmp_path):
    path = tmp_path / "transactions.csv"
    path.write_text("transaction_id,timestamp,sender_account,receiver_account\nt1,2024-01-01,A,B\n")
    with pytest.raises(TransactionSchemaError, match=r"transactions.csv: missing required column\(s\): amount"):
        read_transactions(path)
    with pytest.raises(TransactionSchemaError, match="amount"):
        validate_transactions(pd.DataFrame({c: ["x"] for c in REQUIRED_COLUMNS if c != "amount"}))


@pytest.mark.parametrize("content", ["", "\xff\xfe\x00garbage"])
def test_empty_or_unreadable_file_raises_one_line_error(tmp_path, content):
    path = tmp_path / "tx.csv"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(TransactionSchemaError) as err:
        read_transactions(path)
    assert "\n" not in str(err.value) and "tx.csv" in str(err.value)


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(TransactionSchemaError, match="file not found"):
        read_transactions(tmp_path / "nope.csv")
    odd = tmp_path / "tx.xlsx"
    odd.write_text("x")
    with pytest.raises(TransactionSchemaError, match="unsupported file type"):
        read_transactions(odd)


def test_header_only_file_is_an_empty_batch(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(HEADER)
    valid, quarantine = validate_transactions(read_transactions(path))
    assert len(valid) == 0 and len(quarantine) == 0
    assert list(valid.columns[: len(CANONICAL_COLUMNS)]) == CANONICAL_COLUMNS


def test_parquet_with_typed_columns(tmp_path):
    frame = pd.DataFrame({
        "transaction_id": ["t1", "t2"],
        "timestamp": pd.to_datetime(["2024-01-05 10:00", "2024-01-06 11:00"]),
        "sender_account": ["A", "A"], "receiver_account": ["B", "C"], "amount": [10.5, -1.0],
    })
    path = tmp_path / "tx.parquet"
    frame.to_parquet(path)
    valid, quarantine = validate_transactions(read_transactions(path))
    assert valid["timestamp"].iloc[0] == pd.Timestamp("2024-01-05 10:00", tz="UTC")
    assert valid["amount"].iloc[0] == 10.5
    assert quarantine["reason"].tolist() == ["non-positive amount"]
    assert quarantine["source_row"].tolist() == [2]


def test_valid_rows_are_typed_and_converted():
    raw = _raw([
        {"transaction_id": "t1", "timestamp": "2024-01-05T10:00:00+02:00", "amount": "100.50", "currency": "eur",
         "channel": "WIRE", "sender_country": "de"},
        {"transaction_id": "t2", "timestamp": "2024-01-05", "amount": "20"},
    ])
    valid, quarantine = validate_transactions(raw, rates={"EUR": 1.1})
    assert quarantine.empty
    assert str(valid["timestamp"].dt.tz) == "UTC"
    assert valid["timestamp"].tolist() == [pd.Timestamp("2024-01-05 08:00", tz="UTC"),
                                           pd.Timestamp("2024-01-05 00:00", tz="UTC")]
    assert valid["currency"].tolist() == ["EUR", "USD"]
    assert valid["amount_base"].tolist() == pytest.approx([110.55, 20.0])
    assert valid["channel"].tolist() == ["wire", None]
    assert valid["sender_country"].tolist() == ["DE", None]
    assert valid["source_row"].tolist() == [1, 2]


def test_default_currency_and_base_currency():
    raw = _raw([{"transaction_id": "t1", "amount": "100"}])
    valid, _ = validate_transactions(raw, default_currency="GBP", base_currency="EUR")
    assert valid["currency"].iloc[0] == "GBP"
    assert valid["amount_base"].iloc[0] == pytest.approx(100 * 1.27 / 1.08)


@pytest.mark.parametrize(
    "row, reason",
    [
        ({"timestamp": "yesterday"}, "unparseable timestamp"),
        ({"timestamp": "2024-13-45"}, "unparseable timestamp"),
        ({"amount": "0"}, "non-positive amount"),
        ({"amount": "-5.00"}, "non-positive amount"),
        ({"amount": "1,000.00"}, "unparseable amount"),
        ({"amount": "2000000000"}, "amount above 1e9"),
        ({"currency": "XYZ"}, "unknown currency XYZ"),
        ({"sender_account": ""}, "missing sender_account"),
        ({"receiver_account": "   "}, "missing receiver_account"),
        ({"transaction_id": ""}, "missing transaction_id"),
        ({"channel": "carrier pigeon"}, "unknown channel"),
        ({"sender_country": "USA"}, "invalid sender_country"),
    ],
)
def test_bad_rows_are_quarantined_with_reason(row, reason):
    raw = _raw([{"transaction_id": "ok"}, {"transaction_id": "bad", **row}])
    valid, quarantine = validate_transactions(raw)
    assert valid["transaction_id"].tolist() == ["ok"]
    assert quarantine["reason"].tolist() == [reason]
    assert quarantine["source_row"].tolist() == [2]
    # the raw values are kept as strings
    for key, value in row.items():
        assert quarantine[key].iloc[0] == value.strip()


def test_duplicates_keep_the_first():
    raw = _raw([{"transaction_id": "t1", "amount": "1"}, {"transaction_id": "t1", "amount": "2"},
                {"transaction_id": "t2"}, {"transaction_id": "t1", "amount": "3"}])
    valid, quarantine = validate_transactions(raw)
    assert valid["transaction_id"].tolist() == ["t1", "t2"]
    assert valid["amount"].tolist() == [1.0, 10.0]
    assert quarantine["reason"].tolist() == ["duplicate transaction_id"] * 2
    assert quarantine["amount"].tolist() == ["2", "3"]


def test_duplicate_of_an_invalid_row_is_kept():
    raw = _raw([{"transaction_id": "t1", "amount": "oops"}, {"transaction_id": "t1", "amount": "5"}])
    valid, quarantine = validate_transactions(raw)
    assert valid["amount"].tolist() == [5.0]
    assert quarantine["reason"].tolist() == ["unparseable amount"]


def test_max_amount_is_configurable():
    raw = _raw([{"transaction_id": "t1", "amount": "20000"}])
    _, quarantine = validate_transactions(raw, max_amount=10_000)
    assert quarantine["reason"].tolist() == ["amount above 10000"]


def test_csv_with_bom_and_spaces_in_header():
    text = "\ufeff transaction_id ,timestamp,sender_account,receiver_account,Amount\nt1,2024-01-05,A,B,3\n"
    valid, _ = validate_transactions(read_transactions(io.StringIO(text)))
    assert valid["amount"].tolist() == [3.0]


_cell = st.one_of(
    st.sampled_from(["", " ", "t1", "t2", "2024-02-30", "2024-01-05T10:00:00Z", "2024-01-05", "A", "B",
                     "-1", "0", "12.5", "1e12", "nan", "inf", "USD", "eur", "XYZ", "wire", "card", "bogus", "US"]),
    st.text(max_size=6),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({c: _cell for c in CANONICAL_COLUMNS}), max_size=25))
def test_every_row_lands_in_exactly_one_output(rows):
    raw = pd.DataFrame(rows, columns=CANONICAL_COLUMNS, dtype=object)
    valid, quarantine = validate_transactions(raw)
    assert len(valid) + len(quarantine) == len(raw)
    assert sorted(valid["source_row"].tolist() + quarantine["source_row"].tolist()) == list(range(1, len(raw) + 1))
    assert quarantine["reason"].notna().all()
    assert valid["transaction_id"].is_unique
    assert (valid["amount"] > 0).all() and valid["timestamp"].notna().all()


NOW = pd.Timestamp("2024-01-10T12:00:00Z")


def test_timestamp_in_the_future_is_quarantined_with_a_tolerance():
    from datetime import timedelta

    raw = _raw([{"transaction_id": "ok", "timestamp": "2024-01-11T11:00:00Z"},  # 23 h ahead: clock skew
                {"transaction_id": "late", "timestamp": "2024-01-11T13:00:00Z"},  # 25 h ahead
                {"transaction_id": "far", "timestamp": "2031-01-01"}])
    valid, quarantine = validate_transactions(raw, now=NOW)
    assert valid["transaction_id"].tolist() == ["ok"]
    assert quarantine["reason"].tolist() == ["timestamp in the future"] * 2
    valid, _ = validate_transactions(raw, now=NOW, future_tolerance=timedelta(days=2))
    assert valid["transaction_id"].tolist() == ["ok", "late"]


def test_self_transfer_is_quarantined_except_cash_movements():
    raw = _raw([{"transaction_id": "t1", "receiver_account": "A", "channel": "wire"},
                {"transaction_id": "t2", "receiver_account": "A", "channel": ""},
                {"transaction_id": "t3", "receiver_account": "A", "channel": "cash_deposit"},
                {"transaction_id": "t4", "receiver_account": "A", "channel": "CASH_WITHDRAWAL"}])
    valid, quarantine = validate_transactions(raw, now=NOW)
    assert valid["transaction_id"].tolist() == ["t3", "t4"]
    assert quarantine["reason"].tolist() == ["self-transfer", "self-transfer"]


def test_unknown_currency_and_widely_used_currencies():
    raw = _raw([{"transaction_id": "t1", "currency": "BRL"}, {"transaction_id": "t2", "currency": "XBT"}])
    valid, quarantine = validate_transactions(raw, now=NOW)
    assert valid["currency"].tolist() == ["BRL"]
    assert quarantine["reason"].tolist() == ["unknown currency XBT"]


def _bad_file(path, rows: int = 2000):
    """A CSV with one bad row of each kind spread through it, and duplicates far apart."""
    lines = ["transaction_id,timestamp,sender_account,receiver_account,amount,currency,channel"]
    for i in range(rows):
        lines.append(f"T{i},2024-01-0{1 + i % 9}T10:00:00Z,A{i % 37},B{i % 41},{10 + i % 500}.50,USD,wire")
    lines[5] = "T4,2024-01-02,A1,B1,-3,USD,wire"            # negative
    lines[50] = "T49,2024-01-02,A1,B1,0,USD,wire"           # zero
    lines[300] = "T299,2030-01-01,A1,B1,10,USD,wire"        # future
    lines[700] = "T699,2024-01-02,A1,A1,10,USD,ach"         # self-transfer
    lines[900] = "T899,2024-01-02,A1,B1,10,ZZZ,wire"        # unknown currency
    lines[1500] = "T10,2024-01-02,A1,B1,10,USD,wire"        # duplicate of row 11, in a later chunk
    lines[1999] = "T1500,2024-01-02,A1,B1,10,USD,wire"      # duplicate of a row in a much later chunk
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_streaming_equals_whole_file(tmp_path):
    from kyc_assets.monitoring.schema import iter_transactions

    path = _bad_file(tmp_path / "tx.csv")
    whole_valid, whole_quarantine = validate_transactions(read_transactions(path), now=NOW)
    chunks = list(iter_transactions(path, chunk_rows=128, now=NOW))
    assert len(chunks) == 16
    valid = pd.concat([v for v, _ in chunks], ignore_index=True)
    quarantine = pd.concat([q for _, q in chunks], ignore_index=True)
    pd.testing.assert_frame_equal(valid, whole_valid)
    pd.testing.assert_frame_equal(quarantine, whole_quarantine)
    reasons = dict(zip(quarantine["source_row"], quarantine["reason"], strict=True))
    assert reasons == {5: "non-positive amount", 50: "non-positive amount", 300: "timestamp in the future",
                       700: "self-transfer", 900: "unknown currency ZZZ", 1500: "duplicate transaction_id",
                       1999: "duplicate transaction_id"}


def test_large_file_streams_in_bounded_chunks_and_finds_duplicates_across_them(tmp_path):
    from kyc_assets.monitoring.schema import iter_transactions

    n = 300_000
    ids = pd.Series([f"T{i:07d}" for i in range(n)])
    ids.iloc[n - 1] = ids.iloc[3]  # the last row repeats an id of the first chunk
    ids.iloc[200_000] = ids.iloc[150_000]
    frame = pd.DataFrame({"transaction_id": ids, "timestamp": "2024-01-05T10:00:00Z", "sender_account": "A",
                          "receiver_account": "B", "amount": "12.50"})
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    sizes, valid_rows, dup_rows = [], 0, []
    for valid, quarantine in iter_transactions(path, chunk_rows=40_000, now=NOW):
        sizes.append(len(valid) + len(quarantine))
        valid_rows += len(valid)
        dup_rows += quarantine.loc[quarantine["reason"] == "duplicate transaction_id", "source_row"].tolist()
    assert max(sizes) == 40_000 and sum(sizes) == n
    assert valid_rows == n - 2 and dup_rows == [200_001, n]


def test_streaming_a_file_missing_a_column_fails_before_any_row(tmp_path):
    from kyc_assets.monitoring.schema import iter_transactions

    path = tmp_path / "tx.csv"
    path.write_text("transaction_id,timestamp,sender_account,amount\nT1,2024-01-01,A,5\n")
    with pytest.raises(TransactionSchemaError, match=r"^tx.csv: missing required column\(s\): receiver_account$"):
        next(iter_transactions(path))


def test_streaming_parquet(tmp_path):
    from kyc_assets.monitoring.schema import iter_transactions

    frame = pd.DataFrame({"transaction_id": [f"t{i}" for i in range(10)] + ["t0"],
                          "timestamp": pd.to_datetime(["2024-01-05 10:00"] * 11),
                          "sender_account": "A", "receiver_account": "B", "amount": 5.0})
    path = tmp_path / "tx.parquet"
    frame.to_parquet(path)
    chunks = list(iter_transactions(path, chunk_rows=4, now=NOW))
    assert [len(v) + len(q) for v, q in chunks] == [4, 4, 3]
    assert chunks[-1][1]["reason"].tolist() == ["duplicate transaction_id"]
    assert chunks[-1][1]["source_row"].tolist() == [11]
