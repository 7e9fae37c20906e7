"""The content-addressed document store: integrity, optional at-rest encryption and key rotation."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from cryptography.fernet import Fernet

from kyc_assets.onboarding.store import ENCRYPTED_MAGIC, DocumentStore, DocumentStoreError, main, sha256_bytes
from kyc_assets.resources import DocumentStoreResource

SECRET = b"%PDF-1.4 passport of ERIKSSON ANNA MARIA L898902C3 born 1974-08-12"


def _all_stored_bytes(root) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_plaintext_store_round_trip_and_integrity(tmp_path):
    store = DocumentStore(tmp_path)
    sha = store.put(SECRET, original_name="a.pdf")
    assert sha == sha256_bytes(SECRET) and store.get(sha) == SECRET and not store.encrypted
    assert store.put(SECRET, original_name="again.pdf") == sha, "idempotent"
    assert store.meta(sha)["original_name"] == "a.pdf" and store.meta(sha)["encrypted"] is False
    store.path(sha).write_bytes(SECRET + b"x")
    with pytest.raises(DocumentStoreError, match="does not match its sha256"):
        store.get(sha)
    with pytest.raises(DocumentStoreError, match="not a sha256"):
        store.get("../../etc/passwd")


def test_encrypted_round_trip_keeps_the_plaintext_sha_and_no_plaintext_on_disk(tmp_path):
    key = Fernet.generate_key().decode()
    store = DocumentStore(tmp_path, key)
    sha = store.put(SECRET, original_name="passport.pdf")
    assert sha == sha256_bytes(SECRET), "the partition key is the hash of the plaintext"
    raw = store.path(sha).read_bytes()
    assert raw.startswith(ENCRYPTED_MAGIC)
    on_disk = _all_stored_bytes(tmp_path)
    assert b"ERIKSSON" not in on_disk and b"L898902C3" not in on_disk and b"%PDF" not in on_disk
    assert store.get(sha) == SECRET
    assert store.meta(sha)["encrypted"] is True
    assert list(store.keys()) == [sha]


def test_rotation_re_encrypts_under_the_newest_key_and_old_key_can_then_go(tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    legacy = DocumentStore(tmp_path)  # stored before encryption was turned on
    plain_sha = legacy.put(b"plaintext era document", original_name="old.png")
    first = DocumentStore(tmp_path, old)
    shas = [first.put(SECRET + bytes([i]), original_name=f"d{i}.pdf") for i in range(3)]

    both = DocumentStore(tmp_path, f" {new} , {old} ")  # newest first, blanks tolerated
    assert both.get(shas[0]) == SECRET + b"\x00", "reads accept every configured key"
    newer = both.put(b"written after the new key", original_name="n.pdf")
    assert DocumentStore(tmp_path, new).get(newer) == b"written after the new key", "writes use the newest key"
    with pytest.raises(DocumentStoreError, match="cannot be decrypted"):
        DocumentStore(tmp_path, old).get(newer)

    before = {sha: both.path(sha).read_bytes() for sha in shas}
    report = both.rotate()
    assert (report.rotated, report.encrypted, report.unchanged) == (3, 1, 1)
    assert all(both.path(sha).read_bytes() != before[sha] for sha in shas)
    only_new = DocumentStore(tmp_path, new)
    for i, sha in enumerate(shas):
        assert only_new.get(sha) == SECRET + bytes([i])
    assert only_new.get(plain_sha) == b"plaintext era document"
    assert both.path(plain_sha).read_bytes().startswith(ENCRYPTED_MAGIC)
    assert sorted(only_new.keys()) == sorted([*shas, plain_sha, newer]), "keys and sha256s never change"
    assert only_new.rotate().unchanged == 5


def test_wrong_or_missing_key_gives_a_clear_error_without_leaking_the_key(tmp_path):
    sha = DocumentStore(tmp_path, Fernet.generate_key().decode()).put(SECRET, original_name="p.pdf")
    wrong = Fernet.generate_key().decode()
    with pytest.raises(DocumentStoreError, match="none of the keys in KYC_DOCUMENT_KEYS fits") as info:
        DocumentStore(tmp_path, wrong).get(sha)
    assert wrong not in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DocumentStoreError, match="encrypted but no keys are configured"):
        DocumentStore(tmp_path).get(sha)
    with pytest.raises(DocumentStoreError, match="entry 2 is not a valid Fernet key") as info:
        DocumentStore(tmp_path, f"{wrong},not-a-key-123")
    assert "not-a-key-123" not in str(info.value)
    with pytest.raises(DocumentStoreError, match="rotation needs encryption keys"):
        DocumentStore(tmp_path).rotate()


def test_tampered_ciphertext_is_refused(tmp_path):
    key = Fernet.generate_key().decode()
    store = DocumentStore(tmp_path, key)
    sha = store.put(SECRET, original_name="p.pdf")
    raw = bytearray(store.path(sha).read_bytes())
    raw[-5] = ord("A") if raw[-5] != ord("A") else ord("B")
    store.path(sha).write_bytes(bytes(raw))
    with pytest.raises(DocumentStoreError, match="cannot be decrypted"):
        store.get(sha)


def test_resource_reads_keys_through_env_var_and_store_rotate_command(tmp_path, monkeypatch, capsys):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("KYC_DOCUMENT_KEYS", key)
    resource = DocumentStoreResource(store_dir=str(tmp_path / "store"), inbox_dir=str(tmp_path / "in"),
                                     quarantine_dir=str(tmp_path / "q"),
                                     encryption_keys=dg.EnvVar("KYC_DOCUMENT_KEYS"))

    @dg.asset
    def stored(documents: DocumentStoreResource) -> str:
        return documents.store().put(SECRET, original_name="x.pdf")

    result = dg.materialize([stored], resources={"documents": resource}, instance=dg.DagsterInstance.ephemeral())
    sha = result.output_for_node("stored")
    assert DocumentStore(tmp_path / "store", key).get(sha) == SECRET
    assert b"ERIKSSON" not in _all_stored_bytes(tmp_path / "store")
    run_config = json.dumps(result.dagster_run.run_config)
    assert key not in run_config, "the secret stays out of the run's config"

    newest = Fernet.generate_key().decode()
    monkeypatch.setenv("KYC_DOCUMENT_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("KYC_DOCUMENT_KEYS", f"{newest},{key}")
    assert main(["rotate"]) == 0
    assert "rotated=1" in capsys.readouterr().out
    assert DocumentStore(tmp_path / "store", newest).get(sha) == SECRET


def test_definitions_load_with_an_empty_environment_and_encrypt_when_keys_are_set(kyc_env, monkeypatch):
    from kyc_assets.definitions import build_definitions, build_resources
    from kyc_assets.settings import Settings

    monkeypatch.delenv("KYC_DOCUMENT_KEYS", raising=False)
    build_definitions(Settings.from_env())
    assert build_resources(Settings.from_env())["documents"].encryption_keys is None
    monkeypatch.setenv("KYC_DOCUMENT_KEYS", Fernet.generate_key().decode())
    keys = build_resources(Settings.from_env())["documents"].encryption_keys
    assert isinstance(keys, dg.EnvVar) and keys.env_var_name == "KYC_DOCUMENT_KEYS"
