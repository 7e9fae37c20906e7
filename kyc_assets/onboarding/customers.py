"""One customer profile per person, merged from the documents that belong together.

Identity documents (passport, ID card, visa) define a person by normalised name and date of
birth; proof-of-address documents (utility bills, bank statements) attach to the person whose
name they carry. Every profile field records where it came from (document sha256, extraction
method, confidence), so an analyst or auditor can see which bytes said what.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pandas as pd

from kyc_assets.onboarding.llm import LLM_FAILURE_PREFIX
from kyc_assets.screening.normalize import normalize_name

IDENTITY_TYPES = ("passport", "id_card", "visa")
ADDRESS_TYPES = ("utility_bill", "bank_statement")
PROFILE_FIELDS = ("surname", "given_names", "date_of_birth", "nationality", "sex", "document_number",
                  "document_type", "expiry_date", "address")
CUSTOMER_COLUMNS = ("customer_id", "full_name", *PROFILE_FIELDS, "kyc_status", "document_count",
                    "document_sha256s", "provenance", "warnings")


def _name_key(surname: object, given_names: object) -> str:
    full = f"{given_names or ''} {surname or ''}".strip()
    return " ".join(sorted(normalize_name(full, "person").split()))


def _customer_id(key: str) -> str:
    return "C-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def _field_sources(value: object) -> dict:
    """Per-field provenance of an extracted row (JSON text or dict; absent in older rows)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        return dict(json.loads(value))
    return {}


def _blocking(warnings: list[str]) -> list[str]:
    """Warnings that need an analyst: all but 'the LLM was unavailable' (the deterministic reading stands)."""
    return [w for w in warnings if not w.startswith(LLM_FAILURE_PREFIX)]


def _warnings(value: object) -> list[str]:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value:
        return list(json.loads(value))
    return []


def build_customers(extracted: pd.DataFrame, today: date | None = None) -> pd.DataFrame:
    """Merge extracted document rows (one per document) into customer profiles."""
    today = today or date.today()
    # Missing values as None whatever the dtypes (pandas NA has no truth value).
    extracted = extracted.astype(object).where(extracted.notna(), None)
    ok = extracted[extracted.get("status", "ok") == "ok"] if len(extracted) else extracted
    profiles: dict[str, dict] = {}
    by_name: dict[str, str] = {}

    identity = ok[ok["document_type"].isin(IDENTITY_TYPES)] if len(ok) else ok
    # Best evidence first: valid MRZ, then confidence; stable order by sha for determinism.
    if len(identity):
        identity = identity.assign(_valid=identity["mrz_valid"].astype("boolean").fillna(False).astype(bool)).sort_values(
            ["_valid", "confidence", "document_sha256"], ascending=[False, False, True])
    for row in identity.itertuples(index=False):
        if not row.surname or not row.date_of_birth:
            continue
        name_key = _name_key(row.surname, row.given_names)
        key = f"{name_key}|{row.date_of_birth}"
        profile = profiles.setdefault(key, {"documents": [], "provenance": {}, "warnings": [], "fields": {}})
        _absorb(profile, row._asdict(), PROFILE_FIELDS)
        by_name.setdefault(name_key, key)

    address_docs = ok[ok["document_type"].isin(ADDRESS_TYPES)] if len(ok) else ok
    for row in address_docs.sort_values("document_sha256").itertuples(index=False) if len(address_docs) else []:
        name_key = _name_key(row.surname, row.given_names)
        if not name_key:
            continue
        key = by_name.get(name_key, f"{name_key}|")
        profile = profiles.setdefault(key, {"documents": [], "provenance": {}, "warnings": [], "fields": {}})
        _absorb(profile, row._asdict(), ("surname", "given_names", "address"))

    rows = []
    for key, profile in sorted(profiles.items()):
        fields = profile["fields"]
        has_identity = fields.get("document_type") in IDENTITY_TYPES
        expiry = fields.get("expiry_date")
        expired = bool(expiry) and str(expiry) < today.isoformat()
        if not has_identity:
            status = "incomplete"
        elif _blocking(profile["warnings"]) or expired or not profile.get("mrz_valid"):
            status = "needs_review"
        else:
            status = "verified"
        rows.append({
            "customer_id": _customer_id(key),
            "full_name": f"{fields.get('given_names') or ''} {fields.get('surname') or ''}".strip(),
            **{f: fields.get(f) for f in PROFILE_FIELDS},
            "kyc_status": status,
            "document_count": len(profile["documents"]),
            "document_sha256s": json.dumps(sorted(profile["documents"])),
            "provenance": json.dumps(profile["provenance"], sort_keys=True),
            "warnings": json.dumps(sorted(set(profile["warnings"] + (["document expired"] if expired else [])))),
        })
    return pd.DataFrame(rows, columns=list(CUSTOMER_COLUMNS))


def _is_true(value: object) -> bool:
    """True for True/np.True_, False for False, None and pandas NA (nullable booleans)."""
    return value is not None and value is not pd.NA and bool(value)


def _absorb(profile: dict, row: dict, fields: tuple[str, ...]) -> None:
    """Fill the profile's empty fields from ``row`` (best evidence arrives first) and warn on conflicts."""
    profile["documents"].append(row["document_sha256"])
    if _is_true(row.get("mrz_valid")):
        profile["mrz_valid"] = True
    profile["warnings"].extend(_warnings(row.get("warnings")))
    sources = _field_sources(row.get("field_sources"))
    for field in fields:
        value = row.get(field)
        if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
            continue
        current = profile["fields"].get(field)
        if current is None:
            source = sources.get(field) or {"method": row.get("method"), "confidence": row.get("confidence")}
            confidence = source.get("confidence")
            profile["fields"][field] = value
            profile["provenance"][field] = {
                "document_sha256": row["document_sha256"],
                "method": source.get("method"),
                "confidence": None if confidence is None or pd.isna(confidence) else float(confidence),
            }
        elif field in ("date_of_birth", "document_number") and str(current) != str(value) \
                and row.get("document_type") == profile["fields"].get("document_type"):
            profile["warnings"].append(f"{field} differs between documents")
