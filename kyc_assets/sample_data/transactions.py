"""Deterministic synthetic transactions in the canonical schema, with planted and labelled AML typologies.

Ordinary activity: card spend at merchants (log-normal amounts), monthly salaries from employers, transfers
between customers and to/from external accounts, cash withdrawals and deposits. Cash movements are
self-transactions (``sender_account == receiver_account``) with channel ``cash_deposit`` /
``cash_withdrawal``, the convention the monitoring features rely on.

Planted typologies, each on its own customer accounts, at random times over the whole period: structuring,
fan_in, fan_out, cycle, rapid_pass_through, high_risk_corridor, scatter_gather (A -> several intermediaries
-> C) and gather_scatter (several sources -> hub -> several destinations). Counterparties of planted flows
are external accounts (``EXT-...``) except in cycles, scatter-gather and gather-scatter, where every
participant is a customer account and labelled.

Rows are built with numpy/pyarrow column operations; 1,000,000 rows take a few seconds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kyc_assets.monitoring.schema import CANONICAL_COLUMNS

TYPOLOGIES: tuple[str, ...] = (
    "structuring",
    "fan_in",
    "fan_out",
    "cycle",
    "rapid_pass_through",
    "high_risk_corridor",
    "scatter_gather",
    "gather_scatter",
)
HIGH_RISK = ("IR", "KP", "MM", "SY", "AF", "YE")
_HOME_COUNTRIES = np.array(["US", "US", "US", "US", "US", "US", "US", "GB", "DE", "FR", "CA", "MX"], dtype=object)
_FOREIGN = np.array(["GB", "DE", "FR", "CA", "MX", "IN", "CN", "BR", "JP", "AE"], dtype=object)
_DAY = 86_400


class _Rows:
    """Column buffers for planted rows (small; appended per typology instance)."""

    def __init__(self) -> None:
        self.cols: dict[str, list] = {k: [] for k in ("s", "r", "t", "c", "cur", "sc", "rc", "ch", "tag")}

    def add(self, s, r, t, cents, ch, tag, sc="US", rc="US", cur="USD") -> None:
        size = len(np.atleast_1d(t))

        def rep(v):
            arr = np.asarray(v, dtype=object) if not np.isscalar(v) else np.full(size, v, dtype=object)
            return np.broadcast_to(arr, (size,))

        for key, val in (("s", s), ("r", r), ("sc", sc), ("rc", rc), ("cur", cur), ("ch", ch)):
            self.cols[key].append(rep(val))
        self.cols["t"].append(np.atleast_1d(np.asarray(t, dtype=np.int64)))
        self.cols["c"].append(np.atleast_1d(np.asarray(cents, dtype=np.int64)))
        self.cols["tag"].append(np.full(size, tag, dtype=np.int64))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for key, parts in self.cols.items():
            if parts:
                out[key] = np.concatenate(parts)
            else:
                out[key] = np.array([], dtype=np.int64 if key in ("t", "c", "tag") else object)
        return out


def _ext(prefix: str, idx: np.ndarray) -> np.ndarray:
    """External account ids such as EXT-000123 (vectorised)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.asarray(idx, dtype=np.int64)), pa.string()), 6, "0")
    return np.asarray(pc.binary_join_element_wise(prefix, digits, "").to_numpy(zero_copy_only=False), dtype=object)


def _cents(rng: np.random.Generator, mean_log: float, sigma: float, size: int, low: float = 1.0) -> np.ndarray:
    return np.maximum(np.round(rng.lognormal(mean_log, sigma, size) * 100), low * 100).astype(np.int64)


def _plant(rng, accounts, k, t_lo, t_hi, home) -> tuple[_Rows, list[tuple[str, list[str]]]]:
    """Planted typology rows; returns the rows and, per tag, (typology, accounts involved)."""
    rows = _Rows()
    instances: list[tuple[str, list[str]]] = []
    order = rng.permutation(len(accounts))
    pos = 0
    ext_counter = [0]

    def take(m: int) -> list[str]:
        nonlocal pos
        picked = [accounts[i] for i in order[pos : pos + m]]
        pos += m
        return picked

    def ext(m: int) -> np.ndarray:
        ids = _ext("EXT-P", np.arange(ext_counter[0], ext_counter[0] + m))
        ext_counter[0] += m
        return ids

    def t0(span_days: float) -> int:
        hi = max(t_lo, t_hi - int(span_days * _DAY))
        return int(rng.integers(t_lo, hi + 1))

    for _ in range(k):  # structuring: 4-7 cash deposits just under 10,000 within 2-6 days
        (acct,) = take(1)
        tag = len(instances)
        instances.append(("structuring", [acct]))
        m = int(rng.integers(4, 8))
        start = t0(6)
        t = start + np.sort(rng.integers(0, int(rng.integers(2, 7)) * _DAY, m))
        rows.add(acct, acct, t, rng.integers(900_000, 999_000, m), "cash_deposit", tag, home[acct], home[acct])

    for _ in range(k):  # fan-in: 12-25 distinct senders within 5 days, then consolidation out
        (acct,) = take(1)
        tag = len(instances)
        instances.append(("fan_in", [acct]))
        m = int(rng.integers(12, 26))
        start = t0(7)
        t = start + np.sort(rng.integers(0, 5 * _DAY, m))
        cents = rng.integers(150_000, 950_000, m)
        rows.add(ext(m), acct, t, cents, rng.choice(["wire", "ach"], m), tag, "US", home[acct])
        rows.add(acct, ext(1), [t[-1] + int(rng.integers(1, 3)) * _DAY], [int(cents.sum() * 0.9)], "wire", tag,
                 home[acct], "US")

    for _ in range(k):  # fan-out: one large inflow dispersed to 12-25 distinct receivers within 5 days
        (acct,) = take(1)
        tag = len(instances)
        instances.append(("fan_out", [acct]))
        m = int(rng.integers(12, 26))
        start = t0(7)
        total = int(rng.integers(5_000_000, 15_000_000))
        rows.add(ext(1), acct, [start], [total], "wire", tag, "US", home[acct])
        t = start + 3600 + np.sort(rng.integers(0, 5 * _DAY, m))
        share = rng.dirichlet(np.full(m, 5.0)) * total * 0.95
        rows.add(acct, ext(m), t, np.round(share).astype(np.int64), rng.choice(["wire", "ach"], m), tag,
                 home[acct], "US")

    for _ in range(k):  # cycle: A -> B -> C (-> D) -> A with decaying amounts, 1-2 rounds
        hops = int(rng.integers(3, 5))
        members = take(hops)
        tag = len(instances)
        instances.append(("cycle", members))
        t = t0(12)
        amount = int(rng.integers(2_000_000, 10_000_000))
        for _round in range(int(rng.integers(1, 3))):
            for h in range(hops):
                src, dst = members[h], members[(h + 1) % hops]
                rows.add(src, dst, [t], [amount], "wire", tag, home[src], home[dst])
                t += int(rng.integers(6 * 3600, 48 * 3600))
                amount = int(amount * rng.uniform(0.95, 0.99))

    for _ in range(k):  # rapid pass-through: large inflow leaves again within hours, 2-3 times
        (acct,) = take(1)
        tag = len(instances)
        instances.append(("rapid_pass_through", [acct]))
        t = t0(8)
        for _round in range(int(rng.integers(2, 4))):
            amount = int(rng.integers(2_000_000, 8_000_000))
            rows.add(ext(1), acct, [t], [amount], "wire", tag, "US", home[acct])
            out_t = t + int(rng.integers(3600, 10 * 3600))
            rows.add(acct, ext(1), [out_t], [int(amount * rng.uniform(0.95, 0.99))], "wire", tag, home[acct],
                     str(rng.choice(_FOREIGN)))
            t = out_t + int(rng.integers(1, 3)) * _DAY

    for _ in range(k):  # high-risk corridor: 3-6 wires to/from high-risk jurisdictions
        (acct,) = take(1)
        tag = len(instances)
        instances.append(("high_risk_corridor", [acct]))
        m = int(rng.integers(3, 7))
        start = t0(20)
        t = start + np.sort(rng.integers(0, 20 * _DAY, m))
        outward = rng.random(m) < 0.7
        other = ext(m)
        cty = rng.choice(HIGH_RISK, m).astype(object)
        cents = rng.integers(200_000, 2_000_000, m)
        rows.add(np.where(outward, acct, other), np.where(outward, other, acct), t, cents, "wire", tag,
                 np.where(outward, home[acct], cty), np.where(outward, cty, home[acct]))
    for _ in range(k):  # scatter-gather: A -> 3-6 intermediaries -> C, each forwarding 90-99% within days
        mids = int(rng.integers(3, 7))
        members = take(mids + 2)
        if len(members) < mids + 2:
            break
        src, dst, middle = members[0], members[-1], members[1:-1]
        tag = len(instances)
        instances.append(("scatter_gather", members))
        start = t0(10)
        for i, b in enumerate(middle):
            amount = int(rng.integers(300_000, 2_000_000))
            t1 = start + int(rng.integers(0, 2 * _DAY)) + i
            rows.add(src, b, [t1], [amount], "wire", tag, home[src], home[b])
            t2 = t1 + int(rng.integers(3 * 3600, 4 * _DAY))
            rows.add(b, dst, [t2], [int(amount * rng.uniform(0.90, 0.99))], "wire", tag, home[b], home[dst])

    for _ in range(k):  # gather-scatter: 4-8 sources -> hub -> 4-8 destinations within about a week
        n_src, n_dst = int(rng.integers(4, 9)), int(rng.integers(4, 9))
        members = take(n_src + n_dst + 1)
        if len(members) < n_src + n_dst + 1:
            break
        hub, sources, dests = members[0], members[1 : 1 + n_src], members[1 + n_src :]
        tag = len(instances)
        instances.append(("gather_scatter", members))
        start = t0(9)
        amounts = rng.integers(200_000, 1_500_000, n_src)
        t_in = start + np.sort(rng.integers(0, 3 * _DAY, n_src))
        for src, t, amount in zip(sources, t_in, amounts, strict=True):
            rows.add(src, hub, [t], [int(amount)], rng.choice(["wire", "ach"]), tag, home[src], home[hub])
        shares = rng.dirichlet(np.full(n_dst, 4.0)) * amounts.sum() * rng.uniform(0.9, 0.98)
        t_out = t_in[-1] + 3600 + np.sort(rng.integers(0, 4 * _DAY, n_dst))
        for dst, t, amount in zip(dests, t_out, shares, strict=True):
            rows.add(hub, dst, [t], [int(amount)], rng.choice(["wire", "ach"]), tag, home[hub], home[dst])
    return rows, instances


def _ordinary(rng, accounts, m, t_lo, t_hi, home, start_dt: datetime, days: int) -> dict[str, np.ndarray]:
    """``m`` rows of ordinary retail activity (vectorised)."""
    n_acc = len(accounts)
    acc = np.asarray(accounts, dtype=object)
    weights = rng.lognormal(0.0, 0.8, n_acc)
    weights /= weights.sum()
    home_arr = np.array([home[a] for a in accounts], dtype=object)
    n_emp = max(2, n_acc // 50)
    n_mer = max(20, n_acc // 20)

    # salaries: monthly on the 25th from an employer (up to 8% of the ordinary rows)
    salaried = np.flatnonzero(rng.random(n_acc) < 0.7)
    paydays = [d for d in pd.date_range(start_dt, periods=days, freq="D") if d.day == 25]
    pay_t = np.array([int(d.timestamp()) for d in paydays], dtype=np.int64)
    combos = len(salaried) * len(pay_t)
    n_sal = int(min(combos, int(0.08 * m)))
    sal_pick = rng.choice(combos, n_sal, replace=False) if n_sal else np.array([], dtype=np.int64)
    sal_acc = salaried[sal_pick // max(1, len(pay_t))] if n_sal else np.array([], dtype=np.int64)
    sal_t = pay_t[sal_pick % max(1, len(pay_t))] + rng.integers(7 * 3600, 10 * 3600, n_sal) if n_sal else sal_pick
    salary_level = np.round(rng.lognormal(8.1, 0.35, n_acc) * 100).astype(np.int64)
    employer = rng.integers(0, n_emp, n_acc)

    r = m - n_sal
    who = rng.choice(n_acc, r, p=weights)
    kind = rng.choice(5, r, p=[0.62, 0.16, 0.10, 0.07, 0.05])  # card, transfer out, transfer in, atm, deposit
    t = rng.integers(t_lo, t_hi, r)
    cents = np.empty(r, dtype=np.int64)
    sender = acc[who].copy()
    receiver = acc[who].copy()
    channel = np.empty(r, dtype=object)
    s_cty = home_arr[who].copy()
    r_cty = home_arr[who].copy()

    card = kind == 0
    mer_pop = rng.zipf(1.6, card.sum()) % n_mer
    receiver[card] = _ext("MER-", mer_pop)
    cents[card] = _cents(rng, 3.4, 1.0, card.sum())
    channel[card] = "card"
    r_cty[card] = "US"

    out = kind == 1
    k_out = out.sum()
    to_customer = rng.random(k_out) < 0.5
    # a customer-to-customer transfer never goes to the sender itself (that would be a self-transfer)
    other = (who[out] + rng.integers(1, n_acc, k_out)) % n_acc
    receiver[out] = np.where(to_customer, acc[other], _ext("EXT-", rng.integers(0, 10 * n_acc, k_out)))
    cents[out] = _cents(rng, 5.3, 1.2, k_out)
    channel[out] = rng.choice(np.array(["ach", "wire"], dtype=object), k_out, p=[0.7, 0.3])
    abroad = rng.random(k_out) < 0.05
    r_cty_out = home_arr[who[out]].copy()
    r_cty_out[abroad] = rng.choice(_FOREIGN, abroad.sum())
    r_cty_out[rng.random(k_out) < 0.0002] = "AF"
    r_cty[out] = r_cty_out

    inn = kind == 2
    k_in = inn.sum()
    sender[inn] = _ext("EXT-", rng.integers(0, 10 * n_acc, k_in))
    cents[inn] = _cents(rng, 5.6, 1.1, k_in)
    channel[inn] = rng.choice(np.array(["ach", "wire", "crypto"], dtype=object), k_in, p=[0.75, 0.22, 0.03])
    s_cty[inn] = np.where(rng.random(k_in) < 0.05, rng.choice(_FOREIGN, k_in), "US")

    atm = kind == 3
    cents[atm] = rng.integers(1, 26, atm.sum()) * 2000
    channel[atm] = "cash_withdrawal"

    dep = kind == 4
    cents[dep] = _cents(rng, 5.5, 0.8, dep.sum())
    channel[dep] = "cash_deposit"

    sal_sender = _ext("EMP-", employer[sal_acc]) if n_sal else np.array([], dtype=object)
    currency = rng.choice(np.array(["USD", "EUR", "GBP"], dtype=object), r + n_sal, p=[0.92, 0.05, 0.03])
    return {
        "s": np.concatenate([sender, sal_sender]),
        "r": np.concatenate([receiver, acc[sal_acc]]),
        "t": np.concatenate([t, sal_t]).astype(np.int64),
        "c": np.concatenate([cents, salary_level[sal_acc]]),
        "cur": currency,
        "sc": np.concatenate([s_cty, np.full(n_sal, "US", dtype=object)]),
        "rc": np.concatenate([r_cty, home_arr[sal_acc]]),
        "ch": np.concatenate([channel, np.full(n_sal, "ach", dtype=object)]),
        "tag": np.full(r + n_sal, -1, dtype=np.int64),
    }


def generate_transactions(
    accounts: list[str], *, n: int, start: date, days: int, seed: int, plant_days: int | None = None
) -> tuple[pd.DataFrame, list[dict]]:
    """Generate ``n`` transactions over ``days`` days from ``start`` among ``accounts``, with planted typologies.

    Returns ``(frame, labels)``: ``frame`` has the canonical columns as strings (ids ``T00000001``...,
    ISO timestamps ending in ``Z``, amounts with 2 decimals), sorted by time; ``labels`` holds one
    ``{"typology", "account_id", "transaction_ids"}`` per planted (typology, account); a cycle labels every
    participant with the whole cycle's transactions. Deterministic for a given seed and accounts list.
    About ``len(accounts) // 300`` instances of each typology are planted (at least one when there are 60+
    accounts and enough rows), on distinct accounts, at random times over the whole period (or, with
    ``plant_days``, over its last ``plant_days`` days).
    """
    accounts = [str(a) for a in accounts]
    if len(set(accounts)) < 2:
        raise ValueError("generate_transactions needs at least two distinct accounts")
    if n < 0 or days < 1:
        raise ValueError("generate_transactions needs n >= 0 and days >= 1")
    accounts = list(dict.fromkeys(accounts))
    rng = np.random.default_rng(seed)
    start_dt = datetime(start.year, start.month, start.day, tzinfo=UTC)
    t_start = int(start_dt.timestamp())
    t_end = t_start + days * _DAY
    home = dict(zip(accounts, rng.choice(_HOME_COUNTRIES, len(accounts))))

    k = min(50, max(len(accounts) // 300, 1 if len(accounts) >= 60 else 0), n // 250)
    plant_lo = t_start if plant_days is None else max(t_start, t_end - int(plant_days) * _DAY)
    planted, instances = _plant(rng, accounts, k, plant_lo, t_end - 1, home)
    p = planted.arrays()
    # planted flows may run past the period end by a few hours; clip into the period
    p["t"] = np.minimum(p["t"], t_end - 1)
    ordinary = _ordinary(rng, accounts, max(0, n - len(p["t"])), t_start, t_end, home, start_dt, days)
    cols = {key: np.concatenate([p[key], ordinary[key]]) for key in p}
    order = np.argsort(cols["t"], kind="stable")
    cols = {key: val[order] for key, val in cols.items()}

    total = len(cols["t"])
    width = max(8, len(str(total)))
    ids = pc.binary_join_element_wise(
        "T", pc.utf8_lpad(pc.cast(pa.array(np.arange(1, total + 1)), pa.string()), width, "0"), ""
    )
    stamps = pc.strftime(pa.array(cols["t"].astype("datetime64[s]")), format="%Y-%m-%dT%H:%M:%SZ")
    cents = cols["c"]
    amounts = pc.binary_join_element_wise(
        pc.cast(pa.array(cents // 100), pa.string()),
        pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0"),
        ".",
    )
    frame = pd.DataFrame(
        {
            "transaction_id": ids.to_pandas(),
            "timestamp": stamps.to_pandas(),
            "sender_account": cols["s"],
            "receiver_account": cols["r"],
            "amount": amounts.to_pandas(),
            "currency": cols["cur"],
            "sender_country": cols["sc"],
            "receiver_country": cols["rc"],
            "channel": cols["ch"],
            "sender_balance_before": "",
            "sender_balance_after": "",
        },
        columns=CANONICAL_COLUMNS,
    )
    labels = _labels(frame["transaction_id"].to_numpy(), cols["tag"], instances)
    return frame, labels


def _labels(ids: np.ndarray, tags: np.ndarray, instances: list[tuple[str, list[str]]]) -> list[dict]:
    planted = np.flatnonzero(tags >= 0)
    by_tag: dict[int, list[str]] = {}
    for pos in planted:  # planted rows only (a few thousand at most)
        by_tag.setdefault(int(tags[pos]), []).append(str(ids[pos]))
    labels = []
    for tag, (typology, members) in enumerate(instances):
        txids = by_tag.get(tag, [])
        if not txids:
            continue
        for account in members:
            labels.append({"typology": typology, "account_id": account, "transaction_ids": list(txids)})
    return labels
