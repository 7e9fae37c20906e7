"""What makes an evidence bundle readable without the live system: the details the evidence points to
(read from the warehouse at export time), ``summary.html`` and ``README.txt``. Used by cases/export.py.

PII follows the case store: when the store holds the case's PII (``KYC_CASE_KEYS`` set, so
``case["pii_available"]``), the customer profile and extracted fields are shown as they are; otherwise
every personal-data column (quality/masking.PII_COLUMNS) is masked, as in Dagster metadata.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from kyc_assets.quality.masking import PII_COLUMNS, mask_value

TEMPLATE = "bundle_summary.html"
TEMPLATES = Path(__file__).resolve().parent / "web" / "templates"


def _plain(value: object) -> object:
    """A JSON-safe value: timestamps as ISO text without microseconds, NaN as None, JSON text parsed."""
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _row(row: dict, *, pii: bool) -> dict:
    out = {}
    for k, v in row.items():
        v = _plain(v)
        if v in (None, "", [], {}):
            continue
        out[k] = v if pii or k not in PII_COLUMNS else mask_value(v)
    return out


def bundle_details(case: dict, warehouse_path: str | Path | None) -> dict:
    """The customer profile, extracted document fields, screening rows with their list entries, and
    alert rows behind ``case`` (``CaseStore.get_case`` output), from the warehouse. ``error`` says why
    a part is missing (no warehouse given, or it cannot be read); nothing is invented."""
    from kyc_assets.cases.web.evidence import (
        WarehouseUnavailable,
        _documents,
        _list_entries,
        _rows,
        _tables,
        document_keys,
        warehouse,
    )

    pii = bool(case.get("pii_available"))
    evidence = case.get("evidence") or []
    out = {"pii_included": pii, "read_at_export": True, "error": None, "customer": None, "documents": [],
           "screening_hits": [], "alerts": []}
    if warehouse_path is None:
        out["error"] = "no warehouse was given to the export: details not included"
        return out
    try:
        with warehouse(warehouse_path) as conn:
            tables = _tables(conn)
            for doc in _documents(conn, tables, document_keys(evidence)):
                doc["fields"] = _row(doc["fields"], pii=pii)
                doc["original_name"] = doc["original_name"] if pii else mask_value(doc["original_name"])
                out["documents"].append(doc)
            entries = _list_entries(conn, tables, evidence)
            subject = str(case["subject_id"])
            for e in evidence:
                ref = e.get("reference") or {}
                if e["kind"] != "screening_hit":
                    continue
                rows = _rows(conn, "SELECT * FROM kyc.screening_results WHERE customer_id = ? AND list_entity_id = ? "
                                   "ORDER BY (list_version = ?) DESC LIMIT 1",
                             [subject, ref.get("list_entity_id"), ref.get("list_version") or ""]) \
                    if "screening_results" in tables else []
                out["screening_hits"].append({
                    "evidence_id": e["evidence_id"], "reason": e["reason"],
                    "screening_row": _row(rows[0], pii=pii) if rows else None,
                    "list_entry": {k: _plain(v) for k, v in (entries.get(e["evidence_id"]) or {}).items()} or None})
            if case["subject_type"] == "customer" and "customers" in tables:
                rows = _rows(conn, "SELECT * FROM kyc.customers WHERE customer_id = ? LIMIT 1", [subject])
                out["customer"] = _row(rows[0], pii=pii) if rows else None
            days = sorted({(e.get("reference") or {}).get("partition") for e in evidence
                           if e["kind"] == "anomaly_alert"} - {None})
            if days and "anomaly_scores" in tables:
                rows = _rows(conn, "SELECT * FROM kyc.anomaly_scores WHERE account_id = ? AND alert "
                                   "ORDER BY as_of_date", [subject])
                out["alerts"] = [r for r in (_row(r, pii=pii) for r in rows) if str(r.get("as_of_date"))[:10] in days]
    except WarehouseUnavailable as exc:
        out["error"] = f"warehouse not readable at export: {exc}"
    return out


def _when(value: object) -> str:
    """A timestamp for people: seconds, 'UTC' spelled out."""
    if not value:
        return "-"
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    if parsed.tzinfo is None or parsed.utcoffset().total_seconds() == 0:
        return parsed.strftime("%Y-%m-%d %H:%M:%S UTC") if len(text) > 10 else parsed.strftime("%Y-%m-%d")
    return parsed.replace(microsecond=0).isoformat(sep=" ")


def _value(value: object) -> str:
    """Lists as comma-separated text, mappings as 'key: value' pairs, never raw JSON."""
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_value(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def render_summary(context: dict) -> str:
    """``summary.html``: one self-contained page (inline style, no script, no link outside the bundle)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.ChainableUndefined)
    env.filters["when"] = _when
    env.filters["value"] = _value
    evidence = sorted(context["case"].get("evidence") or [], key=lambda e: (
        e["kind"], str((e.get("reference") or {}).get("partition") or ""), e["evidence_id"]))
    return env.get_template(TEMPLATE).render(**{**context, "case": {**context["case"], "evidence": evidence}})


README = """Evidence bundle of case {case_id} ({fmt})
Exported {exported_at} by {exported_by} for {institution}.

Open summary.html in a browser first: it is the case for people (no script, no network).

Files
  summary.html     the case, its evidence in words, list entry beside the customer, decisions, lineage
  README.txt       this file
  case.json        the case: status, priority, reasons, dates, retention{pii_case}
  decisions.json   every decision with its reason and its four-eyes approval
  evidence.json    the evidence items and their references (asset, partition, run id, data version)
  details.json     what the evidence points to, read from the warehouse at export: customer profile,
                   extracted document fields, screening rows with explanations, list entries, alerts
                   {pii_details}
  trace.json       the lineage: every Dagster materialization behind the evidence (trace.txt: as text)
  audit.json       the audit log entries of this case
{report_line}{document_lines}  manifest.json    sha256 and size of every file above
  SHA256SUMS       the same hashes in `sha256sum -c` format
{missing_line}
Verify
  sha256sum -c SHA256SUMS          (any system with coreutils)
  kyc case verify-bundle DIR       (checks every file against manifest.json, and that none was added)
Any changed, missing or added file makes both fail.
"""


def render_readme(context: dict) -> str:
    case, details = context["case"], context["details"]
    pii_note = "(personal data as the case store holds it)" if details.get("pii_included") else \
        "(personal data masked: the case store holds none for this case)"
    documents = "".join(f"  {name:<16} document {sha[:12]}, bytes as received (sha256 = its name)\n"
                        for sha, name in context["document_files"].items())
    return README.format(
        case_id=case["case_id"], fmt=context["format"], exported_at=context["exported_at"],
        exported_by=context["exported_by"], institution=context["institution"],
        pii_case=" and subject" if case.get("pii_available") else "", pii_details=pii_note,
        report_line="  report.json      the SAR draft (kyc-sar-json/1)\n" if context.get("report") else "",
        document_lines=documents,
        missing_line=(f"Not included: {len(context['missing'])} document(s) missing from the document store.\n"
                      if context["missing"] else ""))
