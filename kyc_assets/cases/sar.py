"""Suspicious activity report (SAR) drafts for confirmed cases, in a documented JSON format.

Format ``kyc-sar-json/1`` (``schemas/sar-draft.schema.json``, JSON Schema 2020-12) follows the
structure of a FinCEN SAR: the filing institution, the subject (name, date of birth and
identification, decrypted from the case store when ``KYC_CASE_KEYS`` is set, else null with
``pii_available`` false), the suspicious activity (categories, period, risk, a narrative written
from the case), the evidence it rests on and the four-eyes decision trail. The draft is built
deterministically from the case whenever it is needed (export, ``kyc case report``) and validated
against the schema; only its status and approvals are stored, so PII is never stored twice.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from kyc_assets.cases.reasons import case_sentences

SAR_FORMAT = "kyc-sar-json/1"
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "sar-draft.schema.json"
_TYPOLOGY_CATEGORIES = {"structuring": "structuring", "high_risk": "high_risk_jurisdiction",
                        "rapid": "rapid_movement_of_funds", "pass_through": "rapid_movement_of_funds"}


class SarError(ValueError):
    """The case cannot be reported, or the draft breaks the schema (one line)."""


@cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_sar(document: dict) -> None:
    """Raise SarError naming the first schema violation (path and message)."""
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema()).iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        raise SarError(f"SAR draft invalid at {where}: {first.message.splitlines()[0][:200]}")


def _categories(evidence: list[dict]) -> list[str]:
    out = []
    for e in evidence:
        ref = e.get("reference") or {}
        if e["kind"] == "screening_hit":
            out.append("politically_exposed_person" if ref.get("hit_type") == "pep" else "sanctions_match")
        elif e["kind"] == "document_failure":
            out.append("identification_documentation")
        else:
            reasons = str(ref.get("reasons") or "")
            found = [cat for key, cat in _TYPOLOGY_CATEGORIES.items() if key in reasons]
            out.extend(found or ["unusual_transaction_pattern"])
    return sorted(set(out)) or ["other"]


def _period(case: dict) -> tuple[str, str]:
    days = sorted(e["reference"]["partition"] for e in case["evidence"]
                  if e["kind"] == "anomaly_alert" and e["reference"].get("partition"))
    if days:
        return days[0], days[-1]
    opened = case["opened_at"][:10]
    return opened, (case.get("closed_at") or case["opened_at"])[:10]


def _narrative(case: dict, confirmed: dict) -> str:
    reasons = " ".join(r if r.endswith(".") else r + "." for r in case_sentences(case)).rstrip(".")
    return (f"Case {case['case_id']} on {case['subject_type']} {case['subject_id']} was opened on "
            f"{case['opened_at'][:10]} with {len(case['evidence'])} evidence item(s): {reasons}. "
            f"Analyst {confirmed['analyst']} confirmed the activity as suspicious on "
            f"{confirmed['decided_at'][:10]} ({confirmed['reason']}); analyst {confirmed['approved_by']} "
            f"approved the confirmation on {(confirmed['approved_at'] or '')[:10]}.")


def build_sar(case: dict, *, institution: str) -> dict:
    """The SAR draft of a confirmed case (``CaseStore.get_case`` output), validated against the schema."""
    report = case.get("report")
    confirmed = next((d for d in case["decisions"] if d["decision"] == "confirmed" and d["status"] == "approved"),
                     None)
    if report is None or confirmed is None:
        raise SarError(f"case {case['case_id']} is not a confirmed case: no report")
    date_from, date_to = _period(case)
    doc_type = next((e["reference"].get("document_type") for e in case["evidence"]
                     if e["reference"].get("document_type")), None)
    document = {
        "format": SAR_FORMAT, "report_id": report["report_id"], "case_id": case["case_id"],
        "status": report["status"], "prepared_by": report["prepared_by"], "approved_by": report["approved_by"],
        "created_at": report["created_at"], "approved_at": report["approved_at"],
        "filing_institution": {"name": institution},
        "subject": {"subject_type": case["subject_type"], "subject_id": case["subject_id"],
                    "name": case.get("subject_name"), "date_of_birth": case.get("subject_dob"),
                    "identification": {"type": doc_type if case.get("subject_document_number") else None,
                                       "number": case.get("subject_document_number")},
                    "pii_available": bool(case.get("pii_available"))},
        "suspicious_activity": {"categories": _categories(case["evidence"]), "date_from": date_from,
                                "date_to": date_to, "risk": float(case["risk"]), "priority": int(case["priority"]),
                                "narrative": _narrative(case, confirmed)},
        "evidence": [{"evidence_id": e["evidence_id"], "kind": e["kind"], "reason": e["reason"],
                      "reference": e["reference"]} for e in case["evidence"]],
        "decisions": [{k: d[k] for k in ("decision_id", "decision", "analyst", "decided_at", "status", "approved_by",
                                         "approved_at")} for d in case["decisions"]],
    }
    validate_sar(document)
    return document
