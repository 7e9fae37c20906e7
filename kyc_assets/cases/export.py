"""The examiner's evidence bundle of one case, with a sha256 manifest that can be verified later.

The bundle stands on its own: an examiner with no access to the live system reads ``summary.html``
(or ``README.txt``) first. ``kyc case export CASE_ID --out DIR`` writes into DIR (new or empty):

- ``summary.html``: the case for people (subject, evidence in words, the list entry beside the
  customer, the screening row with its explanation, extracted document fields, the alerts, the
  decisions with their reasons, the SAR draft's status, the lineage and the file list); one file, no
  scripts, no network; ``README.txt``: what each file is and how to verify the bundle,
- ``case.json``: the case (status, priority, reasons, dates, retention, PII decrypted when
  ``KYC_CASE_KEYS`` is set), ``decisions.json``: every decision with its reason and four-eyes approval,
- ``evidence.json``: the evidence items with their references, ``details.json``: what the evidence
  points to, read from the warehouse at export time: the customer profile, the extracted fields of each
  document, each screening row (score, decision, explanation) with the list entry's full content, and
  the alert rows of an account. PII follows the case store: shown when the store holds the case's PII
  (``KYC_CASE_KEYS``), masked otherwise,
- ``evidence/<sha256>.<ext>``: the document bytes from the document store (decrypted with
  ``KYC_DOCUMENT_KEYS``; the sha256 is their name, checked on read; the extension comes from the bytes),
- ``report.json``: the SAR draft of a confirmed case (validated against its schema),
- ``trace.json`` / ``trace.txt``: the lineage (``kyc trace``), ``audit.json``: the case's audit entries,
- ``manifest.json``: sha256 and size of every file above, and ``SHA256SUMS`` (``sha256sum -c`` format).

The bundle is built in a temporary folder next to DIR and renamed into place, so a failure never
leaves a half-written bundle. The export itself is audited (``case_exported`` with the manifest's sha256).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

BUNDLE_FORMAT = "kyc-evidence-bundle/1"
_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "application/pdf": ".pdf", "image/tiff": ".tif",
               "image/webp": ".webp"}


class ExportError(ValueError):
    """The bundle cannot be written or does not verify (one line)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n",
                    encoding="utf-8")


def document_extension(data: bytes) -> str:
    """The file extension of a document from its bytes (the platform's intake detection), '.bin' if unknown."""
    from kyc_assets.onboarding.ocr import detect_media_type

    return _EXTENSIONS.get(detect_media_type(data) or "", ".bin")


def export_bundle(store, case_id: str, out_dir: str | Path, *, document_store=None, instance=None,
                  institution: str = "", actor: str = "cli", warehouse_path: str | Path | None = None) -> dict:
    """Write the bundle of ``case_id`` into ``out_dir``; returns the manifest. ``warehouse_path``: the
    DuckDB warehouse the evidence details are read from (without it, details.json says they are missing)."""
    from kyc_assets.audit.trace import build_trace, render_trace
    from kyc_assets.cases.bundle import bundle_details, render_readme, render_summary
    from kyc_assets.cases.sar import build_sar

    case = store.get_case(case_id)  # CaseNotFound for an unknown id
    target = Path(out_dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ExportError(f"{target} exists and is not an empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        decisions = case.pop("decisions")
        evidence = case.pop("evidence")
        events = case.pop("events")
        _write_json(tmp / "case.json", {**case, "events": events})
        _write_json(tmp / "decisions.json", decisions)
        _write_json(tmp / "evidence.json", evidence)
        full = {**case, "decisions": decisions, "evidence": evidence, "events": events}
        report = None
        if case.get("report"):
            report = build_sar(full, institution=institution or "unknown institution")
            _write_json(tmp / "report.json", report)
        trace = build_trace(full, instance=instance, document_store=document_store)
        _write_json(tmp / "trace.json", trace)
        (tmp / "trace.txt").write_text(render_trace(trace) + "\n", encoding="utf-8")
        _write_json(tmp / "audit.json", list(reversed(store.audit_entries(subject=case["case_id"], limit=100_000))))
        details = bundle_details(full, warehouse_path)
        _write_json(tmp / "details.json", details)
        missing, document_files = [], {}
        for doc in trace["documents"]:
            if document_store is None or not document_store.contains(doc["sha256"]):
                missing.append(doc["sha256"])
                continue
            data = document_store.get(doc["sha256"])  # decrypted, hash-checked
            (tmp / "evidence").mkdir(exist_ok=True)
            name = f"evidence/{doc['sha256']}{document_extension(data)}"
            (tmp / name).write_bytes(data)
            document_files[doc["sha256"]] = name
        exported_at = datetime.now(UTC).isoformat(timespec="seconds")
        context = {"case": full, "details": details, "trace": trace, "report": report, "missing": missing,
                   "document_files": document_files, "exported_at": exported_at, "exported_by": actor,
                   "institution": institution or "unknown institution", "format": BUNDLE_FORMAT}
        (tmp / "README.txt").write_text(render_readme(context), encoding="utf-8")
        (tmp / "summary.html").write_text(render_summary(context), encoding="utf-8")
        files = {}
        for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
            rel = path.relative_to(tmp).as_posix()
            files[rel] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
        manifest = {"format": BUNDLE_FORMAT, "case_id": case["case_id"], "status": case["status"],
                    "outcome": case.get("outcome"), "retain_until": case.get("retain_until"),
                    "exported_at": exported_at, "exported_by": actor,
                    "missing_documents": missing, "files": files}
        _write_json(tmp / "manifest.json", manifest)
        (tmp / "SHA256SUMS").write_text("".join(f"{v['sha256']}  {k}\n" for k, v in files.items()), encoding="utf-8")
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest_sha = _sha256(target / "manifest.json")
    store.append_audit(actor=actor, action="case_exported", subject=case["case_id"],
                       detail={"manifest_sha256": manifest_sha, "files": len(files), "missing_documents": len(missing)})
    return {**manifest, "manifest_sha256": manifest_sha}


def verify_bundle(bundle_dir: str | Path) -> list[str]:
    """Problems of a bundle (a file missing, changed or added since export); empty when it verifies."""
    root = Path(bundle_dir)
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"{root}: no readable manifest.json ({type(exc).__name__})") from exc
    problems = []
    for rel, meta in sorted(manifest["files"].items()):
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif _sha256(path) != meta["sha256"]:
            problems.append(f"{rel}: sha256 differs from the manifest")
    extra = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - set(manifest["files"]) \
        - {"manifest.json", "SHA256SUMS"}
    problems += [f"{rel}: not in the manifest" for rel in sorted(extra)]
    return problems
