"""Onboarding assets: received documents → text → extracted entities → customer profiles."""


import json
import os
import time

import dagster as dg
import pandas as pd

from kyc_assets.onboarding.customers import CUSTOMER_COLUMNS, build_customers
from kyc_assets.quality import gx
from kyc_assets.quality.checks import gx_check, table_metadata
from kyc_assets.resources import DocumentStoreResource, LlmExtractorResource

documents_partitions = dg.DynamicPartitionsDefinition(name="documents")

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # Tesseract is ~5x faster on 2 cores single-threaded

_ONBOARDING = dict(group_name="onboarding", owners=["team:kyc-onboarding"])
_PER_DOCUMENT = dict(
    partitions_def=documents_partitions,
    metadata={"partition_expr": "document_sha256"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    **_ONBOARDING,
)

RAW_DOCUMENT_COLUMNS = ["document_sha256", "original_name", "received_at", "size_bytes", "media_type",
                        "page_count", "width", "height", "status", "reason"]


@dg.asset(
    kinds={"python", "duckdb"},
    code_version="2",
    check_specs=[
        dg.AssetCheckSpec("raw_documents_valid", asset="raw_documents", blocking=True,
                          description="Keys present and unique, sizes positive, status known (GX)."),
        dg.AssetCheckSpec("raw_documents_readable", asset="raw_documents",
                          description="Warns when a document was rejected (corrupt, too large, unsupported)."),
    ],
    **_PER_DOCUMENT,
)
def raw_documents(context: dg.AssetExecutionContext, documents: DocumentStoreResource):
    """Every received document, one partition per document keyed by the sha256 of its bytes.

    Type is detected from the bytes (not the name); size and pixel limits refuse hostile files
    (decompression bombs). A refused document stays in the store with its reason: nothing is lost.
    """
    from kyc_assets.onboarding.ocr import DocumentError, inspect_document
    from kyc_assets.onboarding.store import DocumentStoreError

    store = documents.store()
    rows = []
    for sha in context.partition_keys:
        meta = store.meta(sha)
        row = {"document_sha256": sha, "original_name": meta.get("original_name"),
               "received_at": meta.get("received_at"), "size_bytes": meta.get("size_bytes")}
        try:
            data = store.get(sha)  # decrypts when at-rest encryption is on; verifies the sha256
            row["size_bytes"] = len(data)
            info = inspect_document(data)
            row.update(media_type=info["media_type"], page_count=info.get("page_count"), width=info.get("width"),
                       height=info.get("height"), status="ok", reason=None)
        except (DocumentError, DocumentStoreError) as exc:
            context.log.warning(f"document {sha[:12]} rejected: {exc}")
            row.update(media_type=None, page_count=None, width=None, height=None, status="rejected",
                       reason=str(exc))
        rows.append(row)
    df = pd.DataFrame(rows, columns=RAW_DOCUMENT_COLUMNS).astype({"page_count": "Int64", "width": "Int64",
                                                                  "height": "Int64"})
    rejected = int((df["status"] == "rejected").sum())
    yield dg.Output(df, metadata=table_metadata(df, rejected=rejected))
    yield gx_check(df, gx.required_columns(*RAW_DOCUMENT_COLUMNS) + gx.not_null("document_sha256", "status")
                   + gx.unique("document_sha256") + gx.between("size_bytes", 0, None)
                   + gx.in_set("status", ["ok", "rejected"]), check_name="raw_documents_valid")
    yield dg.AssetCheckResult(
        check_name="raw_documents_readable", passed=rejected == 0, severity=dg.AssetCheckSeverity.WARN,
        metadata={"rejected": rejected, "reasons": "; ".join(sorted(set(df["reason"].dropna())))[:500] or "none"})


DOCUMENT_TEXT_COLUMNS = ["document_sha256", "status", "reason", "method", "page_count", "text", "mean_confidence",
                         "mrz_lines", "mrz_warnings", "ocr_seconds"]


_OCR_WORKERS = max(1, min(4, os.cpu_count() or 1))


def _read_document(context: dg.AssetExecutionContext, store, doc) -> dict:
    """One row of ``document_text``: the pages' text and confidences, and the MRZ lines if any."""
    from kyc_assets.onboarding.ocr import DocumentError, document_pages, mrz_reading_from_pages
    from kyc_assets.onboarding.store import DocumentStoreError

    row = {"document_sha256": doc.document_sha256, "status": doc.status, "reason": doc.reason}
    if doc.status != "ok":
        return row
    started = time.perf_counter()
    try:
        _, pages = document_pages(store.get(doc.document_sha256))
        mrz = mrz_reading_from_pages(pages)  # OCRed pages only (images, scanned PDF pages)
        confidences = [p.confidence for p in pages if p.confidence is not None]
        methods = list(dict.fromkeys(p.method for p in pages))
        row.update(method="+".join(methods) if methods else None, page_count=len(pages),
                   text="\n\f".join(p.text for p in pages),
                   mean_confidence=sum(confidences) / len(confidences) if confidences else None,
                   mrz_lines=json.dumps(mrz.lines) if mrz else None,
                   # the OCR engines' disagreements on the MRZ that nothing settled (no PII: field names only)
                   mrz_warnings=json.dumps(mrz.warnings) if mrz and mrz.warnings else None)
    except (DocumentError, DocumentStoreError) as exc:
        context.log.warning(f"document {doc.document_sha256[:12]} rejected: {exc}")
        row.update(status="rejected", reason=str(exc))
    row["ocr_seconds"] = round(time.perf_counter() - started, 3)
    return row


@dg.asset(
    kinds={"tesseract", "duckdb"},
    code_version="3",
    check_specs=[dg.AssetCheckSpec("document_text_valid", asset="document_text", blocking=True,
                                   description="One row per document, mean OCR confidence in [0, 1] (GX).")],
    **_PER_DOCUMENT,
)
def document_text(context: dg.AssetExecutionContext, raw_documents: pd.DataFrame,
                  documents: DocumentStoreResource):
    """Text of each document: Tesseract OCR of images and of scanned PDF pages (rendered with PDFium),
    with word confidences; the text layer of PDF pages that have one.

    The machine-readable zone of identity documents is located with a learned text-line detector and read
    by several OCR engines (votes settled by check digits; unsettled disagreements kept in ``mrz_warnings``).
    A document that cannot be read gets status 'rejected' and its reason; the others flow on.
    """
    from concurrent.futures import ThreadPoolExecutor

    store = documents.store()
    docs = list(raw_documents.itertuples(index=False))
    # Tesseract runs as a subprocess: two documents at a time use both cores of a small machine.
    with ThreadPoolExecutor(max_workers=_OCR_WORKERS) as pool:
        rows = list(pool.map(lambda doc: _read_document(context, store, doc), docs))
    df = pd.DataFrame(rows, columns=DOCUMENT_TEXT_COLUMNS)
    df["mean_confidence"] = df["mean_confidence"].astype(float)
    yield dg.Output(df, metadata=table_metadata(df, ocr_seconds_total=float(df["ocr_seconds"].fillna(0).sum()),
                                                mrz_found=int(df["mrz_lines"].notna().sum())))
    yield gx_check(df, gx.required_columns(*DOCUMENT_TEXT_COLUMNS) + gx.not_null("document_sha256")
                   + gx.unique("document_sha256") + gx.between("mean_confidence", 0, 1),
                   check_name="document_text_valid")


EXTRACTED_COLUMNS = ["document_sha256", "status", "reason",
                     *dict.fromkeys(("document_type", "surname", "given_names", "document_number", "nationality",
                                     "issuing_country", "date_of_birth", "sex", "expiry_date", "address",
                                     "mrz_valid", "method", "confidence", "warnings", "issuer", "issue_date")),
                     "field_sources", "llm_status"]


@dg.asset(
    kinds={"python", "openai", "duckdb"},
    code_version="3",
    pool="llm",  # bounds concurrent LLM steps across runs: `dagster instance concurrency set llm N`
    check_specs=[
        dg.AssetCheckSpec("extracted_entities_valid", asset="extracted_entities", blocking=True,
                          description="Keys unique, document types known, confidences in [0, 1] (GX)."),
        dg.AssetCheckSpec("identity_documents_sound", asset="extracted_entities",
                          description="MRZ check digits valid, documents not expired, dates of birth plausible, "
                                      "required fields present, visual zone consistent with the MRZ (names, "
                                      "date of birth, document number), OCR engines agreeing on the MRZ."),
    ],
    **_PER_DOCUMENT,
)
def extracted_entities(context: dg.AssetExecutionContext, document_text: pd.DataFrame,
                       llm: LlmExtractorResource, documents: DocumentStoreResource):
    """Structured fields per document: MRZ parsing with ICAO 9303 check digits for passports and ID
    cards, rules for utility bills and bank statements, always; then, when an LLM is configured,
    its reading of the OCR text fills the gaps (never overriding a check-digit-valid MRZ field;
    disagreements become warnings). ``field_sources`` records method and confidence per field."""
    from kyc_assets.onboarding.extract import EXTRACT_FIELDS, extract_fields
    from kyc_assets.onboarding.llm import apply_outcome

    rows: dict[str, dict] = {}
    results: dict[str, dict] = {}
    texts: dict[str, str] = {}
    for doc in document_text.itertuples(index=False):
        rows[doc.document_sha256] = {"document_sha256": doc.document_sha256, "status": doc.status,
                                     "reason": doc.reason, "llm_status": "disabled" if not llm.enabled else "skipped"}
        if doc.status == "ok":
            mrz = json.loads(doc.mrz_lines) if isinstance(doc.mrz_lines, str) else None
            mrz_warnings = json.loads(doc.mrz_warnings) if isinstance(getattr(doc, "mrz_warnings", None), str) else None
            texts[doc.document_sha256] = doc.text if isinstance(doc.text, str) else ""
            results[doc.document_sha256] = extract_fields(texts[doc.document_sha256], mrz, mrz_warnings=mrz_warnings)

    llm_meta = {}
    if llm.enabled and results:
        store = documents.store() if llm.send_images else None
        wanted = {sha: (texts[sha], store.get(sha) if store else None) for sha in results
                  if texts[sha].strip() or store}
        with llm.get_client(context) as client:
            outcomes = llm.extractor(client).extract_many(wanted)
        for sha, outcome in outcomes.items():
            llm.record_usage(context, outcome.responses)
            results[sha] = apply_outcome(results[sha], outcome)
            rows[sha]["llm_status"] = "ok" if outcome.fields is not None else "failed"
        failed = sum(o.fields is None for o in outcomes.values())
        llm_meta = {"llm_documents": len(outcomes), "llm_failed": failed,
                    "llm_requests": sum(o.attempts for o in outcomes.values()),
                    "llm_fields_filled": sum(s.get("method") == "llm" for r in results.values()
                                             for s in r["field_sources"].values())}
        context.log.info(f"LLM read {len(outcomes) - failed} of {len(outcomes)} documents ({failed} failed)")

    for sha, fields in results.items():
        row = rows[sha]
        row.update({k: fields.get(k) for k in (*EXTRACT_FIELDS, "issuer", "issue_date")})
        row["warnings"] = json.dumps(fields.get("warnings") or [])
        row["field_sources"] = json.dumps(fields.get("field_sources") or {}, sort_keys=True)
    df = pd.DataFrame(list(rows.values()), columns=EXTRACTED_COLUMNS)
    df["confidence"] = df["confidence"].astype(float)
    df["mrz_valid"] = df["mrz_valid"].astype("boolean")
    text_columns = [c for c in df.columns if c not in ("confidence", "mrz_valid")]
    df[text_columns] = df[text_columns].astype("string")
    yield dg.Output(df, metadata=table_metadata(df, documents_by_type=dg.MetadataValue.json(
        df["document_type"].fillna("rejected").value_counts().to_dict()), llm_enabled=llm.enabled, **llm_meta))
    yield gx_check(df, gx.not_null("document_sha256", "status") + gx.unique("document_sha256")
                   + gx.in_set("document_type", ["passport", "id_card", "visa", "utility_bill", "bank_statement",
                                                 "unknown"])
                   + gx.between("confidence", 0, 1), check_name="extracted_entities_valid")
    identity = df[df["document_type"].isin(["passport", "id_card", "visa"])]
    invalid = int((identity["mrz_valid"] == False).sum())  # noqa: E712 (nullable boolean)
    today = pd.Timestamp.today().strftime("%Y-%m-%d")
    expired = int((identity["expiry_date"].fillna("9999") < today).sum())
    implausible = int(((identity["date_of_birth"].fillna("1900") < "1900")
                       | (identity["date_of_birth"].fillna(today) > today)).sum())
    required = ["surname", "document_number", "date_of_birth", "expiry_date", "nationality"]
    missing_fields = int(identity[required].isna().any(axis=1).sum())
    viz_mismatch = int(identity["warnings"].fillna("").str.contains("does not match the MRZ").sum())
    # The OCR engines read the MRZ differently and neither check digits nor the visual zone settled it.
    unsettled = int(identity["warnings"].fillna("").str.contains("MRZ engines disagree").sum())
    problems = invalid + expired + implausible + missing_fields + viz_mismatch + unsettled
    yield dg.AssetCheckResult(
        check_name="identity_documents_sound", passed=problems == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"identity_documents": len(identity), "mrz_invalid": invalid, "expired": expired,
                  "implausible_date_of_birth": implausible, "required_fields_missing": missing_fields,
                  "visual_zone_mismatch": viz_mismatch, "mrz_reading_unsettled": unsettled})


@dg.asset(
    kinds={"python", "duckdb"},
    code_version="1",
    automation_condition=dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
        .with_label("eager_allow_missing"),
    check_specs=[dg.AssetCheckSpec("customers_valid", asset="customers", blocking=True,
                                   description="customer_id present and unique, statuses known (GX).")],
    **_ONBOARDING,
)
def customers(context: dg.AssetExecutionContext, extracted_entities: pd.DataFrame):
    """One profile per customer, merging the documents that belong together, with the provenance
    of every field (document sha256, method, confidence)."""
    df = build_customers(extracted_entities)
    methods = pd.Series([source["method"] for p in df["provenance"] for source in json.loads(p).values()],
                        dtype="object")
    yield dg.Output(df, metadata=table_metadata(df, statuses=dg.MetadataValue.json(
        df["kyc_status"].value_counts().to_dict()), field_methods=dg.MetadataValue.json(
        methods.fillna("unknown").value_counts().to_dict())))
    yield gx_check(df, gx.required_columns(*CUSTOMER_COLUMNS) + gx.not_null("customer_id", "kyc_status")
                   + gx.unique("customer_id") + gx.in_set("kyc_status", ["verified", "needs_review", "incomplete"]),
                   check_name="customers_valid")
