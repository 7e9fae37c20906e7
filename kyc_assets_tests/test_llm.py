"""LLM extraction against an OpenAI-compatible server started here on 127.0.0.1 (real openai client,
real HTTP): structured replies, malformed and schema-violating replies, 429 storms, 5xx, timeouts,
text-only requests, merging rules, and the `extracted_entities` asset with token usage metadata."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kyc_assets.onboarding.extract import extract_fields
from kyc_assets.onboarding.llm import (
    RESPONSE_SCHEMA,
    LlmDocumentFields,
    LlmError,
    LlmExtractor,
    LlmOutcome,
    RateLimiter,
    RetryPolicy,
    apply_outcome,
    build_request,
    merge_llm,
    parse_reply,
)
from kyc_assets.onboarding.mrz import build_td3
from kyc_assets.settings import warehouse

TODAY = date(2025, 6, 1)
PASSPORT_MRZ = build_td3(document_code="P", issuing_country="UTO", surname="ERIKSSON", given_names="ANNA MARIA",
                         document_number="L898902C3", nationality="UTO", date_of_birth=date(1974, 8, 12), sex="F",
                         expiry_date=date(2030, 4, 15))
# A bill whose addressee block the rules cannot find (name and street on one line, no labels).
BILL_NO_NAME = """Northwind Energy Ltd
Electricity bill
Bill date: 1 March 2025
Account number: 6523000186
To the occupier of flat 2, 12 Harbour Street, Leeds LS1 4AB
Amount due: GBP 214.89
"""
GOOD = {"document_type": "utility_bill", "surname": "Eriksson", "given_names": "Anna Maria",
        "date_of_birth": None, "sex": None, "nationality": None, "document_number": None, "expiry_date": None,
        "address": "Flat 2, 12 Harbour Street, Leeds LS1 4AB", "issuer": "Northwind Energy Ltd",
        "issue_date": "2025-03-01", "confidence": 0.9}


# --------------------------------------------------------------------------- the stub server


@dataclass
class Reply:
    status: int = 200
    content: str | None = None  # assistant message content (JSON text) for status 200
    delay: float = 0.0
    headers: dict = field(default_factory=dict)


def completion(content: str, model: str = "stub-model") -> dict:
    return {"id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}


class StubServer:
    """`POST /v1/chat/completions` answering from a script (one Reply per request, in order), or
    from ``route(body)`` when set, else the default reply. Records every request body."""

    def __init__(self):
        self.script: list[Reply] = []
        self.route = None
        self.default = Reply(content=json.dumps(GOOD))
        self.requests: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.requests.append({"path": self.path, "body": body,
                                          "authorization": self.headers.get("Authorization")})
                    reply = stub.route(body) if stub.route else (stub.script.pop(0) if stub.script else stub.default)
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    time.sleep(reply.delay)
                    payload = (json.dumps(completion(reply.content)) if reply.status == 200
                               else json.dumps({"error": {"message": "stub error", "type": "stub"}}))
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)
                finally:
                    with stub.lock:
                        stub.in_flight -= 1

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stub():
    with StubServer() as server:
        yield server


def make_extractor(stub: StubServer, timeout: float = 5.0, attempts: int = 4, concurrency: int = 4):
    """The real openai client (its own retries off) against the stub; sleeps recorded, not slept."""
    client = openai.Client(api_key="test-key", base_url=stub.url, timeout=timeout, max_retries=0)
    sleeps: list[float] = []

    def sleep(seconds):
        sleeps.append(seconds)
        time.sleep(min(seconds, 0.01))

    extractor = LlmExtractor(client.chat.completions.create, "stub-model",
                             retry=RetryPolicy(max_attempts=attempts, base_delay=0.1, max_delay=1.0),
                             max_concurrency=concurrency, sleep=sleep, rng=lambda: 0.5)
    return extractor, sleeps


# --------------------------------------------------------------------------- replies


def test_good_structured_reply_is_parsed_and_the_request_is_structured(stub):
    extractor, sleeps = make_extractor(stub)
    outcome = extractor.extract(BILL_NO_NAME)
    assert outcome.error is None and outcome.attempts == 1 and sleeps == []
    assert outcome.fields.surname == "Eriksson" and outcome.fields.issue_date == "2025-03-01"
    assert outcome.responses[0].usage.total_tokens == 120
    (request,) = stub.requests
    assert request["path"] == "/v1/chat/completions" and request["authorization"] == "Bearer test-key"
    body = request["body"]
    assert body["model"] == "stub-model" and body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["schema"] == RESPONSE_SCHEMA
    assert "Harbour Street" in body["messages"][1]["content"]


def test_request_holds_only_text_by_default(stub, png_bytes):
    extractor, _ = make_extractor(stub)
    extractor.extract(BILL_NO_NAME)
    raw = json.dumps(stub.requests[0]["body"])
    assert "image_url" not in raw and "base64" not in raw
    assert all(isinstance(m["content"], str) for m in stub.requests[0]["body"]["messages"])
    # Only when the caller passes the image (KYC_LLM_SEND_IMAGES) does it travel, as a data URL.
    extractor.extract(BILL_NO_NAME, image=png_bytes)
    parts = stub.requests[1]["body"]["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_unsupported_image_type_is_not_sent():
    request = build_request("text", "m", image=b"%PDF-1.4 not an image")
    assert isinstance(request["messages"][1]["content"], str)


def test_malformed_json_reply_becomes_a_warning_and_the_rules_stand(stub):
    stub.script = [Reply(content='{"document_type": "utility_bill", "surname": "Eriks')]
    extractor, _ = make_extractor(stub)
    outcome = extractor.extract(BILL_NO_NAME)
    assert outcome.fields is None and outcome.error == "reply is not valid JSON"
    assert outcome.attempts == 1 and len(outcome.responses) == 1  # tokens were spent all the same
    rules = extract_fields(BILL_NO_NAME, None, today=TODAY)
    merged = apply_outcome(rules, outcome)
    assert merged["warnings"] == rules["warnings"] + ["llm unavailable: reply is not valid JSON"]
    assert {k: v for k, v in merged.items() if k != "warnings"} == {k: v for k, v in rules.items() if k != "warnings"}


def test_reply_violating_the_schema_is_refused_without_leaking_values(stub):
    bad = dict(GOOD, date_of_birth="12/08/1974", sex="female", confidence=3, extra="x")
    stub.script = [Reply(content=json.dumps(bad))]
    extractor, _ = make_extractor(stub)
    outcome = extractor.extract(BILL_NO_NAME)
    assert outcome.fields is None
    assert outcome.error == ("reply does not match the schema "
                             "(fields: confidence, date_of_birth, sex, unexpected fields)")
    assert "1974" not in outcome.error and "female" not in outcome.error


def test_empty_reply_is_an_error(stub):
    stub.script = [Reply(content="")]
    extractor, _ = make_extractor(stub)
    assert "no content" in extractor.extract("text").error


def test_impossible_dates_are_refused():
    with pytest.raises(ValueError):
        LlmDocumentFields.model_validate(dict(GOOD, issue_date="2025-02-31"))


def test_schema_and_model_describe_the_same_fields():
    assert set(RESPONSE_SCHEMA["properties"]) == set(LlmDocumentFields.model_fields)
    assert RESPONSE_SCHEMA["required"] == list(RESPONSE_SCHEMA["properties"])
    assert RESPONSE_SCHEMA["additionalProperties"] is False


def _response(content):
    from types import SimpleNamespace

    message = SimpleNamespace(content=content)
    return SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason="stop")])


_json_values = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=20),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=3), max_leaves=8)


@given(content=st.one_of(
    st.text(max_size=200),
    _json_values.map(json.dumps),
    st.fixed_dictionaries({k: _json_values for k in RESPONSE_SCHEMA["properties"]}).map(json.dumps),
    st.builds(lambda d, s: json.dumps(dict(GOOD, date_of_birth=d, surname=s)),
              st.text(max_size=12), st.text(min_size=5, max_size=30))))
def test_any_reply_is_parsed_or_refused_cleanly(content):
    """Whatever the model says: validated fields, or an LlmError naming no value it was given."""
    try:
        fields = parse_reply(_response(content))
    except LlmError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 300
        allowed = {*RESPONSE_SCHEMA["properties"], "unexpected", "fields", "reply", "is", "not", "valid", "JSON",
                   "does", "match", "the", "schema", "has", "no", "content", "refusal", "or", "empty", "answer"}
        assert set(re.findall(r"[A-Za-z_]+", message)) <= allowed, message
        assert message.startswith(("reply is not valid JSON", "reply does not match the schema",
                                   "reply has no content"))
        return
    assert isinstance(fields, LlmDocumentFields) and 0 <= fields.confidence <= 1
    assert fields.date_of_birth is None or date.fromisoformat(fields.date_of_birth)


# --------------------------------------------------------------------------- retries


def test_429_storm_then_success_retries_with_growing_backoff(stub):
    stub.script = [Reply(status=429)] * 3
    extractor, sleeps = make_extractor(stub, attempts=5)
    outcome = extractor.extract(BILL_NO_NAME)
    assert outcome.error is None and outcome.attempts == 4 and len(stub.requests) == 4
    # rng=0.5 → 3/4 of the exponential ceiling 0.1, 0.2, 0.4
    assert sleeps == pytest.approx([0.075, 0.15, 0.3])


def test_endless_429_fails_clearly_after_the_bounded_attempts(stub):
    stub.default = Reply(status=429)
    extractor, sleeps = make_extractor(stub, attempts=3)
    outcome = extractor.extract(BILL_NO_NAME)
    assert outcome.fields is None and outcome.error == "request failed after 3 attempts: HTTP 429"
    assert len(stub.requests) == 3 and len(sleeps) == 2 and outcome.responses == []


def test_retry_after_header_is_honoured_within_the_ceiling(stub):
    stub.script = [Reply(status=429, headers={"Retry-After": "0.7"}), Reply(status=429, headers={"Retry-After": "60"})]
    extractor, sleeps = make_extractor(stub)
    assert extractor.extract("text").error is None
    assert sleeps == pytest.approx([0.7, 1.0])  # 60 s capped by max_delay


def test_server_error_is_retried_and_client_error_is_not(stub):
    stub.script = [Reply(status=500), Reply(status=503)]
    extractor, _ = make_extractor(stub)
    assert extractor.extract("text").attempts == 3
    stub.script = [Reply(status=400)]
    outcome = extractor.extract("text")
    assert outcome.attempts == 1 and outcome.error == "request refused: HTTP 400"
    stub.default = Reply(status=500)
    assert extractor.extract("text").error == "request failed after 4 attempts: HTTP 500"


def test_timeout_is_retried_then_reported(stub):
    stub.script = [Reply(delay=1.0)]
    extractor, _ = make_extractor(stub, timeout=0.2, attempts=2)
    started = time.perf_counter()
    outcome = extractor.extract("text")
    assert outcome.error is None and outcome.attempts == 2
    stub.default = Reply(delay=1.0, content=json.dumps(GOOD))
    outcome = extractor.extract("text")
    assert outcome.error == "request failed after 2 attempts: timeout"
    assert time.perf_counter() - started < 3.0  # bounded: never waits for the slow server


def test_one_failing_document_does_not_stop_the_others(stub):
    stub.route = lambda body: Reply(status=429) if "STORM" in body["messages"][1]["content"] else stub.default
    extractor, _ = make_extractor(stub, attempts=2)
    outcomes = extractor.extract_many({"a": ("bill a", None), "storm": ("STORM", None), "b": ("bill b", None)})
    assert list(outcomes) == ["a", "storm", "b"]
    assert outcomes["a"].fields and outcomes["b"].fields
    assert outcomes["storm"].error == "request failed after 2 attempts: HTTP 429"


def test_concurrency_is_bounded(stub):
    stub.default = Reply(delay=0.15, content=json.dumps(GOOD))
    extractor, _ = make_extractor(stub, concurrency=2)
    outcomes = extractor.extract_many({str(i): (f"doc {i}", None) for i in range(6)})
    assert all(o.fields for o in outcomes.values())
    assert stub.max_in_flight == 2


@given(attempt=st.integers(1, 30), base=st.floats(0.01, 5), ceiling=st.floats(0.01, 60), r=st.floats(0, 1))
def test_backoff_is_bounded_and_jittered(attempt, base, ceiling, r):
    policy = RetryPolicy(max_attempts=5, base_delay=base, max_delay=ceiling)
    exponential = min(ceiling, base * 2 ** (attempt - 1))
    assert exponential / 2 - 1e-9 <= policy.delay(attempt, rng=lambda: r) <= exponential + 1e-9


def test_rate_limiter_spaces_request_starts():
    now = [0.0]
    waits = []
    limiter = RateLimiter(120, clock=lambda: now[0], sleep=waits.append)
    for _ in range(3):
        limiter.acquire()
    assert waits == [0.5, 1.0]
    RateLimiter(0, sleep=waits.append).acquire()
    assert waits == [0.5, 1.0]


# --------------------------------------------------------------------------- merging


def _fields(**changes) -> LlmDocumentFields:
    return LlmDocumentFields.model_validate({**GOOD, **changes})


def test_llm_disagreeing_with_a_valid_mrz_changes_nothing_and_warns():
    mrz = extract_fields("PASSPORT", PASSPORT_MRZ, today=TODAY)
    llm = _fields(document_type="passport", surname="ERIKSEN", given_names="ANNA MARIA",
                  date_of_birth="1974-08-13", document_number="L898902C3", address="1 Quay Road, Hull")
    merged = merge_llm(mrz, llm)
    for key in ("surname", "given_names", "date_of_birth", "document_number", "expiry_date", "mrz_valid"):
        assert merged[key] == mrz[key]
    assert merged["field_sources"]["date_of_birth"] == {"method": "mrz", "confidence": 1.0, "locked": True}
    assert "llm disagrees with the check-digit-valid MRZ on date_of_birth (MRZ kept)" in merged["warnings"]
    assert "llm disagrees with the check-digit-valid MRZ on name (MRZ kept)" in merged["warnings"]
    assert not [w for w in merged["warnings"] if "document_number" in w]  # agreement is silent
    # The MRZ carries no address: the LLM may add one, with its own provenance.
    assert merged["address"] == "1 Quay Road, Hull" and merged["field_sources"]["address"]["method"] == "llm"
    assert merged["method"] == "mrz+llm" and merged["confidence"] == mrz["confidence"]


def test_failed_check_digit_field_is_not_locked():
    lines = list(PASSPORT_MRZ)
    lines[1] = lines[1][:9] + ("1" if lines[1][9] != "1" else "2") + lines[1][10:]  # document number check
    mrz = extract_fields("", lines, today=TODAY)
    sources = mrz["field_sources"]
    assert sources["document_number"]["locked"] is False and sources["date_of_birth"]["locked"] is True
    merged = merge_llm(mrz, _fields(document_type="passport", surname=None, document_number="L898902C4",
                                    date_of_birth="1975-01-01", confidence=1.0))
    assert merged["date_of_birth"] == "1974-08-12"  # its own check digit passed
    expected = "L898902C4" if mrz["confidence"] < 0.7 else "L898902C3"
    assert merged["document_number"] == expected


def test_llm_fills_what_the_rules_did_not_find_with_provenance():
    rules = extract_fields(BILL_NO_NAME, None, today=TODAY)
    assert rules["surname"] is None and rules["address"] is None
    merged = merge_llm(rules, _fields(confidence=0.95))
    assert (merged["given_names"], merged["surname"]) == ("Anna Maria", "Eriksson")
    assert merged["address"] == GOOD["address"]
    assert merged["field_sources"]["surname"] == {"method": "llm", "confidence": 0.7, "locked": False}
    assert merged["field_sources"]["issue_date"]["method"] == "rules"  # labelled, agrees: rules kept
    assert merged["method"] == "rules+llm" and merged["confidence"] > rules["confidence"]
    assert not [w for w in merged["warnings"] if w.startswith("llm")]


def test_labelled_rules_beat_the_llm_and_weak_heuristics_do_not():
    text = ("Harbour Bank plc\nBank statement\nStatement date: 05/04/2025\nAccount holder: John Smith\n"
            "Address: 3 Quay Road, Hull HU1 1AA\nSort code 12-34-56\n")
    rules = extract_fields(text, None, today=TODAY)
    llm = _fields(document_type="bank_statement", surname="Smythe", given_names="John",
                  address="3 Quay Road, Hull HU1 1AA", issuer="Harbour Bank", issue_date="2025-04-05")
    merged = merge_llm(rules, llm)
    assert merged["surname"] == "Smith" and "llm disagrees on name (rules value kept)" in merged["warnings"]
    # The issuer is the first line of the letter (a weak heuristic): the LLM's reading replaces it.
    assert merged["issuer"] == "Harbour Bank" and merged["field_sources"]["issuer"]["method"] == "llm"
    assert "llm replaced the rules value of issuer" in merged["warnings"]
    assert merged["document_type"] == "bank_statement"


def test_llm_classifies_unknown_documents_and_disagreement_on_type_is_warned():
    unknown = extract_fields("lorem ipsum", None, today=TODAY)
    merged = merge_llm(unknown, _fields())
    assert merged["document_type"] == "utility_bill" and merged["method"] == "llm"
    bill = extract_fields(BILL_NO_NAME, None, today=TODAY)
    merged = merge_llm(bill, _fields(document_type="bank_statement"))
    assert merged["document_type"] == "utility_bill"
    assert "llm disagrees on document_type (deterministic value kept)" in merged["warnings"]


def test_customers_carry_llm_provenance_and_an_llm_outage_blocks_nobody():
    import pandas as pd

    from kyc_assets.onboarding.customers import build_customers

    passport = apply_outcome(extract_fields("PASSPORT", PASSPORT_MRZ, today=TODAY),
                             LlmOutcome(error="request failed after 5 attempts: HTTP 429"))
    bill = merge_llm(extract_fields(BILL_NO_NAME, None, today=TODAY), _fields())
    rows = []
    for sha, result in (("a" * 64, passport), ("b" * 64, bill)):
        rows.append({**result, "document_sha256": sha, "status": "ok", "warnings": json.dumps(result["warnings"]),
                     "field_sources": json.dumps(result["field_sources"])})
    out = build_customers(pd.DataFrame(rows), today=TODAY)
    assert len(out) == 1
    customer = out.iloc[0]
    provenance = json.loads(customer["provenance"])
    assert provenance["address"] == {"document_sha256": "b" * 64, "method": "llm", "confidence": 0.7}
    assert provenance["date_of_birth"] == {"document_sha256": "a" * 64, "method": "mrz", "confidence": 1.0}
    assert customer["kyc_status"] == "verified"
    assert any(w.startswith("llm unavailable") for w in json.loads(customer["warnings"]))


# --------------------------------------------------------------------------- the asset


def _pdf(text: str) -> bytes:
    from kyc_assets_tests.test_ocr import make_pdf

    return make_pdf([text])


def test_extracted_entities_with_the_stub_server(kyc_env, monkeypatch, stub):
    from kyc_assets.definitions import build_assets, build_resources
    from kyc_assets.onboarding.store import DocumentStore
    from kyc_assets.settings import Settings

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("KYC_LLM_BASE_URL", stub.url)
    monkeypatch.setenv("KYC_LLM_MODEL", "stub-model")
    monkeypatch.setenv("KYC_LLM_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("KYC_LLM_TIMEOUT_SECONDS", "5")
    passport_text = "PASSPORT\nSurname\nERIKSSON\n" + "\n".join(PASSPORT_MRZ)

    def route(body):
        text = body["messages"][1]["content"]
        if "STORM" in text:
            return Reply(status=429, headers={"Retry-After": "0"})
        if "PASSPORT" in text:  # the LLM misreads the date of birth
            return Reply(content=json.dumps(dict(GOOD, document_type="passport", surname="ERIKSSON",
                                                 given_names="ANNA MARIA", date_of_birth="1974-08-13",
                                                 address=None, issuer=None, issue_date=None)))
        return Reply(content=json.dumps(GOOD))

    stub.route = route
    settings = Settings.from_env()
    assert settings.llm_api_key_set and settings.llm_base_url == stub.url
    store = DocumentStore(settings.document_store_dir)
    keys = {"bill": store.put(_pdf(BILL_NO_NAME), original_name="bill.pdf"),
            "passport": store.put(_pdf(passport_text), original_name="passport.pdf"),
            "storm": store.put(_pdf(BILL_NO_NAME + "STORM\n"), original_name="storm.pdf")}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("documents", list(keys.values()))
    assets, resources = build_assets(settings), build_resources(settings)
    result = dg.materialize(assets, selection=["raw_documents", "document_text", "extracted_entities"],
                            partition_key=keys["bill"], instance=instance, resources=resources)
    assert result.success
    meta = result.asset_materializations_for_node("extracted_entities")[0].metadata
    assert meta["openai.stub-model.calls"].value == 1
    assert meta["openai.stub-model.total_tokens"].value == 120
    assert meta["openai.stub-model.prompt_tokens"].value == 100
    assert meta["llm_failed"].value == 0 and meta["llm_fields_filled"].value >= 3
    for key in ("passport", "storm"):
        assert dg.materialize(assets, selection=["raw_documents", "document_text", "extracted_entities"],
                              partition_key=keys[key], instance=instance, resources=resources).success
    assert all("image_url" not in json.dumps(r["body"]) for r in stub.requests)

    with warehouse(settings).connect() as con:
        rows = {r[0]: r[1:] for r in con.execute(
            "select document_sha256, llm_status, surname, date_of_birth, method, warnings, field_sources "
            "from kyc.extracted_entities").fetchall()}
    status, surname, _, method, warnings, sources = rows[keys["bill"]]
    assert (status, surname, method) == ("ok", "Eriksson", "rules+llm")
    assert json.loads(sources)["address"]["method"] == "llm"
    status, _, dob, method, warnings, _ = rows[keys["passport"]]
    assert (status, dob, method) == ("ok", "1974-08-12", "mrz")
    assert "llm disagrees with the check-digit-valid MRZ on date_of_birth (MRZ kept)" in json.loads(warnings)
    status, surname, _, method, warnings, _ = rows[keys["storm"]]
    assert (status, surname, method) == ("failed", None, "rules")
    assert "llm unavailable: request failed after 2 attempts: HTTP 429" in json.loads(warnings)

    customers = dg.materialize(assets, selection=["customers"], instance=instance, resources=resources)
    assert customers.success
    field_methods = customers.asset_materializations_for_node("customers")[0].metadata["field_methods"].value
    assert field_methods["llm"] >= 1 and field_methods["mrz"] >= 5
    with warehouse(settings).connect() as con:
        (provenance,) = con.execute("select provenance from kyc.customers where surname = 'ERIKSSON'").fetchone()
    assert json.loads(provenance)["address"]["method"] == "llm"


def test_without_a_key_extraction_stays_deterministic(kyc_env, monkeypatch):
    from kyc_assets.definitions import build_assets, build_resources
    from kyc_assets.onboarding.store import DocumentStore
    from kyc_assets.settings import Settings

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("KYC_LLM_BASE_URL", "http://127.0.0.1:9/v1")  # would fail if it were called
    settings = Settings.from_env()
    resources = build_resources(settings)
    assert not resources["llm"].enabled
    key = DocumentStore(settings.document_store_dir).put(_pdf(BILL_NO_NAME), original_name="bill.pdf")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("documents", [key])
    result = dg.materialize(build_assets(settings), selection=["raw_documents", "document_text",
                                                               "extracted_entities"],
                            partition_key=key, instance=instance, resources=resources)
    assert result.success
    meta = result.asset_materializations_for_node("extracted_entities")[0].metadata
    assert meta["llm_enabled"].value is False and not [k for k in meta if k.startswith("openai.")]


def test_llm_settings_are_read_and_validated():
    from kyc_assets.settings import Settings

    s = Settings.from_env({"OPENAI_API_KEY": "k", "KYC_LLM_BASE_URL": "http://127.0.0.1:8000/v1",
                           "KYC_LLM_MODEL": "local", "KYC_LLM_SEND_IMAGES": "true"})
    assert s.llm_api_key_set and s.llm_model == "local" and s.llm_send_images
    assert "k" not in {str(v) for v in vars(s).values()}  # the key itself is never kept
    assert not Settings.from_env({}).llm_api_key_set and not Settings.from_env({}).llm_send_images
    with pytest.raises(ValueError, match="KYC_LLM_SEND_IMAGES"):
        Settings.from_env({"KYC_LLM_SEND_IMAGES": "maybe"})
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for var in ("OPENAI_API_KEY", "KYC_LLM_BASE_URL", "KYC_LLM_MODEL", "KYC_LLM_SEND_IMAGES",
                "KYC_LLM_TIMEOUT_SECONDS", "KYC_LLM_MAX_ATTEMPTS", "KYC_LLM_MAX_CONCURRENCY",
                "KYC_LLM_REQUESTS_PER_MINUTE"):
        assert f"`{var}`" in readme, f"{var} is not documented in the README"


def test_images_are_sent_only_when_configured(kyc_env, monkeypatch, stub, png_bytes):
    from kyc_assets.definitions import build_assets, build_resources
    from kyc_assets.onboarding.store import DocumentStore
    from kyc_assets.settings import Settings

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("KYC_LLM_BASE_URL", stub.url)
    monkeypatch.setenv("KYC_LLM_SEND_IMAGES", "true")
    settings = Settings.from_env()
    key = DocumentStore(settings.document_store_dir).put(png_bytes, original_name="bill.png")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("documents", [key])
    assert dg.materialize(build_assets(settings), selection=["raw_documents", "document_text", "extracted_entities"],
                          partition_key=key, instance=instance, resources=build_resources(settings)).success
    (request,) = stub.requests
    parts = request["body"]["messages"][1]["content"]
    assert parts[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(png_bytes).decode()
