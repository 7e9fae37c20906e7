"""The file store: the same calls on a local folder and on an S3-compatible server (moto on 127.0.0.1):
atomic writes, listing an inbox prefix (nested, hidden files skipped), moves to quarantine, and the
content-addressed document store (encrypted, hash-checked) on an object store."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from kyc_assets.onboarding.store import DocumentStore, DocumentStoreError, sha256_bytes
from kyc_assets.storage import FileStore, ObjectStoreOptions, list_files


@pytest.fixture(scope="module")
def s3():
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = ObjectStoreOptions(endpoint_url=f"http://{host}:{port}", region="us-east-1",
                                 access_key_id="test-key", secret_access_key="test-secret")
    boto3.client("s3", endpoint_url=options.endpoint_url, region_name="us-east-1", aws_access_key_id="test-key",
                 aws_secret_access_key="test-secret").create_bucket(Bucket="kyc-files")
    yield options
    server.stop()


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path):
    """A file-store root and its options: a local folder, or a prefix on the moto server."""
    if request.param == "local":
        return str(tmp_path / "files"), None
    options = request.getfixturevalue("s3")
    return f"s3://kyc-files/{tmp_path.name}", options


def test_inbox_listing_reading_and_quarantine_moves(root):
    url, options = root
    inbox, quarantine = FileStore(f"{url}/inbox", options), FileStore(f"{url}/quarantine", options)
    assert list_files(inbox.root, options) == [], "a missing prefix lists as empty"
    inbox.write_bytes("a.png", b"png-bytes")
    inbox.write_bytes("batch/b.pdf", [b"%PDF", b"-1.7"])
    inbox.write_bytes(".c.png.123.tmp", b"half")  # an upload in progress is not listed
    entries = list_files(inbox.root, options)
    assert [(e.name, e.size) for e in entries] == [("a.png", 9), ("batch/b.pdf", 8)]
    assert entries[1].url == f"{inbox.root}/batch/b.pdf" and entries[0].modified is not None
    assert inbox.read_bytes("batch/b.pdf") == b"%PDF-1.7"
    moved = inbox.move("a.png", quarantine, "a.png")
    assert moved.endswith("quarantine/a.png") and not inbox.exists("a.png")
    assert quarantine.read_bytes("a.png") == b"png-bytes"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        inbox.read_bytes("a.png")
    with pytest.raises(ValueError, match="leaves the store"):
        inbox.path("../outside")


def test_the_document_store_on_either_store_is_content_addressed_encrypted_and_checked(root):
    url, options = root
    key = Fernet.generate_key().decode()
    store = DocumentStore(f"{url}/documents", key, options=options)
    data = b"%PDF-1.7 a passport scan"
    sha = store.put(data, original_name="passport.pdf")
    assert sha == sha256_bytes(data) and store.put(data, original_name="again.pdf") == sha  # idempotent
    assert store.get(sha) == data and store.meta(sha)["original_name"] == "passport.pdf"
    assert list(store.keys()) == [sha]
    raw = FileStore(f"{url}/documents", options).read_bytes(f"{sha[:2]}/{sha}")
    assert data not in raw, "no plaintext at rest"
    assert store.url(sha) == f"{url}/documents/{sha[:2]}/{sha}" or not url.startswith("s3://")
    FileStore(f"{url}/documents", options).write_bytes(f"{sha[:2]}/{sha}", raw[:-4] + b"AAAA")
    with pytest.raises(DocumentStoreError, match="cannot be decrypted"):
        store.get(sha)


def test_settings_put_every_file_kind_under_the_storage_url():
    from kyc_assets.settings import Settings

    settings = Settings.from_env({"KYC_HOME": "/srv/kyc", "KYC_STORAGE_URL": "s3://bank-kyc/prod/"})
    assert (settings.inbox_url, settings.document_store_url, settings.quarantine_url, settings.warehouse_url) == (
        "s3://bank-kyc/prod/inbox", "s3://bank-kyc/prod/documents", "s3://bank-kyc/prod/quarantine",
        "s3://bank-kyc/prod/warehouse")
    local = Settings.from_env({"KYC_HOME": "/srv/kyc"})
    assert (local.inbox_url, local.warehouse_url) == ("/srv/kyc/inbox", "/srv/kyc/warehouse")
    with pytest.raises(ValueError, match="object-store URL"):
        Settings.from_env({"KYC_STORAGE_URL": "/just/a/folder"})
    with pytest.raises(ValueError, match="both"):
        Settings.from_env({"AWS_ACCESS_KEY_ID": "x"})
