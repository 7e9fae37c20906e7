"""The warehouse: one Delta Lake table per asset under ``<root>/<schema>/<table>``.

The root is a local folder (the embedded default) or an object-store URL (``s3://bucket/warehouse``); the
same code runs on both. Writers on many processes and machines commit concurrently: a write replaces the
rows its predicate selects (one partition, a range of partitions, or the whole table) in one Delta commit,
and delta-rs rebases a commit over concurrent ones that touched other partitions. Readers (screening state,
the model's feature windows, the dashboard, the demo summary, the case export) use :meth:`Warehouse.read`
or :meth:`Warehouse.connect`, a DuckDB connection whose ``kyc.<table>`` views scan the Delta tables
through Arrow, so their SQL is the same as when the warehouse was a DuckDB file.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from kyc_assets.storage.options import ObjectStoreOptions, is_remote, local_path

COMMIT_ATTEMPTS = 5
# Explicit retries after a commit conflict delta-rs could not resolve itself (process-wide, for the bench).
stats = {"commits": 0, "retries": 0}


class WarehouseUnavailable(RuntimeError):
    """The warehouse (or one of its tables) cannot be read."""


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (DuckDB and DataFusion)."""
    return '"' + str(name).replace('"', '""') + '"'


def sql_literal(value: str) -> str:
    """A single-quoted SQL string literal (delta-rs predicates take no bind parameters)."""
    return "'" + str(value).replace("'", "''") + "'"


# -- pandas -> Arrow, in types Delta accepts ---------------------------------------------------------------

def _delta_type(t: pa.DataType) -> pa.DataType:
    """The nearest type Delta stores: no null, unsigned, dictionary, nanosecond or empty-struct types."""
    if pa.types.is_null(t):
        return pa.string()
    if pa.types.is_dictionary(t):
        return _delta_type(t.value_type)
    if pa.types.is_unsigned_integer(t):
        return pa.int64()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz else None)
    if pa.types.is_time(t) or pa.types.is_duration(t):
        return pa.int64()
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_delta_type(t.value_type))
    if pa.types.is_struct(t):
        if t.num_fields == 0:
            return pa.string()
        return pa.struct([pa.field(f.name, _delta_type(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(_delta_type(t.key_type), _delta_type(t.item_type))
    return t


def _json_text(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as an Arrow table Delta can store. An object column Arrow cannot type (mixed values, empty
    structs) is stored as JSON text; an all-empty column as text."""
    columns, names = [], []
    for name in frame.columns:
        series = frame[name]
        try:
            array = pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            array = pa.array([_json_text(v) for v in series], type=pa.string())
        target = _delta_type(array.type)
        if target != array.type:
            try:
                array = array.cast(target, safe=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                array = pa.array([_json_text(v) for v in series], type=pa.string())
        columns.append(array)
        names.append(str(name))
    return pa.Table.from_arrays(columns, names=names) if names else pa.table({})


# -- partition predicates --------------------------------------------------------------------------------

def _bound(field_type: pa.DataType, moment: datetime, day_aligned: bool):
    """(SQL literal, Arrow scalar) of a time-window bound for a column of ``field_type``."""
    naive = moment.replace(tzinfo=None)
    if pa.types.is_timestamp(field_type):
        text = naive.strftime("%Y-%m-%d %H:%M:%S")
        scalar_value = moment if field_type.tz else naive
        return sql_literal(text), pa.scalar(scalar_value, type=field_type)
    if pa.types.is_date(field_type):
        return sql_literal(naive.date().isoformat()), pa.scalar(naive.date(), type=field_type)
    # Text: ISO dates and timestamps sort as text; a day-aligned window compares by the date alone
    # ('2026-01-01' and '2026-01-01T10:00:00Z' both fall in [2026-01-01, 2026-01-02)).
    text = naive.date().isoformat() if day_aligned else naive.strftime("%Y-%m-%d %H:%M:%S")
    return sql_literal(text), pa.scalar(text, type=pa.string())


def partition_filter(dimensions: Sequence, schema: pa.Schema) -> tuple[str, object] | None:
    """The rows of a Dagster table slice's partition dimensions (``TablePartitionDimension``: a time window
    or a list of keys), as (delta-rs SQL predicate, pyarrow expression); None when there are none.

    Raises ValueError when a partition column is not in ``schema``."""
    import pyarrow.compute as pc

    sql_parts, expressions = [], []
    for dim in dimensions or ():
        column = str(dim.partition_expr).strip().strip('"')
        if column not in schema.names:
            raise ValueError(f"partition column {column!r} is not a column of the table")
        field_type = schema.field(column).type
        partitions = dim.partitions
        if hasattr(partitions, "start") and hasattr(partitions, "end"):  # a TimeWindow (one day or a range)
            start, end = partitions.start, partitions.end
            aligned = all(m.hour == m.minute == m.second == m.microsecond == 0 for m in (start, end))
            lo_sql, lo = _bound(field_type, start, aligned)
            hi_sql, hi = _bound(field_type, end, aligned)
            sql_parts.append(f"{quote_ident(column)} >= {lo_sql} AND {quote_ident(column)} < {hi_sql}")
            expressions.append((pc.field(column) >= lo) & (pc.field(column) < hi))
        else:
            keys = [str(k) for k in partitions]
            if not keys:
                raise ValueError(f"no partition keys for column {column!r}")
            sql_parts.append(f"{quote_ident(column)} IN ({', '.join(sql_literal(k) for k in keys)})")
            expressions.append(pc.field(column).isin(pa.array(keys, type=pa.string()).cast(field_type)))
    if not sql_parts:
        return None
    expression = expressions[0]
    for more in expressions[1:]:
        expression = expression & more
    return " AND ".join(f"({p})" for p in sql_parts), expression


# -- the warehouse ---------------------------------------------------------------------------------------

class Warehouse:
    """Delta tables under ``root`` (a local folder or an object-store URL), schema ``schema``."""

    def __init__(self, root: str | Path, options: ObjectStoreOptions | None = None, schema: str = "kyc", *,
                 storage_options: dict[str, str] | None = None):
        """``storage_options``: delta-rs options as given (the IO manager's), instead of ``options``."""
        self.root = str(root).rstrip("/")
        self.options = options or ObjectStoreOptions()
        self.schema = schema
        self._storage_options = storage_options

    def __repr__(self) -> str:
        return f"Warehouse({self.root!r})"

    @property
    def remote(self) -> bool:
        return is_remote(self.root)

    @property
    def storage_options(self) -> dict[str, str]:
        if self._storage_options is not None:
            return dict(self._storage_options)
        return self.options.delta(self.root)

    def table_uri(self, table: str) -> str:
        if not table or "/" in table or table.startswith("."):
            raise ValueError(f"not a table name: {table!r}")
        if self.remote:
            return f"{self.root}/{self.schema}/{table}"
        return str(local_path(self.root).resolve() / self.schema / table)

    def _delta(self, table: str):
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            return DeltaTable(self.table_uri(table), storage_options=self.storage_options)
        except TableNotFoundError as exc:
            raise LookupError(f"table {self.schema}.{table} does not exist in the warehouse") from exc

    def exists(self, table: str) -> bool:
        try:
            self._delta(table)
            return True
        except LookupError:
            return False

    def tables(self) -> list[str]:
        """Names of the Delta tables in the schema (folders holding a ``_delta_log``)."""
        from kyc_assets.storage.filestore import FileStore

        folder = FileStore(f"{self.root}/{self.schema}", self.options)
        return sorted(e.name.rstrip("/") for e in folder.list("", recursive=False, directories=True)
                      if folder.exists(f"{e.name.rstrip('/')}/_delta_log"))

    def version(self, table: str) -> int:
        return int(self._delta(table).version())

    def dataset(self, table: str):
        """The table's current version as a ``pyarrow.dataset.Dataset`` (lazy; filters push down)."""
        return self._delta(table).to_pyarrow_dataset()

    def read(self, table: str, *, columns: list[str] | None = None, where=None, dataset=None) -> pd.DataFrame:
        """The table (or the ``columns``, rows matching the pyarrow expression ``where``) as pandas."""
        data = self.dataset(table) if dataset is None else dataset
        if where is not None:
            data = data.filter(where)
        return data.to_table(columns=columns).to_pandas()

    def write(self, table: str, frame: pd.DataFrame | pa.Table, *, predicate: str | None = None,
              mode: str = "overwrite") -> int:
        """Replace the rows ``predicate`` selects (every row when None) with ``frame``, in one commit; returns
        the new table version. Columns the table lacks are added (schema merge). A conflict delta-rs could
        not rebase (another writer replaced the same rows) is retried with backoff."""
        from deltalake import write_deltalake
        from deltalake.exceptions import CommitFailedError

        data = frame if isinstance(frame, pa.Table) else to_arrow(frame)
        uri = self.table_uri(table)
        if not self.remote:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                if predicate is not None and mode == "overwrite" and not self.exists(table):
                    write_deltalake(uri, data, mode="append", schema_mode="merge",
                                    storage_options=self.storage_options)
                else:
                    write_deltalake(uri, data, mode=mode, predicate=predicate,
                                    schema_mode="merge" if predicate is not None or mode == "append" else "overwrite",
                                    storage_options=self.storage_options)
                stats["commits"] += 1
                return self.version(table)
            except CommitFailedError:
                if attempt == COMMIT_ATTEMPTS:
                    raise
                stats["retries"] += 1
                time.sleep(min(5.0, 0.1 * 2 ** attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def delete(self, table: str, predicate: str | None = None) -> None:
        """Delete the rows ``predicate`` selects (every row when None), in one commit."""
        self._delta(table).delete(predicate)

    @contextlib.contextmanager
    def connect(self, tables: Sequence[str] | None = None) -> Iterator:
        """An in-memory DuckDB connection with a view ``<schema>.<table>`` over each Delta table (every table,
        or the named ones that exist); closed on exit. Read-only by construction: writes go through
        :meth:`write` (the IO manager)."""
        import duckdb

        names = self.tables() if tables is None else [t for t in tables if self.exists(t)]
        con = duckdb.connect()
        try:
            con.execute(f"CREATE SCHEMA {quote_ident(self.schema)}")
            for name in names:
                hidden = f"__delta_{self.schema}_{name}"
                con.register(hidden, self.dataset(name))
                con.execute(f"CREATE VIEW {quote_ident(self.schema)}.{quote_ident(name)} AS "
                            f"SELECT * FROM {quote_ident(hidden)}")
            yield con
        finally:
            con.close()


def as_warehouse(location) -> Warehouse:
    """A :class:`Warehouse` from a Warehouse, or from a local folder / URL (default object-store options)."""
    if isinstance(location, Warehouse):
        return location
    if location is None or str(location) == "":
        raise WarehouseUnavailable("no warehouse is configured")
    return Warehouse(location)



def import_duckdb(database: str | Path, warehouse: Warehouse, schema: str = "kyc") -> list[str]:
    """Copy every table of ``schema`` in a DuckDB file (the warehouse before Delta Lake) into ``warehouse``;
    returns the table names. Each table replaces the Delta table of the same name."""
    import duckdb

    copied = []
    with duckdb.connect(str(database), read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
                                           "ORDER BY table_name", [schema]).fetchall()]
        for name in names:
            warehouse.write(name, to_arrow(con.execute(f"SELECT * FROM {quote_ident(schema)}.{quote_ident(name)}").df()))
            copied.append(name)
    return copied


def main(argv: list[str] | None = None) -> int:
    """``python -m kyc_assets.storage.warehouse import-duckdb FILE``: move a DuckDB warehouse (schema ``kyc``)
    into the configured Delta warehouse (KYC_WAREHOUSE_URL)."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "import-duckdb":
        print("usage: python -m kyc_assets.storage.warehouse import-duckdb FILE", file=sys.stderr)
        return 2
    from kyc_assets.settings import warehouse

    target = warehouse()
    names = import_duckdb(argv[1], target)
    print(f"imported {len(names)} table(s) into {target.root}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
