"""How to reach an object store: one set of options for Delta Lake (delta-rs / object_store) and fsspec."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def is_remote(location: str | Path) -> bool:
    """True for an object-store URL (``s3://``, ``gs://``, ``az://``, ``abfs://`` ...), False for a local path
    or a ``file://`` URL."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def local_path(location: str | Path) -> Path:
    """The local folder of a local location (a plain path or a ``file://`` URL)."""
    text = str(location)
    return Path(text.removeprefix("file://")) if text.startswith("file://") else Path(text)


@dataclass(frozen=True)
class ObjectStoreOptions:
    """Connection settings of an S3-compatible store (AWS S3, MinIO, Ceph, moto). Empty fields are left to
    the client's defaults (for AWS: the instance role, then the standard credential chain).

    ``conditional_put``: how delta-rs makes a commit atomic on S3. ``etag`` uses conditional writes
    (``If-None-Match``), which AWS S3 (since 2024), MinIO and R2 support, so concurrent writers on many
    machines commit safely without a DynamoDB lock table; ``""`` falls back to delta-rs's default (which
    refuses concurrent writers on S3 unless a locking provider is configured)."""

    endpoint_url: str = ""
    region: str = ""
    access_key_id: str | None = None
    secret_access_key: str | None = None
    allow_http: bool = False
    conditional_put: str = "etag"

    def delta(self, location: str | Path) -> dict[str, str]:
        """``storage_options`` for deltalake (object_store keys)."""
        if not is_remote(location):
            return {}
        out: dict[str, str] = {}
        if self.endpoint_url:
            out["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.region:
            out["AWS_REGION"] = self.region
        if self.access_key_id:
            out["AWS_ACCESS_KEY_ID"] = self.access_key_id
        if self.secret_access_key:
            out["AWS_SECRET_ACCESS_KEY"] = self.secret_access_key
        if self.allow_http or self.endpoint_url.startswith("http://"):
            out["AWS_ALLOW_HTTP"] = "true"
        if self.conditional_put:
            out["conditional_put"] = self.conditional_put
        return out

    def fsspec(self, location: str | Path) -> dict:
        """Keyword arguments for fsspec / universal-pathlib (s3fs)."""
        if not is_remote(location):
            return {}
        out: dict = {}
        if self.access_key_id:
            out["key"] = self.access_key_id
        if self.secret_access_key:
            out["secret"] = self.secret_access_key
        client: dict = {}
        if self.endpoint_url:
            client["endpoint_url"] = self.endpoint_url
        if self.region:
            client["region_name"] = self.region
        if client:
            out["client_kwargs"] = client
        return out
