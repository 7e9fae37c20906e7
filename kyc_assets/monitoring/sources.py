"""Transaction sources for the daily partitions: files (CSV, Parquet, folders) and SQL tables.

Plain Python, no Dagster. Every source yields raw chunks in the canonical schema; :func:`load_days`
keeps only the rows of the requested days *while streaming* (a cheap timestamp parse per chunk), then
validates just those rows with ``schema.validate_transactions``. A daily run over a large file thus reads
it once, sequentially, in bounded chunks, and validates one day of it rather than the whole file.

Partition rule (every row lands in exactly one day, nothing is dropped):

- a row whose timestamp parses and is not in the future belongs to its UTC day;
- a row whose timestamp is missing, unparseable or in the future belongs to the *fallback day*: the
  latest UTC day of a parseable, non-future timestamp in the source (it is quarantined there with its
  reason by the validator).

Validation runs per day (a fresh duplicate-id ledger per day): a duplicated transaction id is found
among the rows of its day, whatever range a run covers, so a day's result does not depend on whether it
was materialized alone or inside a backfill. (``kyc monitor`` validates a whole file at once instead.)

SQL tables are read with SQLAlchemy: the table is reflected, its name quoted by SQLAlchemy, and the day
range is a bound parameter of a ``WHERE`` clause, so neither configuration nor data ever becomes SQL
text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from kyc_assets.monitoring.schema import (
    DEFAULT_FUTURE_TOLERANCE,
    TransactionSchemaError,
    check_required_columns,
    iter_raw_transactions,
    validate_transactions,
)

FILE_SUFFIXES = (".csv", ".parquet", ".pq", ".csv.gz", ".tsv")
_DAY = "_partition_day"


def _utc(now: datetime | pd.Timestamp | None) -> pd.Timestamp:
    stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def parse_timestamps(column: pd.Series) -> pd.Series:
    """UTC timestamps of a raw timestamp column (NaT where missing or unparseable), as the validator parses."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return column.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.dt.tz_localize("UTC")
    text = column.astype(object).where(column.notna(), None).map(str, na_action="ignore")
    text = text.astype(pd.StringDtype("pyarrow")).fillna("").str.strip()
    return pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")


def row_days(raw: pd.DataFrame, latest_allowed: pd.Timestamp) -> pd.Series:
    """The UTC day (YYYY-MM-DD) of each raw row's timestamp; None when missing, unparseable or in the future."""
    ts = parse_timestamps(raw["timestamp"])
    ts = ts.where(ts <= latest_allowed)
    return ts.dt.strftime("%Y-%m-%d").astype(object).where(ts.notna(), None)


@dataclass
class DaySelection:
    """Rows of the requested days gathered from a stream, plus the fallback day of the whole source."""

    rows: pd.DataFrame
    fallback_day: str | None
    rows_scanned: int


def select_days(chunks: Iterable[pd.DataFrame], days: Sequence[str], *, now: datetime | pd.Timestamp | None = None,
                fallback_day: str | None = None, future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE
                ) -> DaySelection:
    """Keep, while streaming ``chunks``, the rows of ``days`` and the rows without a usable timestamp.

    ``fallback_day`` is computed from the stream (latest usable day seen) unless given (SQL sources,
    which only stream part of the table, ask the database for it).
    """
    wanted = set(days)
    latest_allowed = _utc(now) + pd.Timedelta(future_tolerance)
    kept: list[pd.DataFrame] = []
    latest: str | None = None
    scanned = 0
    for chunk in chunks:
        scanned += len(chunk)
        day = row_days(chunk, latest_allowed)
        if day.notna().any():
            top = day.dropna().max()
            latest = top if latest is None or top > latest else latest
        keep = (day.isin(wanted) | day.isna()).to_numpy()
        if keep.any():
            kept.append(chunk.loc[keep].assign(**{_DAY: day[keep].to_numpy()}))
    rows = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()
    return DaySelection(rows=rows, fallback_day=fallback_day if fallback_day is not None else latest,
                        rows_scanned=scanned)


def validate_days(selection: DaySelection, days: Sequence[str], **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate the selected rows day by day; returns ``(valid, quarantine)`` of ``days`` only.

    Rows without a usable timestamp go to the fallback day (kept only if it is one of ``days``).
    ``quarantine`` gets ``partition_date`` (UTC midnight of the day it belongs to).
    """
    rows = selection.rows
    if rows.empty:
        valid, quarantine = validate_transactions(_empty_raw(), **options)
        return valid, quarantine.assign(partition_date=pd.Series(dtype="datetime64[ns, UTC]"))
    day = rows[_DAY].fillna(selection.fallback_day) if selection.fallback_day else rows[_DAY]
    rows = rows.assign(**{_DAY: day})
    rows = rows[rows[_DAY].isin(set(days))]
    valids, quarantines = [], []
    for key, group in rows.groupby(_DAY, sort=True):
        valid, quarantine = validate_transactions(group.drop(columns=_DAY).reset_index(drop=True), **options)
        valids.append(valid)
        quarantines.append(quarantine.assign(partition_date=pd.Timestamp(key, tz="UTC")))
    if not valids:
        return validate_days(DaySelection(pd.DataFrame(), None, 0), days, **options)
    return (pd.concat(valids, ignore_index=True),
            pd.concat(quarantines, ignore_index=True).reset_index(drop=True))


def _empty_raw() -> pd.DataFrame:
    from kyc_assets.monitoring.schema import CANONICAL_COLUMNS

    return pd.DataFrame({c: pd.Series(dtype=object) for c in CANONICAL_COLUMNS})


# --- files -------------------------------------------------------------------------------------------


def source_files(path: str | Path) -> list[Path]:
    """The transaction files of a path: the file itself, or the CSV/Parquet files of a folder (sorted)."""
    path = Path(path)
    if not path.exists():
        raise TransactionSchemaError(f"transactions source {path} does not exist (set KYC_TRANSACTIONS_PATH)")
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(FILE_SUFFIXES))
    return [path]


def iter_file_chunks(path: str | Path, chunk_rows: int = 500_000) -> Iterator[pd.DataFrame]:
    """Raw chunks of every file of the source, in file order (memory bounded by ``chunk_rows``)."""
    for file in source_files(path):
        yield from iter_raw_transactions(file, chunk_rows)


def load_file_days(path: str | Path, days: Sequence[str], *, chunk_rows: int = 500_000,
                   now: datetime | pd.Timestamp | None = None, **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(valid, quarantine)`` of ``days`` from a file or folder source, streamed once."""
    now = _utc(now)
    selection = select_days(iter_file_chunks(path, chunk_rows), days, now=now)
    return validate_days(selection, days, now=now, **options)


# --- SQL tables --------------------------------------------------------------------------------------


def _table(engine, table: str, schema: str | None):
    import sqlalchemy as sa

    try:
        reflected = sa.Table(table, sa.MetaData(), schema=schema or None, autoload_with=engine)
    except sa.exc.NoSuchTableError:
        where = f"{schema}.{table}" if schema else table
        raise TransactionSchemaError(f"transactions table {where} does not exist") from None
    columns = {c.name.lower(): c for c in reflected.columns}
    check_required_columns(pd.DataFrame(columns=list(columns)), f"table {table}")
    return reflected, columns


def sql_day_bounds(days: Sequence[str]) -> tuple[date, date]:
    """The first and last day to fetch: the partition days widened by one day each side (time zones)."""
    parsed = sorted(date.fromisoformat(d) for d in days)
    return parsed[0] - timedelta(days=1), parsed[-1] + timedelta(days=1)


def load_sql_days(url: str, table: str, days: Sequence[str], *, schema: str | None = None,
                  chunk_rows: int = 500_000, now: datetime | pd.Timestamp | None = None, engine=None,
                  **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(valid, quarantine)`` of ``days`` from a SQL table in the canonical schema.

    Fetches only rows whose timestamp lies within the days (widened by a day each side, then assigned
    exactly by UTC day), plus rows without a usable timestamp, which belong to the table's fallback day.
    Works with a timestamp column typed as a timestamp or as ISO-8601 text.
    """
    import sqlalchemy as sa

    if not days:
        return validate_days(DaySelection(pd.DataFrame(), None, 0), days, **options)
    now = _utc(now)
    own_engine = engine is None
    engine = engine or sa.create_engine(url, future=True)
    try:
        reflected, columns = _table(engine, table, schema)
        ts = columns["timestamp"]
        lo, hi = sql_day_bounds(days)
        latest_allowed = now + pd.Timedelta(options.get("future_tolerance", DEFAULT_FUTURE_TOLERANCE))
        if isinstance(ts.type, sa.DateTime):
            start = datetime(lo.year, lo.month, lo.day, tzinfo=UTC)
            end = datetime(hi.year, hi.month, hi.day, tzinfo=UTC) + timedelta(days=1)
            in_range = sa.and_(ts >= start, ts < end)
            unusable = sa.or_(ts.is_(None), ts > latest_allowed.to_pydatetime())
            latest_sql = sa.select(sa.func.max(ts)).where(ts <= latest_allowed.to_pydatetime())
        else:  # ISO-8601 text: compare as text on the date prefix, shaped rows only
            shaped = ts.like("____-__-__%")
            in_range = sa.and_(shaped, sa.func.substr(ts, 1, 10) >= lo.isoformat(),
                               sa.func.substr(ts, 1, 10) <= hi.isoformat())
            unusable = sa.or_(ts.is_(None), sa.not_(shaped),
                              sa.func.substr(ts, 1, 10) > latest_allowed.strftime("%Y-%m-%d"))
            latest_sql = sa.select(sa.func.max(sa.func.substr(ts, 1, 10))).where(
                shaped, sa.func.substr(ts, 1, 10) <= latest_allowed.strftime("%Y-%m-%d"))
        order = [ts, columns["transaction_id"]]
        with engine.connect() as conn:
            latest = conn.execute(latest_sql).scalar()
            fallback = pd.Timestamp(latest).strftime("%Y-%m-%d") if latest is not None else None
            if isinstance(latest, datetime) and latest.tzinfo is not None:
                fallback = pd.Timestamp(latest).tz_convert("UTC").strftime("%Y-%m-%d")
            wanted = in_range if fallback not in set(days) else sa.or_(in_range, unusable)
            query = sa.select(reflected).where(wanted).order_by(*order)
            chunks = _sql_chunks(conn, query, chunk_rows, source=f"table {table}")
            selection = select_days(chunks, days, now=now, fallback_day=fallback,
                                    future_tolerance=options.get("future_tolerance", DEFAULT_FUTURE_TOLERANCE))
    finally:
        if own_engine:
            engine.dispose()
    return validate_days(selection, days, now=now, **options)


def _sql_chunks(conn, query, chunk_rows: int, source: str) -> Iterator[pd.DataFrame]:
    """The query's rows as raw frames of at most ``chunk_rows`` rows, numbered across the result."""
    result = conn.execution_options(stream_results=True).execute(query)
    names = [str(k).strip().lower() for k in result.keys()]  # noqa: SIM118 (a Result, not a dict)
    first = 1
    while True:
        rows = result.fetchmany(chunk_rows)
        if not rows:
            break
        frame = pd.DataFrame.from_records(rows, columns=names)
        frame["source_row"] = np.arange(first, first + len(frame), dtype=np.int64)
        frame["source_file"] = source
        first += len(frame)
        yield frame
