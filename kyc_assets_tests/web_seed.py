"""A small world for the dashboard tests: a case store with a customer case (screening hit, document)
and an account case (anomaly alerts), a warehouse with the evidence tables, a document store with
one image, two analysts with passwords, and a helper that runs the app on 127.0.0.1."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCRIPT_NAME = "<script>alert('xss')</script> Ivan"
PASSWORDS = {"alice": "alice-pass-1", "bob": "bob-pass-2"}
ACCOUNT = "ACC-0042"
ALERT_DAYS = ("2026-01-20", "2026-01-27")


@dataclass
class World:
    database_url: str
    warehouse: Path
    documents: Path
    analysts_file: Path
    pii_keys: str
    customer_case: str
    account_case: str
    document_sha: str


def _png() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (360, 220), "#f0f2f8")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 350, 210), outline="#17233b", width=3)
    draw.text((24, 24), "PASSPORT  UTOPIA", fill="black")
    draw.text((24, 60), "SURNAME  PETROV", fill="black")
    draw.text((24, 180), "P<UTOPETROV<<IVAN<<<<<<<<<<<<<<<<<<<", fill="black")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _warehouse(path: Path, sha: str) -> None:
    import duckdb

    from kyc_assets.storage import Warehouse
    from kyc_assets.storage.warehouse import import_duckdb

    seed = f"{path}.seed.duckdb"
    conn = duckdb.connect(seed)
    conn.execute("CREATE SCHEMA kyc")
    conn.execute("CREATE TABLE kyc.raw_documents (document_sha256 VARCHAR, original_name VARCHAR, media_type VARCHAR, "
                 "status VARCHAR)")
    conn.execute("INSERT INTO kyc.raw_documents VALUES (?, 'passport.png', 'image/png', 'ok')", [sha])
    conn.execute("CREATE TABLE kyc.extracted_entities (document_sha256 VARCHAR, status VARCHAR, document_type VARCHAR, "
                 "surname VARCHAR, given_names VARCHAR, document_number VARCHAR, date_of_birth VARCHAR, "
                 "mrz_valid BOOLEAN, warnings VARCHAR)")
    conn.execute("INSERT INTO kyc.extracted_entities VALUES (?, 'ok', 'passport', ?, 'Ivan', 'X1234567', '1970-01-01', "
                 "true, '[\"<img src=x onerror=alert(2)>\"]')", [sha, SCRIPT_NAME])
    conn.execute("CREATE TABLE kyc.watchlist_entries (entity_id VARCHAR, list_source VARCHAR, list_version VARCHAR, "
                 "entity_type VARCHAR, primary_name VARCHAR, aliases VARCHAR, dates_of_birth VARCHAR, "
                 "programs VARCHAR, remarks VARCHAR)")
    conn.execute("INSERT INTO kyc.watchlist_entries VALUES ('OFAC-9001', 'ofac_sdn', '2026-01-15', 'person', "
                 "'PETROV, Ivan', '[\"Ivan Petrov\", \"I. Petrov\"]', '[\"1970\"]', '[\"UKRAINE-EO13660\"]', "
                 "'<b>bold remark</b>')")
    conn.execute("CREATE TABLE kyc.transactions (transaction_id VARCHAR, timestamp TIMESTAMP, sender_account VARCHAR, "
                 "receiver_account VARCHAR, amount DOUBLE, currency VARCHAR, channel VARCHAR, sender_country VARCHAR, "
                 "receiver_country VARCHAR, amount_base DOUBLE)")
    rows = []
    for day in range(1, 31):
        date = f"2026-01-{day:02d}"
        rows.append((f"T{day}a", f"{date} 10:00:00", "ACC-OTHER", ACCOUNT, 1000.0 + 50 * day, "USD", "wire", "US", "US"))
        amount = 9500.0 if date in ALERT_DAYS else 400.0 + 10 * day
        rows.append((f"T{day}b", f"{date} 15:00:00", ACCOUNT, "ACC-FAR", amount, "USD", "cash_deposit", "US", "IR"))
    conn.executemany("INSERT INTO kyc.transactions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [(*r, r[4]) for r in rows])
    conn.execute("CREATE TABLE kyc.customers (customer_id VARCHAR, full_name VARCHAR, date_of_birth VARCHAR, "
                 "nationality VARCHAR, document_number VARCHAR, document_type VARCHAR)")
    conn.execute("INSERT INTO kyc.customers VALUES ('CUST-7', 'Ivan Petrov', '1970-01-01', 'UKR', 'X1234567', "
                 "'passport')")
    conn.execute("CREATE TABLE kyc.anomaly_scores (account_id VARCHAR, as_of_date DATE, risk_score DOUBLE, "
                 "alert BOOLEAN, reasons VARCHAR)")
    conn.executemany("INSERT INTO kyc.anomaly_scores VALUES (?, ?, 0.93, true, 'structuring; high_risk_country')",
                     [(ACCOUNT, d) for d in ALERT_DAYS])
    conn.close()
    import_duckdb(seed, Warehouse(path))  # the tables as the IO manager writes them (Delta)


def build_world(root: Path, *, database_url: str | None = None) -> World:
    """Write the whole world under ``root`` (a SQLite case store unless ``database_url`` is given)."""
    from cryptography.fernet import Fernet

    from kyc_assets.cases.analysts import hash_password
    from kyc_assets.cases.escalation import CaseCandidate, Evidence
    from kyc_assets.cases.store import CaseStore
    from kyc_assets.onboarding.store import DocumentStore

    root.mkdir(parents=True, exist_ok=True)
    sha = DocumentStore(root / "documents").put(_png(), original_name="passport.png")
    _warehouse(root / "warehouse", sha)
    analysts = root / "analysts.json"
    analysts.write_text(json.dumps({"analysts": [{"username": u, "password_hash": hash_password(p),
                                                  **({"timezone": "Europe/Berlin"} if u == "bob" else {})}
                                                 for u, p in PASSWORDS.items()]}))
    keys = Fernet.generate_key().decode()
    url = database_url or f"sqlite:///{root / 'cases.sqlite'}"
    store = CaseStore(url, pii_keys=keys)
    hit = Evidence(kind="screening_hit", risk=0.95, reason="sanctions match: ofac_sdn OFAC-9001 (score 0.95)",
                   identity=("CUST-7", "OFAC-9001"),
                   reference={"asset_key": "screening_results", "run_id": "0f1e2d3c-aaaa-bbbb-cccc-000000000001",
                              "list_source": "ofac_sdn", "list_entity_id": "OFAC-9001", "list_version": "2026-01-15",
                              "hit_type": "sanctions", "entry_hash": "e" * 64,
                              "explanation": "name 0.97 (token sort), DOB year match <i>1970</i>",
                              "document_sha256s": [sha], "upstream": ["customers", "watchlist_entries"]})
    def behind(day: str) -> list[dict]:  # the structuring deposits up to the alert day, as escalation stores them
        return [{"transaction_id": f"T{int(d[-2:])}b", "timestamp": f"{d}T15:00:00Z", "amount": 9500.0,
                 "currency": "USD", "channel": "cash_deposit"} for d in sorted(ALERT_DAYS) if d <= day]

    alerts = [Evidence(kind="anomaly_alert", risk=0.93, reason="transaction monitoring alert: structuring",
                       identity=(ACCOUNT, day),
                       reference={"asset_key": "anomaly_scores", "partition": day, "run_id": f"run-{day}",
                                  "model_version": "iforest-1", "reasons": "structuring;amount_in_sum_30d",
                                  "triggered_rules": ["structuring"],
                                  "features": {"amount_in_sum_30d": 9500.0 * len(behind(day)),
                                               "structuring_count_30d": float(len(behind(day)))},
                                  "transactions": {"structuring": behind(day)}})
              for day in sorted(ALERT_DAYS, reverse=True)]  # escalated newest first: the page sorts by day
    store.escalate([CaseCandidate("customer", "CUST-7", [hit],
                                  pii={"subject_name": SCRIPT_NAME, "subject_dob": "1970-01-01",
                                       "subject_document_number": "X1234567"}),
                    CaseCandidate("account", ACCOUNT, alerts)], sla_days=5)
    ids = {c["subject_id"]: c["case_id"] for c in store.list_cases(status="active")}
    return World(url, root / "warehouse", root / "documents", analysts, keys, ids["CUST-7"], ids[ACCOUNT], sha)


def make_app(world: World, *, trusted_header: str = ""):
    from kyc_assets.cases.analysts import AnalystDirectory
    from kyc_assets.cases.store import CaseStore
    from kyc_assets.cases.web import WebConfig, create_app

    directory = AnalystDirectory.from_file(world.analysts_file, trusted_header=trusted_header)
    store = CaseStore(world.database_url, pii_keys=world.pii_keys, analysts=directory)
    return create_app(WebConfig(store=store, warehouse_path=world.warehouse, document_store_dir=world.documents,
                                dagster_ui_url="http://127.0.0.1:3000", session_secret="test-secret")), store


@contextlib.contextmanager
def running(app, port: int | None = None):
    """Serve ``app`` with uvicorn on 127.0.0.1 in a thread; yields the base URL."""
    import uvicorn

    from kyc_assets_tests.local_servers import free_port

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
