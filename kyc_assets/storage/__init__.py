"""Shared storage: asset tables in Delta Lake (``warehouse``) and files behind fsspec URLs (``filestore``).

Both take a location that is a local folder (the embedded default, under ``KYC_HOME``) or an object-store
URL (``s3://bucket/prefix`` in production) and the same :class:`ObjectStoreOptions`; nothing here imports
Dagster, so the CLI, the dashboard and the tests use the same code as the assets.
"""

from kyc_assets.storage.filestore import FileEntry, FileStore, list_files
from kyc_assets.storage.options import ObjectStoreOptions, is_remote
from kyc_assets.storage.warehouse import Warehouse, WarehouseUnavailable, as_warehouse

__all__ = ["FileEntry", "FileStore", "ObjectStoreOptions", "Warehouse", "WarehouseUnavailable", "as_warehouse",
           "is_remote", "list_files"]
