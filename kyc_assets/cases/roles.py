"""Counterparty roles: a merchant's fan-in and an employer's payroll fan-out are their business (plain
Python, no Dagster).

Roles come from two places, merged (the file wins):

- the optional roles file ``KYC_ACCOUNT_ROLES_PATH``: a CSV with columns ``account_id`` and ``role``
  (one of :data:`ROLES`), e.g. the bank's merchant-acquiring and payroll-service client lists;
- the transactions themselves (:func:`infer_roles`): an account paid by card by at least
  ``MIN_CARD_PAYERS`` different accounts is a merchant (only merchants accept card payments); an account
  that pays at least ``MIN_PAYROLL_EMPLOYEES`` different accounts the same amount twice or more over ACH
  runs a payroll.

At escalation, the typologies a role explains (:data:`EXPLAINED`) do not open a case by themselves, and
neither do model-only alerts on such an account (its volume is what the model finds unusual); they stay in
``anomaly_scores``. Any other typology (structuring at a merchant, a cycle through an employer) still does.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ROLES = ("merchant", "payroll")
EXPLAINED: dict[str, frozenset[str]] = {
    "merchant": frozenset({"fan_in", "fan_in_burst", "velocity_spike", "gather_scatter", "rapid_pass_through"}),
    "payroll": frozenset({"fan_out", "fan_out_burst", "velocity_spike", "gather_scatter", "rapid_pass_through"}),
}
MIN_CARD_PAYERS = 5
MIN_PAYROLL_EMPLOYEES = 5


def load_roles_file(path: str | Path | None) -> dict[str, str]:
    """account_id -> role from the roles CSV ({} without a path); ValueError in one line on a bad file."""
    if not path:
        return {}
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"KYC_ACCOUNT_ROLES_PATH: cannot read {path}: {type(exc).__name__}") from None
    if not {"account_id", "role"} <= set(frame.columns):
        raise ValueError(f"KYC_ACCOUNT_ROLES_PATH: {path} needs the columns account_id and role")
    out = {}
    for i, (account, role) in enumerate(zip(frame["account_id"], frame["role"], strict=True), start=2):
        role = role.strip().lower()
        if role not in ROLES:
            raise ValueError(f"KYC_ACCOUNT_ROLES_PATH: line {i}: unknown role {role[:30]!r} "
                             f"(valid: {', '.join(ROLES)})")
        if account.strip():
            out[account.strip()] = role
    return out


def infer_roles(transactions: pd.DataFrame) -> dict[str, str]:
    """account_id -> role read from the transactions (see the module docstring); {} without the columns."""
    need = {"sender_account", "receiver_account", "channel", "amount"}
    if not len(transactions) or not need <= set(transactions.columns):
        return {}
    tx = transactions[list(need)].astype({"channel": str, "sender_account": str, "receiver_account": str})
    card = tx[tx["channel"] == "card"]
    payers = card.groupby("receiver_account")["sender_account"].nunique()
    out = {a: "merchant" for a in payers[payers >= MIN_CARD_PAYERS].index}
    ach = tx[tx["channel"] == "ach"].assign(amount=pd.to_numeric(tx["amount"], errors="coerce").round(2))
    repeated = ach.groupby(["sender_account", "receiver_account", "amount"]).size()
    repeated = repeated[repeated >= 2].reset_index()
    employees = repeated.groupby("sender_account")["receiver_account"].nunique()
    out.update({a: "payroll" for a in employees[employees >= MIN_PAYROLL_EMPLOYEES].index if a not in out})
    return out


def explained(role: str | None, rules: list[str]) -> list[str]:
    """Those of ``rules`` the account's role explains."""
    return [r for r in rules if r in EXPLAINED.get(role or "", frozenset())]
