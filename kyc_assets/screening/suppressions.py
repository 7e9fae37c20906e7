"""False-positive suppressions: an analyst clears a screening hit, for as long as the list entry is unchanged.

A suppression is keyed by (customer id, list entity id, the entity's content hash) and lives in the
case store (``suppressions`` table, SQLite or PostgreSQL), every change audited. ``screening_results``
marks a suppressed hit (``suppressed=True``; the decision and score stay as computed, so the hit
remains visible and auditable) and escalation opens no case for it. When the list entry's content
changes, its hash changes: the key no longer matches, the hit is live again, and the screening run
records the suppression as lifted (``CaseStore.lift_changed_suppressions``).

Plain Python; the dashboard and the CLI of a later issue call ``create_suppression``.
"""

from __future__ import annotations

import re

import pandas as pd

_HASH = re.compile(r"^[0-9a-f]{64}$")


class SuppressionError(ValueError):
    """A suppression request that cannot be recorded (one-line message)."""


def create_suppression(store, *, customer_id: str, list_entity_id: str, entry_hash: str, analyst: str,
                       reason: str, list_source: str | None = None) -> dict:
    """Clear one hit as a false positive; returns the stored suppression (``changed`` False if it already was).

    ``store`` is a ``kyc_assets.cases.store.CaseStore``; ``entry_hash`` is the ``entry_hash`` of the
    hit in ``screening_results`` (the list entry's content hash); ``analyst`` names who decided
    and ``reason`` says why (both required: a suppression without a reason is not auditable).
    """
    customer_id, list_entity_id = str(customer_id or "").strip(), str(list_entity_id or "").strip()
    analyst, reason = str(analyst or "").strip(), str(reason or "").strip()
    if not customer_id or not list_entity_id:
        raise SuppressionError("a suppression needs a customer id and a list entity id")
    if not _HASH.match(str(entry_hash or "")):
        raise SuppressionError("entry_hash must be the 64-hex content hash of the list entry (from screening_results)")
    if not analyst:
        raise SuppressionError("a suppression needs the analyst who decided it")
    if not reason:
        raise SuppressionError("a suppression needs a reason")
    return store.suppress(customer_id, list_entity_id, str(entry_hash), analyst=analyst, reason=reason,
                          list_source=list_source)


def suppress_hit(store, hit: dict, *, analyst: str, reason: str) -> dict:
    """``create_suppression`` for one ``screening_results`` row (a dict with customer_id,
    list_entity_id, entry_hash and list_source); refuses ``no_match`` rows."""
    if hit.get("decision") not in ("match", "potential_match") or not hit.get("list_entity_id"):
        raise SuppressionError("only a match or potential_match hit can be suppressed")
    return create_suppression(store, customer_id=hit["customer_id"], list_entity_id=hit["list_entity_id"],
                              entry_hash=hit.get("entry_hash"), analyst=analyst, reason=reason,
                              list_source=hit.get("list_source"))


def apply_suppressions(results: pd.DataFrame, active: set[tuple[str, str, str]]) -> pd.DataFrame:
    """``results`` with ``suppressed`` True on hits whose (customer, entity, entry hash) is actively
    suppressed; decisions and scores are left as computed."""
    out = results.copy()
    if not len(out):
        out["suppressed"] = pd.Series(dtype=bool)
        return out
    keys = zip(out["customer_id"].astype(str), out["list_entity_id"].astype(str), out["entry_hash"].astype(str),
               strict=True)
    is_hit = out["decision"].isin(["match", "potential_match"])
    out["suppressed"] = [bool(h) and k in active for k, h in zip(keys, is_hit, strict=True)]
    return out
