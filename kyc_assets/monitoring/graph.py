"""Graph typologies over the whole monitoring horizon, per account, amount-agnostic (plain Python, no Dagster).

Laundering designed to look ordinary in every single transfer is visible only in the shape of the flows:
money that comes back (cycles), many unusual counterparties that are themselves mule-like (fan-in,
fan-out), splits and merges (scatter-gather, gather-scatter), layers of accounts that all pay each other
(bipartite layering), and tight communities of such accounts. This module computes, for every account of
a transaction set, features that describe those shapes over the whole horizon, each with an explanation
(:data:`EXPLANATIONS`) usable on an alert.

The inputs are only sender, receiver, amount and day: optional columns (cash, currency, country, channel)
are never needed here.

The central idea is the *unexplained* pair: a (sender, receiver) pair that is not paid back, whose two
accounts share no quiet counterparty (family, friends and colleagues do), and that is not a regular payment
(salary, rent, bills). Ordinary life explains most pairs; laundering patterns are made of unexplained ones.
Fan-in and fan-out are bursts of new unexplained counterparties measured against the account's own rate
(a Poisson log-likelihood ratio over windows of days, at least ``MIN_FAN`` counterparties), a collection
that is paid on within days is discounted (gifts, fundraisers), and the accounts on the other side of a
burst inherit its strength (feeders of a collection account, receivers of a distribution account). Relays
count value passed on within days with a fee kept, net of the chance matches of a busy account. The
structural risk (:func:`structural_risk`) is a noisy-or of the typology strengths, with the names of the
strong ones as reasons; its scales were tuned on the tuning worlds of
:mod:`kyc_assets.sample_data.aml_world` only.

How it scales (a few seconds per 100,000 transfers on 2 cores): account ids become integer codes once;
per-account aggregates are numpy ``bincount``; distinct counterparties come from unique (sender, receiver)
pairs; co-sending structures (bipartite layering) are scipy.sparse products; PageRank is rustworkx;
communities are scipy.sparse connected components; time-respecting cycles and two-hop paths are expanded
level by level with vectorised joins on edges sorted by (sender, day) (``searchsorted`` + ``repeat``), never
a Python loop over paths. Busy accounts (more than ``max_degree`` distinct counterparties: merchants,
employers, exchanges) are not used as intermediaries, and a path expansion that would exceed
``max_paths`` paths is cut (the cut is reported in :attr:`GraphResult.notes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

# Per-account graph features, in output order. ``EXPLANATIONS`` says what each one measures.
GRAPH_FEATURES: tuple[str, ...] = (
    "g_in_degree", "g_out_degree", "g_degree_ratio", "g_reciprocity", "g_flow_through", "g_timed_flow_through",
    "g_unexplained_in", "g_unexplained_out", "g_fan_in_peer", "g_fan_out_peer",
    "g_fan_in_burst", "g_fan_out_burst", "g_fan_in_member", "g_fan_out_member", "g_mule_likeness",
    "g_relay", "g_relay_member", "g_chain_len", "g_cycle_count", "g_cycle_max_len", "g_cycle_return_share",
    "g_scatter_gather", "g_gather_scatter", "g_bipartite",
    "g_pagerank", "g_ppr_known_bad", "g_community_size", "g_community_density", "g_community_risk",
    "g_alerted_neighbour_share",
)

EXPLANATIONS: dict[str, str] = {
    "g_in_degree": "distinct senders over the horizon",
    "g_out_degree": "distinct receivers over the horizon",
    "g_degree_ratio": "balance of distinct senders and receivers (min/max): a relay has both",
    "g_reciprocity": "share of counterparties the account both pays and is paid by",
    "g_flow_through": "value out / value in over the horizon (min/max): money passes through",
    "g_timed_flow_through": "share of incoming value sent on within the flow window after it arrived",
    "g_unexplained_in": "distinct senders with no ordinary explanation (not paid back, no shared quiet "
                        "counterparty, not a regular monthly or weekly payment)",
    "g_unexplained_out": "distinct receivers with no ordinary explanation (see g_unexplained_in)",
    "g_fan_in_peer": "unexplained senders against accounts of similar activity (peer percentile)",
    "g_fan_out_peer": "unexplained receivers against accounts of similar activity (peer percentile)",
    "g_fan_in_burst": "fan-in against the account's own history: log-likelihood ratio of the busiest window of "
                      "new unexplained senders against its own rate of new senders",
    "g_fan_out_burst": "fan-out against the account's own history: log-likelihood ratio of the busiest window "
                       "of new unexplained receivers against its own rate",
    "g_fan_in_member": "the account paid, without ordinary explanation, an account with a fan-in burst "
                       "(that account's g_fan_in_burst): a feeder of a collection account",
    "g_fan_out_member": "the account was paid, without ordinary explanation, by an account with a fan-out "
                        "burst (that account's g_fan_out_burst): a receiver of a distribution account",
    "g_mule_likeness": "the account itself looks like a mule: new, few counterparties, passes funds on",
    "g_relay": "value-conserving relays through the account: received then sent on within the flow window, "
               "90-100% of the amount, to someone else (in excess of the chance matches at 100-111%)",
    "g_relay_member": "relays (see g_relay) in which the account is the payer or the final payee",
    "g_chain_len": "longest chain of unexplained transfers through the account, each sent on within days of the "
                   "previous one (layering: money passed from hand to hand), up to max_cycle_len transfers",
    "g_cycle_count": "time-respecting cycles of 3-8 unexplained transfers through the account within the span",
    "g_cycle_max_len": "longest time-respecting cycle of unexplained transfers through the account",
    "g_cycle_return_share": "largest share of value that came back to the account through such a cycle",
    "g_scatter_gather": "most distinct intermediaries between one source and one destination (split and merged)",
    "g_gather_scatter": "the account both gathers and scatters in bursts (min of its fan-in and fan-out bursts)",
    "g_bipartite": "accounts sharing >= 2 unexplained counterparties with this one (layered bipartite flows)",
    "g_pagerank": "PageRank of the account in the value-weighted transfer graph (x accounts)",
    "g_ppr_known_bad": "personalised PageRank from confirmed cases (x accounts; 0 without confirmed cases)",
    "g_community_size": "size of the account's community of suspicious transfers (bursts, relays)",
    "g_community_density": "transfer density of that community",
    "g_community_risk": "mean structural risk of the account's community",
    "g_alerted_neighbour_share": "share of counterparties in high-risk communities",
}

SINK_KEEP_WEIGHT = 1.0
RELAY_UNEXPLAINED_ONLY = True
CALENDAR_PERIODS: tuple[tuple[float, float], ...] = ((6.0, 8.0), (13.0, 16.5), (27.0, 33.0), (58.0, 64.0))
MIN_FAN = 3  # a fan-in or fan-out burst has at least this many new counterparties


@dataclass(frozen=True)
class GraphParams:
    """Settings of the graph typologies (see the module docstring)."""

    span_days: int = 150            # a cycle must complete within this many days (up to the whole horizon)
    max_cycle_len: int = 8          # cycles of 3..max_cycle_len transfers
    max_degree: int = 40            # busier accounts are not intermediaries of paths, relays or layers
    max_paths: int = 4_000_000      # per expansion level; beyond, the expansion stops (reported)
    flow_days: int = 30             # a relay: sent on within this many days of the receipt
    relay_ratio: tuple[float, float] = (0.9, 0.9995)  # ... carrying this share of the amount received (a fee kept)
    burst_windows: tuple[int, ...] = (3, 7, 14, 30, 60)  # fan-in / fan-out burst windows (days)
    sg_min_paths: int = 3           # scatter-gather: distinct intermediaries
    chain_hop_days: int = 3         # a layering chain: each transfer within this many days of the previous
    pagerank_alpha: float = 0.85

    def __post_init__(self) -> None:
        if not 2 <= self.max_cycle_len <= 12:
            raise ValueError("max_cycle_len must be in 2..12")
        if self.span_days < 1 or self.flow_days < 1 or not self.burst_windows or min(self.burst_windows) < 1 \
                or self.max_degree < 2:
            raise ValueError("span_days, flow_days and burst_windows must be >= 1 and max_degree >= 2")
        if not 0 < self.relay_ratio[0] <= self.relay_ratio[1]:
            raise ValueError("relay_ratio must be (low, high) with 0 < low <= high")
        if self.sg_min_paths < 2 or self.max_paths < 1000:
            raise ValueError("sg_min_paths must be >= 2 and max_paths >= 1000")


@dataclass
class GraphResult:
    """Per-account graph features (``account_id`` + :data:`GRAPH_FEATURES`) and notes on the computation."""

    features: pd.DataFrame
    notes: dict = field(default_factory=dict)


@dataclass
class _Edges:
    """Transfers as integer arrays: sender and receiver codes, day number, amount; names[code] = account id."""

    s: np.ndarray
    r: np.ndarray
    day: np.ndarray
    amt: np.ndarray
    names: np.ndarray

    @property
    def n(self) -> int:
        return len(self.names)


def edges_from_frame(frame: pd.DataFrame) -> _Edges:
    """Edges from a frame with ``s``, ``r``, ``amt`` and ``ts`` (the scan frame) or ``day`` (integer days).

    Self-transfers (cash movements) have no counterparty and are left out.
    """
    keep = (frame["s"].astype(str) != frame["r"].astype(str)).to_numpy()
    f = frame.loc[keep]
    if "day" in f.columns:
        day = pd.to_numeric(f["day"]).to_numpy(dtype=np.int64)
    else:
        day = (pd.to_datetime(f["ts"]).to_numpy().astype("datetime64[D]").astype(np.int64))
    codes, names = pd.factorize(pd.concat([f["s"].astype(str), f["r"].astype(str)], ignore_index=True))
    m = len(f)
    return _Edges(codes[:m].astype(np.int64), codes[m:].astype(np.int64), day,
                  pd.to_numeric(f["amt"]).to_numpy(dtype=float), np.asarray(names, dtype=object))


def edges_from_duckdb(con, table: str) -> _Edges:
    """Edges from a DuckDB scan table (``ts``, ``s``, ``r``, ``amt``): codes are assigned inside DuckDB so that
    no per-row Python string is built."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE g_acc AS
        SELECT account_id, (row_number() OVER (ORDER BY account_id) - 1)::BIGINT AS code FROM (
            SELECT s AS account_id FROM {table} WHERE s <> r AND amt IS NOT NULL AND ts IS NOT NULL
            UNION SELECT r FROM {table} WHERE s <> r AND amt IS NOT NULL AND ts IS NOT NULL)
        """
    )
    got = con.execute(
        f"""
        SELECT a.code AS s, b.code AS r, (CAST(t.ts AS DATE) - DATE '1970-01-01')::BIGINT AS day, t.amt
        FROM {table} t JOIN g_acc a ON a.account_id = t.s JOIN g_acc b ON b.account_id = t.r
        WHERE t.s <> t.r AND t.amt IS NOT NULL AND t.ts IS NOT NULL
        """
    ).fetchnumpy()
    names = con.execute("SELECT account_id FROM g_acc ORDER BY code").fetchnumpy()["account_id"]
    con.execute("DROP TABLE g_acc")
    return _Edges(np.asarray(got["s"], dtype=np.int64), np.asarray(got["r"], dtype=np.int64),
                  np.asarray(got["day"], dtype=np.int64), np.asarray(got["amt"], dtype=float),
                  np.asarray(names, dtype=object))


def _peer_percentile(values: np.ndarray, activity: np.ndarray, bins: int = 10) -> np.ndarray:
    """Percentile of each value among accounts of similar activity (quantile bins of ``activity``)."""
    out = np.zeros(len(values))
    if len(values) == 0:
        return out
    edges = np.unique(np.quantile(activity, np.linspace(0, 1, bins + 1)[1:-1]))
    group = np.searchsorted(edges, activity, side="right")
    frame = pd.DataFrame({"g": group, "v": values})
    return frame.groupby("g")["v"].rank(method="average", pct=True).to_numpy()


def _burst_llr(acc: np.ndarray, day: np.ndarray, total: np.ndarray, n: int, windows, horizon: float) -> np.ndarray:
    """Per account: the largest Poisson log-likelihood ratio k*log(k/mu) - (k - mu) over its windows of
    ``windows`` days, where k is the number of events (first meetings) in the window starting at each event
    and mu = total * window / horizon is what the account's own rate over the horizon predicts."""
    best = np.zeros(n)
    if len(acc) == 0:
        return best
    order = np.lexsort((day, acc))
    a, d = acc[order], day[order]
    key = a * (1 << 32) + d
    pos = np.arange(len(a))
    for w in windows:
        k = (np.searchsorted(key, key + int(w), side="left") - pos).astype(float)
        mu = np.maximum(total[a] * float(w) / max(horizon, 1.0), 1e-3)
        llr = np.where((k > mu) & (k >= MIN_FAN), k * np.log(k / mu) - (k - mu), 0.0)
        np.maximum.at(best, a, llr)
    return best


@dataclass
class _Pairs:
    """Distinct (sender, receiver) pairs with their first day, transfer count and whether they are explained."""

    s: np.ndarray
    r: np.ndarray
    first: np.ndarray
    count: np.ndarray
    periodic: np.ndarray
    reciprocal: np.ndarray
    common: np.ndarray
    unexplained: np.ndarray


def _pairs(e: _Edges, quiet: np.ndarray) -> _Pairs:
    """Distinct pairs; a pair is *explained* when paid back (reciprocal), when both accounts share a quiet
    counterparty (family, friends, colleagues), or when it is a regular payment (>= 3 transfers at steady
    intervals of >= 5 days, or transfers exactly a month apart: salary, rent, bills)."""
    n = e.n
    key = e.s * (1 << 32) + e.r
    order = np.lexsort((e.day, key))
    k, d = key[order], e.day[order]
    uk, first_idx, count = np.unique(k, return_index=True, return_counts=True)
    pid = np.repeat(np.arange(len(uk)), count)
    gap = np.diff(d, prepend=d[:1]).astype(float)
    has_gap = np.ones(len(d), dtype=bool)
    has_gap[first_idx] = False
    gaps = np.maximum(count - 1, 1)
    g_sum = np.bincount(pid[has_gap], weights=gap[has_gap], minlength=len(uk))
    g_sq = np.bincount(pid[has_gap], weights=gap[has_gap] ** 2, minlength=len(uk))
    g_mean = g_sum / gaps
    g_std = np.sqrt(np.maximum(g_sq / gaps - g_mean ** 2, 0.0))
    g_min = np.full(len(uk), np.inf)
    g_max = np.zeros(len(uk))
    np.minimum.at(g_min, pid[has_gap], gap[has_gap])
    np.maximum.at(g_max, pid[has_gap], gap[has_gap])
    monthly = (count >= 2) & (g_min >= 27) & (g_max <= 33)  # e.g. two salaries in a short horizon
    # a regular payment keeps a calendar period (weekly, fortnightly, monthly, every two months): money that
    # goes round a ring in rounds repeats too, but at the ring's own pace
    calendar = np.zeros(len(uk), dtype=bool)
    for lo_p, hi_p in CALENDAR_PERIODS:
        calendar |= (g_mean >= lo_p) & (g_mean <= hi_p)
    periodic = ((count >= 3) & calendar & (g_std <= 0.25 * g_mean + 1.5)) | monthly
    ps, pr = uk >> 32, uk & ((1 << 32) - 1)
    reciprocal = np.isin(pr * (1 << 32) + ps, uk)
    und = sp.csr_matrix((np.ones(len(uk), dtype=np.float32), (ps, pr)), shape=(n, n))
    und = ((und + und.T) > 0).astype(np.float32).tocsr()
    via_quiet = (und @ sp.diags(quiet.astype(np.float32))).tocsr()
    shared = (via_quiet @ via_quiet.T).tocsr()
    common = np.asarray(shared[ps, pr]).ravel() if len(ps) else np.zeros(0)
    # a counterparty C with B -> C -> A does not explain A -> B: it closes a ring with it
    directed = sp.csr_matrix((np.ones(len(uk), dtype=np.float32), (ps, pr)), shape=(n, n))
    via = (directed @ sp.diags(quiet.astype(np.float32)) @ directed).tocsr()
    closing = np.asarray(via[pr, ps]).ravel() if len(ps) else np.zeros(0)
    common = np.maximum(common - closing, 0)
    unexplained = ~reciprocal & (common == 0) & ~periodic
    return _Pairs(ps, pr, d[first_idx], count, periodic, reciprocal, common, unexplained)


def _relays(e: _Edges, quiet: np.ndarray, params: GraphParams,
            tx_unexplained: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Value-conserving relays: a transfer into a quiet account X followed, within ``flow_days`` (on a later
    day), by a transfer out of X to someone else carrying ``relay_ratio`` of the amount. Returns (relays at X,
    relays in which the account is the payer or the final payee)."""
    n = e.n
    relay, member = np.zeros(n), np.zeros(n)
    order = np.lexsort((e.day, e.s))
    o_s, o_d, o_a, o_r = e.s[order], e.day[order], e.amt[order], e.r[order]
    o_u = tx_unexplained[order] if tx_unexplained is not None else np.ones(len(order), dtype=bool)
    o_key = o_s * (1 << 32) + o_d
    inn = np.flatnonzero(quiet[e.r] & (tx_unexplained if tx_unexplained is not None else True))
    x, d, a, payer = e.r[inn], e.day[inn], e.amt[inn], e.s[inn]
    lo = np.searchsorted(o_key, x * (1 << 32) + d + 1, side="left")
    hi = np.searchsorted(o_key, x * (1 << 32) + d + params.flow_days, side="right")
    count = np.maximum(hi - lo, 0)
    total = int(count.sum())
    if total == 0:
        return relay, member
    pi = np.repeat(np.arange(len(inn)), count)
    oj = np.repeat(lo, count) + np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    ratio = o_a[oj] / np.maximum(a[pi], 1e-9)
    lo_r, hi_r = params.relay_ratio
    other = (o_r[oj] != payer[pi]) & o_u[oj]
    ok = (ratio >= lo_r) & (ratio <= hi_r) & other
    # chance matches: a busy account pairs many receipts with many payments, some of them close in amount.
    # The control band (hi, hi * hi / lo] has the same log-width just above: as likely by chance, but no
    # relay forwards more than it received. Relays count in excess of the control matches.
    control = (ratio > hi_r) & (ratio <= hi_r * hi_r / lo_r) & other
    raw = np.bincount(x[pi[ok]], minlength=n).astype(float)
    chance = np.bincount(x[pi[control]], minlength=n).astype(float)
    relay = np.maximum(raw - chance, 0.0)
    weight = np.where(raw > 0, relay / np.maximum(raw, 1.0), 0.0)[x[pi[ok]]]
    np.add.at(member, payer[pi[ok]], weight)
    np.add.at(member, o_r[oj[ok]], weight)
    return relay, member


class _Paths:
    """Time-respecting path expansion over edges sorted by (sender, day)."""

    def __init__(self, s, r, d, a, params: GraphParams):
        self.p = params
        frame = pd.DataFrame({"s": s, "r": r, "d": d, "a": a})
        frame = frame.groupby(["s", "r", "d"], sort=True, as_index=False)["a"].sum()
        self.s = frame["s"].to_numpy(np.int64)
        self.r = frame["r"].to_numpy(np.int64)
        self.d = frame["d"].to_numpy(np.int64)
        self.a = frame["a"].to_numpy(float)
        self.key = self.s * (1 << 32) + (self.d + (1 << 31))
        self.truncated = False

    def expand(self, cur, t_from, t_limit):
        """Every edge leaving ``cur[i]`` on a day in [t_from[i], t_limit[i]]: (path index, edge index)."""
        lo = np.searchsorted(self.key, cur * (1 << 32) + (t_from + (1 << 31)), side="left")
        hi = np.searchsorted(self.key, cur * (1 << 32) + (t_limit + (1 << 31)), side="right")
        count = np.maximum(hi - lo, 0)
        total = int(count.sum())
        if total > self.p.max_paths:
            self.truncated = True
            return None, None
        path = np.repeat(np.arange(len(cur)), count)
        return path, np.repeat(lo, count) + np.arange(total) - np.repeat(np.cumsum(count) - count, count)


def _cycles(e: _Edges, use: np.ndarray, n: int, params: GraphParams, notes: dict):
    """Time-respecting cycles (3..max_cycle_len transfers, each on a later day than the previous one, the
    whole cycle within ``span_days``) over the transfers in ``use``; and scatter-gather counts from the
    two-transfer paths. Returns (cycles, longest, return share, scatter-gather) per account."""
    cyc_count, cyc_len, cyc_ret, sg = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    paths = _Paths(e.s[use], e.r[use], e.day[use], e.amt[use], params)
    notes["cycle_edges"] = len(paths.s)
    if len(paths.s) == 0:
        return cyc_count, cyc_len, cyc_ret, sg
    nodes = np.stack([paths.s, paths.r], axis=1)
    t0, tl, a0 = paths.d.copy(), paths.d.copy(), paths.a.copy()
    explored = len(t0)
    for length in range(2, params.max_cycle_len + 1):
        pi, ei = paths.expand(nodes[:, -1], tl + 1, t0 + params.span_days)
        if pi is None:
            notes["cycle_expansion_cut_at_length"] = length
            break
        nxt, start = paths.r[ei], nodes[pi, 0]
        closes = nxt == start
        if length >= 3 and closes.any():
            ci = pi[closes]
            ret = np.minimum(paths.a[ei[closes]] / np.maximum(a0[ci], 1e-9), 1.0)
            members = nodes[ci]
            np.add.at(cyc_count, members.ravel(), 1)
            np.maximum.at(cyc_len, members.ravel(), length)
            np.maximum.at(cyc_ret, members.ravel(), np.repeat(ret, members.shape[1]))
        if length == 2:
            ok = ~closes
            frame = pd.DataFrame({"a": start[ok], "b": nodes[pi[ok], 1], "c": nxt[ok]}).drop_duplicates()
            k = frame.groupby(["a", "c"])["b"].transform("size").to_numpy()
            big = k >= params.sg_min_paths
            for col in ("a", "b", "c"):
                np.maximum.at(sg, frame[col].to_numpy()[big], k[big])
        cont = np.flatnonzero(~closes)
        if len(cont):
            revisit = np.zeros(len(cont), dtype=bool)
            prev = nodes[pi[cont]]
            for j in range(1, prev.shape[1]):
                revisit |= prev[:, j] == nxt[cont]
            cont = cont[~revisit]
        if length == params.max_cycle_len or len(cont) == 0:
            break
        nodes = np.concatenate([nodes[pi[cont]], nxt[cont, None]], axis=1)
        t0, a0 = t0[pi[cont]], a0[pi[cont]]
        tl = paths.d[ei[cont]]
        explored += len(cont)
    notes["cycle_paths"] = int(explored)
    if paths.truncated:
        notes["cycle_expansion_truncated"] = True
    return cyc_count, cyc_len, cyc_ret, sg


def _chains(e: _Edges, use: np.ndarray, n: int, params: GraphParams) -> np.ndarray:
    """Per account: the longest time-respecting path of transfers in ``use`` through it where each transfer
    leaves 1..``chain_hop_days`` days after the previous one arrived (capped at ``max_cycle_len``)."""
    longest = np.zeros(n)
    paths = _Paths(e.s[use], e.r[use], e.day[use], e.amt[use], params)
    if len(paths.s) == 0:
        return longest
    nodes = np.stack([paths.s, paths.r], axis=1)
    tl = paths.d.copy()
    for length in range(2, params.max_cycle_len + 1):
        pi, ei = paths.expand(nodes[:, -1], tl + 1, tl + params.chain_hop_days)
        if pi is None or len(pi) == 0:
            break
        nxt = paths.r[ei]
        prev = nodes[pi]
        fresh = np.ones(len(pi), dtype=bool)
        for j in range(prev.shape[1]):
            fresh &= prev[:, j] != nxt
        pi, ei, nxt = pi[fresh], ei[fresh], nxt[fresh]
        if len(pi) == 0:
            break
        nodes = np.concatenate([nodes[pi], nxt[:, None]], axis=1)
        tl = paths.d[ei]
        np.maximum.at(longest, nodes.ravel(), length)
    return longest


def _pagerank(ps, pr, weight, n: int, personalization: dict[int, float] | None, alpha: float) -> np.ndarray:
    """PageRank on the value-weighted graph of distinct pairs (rustworkx), scaled by the number of accounts."""
    import rustworkx as rx

    if n == 0:
        return np.zeros(0)
    g = rx.PyDiGraph(multigraph=False)
    g.add_nodes_from(range(n))
    g.extend_from_weighted_edge_list(list(zip(ps.tolist(), pr.tolist(), weight.tolist())))
    ranks = rx.pagerank(g, alpha=alpha, weight_fn=float, personalization=personalization, tol=1e-6, max_iter=100)
    out = np.zeros(n)
    keys = np.fromiter(ranks.keys(), dtype=np.int64, count=len(ranks))
    out[keys] = np.fromiter(ranks.values(), dtype=float, count=len(ranks))
    return out * n


def _timed_flow(s, r, day, amt, n, flow_days) -> np.ndarray:
    """Per account: share of incoming value matched by outflow in the ``flow_days`` after each inflow."""
    acc = np.concatenate([r, s])
    d = np.concatenate([day, day])
    v_in = np.concatenate([amt, np.zeros(len(s))])
    v_out = np.concatenate([np.zeros(len(r)), amt])
    order = np.lexsort((d, acc))
    acc, d, v_in, v_out = acc[order], d[order], v_in[order], v_out[order]
    key = acc * (1 << 32) + d
    cum_out = np.concatenate([[0.0], np.cumsum(v_out)])
    lo = np.searchsorted(key, key, side="left")
    hi = np.searchsorted(key, key + flow_days, side="right")
    matched = np.minimum(v_in, cum_out[hi] - cum_out[lo]) * (v_in > 0)
    tot_in = np.bincount(acc, weights=v_in, minlength=n)
    got = np.bincount(acc, weights=matched, minlength=n)
    return np.where(tot_in > 0, np.clip(got / np.maximum(tot_in, 1e-9), 0, 1), 0.0)


def _bipartite(ps, pr, n, use) -> np.ndarray:
    """Per account: other accounts with which it shares >= 2 counterparties (on the same side) through the
    pairs in ``use``."""
    m = sp.csr_matrix((np.ones(int(use.sum())), (ps[use], pr[use])), shape=(n, n))
    out = np.zeros(n)
    for mat in (m, m.T.tocsr()):
        co = (mat @ mat.T).tocoo()
        ok = (co.row != co.col) & (co.data >= 2)
        out += np.bincount(co.row[ok], minlength=n)
    return out


def graph_features(edges: _Edges | pd.DataFrame, params: GraphParams | None = None,
                   known_bad: list[str] | set[str] | None = None,
                   prior_risk: pd.Series | None = None) -> GraphResult:
    """Per-account graph features over every transfer given (see :data:`EXPLANATIONS`).

    ``known_bad``: account ids of confirmed cases (personalised PageRank from them; 0 without any).
    ``prior_risk``: an earlier risk in [0, 1] per account id; communities whose mean prior risk is high count
    as alerted communities for ``g_alerted_neighbour_share`` (default: the structural risk of this module).
    """
    params = params or GraphParams()
    e = edges if isinstance(edges, _Edges) else edges_from_frame(edges)
    n = e.n
    notes: dict = {"accounts": n, "transfers": len(e.s)}
    if n == 0:
        return GraphResult(pd.DataFrame({"account_id": pd.Series(dtype=object),
                                         **{c: pd.Series(dtype=float) for c in GRAPH_FEATURES}}), notes)
    s, r, day, amt = e.s, e.r, e.day, e.amt
    horizon = float(day.max() - day.min() + 1)

    n_out = np.bincount(s, minlength=n).astype(float)
    n_in = np.bincount(r, minlength=n).astype(float)
    v_out = np.bincount(s, weights=amt, minlength=n)
    v_in = np.bincount(r, weights=amt, minlength=n)
    legs = n_in + n_out
    deg_guess = np.bincount(np.concatenate([s, r]), minlength=n)  # legs, an upper bound of the degree
    quiet_guess = deg_guess <= params.max_degree * 4
    pairs = _pairs(e, quiet_guess)
    ps, pr, unexpl = pairs.s, pairs.r, pairs.unexplained
    deg_out = np.bincount(ps, minlength=n).astype(float)
    deg_in = np.bincount(pr, minlength=n).astype(float)
    mutual = np.bincount(ps, weights=pairs.reciprocal, minlength=n)
    counterparties = deg_in + deg_out - mutual
    quiet = counterparties <= params.max_degree
    u_in = np.bincount(pr, weights=unexpl, minlength=n)
    u_out = np.bincount(ps, weights=unexpl, minlength=n)

    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, np.iinfo(np.int64).min)
    for acc in (s, r):
        np.minimum.at(first, acc, day)
        np.maximum.at(last, acc, day)
    timed = _timed_flow(s, r, day, amt, n, params.flow_days)
    flow = np.where(np.maximum(v_in, v_out) > 0, np.minimum(v_in, v_out) / np.maximum(np.maximum(v_in, v_out), 1e-9), 0)
    degree_ratio = np.where(np.maximum(deg_in, deg_out) > 0,
                            np.minimum(deg_in, deg_out) / np.maximum(np.maximum(deg_in, deg_out), 1), 0)
    active_share = np.clip((last - first + 1) / max(horizon, 1.0), 0, 1)
    late_start = np.clip((first - day.min()) / max(horizon, 1.0), 0, 1)
    newness = np.maximum(1.0 - active_share, late_start)
    few = 1.0 / (1.0 + np.maximum(counterparties - 2, 0) / 4.0)
    mule = (0.25 * newness + 0.25 * few + 0.5 * timed) * (legs >= 2)

    # fan-in / fan-out: bursts of new unexplained counterparties against the account's own rate, and the
    # accounts on the other side of those bursts
    fan_in = _burst_llr(pr[unexpl], pairs.first[unexpl], np.maximum(deg_in, 1), n, params.burst_windows, horizon)
    fan_out = _burst_llr(ps[unexpl], pairs.first[unexpl], np.maximum(deg_out, 1), n, params.burst_windows, horizon)
    # a collection that is paid on within days (gifts, a fundraiser) is what people do; a collection account
    # that keeps what many strangers sent it is the sink of a fan-in
    fan_in = fan_in * (1.0 - SINK_KEEP_WEIGHT * timed)
    fan_in_member = np.zeros(n)
    fan_out_member = np.zeros(n)
    np.maximum.at(fan_in_member, ps[unexpl], fan_in[pr[unexpl]])
    np.maximum.at(fan_out_member, pr[unexpl], fan_out[ps[unexpl]])
    activity = np.log1p(legs)

    pair_key = ps * (1 << 32) + pr
    tx_unexpl = np.isin(s * (1 << 32) + r, pair_key[unexpl])
    relay, relay_member = _relays(e, quiet, params, tx_unexpl if RELAY_UNEXPLAINED_ONLY else None)
    use = tx_unexpl & quiet[s] & quiet[r]
    cyc_count, cyc_len, cyc_ret, sg = _cycles(e, use, n, params, notes)
    chain = _chains(e, use, n, params)
    bip = _bipartite(ps, pr, n, unexpl & quiet[ps] & quiet[pr])

    value = np.bincount(np.searchsorted(pair_key, s * (1 << 32) + r), weights=amt, minlength=len(pair_key))
    pagerank = _pagerank(ps, pr, value, n, None, params.pagerank_alpha)
    bad_codes: list[int] = []
    if known_bad:
        loc = pd.Index(e.names).get_indexer(pd.Index([str(a) for a in known_bad]))
        bad_codes = sorted({int(c) for c in loc if c >= 0})
    ppr = _pagerank(ps, pr, value, n, {c: 1.0 for c in bad_codes}, params.pagerank_alpha) if bad_codes \
        else np.zeros(n)

    frame = pd.DataFrame({
        "account_id": e.names.astype(object),
        "g_in_degree": deg_in, "g_out_degree": deg_out, "g_degree_ratio": degree_ratio,
        "g_reciprocity": np.where(counterparties > 0, mutual / np.maximum(counterparties, 1), 0.0),
        "g_flow_through": flow, "g_timed_flow_through": timed,
        "g_unexplained_in": u_in, "g_unexplained_out": u_out,
        "g_fan_in_peer": _peer_percentile(u_in, activity), "g_fan_out_peer": _peer_percentile(u_out, activity),
        "g_fan_in_burst": fan_in, "g_fan_out_burst": fan_out,
        "g_fan_in_member": fan_in_member, "g_fan_out_member": fan_out_member, "g_mule_likeness": mule,
        "g_relay": relay, "g_relay_member": relay_member, "g_chain_len": chain,
        "g_cycle_count": cyc_count, "g_cycle_max_len": cyc_len, "g_cycle_return_share": cyc_ret,
        "g_scatter_gather": sg, "g_gather_scatter": np.minimum(fan_in, fan_out), "g_bipartite": bip,
        "g_pagerank": pagerank, "g_ppr_known_bad": ppr,
    })
    structural = structural_risk(frame)[0]
    suspicious = unexpl & ((structural[ps] >= 0.5) | (structural[pr] >= 0.5))
    size, density, risk, label = _communities(ps, pr, n, suspicious, structural)
    frame["g_community_size"] = size
    frame["g_community_density"] = density
    frame["g_community_risk"] = risk
    prior = structural if prior_risk is None else \
        pd.Series(prior_risk).reindex(e.names).fillna(0).to_numpy(dtype=float)
    frame["g_alerted_neighbour_share"] = _alerted_neighbour_share(ps, pr, n, label, prior)
    notes["unexplained_pairs"] = int(unexpl.sum())
    notes["pairs"] = len(ps)
    return GraphResult(frame[["account_id", *GRAPH_FEATURES]], notes)


def _communities(ps, pr, n, use, structural):
    """Connected components of the suspicious pairs ``use``: size, density, mean structural risk, label."""
    a = sp.csr_matrix((np.ones(int(use.sum())), (ps[use], pr[use])), shape=(n, n))
    _, label = connected_components(a, directed=True, connection="weak")
    size = np.bincount(label, minlength=label.max() + 1).astype(float)
    edges = np.bincount(label[ps[use]], minlength=len(size)).astype(float)
    risk = np.bincount(label, weights=structural, minlength=len(size)) / np.maximum(size, 1)
    density = np.where(size > 1, edges / np.maximum(size * (size - 1), 1), 0.0)
    multi = size[label] > 1
    return np.where(multi, size[label], 0.0), density[label], np.where(multi, risk[label], 0.0), label


def _alerted_neighbour_share(ps, pr, n, label, prior) -> np.ndarray:
    """Share of an account's counterparties that sit in a community (size >= 3) of high mean prior risk."""
    size = np.bincount(label).astype(float)
    mean_prior = np.bincount(label, weights=prior) / np.maximum(size, 1)
    flag = ((size >= 3) & (mean_prior >= 0.5))[label].astype(float)
    hits = np.bincount(ps, weights=flag[pr], minlength=n) + np.bincount(pr, weights=flag[ps], minlength=n)
    deg = np.bincount(ps, minlength=n) + np.bincount(pr, minlength=n)
    return np.where(deg > 0, hits / np.maximum(deg, 1), 0.0)


# --- the unsupervised structural risk ------------------------------------------------------------------

# (reason, explanation, feature, scale): a typology's strength is 1 - exp(-feature / scale), in [0, 1).
# Scales tuned on the tuning worlds only (aml_world TUNE_SEEDS[0:5] with TUNE_PARAMS, coordinate search).
TYPOLOGY_SIGNALS: tuple[tuple[str, str, str, float], ...] = (
    ("fan_in_burst", "collected from a burst of new unexplained senders", "g_fan_in_burst", 21.8),
    ("fan_out_burst", "paid a burst of new unexplained receivers", "g_fan_out_burst", 4.0),
    ("fan_in_feeder", "paid an account that collects from a burst of unexplained senders", "g_fan_in_member", 15.3),
    ("fan_out_receiver", "was paid by an account that pays a burst of unexplained receivers", "g_fan_out_member", 4.0),
    ("value_relay", "sent on 90-100% of what it received within days", "g_relay", 4.2),
    ("relay_counterparty", "paid or was paid through value-conserving relays", "g_relay_member", 5.6),
    ("layering_chain", "passed money from hand to hand along a chain of quick transfers", "g_chain_len", 8.0),
    ("graph_cycle", "money returned through a time-respecting cycle of unexplained transfers", "g_cycle_max_len", 1.4),
    ("scatter_gather", "split over several intermediaries and gathered again", "g_scatter_gather", 1.5),
    ("bipartite_layering", "shares several unexplained counterparties with other accounts", "g_bipartite", 16.8),
)


#: Reasons of the structural model (kyc_assets.monitoring.structural) that are not typology signals above.
COMBINED_REASONS: dict[str, str] = {
    "fan_in_unexplained": "received from more senders without an ordinary explanation than accounts of similar "
                          "activity",
    "fan_out_unexplained": "paid more receivers without an ordinary explanation than accounts of similar activity",
    "gather_scatter_burst": "gathered from a burst of new senders and scattered to a burst of new receivers",
    "suspicious_community": "belongs to a community of unexplained transfers between suspicious accounts",
}


def explain_reasons(reasons: str) -> list[str]:
    """Readable explanations of a ';'-separated reasons string (graph typologies and graph features; other
    names, such as window rules or model features, are returned as they are)."""
    typologies = {name: text for name, text, _, _ in TYPOLOGY_SIGNALS} | COMBINED_REASONS
    return [typologies.get(r) or EXPLANATIONS.get(r) or r for r in str(reasons or "").split(";") if r]


def structural_risk(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The unsupervised graph risk in [0, 1] per row and its reasons (';'-joined typology names, strongest
    first, those with strength >= 0.5): a noisy-or of the typology strengths (:data:`TYPOLOGY_SIGNALS`)."""
    n = len(features)
    if n == 0:
        return np.zeros(0), np.array([], dtype=object)
    strength = np.column_stack([
        1.0 - np.exp(-np.clip(pd.to_numeric(features[col], errors="coerce").fillna(0).to_numpy(float), 0, None)
                     / scale)
        for _, _, col, scale in TYPOLOGY_SIGNALS])
    risk = 1.0 - np.prod(1.0 - 0.9 * strength, axis=1)
    names = np.array([name for name, *_ in TYPOLOGY_SIGNALS], dtype=object)
    order = np.argsort(-strength, axis=1, kind="stable")
    reasons = np.full(n, "", dtype=object)
    for rank in range(min(3, strength.shape[1])):
        pick = order[:, rank]
        strong = strength[np.arange(n), pick] >= 0.5
        part = np.where(strong, names[pick], "")
        reasons = reasons + np.where((reasons != "") & (part != ""), ";", "") + part
    return risk, reasons


def graph_features_by_day(frame: pd.DataFrame, days, horizon_days: int, params: GraphParams | None = None
                          ) -> pd.DataFrame:
    """Graph features as of each day of ``days``, over the transfers of the ``horizon_days`` ending on it
    (the daily assets: each day sees the flows up to that day only). ``frame`` is a scan frame (``ts``, ``s``,
    ``r``, ``amt``). Columns: ``account_id``, ``as_of_date`` (datetime.date), :data:`GRAPH_FEATURES`."""
    parts = []
    if len(frame):
        day = pd.to_datetime(frame["ts"]).dt.date
        for d in sorted({pd.Timestamp(x).date() for x in days}):
            window = frame[((day <= d) & (day > d - pd.Timedelta(days=int(horizon_days)))).to_numpy()]
            if len(window):
                parts.append(graph_features(window, params).features.assign(as_of_date=d))
    if not parts:
        return pd.DataFrame({"account_id": pd.Series(dtype=object), "as_of_date": pd.Series(dtype=object),
                             **{c: pd.Series(dtype=float) for c in GRAPH_FEATURES}})
    out = pd.concat(parts, ignore_index=True)
    return out[["account_id", "as_of_date", *GRAPH_FEATURES]]
