"""Case state in the audit log: the rows of ``cases``, ``decisions`` and ``reports`` covered by the chain.

Every write transaction of the case store that changes a case (``audit.touch``) ends, before it
commits, with one ``case_state`` audit entry holding a digest of each row of the changed cases
(the case row, its decisions and its SAR report; ``null`` for a deleted case). The entry is part of
the keyed chain, so nobody without the key can record a different state. ``kyc audit verify``
recomputes the digests of the tables and compares them with each case's last ``case_state`` entry:
a ``decisions.analyst`` rewritten in SQL, a case closed by hand, a decision row inserted or
deleted, are each named with the entry that recorded the true state.

The digest covers a fixed list of columns per table (``COVERED``), so that columns added by later
migrations do not make older entries disagree; a column that should be covered is added here,
with a note of the revision from which it is.
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa

COVERED: dict[str, tuple[str, ...]] = {
    "cases": ("case_id", "subject_type", "subject_id", "status", "priority", "risk", "reasons", "opened_at",
              "updated_at", "due_date", "assigned_to", "outcome", "closed_at", "retain_until", "version",
              "subject_name_enc", "subject_dob_enc", "subject_document_number_enc"),
    "decisions": ("decision_id", "case_id", "decision", "reason", "analyst", "decided_at", "status",
                  "previous_status", "approved_by", "approved_at", "approval_reason"),
    "reports": ("report_id", "case_id", "format", "status", "prepared_by", "created_at", "approved_by",
                "approved_at"),
}
_KEY = {"cases": "case_id", "decisions": "decision_id", "reports": "report_id"}
_canonical = json.JSONEncoder(separators=(",", ":"), default=str).encode
_CHUNK = 500


def _digest(table: str, row) -> str:
    return hashlib.sha256(_canonical([table, *(row[c] for c in COVERED[table])]).encode()).hexdigest()[:32]


def snapshot(conn: sa.Connection, case_ids) -> dict[str, dict | None]:
    """``{case_id: {"case": digest, "decisions": {id: digest}, "reports": {id: digest}}}``; ``None`` for
    a case that is not in the table (deleted)."""
    wanted = sorted(set(case_ids))
    out: dict[str, dict | None] = {c: None for c in wanted}
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i:i + _CHUNK]
        for table in ("cases", "decisions", "reports"):
            cols = ", ".join(COVERED[table])
            query = sa.text(f"SELECT {cols} FROM {table} WHERE case_id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True))
            for row in conn.execute(query, {"ids": chunk}).mappings():
                _add(out, table, row)
    return out


def _add(out: dict, table: str, row) -> None:
    case_id = row["case_id"]
    if table == "cases":
        out[case_id] = {"case": _digest(table, row), "decisions": {}, "reports": {}}
        return
    entry = out.get(case_id)
    if entry is None:  # a decision or report without its case row: recorded so that verify reports it
        entry = out[case_id] = {"case": None, "decisions": {}, "reports": {}}
    entry[table][row[_KEY[table]]] = _digest(table, row)


def record(conn: sa.Connection, case_ids, *, actor: str = "system:audit") -> int | None:
    """Append the ``case_state`` entry of ``case_ids`` inside the caller's transaction; its seq."""
    from kyc_assets.audit import log as audit

    if not case_ids:
        return None
    return audit.append(conn, actor=actor, action=audit.STATE_ACTION, subject="audit:case-state",
                        detail={"cases": snapshot(conn, case_ids)})


def _all_current(conn: sa.Connection) -> dict[str, dict | None]:
    out: dict[str, dict | None] = {}
    for table in ("cases", "decisions", "reports"):
        for row in conn.execute(sa.text(f"SELECT {', '.join(COVERED[table])} FROM {table}")).mappings():
            _add(out, table, row)
    return out


def compare_tables(conn: sa.Connection, states: dict[str, tuple[int, dict | None]]) -> tuple[int | None, str | None, int]:
    """Compare the tables with each case's last recorded state: ``(seq, problem, cases checked)``."""
    current = _all_current(conn)
    for case_id in sorted(set(current) | {c for c, (_, s) in states.items() if s is not None}):
        now = current.get(case_id)
        seq, recorded = states.get(case_id, (None, None))
        if seq is None:
            return None, f"case {case_id} is in the tables but no audit entry records it (written outside the product)", \
                len(current)
        if recorded is None:
            return seq, f"case {case_id} was deleted (audit entry {seq}) but has rows in the tables again", len(current)
        if now is None:
            return seq, f"case {case_id} recorded in audit entry {seq} is missing from the cases table", len(current)
        if now["case"] != recorded["case"]:
            return seq, f"cases row {case_id} differs from its state recorded in audit entry {seq}", len(current)
        for table in ("decisions", "reports"):
            mine, theirs = now[table], recorded.get(table, {})
            for row_id in sorted(set(mine) | set(theirs)):
                if row_id not in theirs:
                    return seq, f"{table} row {row_id} of case {case_id} is not in the audit log " \
                                f"(last state: entry {seq})", len(current)
                if row_id not in mine:
                    return seq, f"{table} row {row_id} of case {case_id} recorded in audit entry {seq} is missing", \
                        len(current)
                if mine[row_id] != theirs[row_id]:
                    return seq, f"{table} row {row_id} of case {case_id} differs from its state recorded in " \
                                f"audit entry {seq}", len(current)
    return None, None, len(current)
