"""The warehouse in Dagster: the IO manager every asset table goes through (Delta Lake, via
dagster-deltalake's IO manager and config), and the resource its readers use (the same location and
credentials), both built from the settings in one place (:func:`build_storage_resources`).

dagster-deltalake-pandas's own type handler is not used: it Hive-partitions a table by the partition
column (one folder per value: per document, or per transaction timestamp), selects a time window by its
start value only, and refuses a range of keys. :class:`DeltaPandasTypeHandler` instead replaces exactly
the rows of the run's partition(s) (a key list or a time range) with a predicate overwrite, in one
Delta commit, so that runs of different partitions commit concurrently and a rewrite replaces only its
own partition.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import pandas as pd
from dagster._core.definitions.metadata import TableMetadataSet
from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler, TableSlice
from dagster_deltalake import DeltaLakeIOManager
from dagster_deltalake.config import ClientConfig, LocalConfig, S3Config
from dagster_deltalake.io_manager import DeltaLakeDbClient
from pydantic import Field

from kyc_assets.storage.options import ObjectStoreOptions, is_remote
from kyc_assets.storage.warehouse import Warehouse, partition_filter, to_arrow


def _warehouse_of(connection, table_slice: TableSlice, resource_config: dict) -> Warehouse:
    root = connection.table_uri[: -len(f"/{table_slice.schema}/{table_slice.table}")]
    options = dict(connection.storage_options)
    if is_remote(root) and resource_config.get("conditional_put"):
        options.setdefault("conditional_put", resource_config["conditional_put"])
    return Warehouse(root, schema=table_slice.schema, storage_options=options)


class DeltaPandasTypeHandler(DbTypeHandler[pd.DataFrame]):
    """pandas DataFrames as Delta tables; a partitioned output replaces only its partition's rows. With a
    ``cipher`` (KYC_WAREHOUSE_PII_KEYS, resources/warehouse_pii.py) PII columns are encrypted on write and
    decrypted on read."""

    def __init__(self, cipher=None):
        self.cipher = cipher

    def handle_output(self, context: dg.OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection):
        warehouse = _warehouse_of(connection, table_slice, context.resource_config or {})
        table = table_slice.table
        data = to_arrow(self.cipher.protect(obj) if self.cipher is not None else obj)
        predicate = None
        if table_slice.partition_dimensions:
            schema = data.schema if data.num_columns else (
                warehouse.dataset(table).schema if warehouse.exists(table) else data.schema)
            predicate, _ = partition_filter(table_slice.partition_dimensions, schema)
        if data.num_columns == 0:
            # Nothing to store and no columns to create a table with: clear the slice if it exists.
            if warehouse.exists(table):
                warehouse.delete(table, predicate)
            context.log.warning(f"{table_slice.schema}.{table}: empty output without columns, nothing written")
        else:
            version = warehouse.write(table, data, predicate=predicate)
            context.add_output_metadata({"table_uri": warehouse.table_uri(table), "delta_version": version})
        context.add_output_metadata({
            **(TableMetadataSet(partition_row_count=obj.shape[0], storage_kind="deltalake")
               if context.has_partition_key else TableMetadataSet(row_count=obj.shape[0],
                                                                     storage_kind="deltalake")),
            "dataframe_columns": dg.MetadataValue.table_schema(dg.TableSchema(
                columns=[dg.TableColumn(name=str(name), type=str(dtype)) for name, dtype in obj.dtypes.items()])),
        })

    def load_input(self, context: dg.InputContext, table_slice: TableSlice, connection) -> pd.DataFrame:
        if table_slice.partition_dimensions and len(context.asset_partition_keys) == 0:
            return pd.DataFrame()
        warehouse = _warehouse_of(connection, table_slice, context.resource_config or {})
        dataset = warehouse.dataset(table_slice.table)  # LookupError "... does not exist" when never written
        where = None
        if table_slice.partition_dimensions:
            _, where = partition_filter(table_slice.partition_dimensions, dataset.schema)
        frame = warehouse.read(table_slice.table, columns=list(table_slice.columns) if table_slice.columns else None,
                               where=where, dataset=dataset)
        return self.cipher.reveal(frame) if self.cipher is not None else frame

    @property
    def supported_types(self):
        return [pd.DataFrame]


class WarehouseIOManager(DeltaLakeIOManager):
    """Asset values as Delta tables under ``root_uri/<schema>/<asset>`` (schema ``kyc``): a local folder by
    default, ``s3://bucket/prefix`` with ``storage_options=S3Config(...)`` in production."""

    root_uri: str = Field(description="Folder or object-store URL of the warehouse (KYC_WAREHOUSE_URL).")
    storage_options: LocalConfig | S3Config = Field(default_factory=LocalConfig, discriminator="provider")
    schema_: str | None = Field(default="kyc", alias="schema")
    conditional_put: str = Field(default="etag", description="S3 commit protocol (KYC_STORAGE_CONDITIONAL_PUT).")
    pii_keys: str | None = Field(default=None, description="KYC_WAREHOUSE_PII_KEYS (dg.EnvVar): encrypt PII columns.")

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [DeltaPandasTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pd.DataFrame

    def create_io_manager(self, context) -> DbIOManager:
        cipher = None
        if self.pii_keys:
            from kyc_assets.resources.warehouse_pii import WarehouseCipher

            cipher = WarehouseCipher(self.pii_keys)
        return DbIOManager(db_client=DeltaLakeDbClient(), database="deltalake", schema=self.schema_,
                           type_handlers=[DeltaPandasTypeHandler(cipher)], default_load_type=pd.DataFrame,
                           io_manager_name="WarehouseIOManager")


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse for readers outside the IO manager's load path (screening state, the model's feature
    windows and validation, the demo summary): the same location and credentials as the IO manager.
    Secrets (``access_key_id``, ``secret_access_key``) come from ``dg.EnvVar`` only."""

    root_uri: str
    schema_name: str = "kyc"
    endpoint_url: str = ""
    region: str = ""
    access_key_id: str | None = None
    secret_access_key: str | None = None
    allow_http: bool = False
    conditional_put: str = "etag"

    def options(self) -> ObjectStoreOptions:
        return ObjectStoreOptions(endpoint_url=self.endpoint_url, region=self.region,
                                  access_key_id=self.access_key_id, secret_access_key=self.secret_access_key,
                                  allow_http=self.allow_http, conditional_put=self.conditional_put)

    def warehouse(self) -> Warehouse:
        return Warehouse(self.root_uri, self.options(), schema=self.schema_name)


class ObjectStoreResource(dg.ConfigurableResource):
    """How to reach the object store that holds files (documents, inbox, quarantine) when their locations
    are ``s3://`` URLs; unused for local folders. Keys come from ``dg.EnvVar`` only."""

    endpoint_url: str = ""
    region: str = ""
    access_key_id: str | None = None
    secret_access_key: str | None = None
    allow_http: bool = False
    conditional_put: str = "etag"

    def options(self) -> ObjectStoreOptions:
        return ObjectStoreOptions(endpoint_url=self.endpoint_url, region=self.region,
                                  access_key_id=self.access_key_id, secret_access_key=self.secret_access_key,
                                  allow_http=self.allow_http, conditional_put=self.conditional_put)


def object_store_fields(settings) -> dict:
    """Connection settings of the object store from ``settings``; the keys as ``dg.EnvVar`` when set."""
    fields = {"endpoint_url": settings.storage_endpoint_url, "region": settings.storage_region,
              "allow_http": settings.storage_allow_http, "conditional_put": settings.storage_conditional_put}
    if settings.storage_keys_set:
        fields["access_key_id"] = dg.EnvVar("AWS_ACCESS_KEY_ID")
        fields["secret_access_key"] = dg.EnvVar("AWS_SECRET_ACCESS_KEY")
    return fields


def warehouse_io_manager_fields(settings) -> dict:
    """Keyword arguments of :class:`WarehouseIOManager` (or a subclass) for the configured warehouse."""
    url = settings.warehouse_url
    pii = {"pii_keys": dg.EnvVar("KYC_WAREHOUSE_PII_KEYS")} if getattr(settings, "warehouse_pii_keys_set", False) \
        else {}
    if not is_remote(url):
        return {"root_uri": url, "schema": "kyc", **pii}
    if not url.startswith(("s3://", "s3a://")):
        raise ValueError(f"KYC_WAREHOUSE_URL: only local folders and s3:// URLs are wired up, not {url.split(':')[0]}")
    store = object_store_fields(settings)
    s3 = {"region": store["region"] or None, "endpoint": store["endpoint_url"] or None,
          "access_key_id": store.get("access_key_id"), "secret_access_key": store.get("secret_access_key")}
    client = ClientConfig(allow_http=True) if store["allow_http"] or store["endpoint_url"].startswith("http://") \
        else None
    return {"root_uri": url, "schema": "kyc", "storage_options": S3Config(**{k: v for k, v in s3.items() if v}),
            "client_options": client, "conditional_put": store["conditional_put"], **pii}


def build_storage_resources(settings) -> dict:
    """``io_manager`` and ``warehouse``: the one place that points asset tables at a folder or a bucket."""
    return {"io_manager": WarehouseIOManager(**warehouse_io_manager_fields(settings)),
            "warehouse": build_warehouse_resource(settings)}


def build_warehouse_resource(settings) -> WarehouseResource:
    return WarehouseResource(root_uri=settings.warehouse_url, **object_store_fields(settings))
