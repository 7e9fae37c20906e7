"""Shared builders for the case-work tests (stores, candidates)."""

from __future__ import annotations

from cryptography.fernet import Fernet

from kyc_assets.cases.escalation import CaseCandidate, Evidence
from kyc_assets.cases.store import CaseStore

ENTRY_HASH = "e" * 64


def hit(customer: str = "C-1", entity: str = "us_ofac_sdn:1", score: float = 0.95) -> Evidence:
    return Evidence(kind="screening_hit", risk=score, reason=f"sanctions match: {entity}",
                    identity=(customer, entity, ENTRY_HASH, score),
                    reference={"asset_key": "screening_results", "run_id": "run-1", "list_source": "us_ofac_sdn",
                               "list_entity_id": entity, "list_version": "v1", "entry_hash": ENTRY_HASH,
                               "hit_type": "sanctions", "document_sha256s": ["a" * 64], "decision": "match",
                               "score": score, "explanation": "name tokens 2/2 aligned; DOB matches"})


def alert(account: str = "ACC1", day: str = "2026-09-03", risk: float = 0.8) -> Evidence:
    return Evidence(kind="anomaly_alert", risk=risk, reason="transaction monitoring alert: structuring",
                    identity=(account, day, "structuring"),
                    reference={"asset_key": "anomaly_scores", "partition": day, "run_id": "run-2",
                               "model_version": "m-1", "reasons": "structuring"})


def customer_case(customer: str = "C-1", **pii) -> CaseCandidate:
    return CaseCandidate("customer", customer, [hit(customer)],
                         pii=pii or {"subject_name": "Jane <b>Doe</b>", "subject_dob": "1980-01-02",
                                     "subject_document_number": "X1234567"})


def new_key() -> str:
    return Fernet.generate_key().decode()


def sqlite_store(tmp_path, name: str = "cases.sqlite", **kwargs) -> CaseStore:
    return CaseStore(f"sqlite:///{tmp_path / name}", **kwargs)


def opened(store: CaseStore, candidate: CaseCandidate | None = None) -> str:
    """Escalate one candidate and return its case id."""
    store.escalate([candidate or customer_case()], sla_days=5)
    cand = candidate or customer_case()
    return next(c["case_id"] for c in store.list_cases() if c["subject_id"] == cand.subject_id)
