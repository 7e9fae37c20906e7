"""The `kyc case ...`, `kyc trace` and `kyc audit verify` commands, end to end on a temporary KYC_HOME."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
import sqlalchemy as sa

from kyc_assets.cases.analysts import hash_password
from kyc_assets.cases.escalation import CaseCandidate, Evidence
from kyc_assets.cases.store import CaseStore
from kyc_assets.cli import main
from kyc_assets.onboarding.store import DocumentStore
from kyc_assets_tests.case_helpers import ENTRY_HASH, new_key


@pytest.fixture
def home(kyc_env, monkeypatch, png_bytes):
    """A KYC_HOME with an encrypted document store holding one document and a case pointing at it."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for var in ("KYC_ANALYSTS_FILE", "KYC_ANALYST_PASSWORD", "KYC_CASE_KEYS", "KYC_DOCUMENT_KEYS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KYC_CASE_KEYS", new_key())
    monkeypatch.setenv("KYC_DOCUMENT_KEYS", new_key())
    import os

    sha = DocumentStore(kyc_env / "documents", os.environ["KYC_DOCUMENT_KEYS"]).put(png_bytes, original_name="p.png")
    store = CaseStore.from_env()
    store.escalate([CaseCandidate("customer", "C-1", [Evidence(
        kind="screening_hit", risk=0.96, reason="sanctions match: us_ofac_sdn:1", identity=("C-1", "e"),
        reference={"asset_key": "screening_results", "run_id": "r1", "list_source": "us_ofac_sdn",
                   "list_entity_id": "us_ofac_sdn:1", "list_version": "v1", "entry_hash": ENTRY_HASH,
                   "document_sha256s": [sha]})], pii={"subject_name": "Jane Doe"})], sla_days=5)
    store.engine.dispose()
    return {"path": kyc_env, "sha": sha, "png": png_bytes, "case_id": store.list_cases()[0]["case_id"]}


def run(capsys, *argv, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_show_assign_decide_approve_report(home, capsys):
    case_id = home["case_id"]
    code, out, err = run(capsys, "case", "list", "--json")
    assert code == 0 and [c["case_id"] for c in json.loads(out)] == [case_id] and "1 of 1 case(s)" in err
    code, out, _ = run(capsys, "case", "list", "--status", "closed")
    assert code == 0 and out == ""
    code, out, _ = run(capsys, "case", "show", case_id, "--json")
    assert code == 0 and json.loads(out)["subject_name"] == "Jane Doe"
    assert run(capsys, "case", "assign", case_id, "--to", "bob", "--as", "alice")[1].strip() == \
        f"{case_id} assigned to bob"
    code, out, _ = run(capsys, "case", "decide", case_id, "--decision", "confirmed", "--reason", "listed",
                       "--as", "alice")
    assert code == 0 and "pending_approval" in out and "kyc case approve" in out
    code, _, err = run(capsys, "case", "approve", case_id, "--as", "alice")
    assert code == 2 and err.strip() == (f"kyc: error: four-eyes: alice proposed the confirmation of {case_id} "
                                         "and cannot also approve it")
    assert run(capsys, "case", "approve", case_id, "--as", "bob")[0] == 0
    code, out, _ = run(capsys, "case", "report", case_id)
    assert code == 0 and json.loads(out)["subject"]["name"] == "Jane Doe"
    assert run(capsys, "case", "approve", case_id, "--report", "--as", "bob")[0] == 0
    code, out, _ = run(capsys, "case", "show", case_id)
    assert "report SAR-" in out and "approved by bob" in out and "confirmed by alice" in out
    code, _, err = run(capsys, "case", "decide", case_id, "--decision", "escalate", "--reason", "x", "--as", "carol")
    assert code == 2 and "is closed (confirmed)" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "case", "show", "CASE-unknown")
    assert code == 2 and err.strip() == "kyc: error: no case 'CASE-unknown'"
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0 and out.startswith("audit log intact: ")


def test_export_writes_a_verifiable_bundle_with_decrypted_documents(home, capsys, tmp_path):
    case_id = home["case_id"]
    run(capsys, "case", "decide", case_id, "--decision", "confirmed", "--reason", "listed", "--as", "alice")
    run(capsys, "case", "approve", case_id, "--as", "bob")
    bundle = tmp_path / "bundle"
    code, _, err = run(capsys, "case", "export", case_id, "--out", str(bundle), "--as", "examiner",
                       "--without-instance")
    assert code == 0 and "manifest sha256" in err
    names = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert {"case.json", "decisions.json", "evidence.json", "report.json", "trace.json", "trace.txt", "audit.json",
            "details.json", "summary.html", "README.txt", "manifest.json", "SHA256SUMS",
            f"evidence/{home['sha']}.png"} <= names
    assert (bundle / "evidence" / f"{home['sha']}.png").read_bytes() == home["png"]  # decrypted, original bytes
    manifest = json.loads((bundle / "manifest.json").read_text())
    for rel, meta in manifest["files"].items():
        assert hashlib.sha256((bundle / rel).read_bytes()).hexdigest() == meta["sha256"]
    decisions = json.loads((bundle / "decisions.json").read_text())
    assert [(d["analyst"], d["approved_by"]) for d in decisions] == [("alice", "bob")]
    assert run(capsys, "case", "verify-bundle", str(bundle))[0] == 0
    (bundle / "decisions.json").write_text("[]")
    code, _, err = run(capsys, "case", "verify-bundle", str(bundle))
    assert code == 1 and "decisions.json: sha256 differs" in err
    # An existing, non-empty folder is refused and left as it was.
    code, _, err = run(capsys, "case", "export", case_id, "--out", str(bundle), "--without-instance")
    assert code == 2 and "not an empty folder" in err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle")]  # no half-written temp folder
    store = CaseStore.from_env()
    assert store.audit_entries(subject=case_id, limit=1)[0]["action"] == "case_exported"


def test_trace_prints_the_chain_and_audit_verify_names_a_broken_entry(home, capsys):
    case_id = home["case_id"]
    code, out, _ = run(capsys, "trace", case_id, "--json", "--without-instance")
    trace = json.loads(out)
    assert code == 0 and trace["documents"][0]["sha256"] == home["sha"] and trace["documents"][0]["stored"]
    assert trace["lists"][0]["list_version"] == "v1" and trace["materializations_included"] is False
    code, out, _ = run(capsys, "trace", case_id, "--without-instance")
    assert code == 0 and f"case {case_id}" in out and "Jane" not in out
    assert "materializations: not included" in out
    store = CaseStore.from_env()
    with store._write() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1"))
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and err.strip() == "audit log broken at entry 1: entry 1 was modified after it was written"


def test_analysts_file_requires_the_password(home, capsys, monkeypatch, tmp_path):
    path = tmp_path / "analysts.json"
    path.write_text(json.dumps({"analysts": [{"username": "alice", "password_hash": hash_password("s3cret")},
                                             {"username": "bob", "password_hash": hash_password("hunter2")}]}))
    monkeypatch.setenv("KYC_ANALYSTS_FILE", str(path))
    case_id = home["case_id"]
    code, _, err = run(capsys, "case", "decide", case_id, "--decision", "escalate", "--reason", "r", "--as", "alice",
                       "--password-stdin", stdin="wrong\n", monkeypatch=monkeypatch)
    assert code == 2 and err.strip() == "kyc: error: unknown analyst or wrong password"
    code, _, _ = run(capsys, "case", "decide", case_id, "--decision", "escalate", "--reason", "r", "--as", "alice",
                     "--password-stdin", stdin="s3cret\n", monkeypatch=monkeypatch)
    assert code == 0
    monkeypatch.setenv("KYC_ANALYST_PASSWORD", "hunter2")
    code, _, err = run(capsys, "case", "assign", case_id, "--to", "mallory", "--as", "bob")
    assert code == 2 and "unknown analyst 'mallory'" in err
    actions = [e["action"] for e in CaseStore.from_env().audit_entries(subject=case_id, limit=3)]
    assert actions == ["case_assign_refused", "case_decided_escalate", "case_decide_refused"]


def test_hash_password_reads_stdin(capsys, monkeypatch):
    from kyc_assets.cases.analysts import verify_password

    code, out, _ = run(capsys, "case", "hash-password", stdin="pw\n", monkeypatch=monkeypatch)
    assert code == 0 and verify_password("pw", out.strip()) and not verify_password("pX", out.strip())


def _escalate_into(dagster_home, tmp_path) -> str:
    """Materialize the small trace graph (test_trace) into the instance at ``dagster_home``, with the case
    store of KYC_HOME; returns the sanctions case's id."""
    import dagster as dg

    from kyc_assets.resources import CaseStoreResource
    from kyc_assets_tests.test_trace import _frames, _graph

    dagster_home.mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    store = CaseStore.from_env()
    try:
        assert dg.materialize(_graph(_frames()), instance=instance,
                              resources={"case_store": CaseStoreResource(database_url=str(store.engine.url))}).success
    finally:
        instance.dispose()
    return next(c["case_id"] for c in store.list_cases() if c["subject_id"] == "C-1")


def test_trace_finds_the_platform_instance_without_dagster_home(kyc_env, monkeypatch, capsys, tmp_path):
    """DAGSTER_HOME unset: the instance is $KYC_HOME/dagster_home, as `make` sets it."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    case_id = _escalate_into(kyc_env / "dagster_home", tmp_path)
    capsys.readouterr()  # the materialization's own log lines
    code, out, err = run(capsys, "trace", case_id, "--json")
    trace = json.loads(out)
    assert code == 0 and err == ""
    assert trace["dagster_instance"] == str(kyc_env / "dagster_home")
    assert {m["asset_key"] for m in trace["materializations"]} == {
        "escalated_cases", "screening_results", "customers", "extracted_entities"}
    # DAGSTER_HOME, when set, wins: pointed at another (empty) instance the trace refuses rather than
    # printing an empty lineage.
    other = tmp_path / "other_home"
    other.mkdir()
    (other / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(other))
    code, out, err = run(capsys, "trace", case_id)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(f"kyc: error: the Dagster instance at {other} holds none of the materializations of {case_id}")


def test_trace_without_any_instance_is_a_one_line_error(home, capsys, monkeypatch, tmp_path):
    code, out, err = run(capsys, "trace", home["case_id"])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert f"no Dagster instance at {home['path'] / 'dagster_home'}" in err and "--without-instance" in err
    code, out, err = run(capsys, "case", "export", home["case_id"], "--out", str(tmp_path / "b"))
    assert code == 2 and "no Dagster instance" in err and not (tmp_path / "b").exists()


def _warehouse(path, sha: str) -> None:
    """A warehouse holding what the fixture's case points to (as the assets write it)."""
    import duckdb

    from kyc_assets.storage import Warehouse
    from kyc_assets.storage.warehouse import import_duckdb

    seed = f"{path}.seed.duckdb"
    with duckdb.connect(seed) as con:
        con.execute("CREATE SCHEMA kyc")
        con.execute("CREATE TABLE kyc.customers AS SELECT 'C-1' AS customer_id, 'Jane Doe' AS full_name, "
                    "'1970-05-05' AS date_of_birth, 'GBR' AS nationality, 'passport' AS document_type, "
                    f"'P1234567' AS document_number, 'verified' AS kyc_status, '[\"{sha}\"]' AS document_sha256s")
        con.execute("CREATE TABLE kyc.screening_results AS SELECT 'C-1' AS customer_id, 'us_ofac_sdn:1' AS "
                    "list_entity_id, 'us_ofac_sdn' AS list_source, 'v1' AS list_version, 'entryhash' AS entry_hash, "
                    "0.96 AS score, 'match' AS decision, 'name 0.97 (Jane DOE); date of birth 1970-05-05 equal' "
                    "AS explanation, 'DOE, Jane' AS matched_name")
        con.execute("CREATE TABLE kyc.watchlist_entries AS SELECT 'us_ofac_sdn:1' AS entity_id, 'us_ofac_sdn' AS "
                    "list_source, 'v1' AS list_version, 'DOE, Jane' AS primary_name, "
                    "'[[\"Janet Doe\", \"aka\"]]' AS aliases, '[\"1970-05-05\"]' AS dates_of_birth, "
                    "'[[\"Passport\", \"X99\"]]' AS identifiers, '[\"SDGT\"]' AS programs")
        con.execute("CREATE TABLE kyc.raw_documents AS SELECT ? AS document_sha256, 'image/png' AS media_type, "
                    "'jane-doe-passport.png' AS original_name, 'ok' AS status", [sha])
        con.execute("CREATE TABLE kyc.extracted_entities AS SELECT ? AS document_sha256, 'passport' AS document_type, "
                    "'DOE' AS surname, 'JANE' AS given_names, 'P1234567' AS document_number, true AS mrz_valid",
                    [sha])
    import_duckdb(seed, Warehouse(path))  # the tables as the IO manager writes them (Delta)


def test_the_bundle_stands_on_its_own(home, capsys, tmp_path):
    """A summary page and a README beside the JSON; the list entry, the screening row with its explanation,
    the customer profile, the extracted fields and the decisions with reasons; all under the manifest."""
    case_id = home["case_id"]
    _warehouse(home["path"] / "warehouse", home["sha"])
    run(capsys, "case", "decide", case_id, "--decision", "confirmed", "--reason", "same person: DOB and passport",
        "--as", "alice")
    run(capsys, "case", "approve", case_id, "--as", "bob", "--reason", "agreed")
    bundle = tmp_path / "bundle"
    code, _, err = run(capsys, "case", "export", case_id, "--out", str(bundle), "--without-instance")
    assert code == 0, err
    assert bundle.stat().st_mode & 0o777 == 0o700  # it holds personal data, as its --help says
    details = json.loads((bundle / "details.json").read_text())
    (hit,) = details["screening_hits"]
    assert hit["screening_row"]["explanation"].startswith("name 0.97") and hit["screening_row"]["score"] == 0.96
    assert hit["list_entry"]["primary_name"] == "DOE, Jane" and hit["list_entry"]["aliases"] == [["Janet Doe", "aka"]]
    assert details["customer"]["full_name"] == "Jane Doe" and details["pii_included"] is True
    assert details["documents"][0]["fields"]["document_number"] == "P1234567"
    html = (bundle / "summary.html").read_text()
    for text in ("DOE, Jane", "Janet Doe (aka)", "Passport: X99", "name 0.97 (Jane DOE)", "Jane Doe",
                 "same person: DOB and passport", "approved by bob", f'href="evidence/{home["sha"]}.png"', "P1234567"):
        assert text in html, text
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")  # nothing outside the bundle
    assert "[[" not in html and '{"' not in html  # aliases and identifiers for people, not raw JSON
    readme = (bundle / "README.txt").read_text()
    assert "sha256sum -c SHA256SUMS" in readme and "summary.html" in readme and f"{home['sha']}.png" in readme
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert {"summary.html", "README.txt", "details.json"} <= set(manifest["files"])
    sums = (bundle / "SHA256SUMS").read_text()
    assert "  summary.html\n" in sums and "  README.txt\n" in sums
    assert run(capsys, "case", "verify-bundle", str(bundle))[0] == 0
    (bundle / "summary.html").write_text(html.replace("same person", "other person"))
    code, _, err = run(capsys, "case", "verify-bundle", str(bundle))
    assert code == 1 and "summary.html: sha256 differs from the manifest" in err
    (bundle / "summary.html").write_text(html)
    (bundle / "notes.txt").write_text("added later")
    code, _, err = run(capsys, "case", "verify-bundle", str(bundle))
    assert code == 1 and "notes.txt: not in the manifest" in err


def test_bundle_details_mask_pii_when_the_store_holds_none(tmp_path, png_bytes):
    from kyc_assets.cases.bundle import bundle_details
    from kyc_assets.cases.export import document_extension

    sha = "a" * 64
    _warehouse(tmp_path / "w", sha)
    case = {"subject_type": "customer", "subject_id": "C-1", "pii_available": False, "evidence": [{
        "evidence_id": "e1", "kind": "screening_hit", "reason": "sanctions match", "reference": {
            "list_entity_id": "us_ofac_sdn:1", "list_version": "v1", "document_sha256s": [sha]}}]}
    details = bundle_details(case, tmp_path / "w")
    assert details["pii_included"] is False and details["customer"]["full_name"] == "J*** D***"
    assert details["customer"]["document_number"] == "########" and details["customer"]["kyc_status"] == "verified"
    assert details["documents"][0]["fields"]["surname"] == "D***"
    assert details["documents"][0]["original_name"] != "jane-doe-passport.png"
    assert details["screening_hits"][0]["list_entry"]["primary_name"] == "DOE, Jane"  # public list data
    assert bundle_details(case, tmp_path / "missing")["error"].startswith("warehouse not readable")
    # The extension comes from the bytes, whatever the file was called.
    assert document_extension(png_bytes) == ".png" and document_extension(b"%PDF-1.7\n...") == ".pdf"
    assert document_extension(b"\xff\xd8\xff\xe0rest") == ".jpg" and document_extension(b"MZ\x90\x00") == ".bin"


def test_invalid_values_are_refused_in_one_line(home, capsys):
    from kyc_assets.cases.store import InvalidRequest

    for argv, expected in (
            (["case", "list", "--status", "opne"], ("invalid choice: 'opne' (choose from 'open', 'escalated', "
                                                    "'pending_approval', 'closed', 'active')")),
            (["case", "list", "--limit", "0"], "argument --limit: 0 must be at least 1"),
            (["case", "list", "--sort", "name"], "argument --sort: invalid choice: 'name'"),
            (["case", "decide", home["case_id"], "--decision", "maybe", "--reason", "r", "--as", "a"],
             "argument --decision: invalid choice: 'maybe'"),
            (["trace"], "the following arguments are required: CASE_ID")):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        out, err = capsys.readouterr()
        assert exit_info.value.code == 2 and out == "", argv
        assert len(err.strip().splitlines()) == 1 and expected in err, err
    # The store refuses them too (the dashboard and scripts call it directly).
    store = CaseStore.from_env()
    with pytest.raises(InvalidRequest, match="unknown status 'opne'; valid: open, escalated"):
        store.list_cases(status="opne")
    with pytest.raises(InvalidRequest, match="unknown subject type"):
        store.count_cases(subject_type="person")
    assert [c["case_id"] for c in store.list_cases(status="active")] == [home["case_id"]]


def _commands(parser, prefix=()):
    """(words, parser) of every command under the case, trace and audit commands."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words = (*prefix, name)
                if words[0] in ("case", "trace", "audit"):
                    yield words, sub
                    yield from _commands(sub, words)


def test_every_case_trace_and_audit_option_says_its_default_and_every_command_has_an_example():
    import argparse

    from kyc_assets.cli import build_parser

    seen = set()
    for words, parser in _commands(build_parser()):
        seen.add(" ".join(words))
        assert parser.epilog and parser.epilog.startswith("example") and f"kyc {' '.join(words)}" in parser.epilog, \
            words
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, (words, action.dest)
            if action.option_strings:
                assert ("default" in action.help) != action.required, (words, action.option_strings, action.help)
                assert "required" in action.help or not action.required, (words, action.option_strings)
    assert {"case list", "case decide", "case export", "case verify-bundle", "trace", "audit verify"} <= seen
