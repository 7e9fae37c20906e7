"""A harder synthetic world for transaction monitoring, with separate seeds and parameters for tuning and evaluation.

The project's first sample world (:mod:`kyc_assets.sample_data.transactions`) plants compact, short and loud
typologies: big round-ish wires, cash just under thresholds, ten senders in five days. Real laundering is
designed to look ordinary in every single transfer; only the shape of the flows over weeks and months gives it
away. This generator is built to that brief:

- **Ordinary activity has the shapes detectors look for.** Payroll (an employer fans out to its staff every
  month), merchants (fan-in from many customers, then fan-out to suppliers and the owner), rent and utilities
  (monthly fan-in), families (transfers both ways: honest 2-cycles), circles of friends (bill splitting: honest
  fan-in; paying each other back round the circle: honest time-respecting cycles), rotating savings circles
  (every member pays the month's collector: honest bipartite fan-in), second (savings) accounts of the same
  person (thin accounts, value going both ways), honest value relays (money from a relative passed on whole to a
  landlord or a shop within days), collections (gifts, fundraisers: many people pay one person within days, who
  pays most of it on), sole traders paid by regular clients for months, communities (families, friends, local
  shops and most person-to-person transfers stay local), random person-to-person transfers, heavy-tailed
  activity levels, and accounts opened during the period.
- **Laundering patterns vary** in typology (fan-in, fan-out, cycles of length 2-8, scatter-gather,
  gather-scatter, bipartite layering, stacked layers, chains), duration (days to months), size (3 to 30
  accounts) and overlap with ordinary activity (members keep ordinary lives; front businesses are merchants or
  employers; patterns exchange "cover" transfers with ordinary accounts).
- **Every laundering amount is drawn from the distribution of ordinary amounts** (resampled from the ordinary
  transfers of the same world, with a small jitter; no rounding, no structuring). Where value passes on (a mule
  forwards what it received, less a small fee) the first amount is drawn that way.
- **Only the required columns by default** (id, timestamp at day resolution, sender, receiver, amount), like
  the hidden benchmark; ``optional_columns=True`` adds currency, countries and channel, drawn independently of
  laundering so they carry no signal.

Evaluation discipline: tune on :data:`TUNE_SEEDS` with :data:`TUNE_PARAMS`; report on :data:`EVAL_SEEDS` with
each of :data:`EVAL_PARAMS` (other typology mixes, durations, sizes, overlaps and laundering shares).
:func:`evaluate` turns an account ranking into the figures the project reports.

Plain numpy/pandas, no Dagster. The default world (20,000 accounts, 120,000 transfers) takes 2-4 s here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

TYPOLOGIES: tuple[str, ...] = (
    "fan_in",
    "fan_out",
    "cycle",
    "scatter_gather",
    "gather_scatter",
    "bipartite",
    "stack",
    "chain",
)
ORDINARY_ROLES: tuple[str, ...] = ("ordinary", "payroll_employer", "merchant", "landlord", "utility")
_PERSON, _EMPLOYER, _MERCHANT, _LANDLORD, _UTILITY = range(5)
_ORDINARY, _LAUNDERING, _COVER = 0, 1, 2
_CURRENCIES = np.array(["USD", "EUR", "GBP"], dtype=object)
_COUNTRIES = np.array(["US", "US", "US", "US", "US", "US", "GB", "DE", "FR", "CA", "MX", "IN"], dtype=object)


@dataclass(frozen=True)
class WorldParams:
    """The knobs of a world. Defaults resemble the hidden benchmark: 20,000 accounts, 120,000 transfers over
    150 days, about 9% of accounts in laundering patterns, required columns only, day resolution."""

    n_accounts: int = 20_000
    n_days: int = 150
    target_transfers: int = 120_000
    laundering_share: float = 0.09  # share of accounts that are members of a laundering pattern
    # relative weight of each typology when a pattern is drawn
    typology_mix: tuple[tuple[str, float], ...] = (
        ("fan_in", 2.0), ("fan_out", 1.5), ("cycle", 2.0), ("scatter_gather", 1.0),
        ("gather_scatter", 1.0), ("bipartite", 1.0), ("stack", 0.7), ("chain", 1.0),
    )
    min_duration_days: float = 2.0  # a pattern's span is log-uniform in [min, max] (stretched if its hops need it)
    max_duration_days: float = 120.0
    min_pattern_size: int = 3  # accounts per pattern, log-uniform in [min, max] (cycles: min/max_cycle_length)
    max_pattern_size: int = 30
    min_cycle_length: int = 2
    max_cycle_length: int = 8
    camouflage: float = 0.8  # share of laundering accounts that also lead an ordinary life (salary, rent, shops...)
    counterparty_overlap: float = 0.4  # up to this many cover transfers with ordinary accounts per pattern transfer
    front_business_share: float = 0.15  # share of hubs/sinks/sources that are merchants or employers
    conserve_value: float = 0.5  # share of patterns whose mules forward what they received less a 0.1-3% fee
    new_account_share: float = 0.06  # accounts opened during the period
    mule_new_bias: float = 1.5  # how much likelier a new account is picked as a pattern member
    activity_sigma: float = 1.1  # log-normal sigma of ordinary activity levels (heavy tail)
    employer_share: float = 0.004
    merchant_share: float = 0.02
    landlord_share: float = 0.005
    utility_share: float = 0.001
    employed_share: float = 0.2  # persons paid by an employer in this bank (monthly, some twice a month)
    renter_share: float = 0.1  # persons paying rent to a landlord in this bank every month
    utility_payer_share: float = 0.12  # persons paying a utility in this bank every month
    family_share: float = 0.35  # persons in households of 2-5 that send each other money
    friends_share: float = 0.2  # persons in circles of friends (bill splitting, paying each other back)
    rosca_share: float = 0.01  # persons in rotating savings circles
    p2p_share: float = 0.25  # share of the free (non-scheduled) ordinary transfers that go person to person
    own_account_share: float = 0.04  # persons with a second (savings) account here: thin, and value goes both ways
    relay_rate: float = 0.02  # per person and month: money received from family/friends passed on (rent, a shop)
    collection_share: float = 0.006  # persons who collect from many people within days (gifts, a fundraiser, a
    # shared trip) and then pay most of it on
    sole_trader_share: float = 0.012  # persons paid by regular clients from their own accounts (tutors, cleaners)
    community_size: int = 150  # people live in communities: families, friends, local shops and most p2p inside
    p2p_locality: float = 0.8  # share of person-to-person transfers inside the sender's community
    recruit_locality: float = 0.3  # share of a pattern's members recruited in its first member's community
    optional_columns: bool = False  # add currency, sender/receiver country and channel (uninformative)
    day_resolution: bool = True  # timestamps are dates (YYYY-MM-DD) like the hidden benchmark; else seconds

    def __post_init__(self) -> None:
        if self.n_accounts < 100 or self.n_days < 14 or self.target_transfers < self.n_accounts:
            raise ValueError("WorldParams needs n_accounts >= 100, n_days >= 14, target_transfers >= n_accounts")
        if not 0 <= self.laundering_share < 0.5:
            raise ValueError("laundering_share must be in [0, 0.5)")
        if not 3 <= self.min_pattern_size <= self.max_pattern_size:
            raise ValueError("pattern sizes need 3 <= min_pattern_size <= max_pattern_size")
        if not 2 <= self.min_cycle_length <= self.max_cycle_length:
            raise ValueError("cycle lengths need 2 <= min_cycle_length <= max_cycle_length")
        if not 0 < self.min_duration_days <= self.max_duration_days:
            raise ValueError("durations need 0 < min_duration_days <= max_duration_days")
        unknown = {name for name, _ in self.typology_mix} - set(TYPOLOGIES)
        if unknown or not any(w > 0 for _, w in self.typology_mix):
            raise ValueError(f"typology_mix needs positive weights on known typologies (unknown: {sorted(unknown)})")


TUNE_PARAMS = WorldParams()
EVAL_PARAMS: tuple[WorldParams, ...] = (
    # longer, larger, more cycles and layering; members live fuller ordinary lives
    WorldParams(
        laundering_share=0.08,
        typology_mix=(("fan_in", 1.5), ("fan_out", 1.0), ("cycle", 2.5), ("scatter_gather", 1.0),
                      ("gather_scatter", 1.5), ("bipartite", 1.5), ("stack", 1.0), ("chain", 0.7)),
        min_duration_days=7.0, max_duration_days=145.0, min_pattern_size=4, max_pattern_size=30,
        camouflage=0.9, counterparty_overlap=0.6, conserve_value=0.3, activity_sigma=1.3,
    ),
    # short and small patterns, more fan-in, front businesses, more new accounts; optional columns present
    WorldParams(
        laundering_share=0.10,
        typology_mix=(("fan_in", 3.0), ("fan_out", 2.0), ("cycle", 1.5), ("scatter_gather", 1.0),
                      ("gather_scatter", 0.7), ("bipartite", 0.7), ("stack", 0.5), ("chain", 1.5)),
        min_duration_days=1.0, max_duration_days=60.0, min_pattern_size=3, max_pattern_size=16,
        camouflage=0.65, counterparty_overlap=0.25, front_business_share=0.25, conserve_value=0.7,
        new_account_share=0.1, family_share=0.45, friends_share=0.28, optional_columns=True,
    ),
    # the hidden benchmark as described: fan-in and cycles spread over weeks to months, mules with thin lives
    WorldParams(
        laundering_share=0.09,
        typology_mix=(("fan_in", 3.0), ("fan_out", 1.0), ("cycle", 3.0), ("scatter_gather", 0.7),
                      ("gather_scatter", 0.7), ("bipartite", 0.5), ("stack", 0.3), ("chain", 0.5)),
        min_duration_days=14.0, max_duration_days=145.0, camouflage=0.5, counterparty_overlap=0.3,
        recruit_locality=0.5, p2p_share=0.35, p2p_locality=0.7, community_size=250, activity_sigma=0.9,
    ),
)
TUNE_SEEDS = range(1000)
EVAL_SEEDS = range(10_000, 11_000)


@dataclass
class _Edges:
    """Transfer buffers: account indices, fractional day, amount (NaN: drawn later), kind (ordinary, laundering,
    cover)."""

    src: list = field(default_factory=list)
    dst: list = field(default_factory=list)
    day: list = field(default_factory=list)
    amount: list = field(default_factory=list)
    kind: list = field(default_factory=list)

    def add(self, src, dst, day, amount=np.nan, kind=_ORDINARY) -> None:
        day = np.atleast_1d(np.asarray(day, dtype=float))
        n = len(day)
        self.src.append(np.broadcast_to(np.asarray(src, dtype=np.int64), (n,)))
        self.dst.append(np.broadcast_to(np.asarray(dst, dtype=np.int64), (n,)))
        self.day.append(day)
        self.amount.append(np.broadcast_to(np.asarray(amount, dtype=float), (n,)))
        self.kind.append(np.full(n, kind, dtype=np.int8))

    def arrays(self) -> dict[str, np.ndarray]:
        def cat(parts, dtype):
            return np.concatenate(parts).astype(dtype) if parts else np.array([], dtype=dtype)

        return {"src": cat(self.src, np.int64), "dst": cat(self.dst, np.int64), "day": cat(self.day, float),
                "amount": cat(self.amount, float), "kind": cat(self.kind, np.int8)}


@dataclass
class _Pattern:
    typology: str
    members: list[int]
    roles: list[str]
    # laundering transfers: (src, dst, day, parent position within this pattern or -1)
    hops: list[tuple[int, int, float, int]] = field(default_factory=list)


def _loguniform_int(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(min(hi, math.floor(math.exp(rng.uniform(math.log(lo), math.log(hi + 1))))))


def _plan_pattern(rng, typology: str, size: int, duration: float, start: float, members: list[int]) -> _Pattern:
    """Lay out one pattern's transfers in time (every forward strictly after its receipt, on a later day)."""
    hops: list[tuple[int, int, float, int]] = []
    end = start + duration

    def at(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, max(lo, hi)))

    def forward(src: int, dst: int, received_day: float, parent: int) -> float:
        day = at(math.floor(received_day) + 1, min(end, received_day + max(2.0, duration / 2)))
        hops.append((src, dst, day, parent))
        return day

    def repeats() -> int:  # longer patterns repeat their transfers: spread over weeks to months
        return 1 + int(rng.poisson(duration / 30))

    if typology == "fan_in":
        sink, sources = members[0], members[1:]
        roles = ["sink"] + ["mule"] * len(sources)
        for s in sources:
            for _ in range(repeats()):
                hops.append((s, sink, at(start, end - 1), -1))
    elif typology == "fan_out":
        source, mules = members[0], members[1:]
        roles = ["source"] + ["mule"] * len(mules)
        for m in mules:
            for _ in range(repeats()):
                hops.append((source, m, at(start, end - 1), -1))
    elif typology == "cycle":
        roles = ["cycle_member"] * len(members)
        length = len(members)
        rounds = min(1 + int(rng.poisson(duration / 45)), max(1, int(duration // length)))
        span = duration / rounds
        day = start
        for _ in range(rounds):
            # length hops on strictly increasing days inside this round's span
            steps = np.sort(rng.choice(np.arange(1, max(length, int(span)) + 1), length, replace=False))
            first = len(hops)
            for h in range(length):
                parent = first + h - 1 if h else -1
                hops.append((members[h], members[(h + 1) % length], math.floor(day) + float(steps[h]) - 1
                             + rng.uniform(0, 0.99), parent))
            day = hops[-1][2] + 1
    elif typology == "scatter_gather":
        source, sink, middle = members[0], members[-1], members[1:-1]
        roles = ["source"] + ["intermediary"] * len(middle) + ["sink"]
        for b in middle:
            for _ in range(repeats()):
                t = at(start, start + duration / 2)
                hops.append((source, b, t, -1))
                forward(b, sink, t, len(hops) - 1)
    elif typology == "gather_scatter":
        n_in = max(1, (len(members) - 1) // 2 + int(rng.integers(-1, 2)))
        n_in = min(n_in, len(members) - 2)
        hub, sources, dests = members[0], members[1 : 1 + n_in], members[1 + n_in :]
        roles = ["hub"] + ["source"] * len(sources) + ["destination"] * len(dests)
        t_in = []
        for s in sources:
            for _ in range(repeats()):
                t_in.append(at(start, start + duration / 2))
                hops.append((s, hub, t_in[-1], -1))
        for d in dests:
            for _ in range(repeats()):
                hops.append((hub, d, at(min(t_in) + 1, end), -1))
    elif typology in ("bipartite", "stack"):
        n_layers = 2 if typology == "bipartite" else 3
        cuts = np.sort(rng.choice(np.arange(1, len(members)), n_layers - 1, replace=False))
        layers = np.split(np.asarray(members), cuts)
        roles = []
        for i, layer in enumerate(layers):
            roles += [f"layer_{i + 1}"] * len(layer)
        received: dict[int, list[tuple[float, int]]] = {}
        for a in layers[0]:  # first layer: each sends to 1-3 accounts of the next, over the first half
            for b in rng.choice(layers[1], min(len(layers[1]), 1 + int(rng.integers(0, 3))), replace=False):
                for _ in range(repeats()):
                    t = at(start, start + duration / 2)
                    hops.append((int(a), int(b), t, -1))
                    received.setdefault(int(b), []).append((t, len(hops) - 1))
        for b in layers[1]:  # every account of the next layer receives at least once
            if int(b) not in received:
                t = at(start, start + duration / 2)
                hops.append((int(rng.choice(layers[0])), int(b), t, -1))
                received[int(b)] = [(t, len(hops) - 1)]
        if n_layers == 3:  # stacked: each receipt of the middle layer is forwarded to the last layer
            third = list(layers[2])
            rng.shuffle(third)
            for i, b in enumerate(layers[1]):
                for j, (t, pos) in enumerate(received[int(b)]):
                    forward(int(b), int(third[(i + j) % len(third)]), t, pos)
            for c in third:  # every account of the last layer receives at least once
                if not any(h[1] == int(c) for h in hops):
                    b = int(rng.choice(layers[1]))
                    t, pos = received[b][0]
                    forward(b, int(c), t, pos)
    elif typology == "chain":
        roles = ["source"] + ["intermediary"] * (len(members) - 2) + ["sink"]
        for _ in range(1 + int(rng.poisson(duration / 60))):
            steps = np.sort(rng.choice(np.arange(0, max(len(members) - 1, int(duration))), len(members) - 1,
                                       replace=False))
            first = len(hops)
            for h in range(len(members) - 1):
                hops.append((members[h], members[h + 1], math.floor(start) + float(steps[h]) + rng.uniform(0, 0.99),
                             first + h - 1 if h else -1))
    else:  # pragma: no cover - guarded by WorldParams
        raise ValueError(typology)
    return _Pattern(typology, list(members), roles, hops)


def _needed_days(typology: str, size: int) -> float:
    """The shortest span a pattern can have (distinct days for hops in sequence)."""
    if typology in ("cycle", "chain"):
        return float(size)
    if typology in ("scatter_gather", "stack", "gather_scatter"):
        return 3.0
    return 1.0


def _draw_patterns(rng, p: WorldParams, kind: np.ndarray, open_day: np.ndarray,
                   community: np.ndarray) -> list[_Pattern]:
    """Choose pattern members (weighted towards new accounts, some recruited locally) and lay out every pattern."""
    n = len(kind)
    target = round(p.laundering_share * n)
    names = [t for t, w in p.typology_mix if w > 0]
    weights = np.array([w for _, w in p.typology_mix if w > 0], dtype=float)
    weights /= weights.sum()
    persons = np.flatnonzero(kind == _PERSON)
    w = np.where(open_day[persons] > 0, p.mule_new_bias, 1.0)
    order = persons[np.argsort(rng.random(len(persons)) ** (1.0 / w))]  # weighted; pop() takes the next
    person_order = list(order)
    local: dict[int, list[int]] = {}
    for acc in order:
        local.setdefault(int(community[acc]), []).append(int(acc))
    used = np.zeros(n, dtype=bool)

    def recruit(near: int | None) -> int:
        pool = local.get(near, []) if near is not None else person_order
        while pool and used[pool[-1]]:
            pool.pop()
        if not pool:
            pool = person_order
            while used[pool[-1]]:
                pool.pop()
        acc = int(pool.pop())
        used[acc] = True
        return acc

    def available() -> int:
        return len(persons) - int(used[persons].sum())

    fronts = {k: list(rng.permutation(np.flatnonzero(kind == k))) for k in (_MERCHANT, _EMPLOYER)}
    patterns: list[_Pattern] = []
    taken = 0
    while taken < target and available() > 3:
        typology = str(rng.choice(names, p=weights))
        if typology == "cycle":
            size = int(rng.integers(p.min_cycle_length, p.max_cycle_length + 1))
        else:
            size = _loguniform_int(rng, max(p.min_pattern_size, 4 if typology in ("bipartite", "stack") else 3),
                                   p.max_pattern_size)
        size = max(2, min(size, target - taken if target - taken >= 2 else size, available()))
        if typology != "cycle" and size < 3:
            typology = "cycle"
        members = [recruit(None)]
        for _ in range(size - 1):
            members.append(recruit(int(community[members[0]]) if rng.random() < p.recruit_locality else None))
        # a front business: a merchant as sink/hub, an employer as the source of a fan-out ("payroll")
        front_kind = {"fan_in": _MERCHANT, "gather_scatter": _MERCHANT, "scatter_gather": _MERCHANT,
                      "fan_out": _EMPLOYER}.get(typology)
        if front_kind is not None and fronts[front_kind] and rng.random() < p.front_business_share:
            slot = -1 if typology == "scatter_gather" else 0
            used[members[slot]] = False  # back in the pool
            person_order.insert(int(rng.integers(0, len(person_order) + 1)), members[slot])
            members[slot] = int(fronts[front_kind].pop())
        lo_d, hi_d = p.min_duration_days, min(p.max_duration_days, p.n_days - 2)
        duration = math.exp(rng.uniform(math.log(lo_d), math.log(max(lo_d, hi_d))))
        duration = min(max(duration, _needed_days(typology, size)), p.n_days - 2)
        # a member opened during the period opens early enough for the pattern to fit
        latest_open = p.n_days - 1 - duration
        for m in members:
            if open_day[m] > latest_open:
                open_day[m] = float(rng.uniform(0, max(0.0, latest_open)))
        first_day = max(float(open_day[members].max()), 0.0)
        start = float(rng.uniform(first_day, max(first_day, p.n_days - 1 - duration)))
        patterns.append(_plan_pattern(rng, typology, size, duration, start, members))
        taken += size
    return patterns


def _monthly_days(rng, n_days: int, day_of_month: np.ndarray, jitter: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """For each payer i (with its day of month), the days of the period on which it pays: (payer, day)."""
    months = np.arange(0, n_days, 30.4)
    who = np.repeat(np.arange(len(day_of_month)), len(months))
    day = (np.tile(months, len(day_of_month)) + np.repeat(day_of_month, len(months))
           + (rng.uniform(-jitter, jitter, len(who)) if jitter else 0.0))
    keep = (day >= 0) & (day < n_days)
    return who[keep], day[keep]


def _lognormal(rng, mu: float, sigma: float, size) -> np.ndarray:
    return rng.lognormal(mu, sigma, size)


def _ordinary(rng, p: WorldParams, kind: np.ndarray, open_day: np.ndarray, living: np.ndarray,
              community: np.ndarray, n_free: int) -> _Edges:
    """Ordinary activity. ``living``: persons with an ordinary life (ordinary people and camouflaged members).
    ``n_free`` transfers are not scheduled (shops, person to person, business to business); scheduled ones
    (payroll, rent, utilities, families, friends, savings circles) come on top."""
    e = _Edges()
    nd = p.n_days
    activity = _lognormal(rng, 0.0, p.activity_sigma, len(kind))
    employers = np.flatnonzero(kind == _EMPLOYER)
    merchants = np.flatnonzero(kind == _MERCHANT)
    landlords = np.flatnonzero(kind == _LANDLORD)
    utilities = np.flatnonzero(kind == _UTILITY)

    def zipf_pick(pool: np.ndarray, size: int, a: float = 1.2) -> np.ndarray:
        ranks = np.arange(1, len(pool) + 1, dtype=float) ** -a
        return pool[rng.choice(len(pool), size, p=ranks / ranks.sum())]

    # second (savings) accounts: thin accounts that only trade with their owner's main account, value both ways
    pair = rng.permutation(living)[: 2 * int(p.own_account_share * len(living) / 2)].reshape(-1, 2)
    main_acc, savings = pair[:, 0], pair[:, 1]
    living = np.setdiff1d(living, savings)
    who, day = _monthly_days(rng, nd, rng.uniform(0, 28, len(pair)), jitter=2.0)
    keep = rng.random(len(who)) < 0.8
    put = _lognormal(rng, 5.5, 0.8, len(pair))
    e.add(main_acc[who[keep]], savings[who[keep]], day[keep], put[who[keep]] * _lognormal(rng, 0, 0.2, keep.sum()))
    back = rng.random(len(who)) < 0.35  # taking money back out: often the very amount put in
    e.add(savings[who[back]], main_acc[who[back]], np.minimum(day[back] + rng.uniform(1, 20, back.sum()), nd - 0.01),
          put[who[back]] * np.where(rng.random(back.sum()) < 0.5, 1.0, _lognormal(rng, 0, 0.5, back.sum())))

    # payroll: employer fan-out every month (a third of employers pay twice a month)
    staff = living[rng.random(len(living)) < p.employed_share]
    boss = zipf_pick(rng.permutation(employers), len(staff), 0.9)
    payday = rng.integers(1, 29, len(employers)).astype(float)
    pay_index = np.searchsorted(employers, boss)
    salary = _lognormal(rng, 7.8, 0.35, len(staff))
    who, day = _monthly_days(rng, nd, payday[pay_index], jitter=0.3)
    e.add(boss[who], staff[who], day, salary[who] * _lognormal(rng, 0, 0.03, len(who)))
    twice = np.isin(boss, employers[rng.random(len(employers)) < 0.33])
    who, day = _monthly_days(rng, nd, (payday[pay_index] + 14) % 28, jitter=0.3)
    keep = twice[who]
    e.add(boss[who[keep]], staff[who[keep]], day[keep], salary[who[keep]] * _lognormal(rng, 0, 0.03, keep.sum()))

    # rent and utilities: monthly fan-in into landlords and utilities
    tenants = living[rng.random(len(living)) < p.renter_share]
    landlord = zipf_pick(rng.permutation(landlords), len(tenants), 0.8)
    rent = _lognormal(rng, 6.9, 0.35, len(tenants))
    who, day = _monthly_days(rng, nd, rng.uniform(0, 5, len(tenants)), jitter=1.0)
    e.add(tenants[who], landlord[who], day, rent[who])
    payers = living[rng.random(len(living)) < p.utility_payer_share]
    utility = zipf_pick(rng.permutation(utilities), len(payers), 0.7)
    who, day = _monthly_days(rng, nd, rng.uniform(0, 28, len(payers)), jitter=2.0)
    e.add(payers[who], utility[who], day, _lognormal(rng, 4.4, 0.45, len(who)))

    # families: households of 2-5 send each other money both ways (honest 2-cycles), a parent supports a child
    def by_community(pool: np.ndarray) -> np.ndarray:  # shuffled, then grouped by community: groups stay local
        pool = rng.permutation(pool)
        return pool[np.argsort(community[pool], kind="stable")]

    fam = by_community(living[rng.random(len(living)) < p.family_share])
    pos = 0
    while pos + 2 <= len(fam):
        size = int(rng.integers(2, 6))
        house = fam[pos : pos + size]
        pos += size
        if len(house) < 2:
            break
        k = int(rng.poisson(len(house) * nd / 60))
        a = rng.integers(0, len(house), k)
        b = (a + rng.integers(1, len(house), k)) % len(house)
        e.add(house[a], house[b], rng.uniform(0, nd, k), _lognormal(rng, 5.0, 1.0, k))
        if rng.random() < 0.3:  # monthly support from a parent to a child
            who, day = _monthly_days(rng, nd, np.array([rng.uniform(0, 28)]), jitter=3.0)
            e.add(house[0], house[1], day, _lognormal(rng, 5.5, 0.4, len(day)))

    # circles of friends: one pays the bill, the others pay back (honest fan-in); debts passed round (honest cycles)
    pool = by_community(living[rng.random(len(living)) < p.friends_share])
    circles = []
    pos = 0
    while pos + 3 <= len(pool):
        size = int(rng.integers(3, 13))
        circles.append(pool[pos : pos + size])
        pos += size
    for circle in circles:
        if len(circle) < 3:
            continue
        for _ in range(int(rng.poisson(nd / 20))):
            t = rng.uniform(0, nd - 1)
            if rng.random() < 0.2:  # paying each other back round the circle over days to weeks
                ring = rng.choice(circle, int(rng.integers(3, min(len(circle), 6) + 1)), replace=False)
                days = t + np.cumsum(rng.uniform(1, 10, len(ring)))
                e.add(ring, np.roll(ring, -1), days, _lognormal(rng, 3.8, 0.7, len(ring)))
            else:
                payer = rng.choice(circle)
                others = rng.choice(circle[circle != payer], int(rng.integers(1, len(circle))), replace=False)
                e.add(others, payer, t + rng.uniform(0, 7, len(others)), _lognormal(rng, 3.3, 0.6, len(others)))

    # rotating savings circles: every month each member pays that month's collector
    savers = by_community(living[rng.random(len(living)) < p.rosca_share])
    pos = 0
    while pos + 5 <= len(savers):
        size = int(rng.integers(5, 13))
        group = savers[pos : pos + size]
        pos += size
        contribution = float(_lognormal(rng, 5.5, 0.5, 1)[0])
        first = rng.uniform(0, 28)
        for month, m_day in enumerate(np.arange(first, nd, 30.4)):
            collector = group[month % len(group)]
            payers_m = group[group != collector]
            e.add(payers_m, collector, m_day + rng.uniform(0, 3, len(payers_m)),
                  contribution * _lognormal(rng, 0, 0.01, len(payers_m)))

    # honest relays: money from a relative or friend passed on within days, whole or nearly (rent, a shop, another
    # relative): the value-relay shape of a mule, for ordinary reasons
    people = living[np.argsort(community[living], kind="stable")]
    n_comm = int(community.max()) + 1
    p_first = np.searchsorted(community[people], np.arange(n_comm))
    p_count = np.searchsorted(community[people], np.arange(n_comm), side="right") - p_first

    def neighbour(of: np.ndarray) -> np.ndarray:  # someone of the same community (possibly anyone when empty)
        c = community[of]
        return people[(p_first[c] + (rng.random(len(of)) * np.maximum(p_count[c], 1)).astype(np.int64)) % len(people)]

    k = int(rng.poisson(p.relay_rate * len(living) * nd / 30))
    relay = living[rng.integers(0, len(living), k)]
    giver = neighbour(relay)
    t = rng.uniform(0, nd - 6, k)
    x = _lognormal(rng, 5.3, 0.9, k)
    target = np.select([rng.random(k) < 0.4, rng.random(k) < 0.5], [
        landlords[rng.integers(0, len(landlords), k)], merchants[rng.integers(0, len(merchants), k)]], neighbour(relay))
    ok = (giver != relay) & (target != relay) & (target != giver)
    whole = rng.random(k) < 0.5
    e.add(giver[ok], relay[ok], t[ok], x[ok])
    e.add(relay[ok], target[ok], (t + rng.uniform(0.5, 6, k))[ok],
          (x * np.where(whole, 1.0, rng.uniform(0.9, 1.0, k)))[ok])

    # collections: many people pay one person within days (gifts, a fundraiser, a shared trip), who pays most on
    collectors = living[rng.random(len(living)) < p.collection_share]
    for c in collectors:
        m = int(rng.integers(6, 41))
        local = rng.random(m) < 0.6
        givers = np.where(local, neighbour(np.full(m, c)), living[rng.integers(0, len(living), m)])
        givers = np.unique(givers[givers != c])
        t0 = rng.uniform(0, nd - 30)
        t_in = t0 + rng.uniform(0, rng.uniform(1, 21), len(givers))
        gifts = _lognormal(rng, 3.8, 0.8, len(givers))
        e.add(givers, c, t_in, gifts)
        n_out = int(rng.integers(1, 4))
        out_to = np.where(rng.random(n_out) < 0.5, merchants[rng.integers(0, len(merchants), n_out)],
                          neighbour(np.full(n_out, c)))
        out_to = out_to[out_to != c]
        e.add(c, out_to, t_in.max() + rng.uniform(0.5, 14, len(out_to)),
              gifts.sum() * rng.uniform(0.5, 1.0) * rng.dirichlet(np.ones(len(out_to)) * 3) if len(out_to) else [])

    # sole traders: regular clients (mostly neighbours) pay a person for lessons, cleaning, repairs, for months
    traders = living[rng.random(len(living)) < p.sole_trader_share]
    for tr in traders:
        m = int(rng.integers(4, 31))
        clients = np.unique(np.where(rng.random(m) < 0.75, neighbour(np.full(m, tr)),
                                     living[rng.integers(0, len(living), m)]))
        clients = clients[clients != tr]
        fee = _lognormal(rng, 4.2, 0.5, 1)[0]
        visits = 1 + rng.poisson(rng.uniform(0.5, 4), len(clients))
        who = np.repeat(clients, visits)
        e.add(who, tr, rng.uniform(0, nd, len(who)), fee * _lognormal(rng, 0, 0.25, len(who)))

    # merchants pay their owner monthly and their suppliers and employers (business to business)
    owner = rng.choice(living, len(merchants))
    who, day = _monthly_days(rng, nd, rng.uniform(0, 28, len(merchants)), jitter=2.0)
    e.add(merchants[who], owner[who], day, _lognormal(rng, 7.5, 0.5, len(who)))

    # free transfers: people at their favourite shops, person to person, business to business, refunds
    k_b2b = int(n_free * 0.03)
    k_refund = int(n_free * 0.02)
    k_p2p = int(n_free * p.p2p_share)
    k_shop = max(0, n_free - k_b2b - k_refund - k_p2p)
    weight = activity[living] * (nd - open_day[living]) / nd
    weight /= weight.sum()
    buyer = living[rng.choice(len(living), k_shop, p=weight)]
    # favourite shops: three in the buyer's community (when it has shops), one popular anywhere
    shops = merchants[np.argsort(community[merchants], kind="stable")]
    first = np.searchsorted(community[shops], np.arange(n_comm))
    count = np.searchsorted(community[shops], np.arange(n_comm), side="right") - first
    c = community[np.arange(len(kind))]
    local_pick = shops[(first[c][:, None] + (rng.random((len(kind), 3)) * np.maximum(count[c], 1)[:, None])
                        .astype(np.int64)) % len(shops)]
    anywhere = zipf_pick(rng.permutation(merchants), len(kind) * 4, 1.0).reshape(len(kind), 4)
    favourites = np.where((count[c] > 0)[:, None], np.concatenate([local_pick, anywhere[:, :1]], axis=1), anywhere)
    e.add(buyer, favourites[buyer, rng.integers(0, 4, k_shop)], rng.uniform(0, nd, k_shop),
          _lognormal(rng, 3.5, 1.0, k_shop))
    # person to person: mostly inside the sender's community, sometimes anywhere
    sender = living[rng.choice(len(living), k_p2p, p=weight)]
    local_receiver = neighbour(sender)
    far_receiver = living[rng.choice(len(living), k_p2p, p=weight)]
    receiver = np.where(rng.random(k_p2p) < p.p2p_locality, local_receiver, far_receiver)
    ok = sender != receiver
    e.add(sender[ok], receiver[ok], rng.uniform(0, nd, ok.sum()), _lognormal(rng, 4.7, 1.2, ok.sum()))
    business = np.concatenate([merchants, employers])
    b_from = zipf_pick(merchants, k_b2b, 0.8)
    b_to = business[rng.integers(0, len(business), k_b2b)]
    ok = b_from != b_to
    e.add(b_from[ok], b_to[ok], rng.uniform(0, nd, ok.sum()), _lognormal(rng, 7.0, 1.0, ok.sum()))
    r_to = living[rng.choice(len(living), k_refund, p=weight)]
    e.add(favourites[r_to, 0], r_to, rng.uniform(0, nd, k_refund), _lognormal(rng, 3.5, 1.0, k_refund))
    return e


def _pair_class(kind: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """0 person->person, 1 person->business, 2 business->person, 3 business->business."""
    return (kind[src] != _PERSON).astype(np.int8) * 2 + (kind[dst] != _PERSON).astype(np.int8)


def _resample_like(rng, amounts: np.ndarray, classes: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each wanted class, an amount drawn from the ordinary amounts of that class (all amounts if none)."""
    out = np.empty(len(wanted), dtype=float)
    for c in np.unique(wanted):
        pool = amounts[classes == c]
        if len(pool) == 0:
            pool = amounts
        rows = wanted == c
        out[rows] = pool[rng.integers(0, len(pool), int(rows.sum()))]
    return out


def _timestamps(day: np.ndarray, start: date, day_resolution: bool) -> np.ndarray:
    base = np.datetime64(start.isoformat(), "s")
    if day_resolution:
        return np.datetime_as_string((base + np.floor(day).astype("timedelta64[D]")).astype("datetime64[D]"))
    stamps = base + np.floor(day * 86_400).astype(np.int64).astype("timedelta64[s]")
    return np.char.add(np.datetime_as_string(stamps, unit="s"), "Z")


def generate_world(seed: int, params: WorldParams = TUNE_PARAMS,
                   start: str = "2026-01-01") -> tuple[pd.DataFrame, pd.DataFrame]:
    """One world: ``(transactions, labels)``, deterministic for ``(seed, params, start)``.

    ``transactions``: canonical columns ``transaction_id, timestamp, sender_account, receiver_account, amount``
    (timestamps ISO-8601 dates, or date-times with ``day_resolution=False``; amounts with two decimals; sorted by
    time, ids in that order), plus ``currency, sender_country, receiver_country, channel`` when
    ``params.optional_columns``. ``labels``: one row per account (every account has at least one transfer):
    ``account_id, is_laundering, typology, pattern_id, role``.
    """
    p = params
    rng = np.random.default_rng(seed)
    start_date = date.fromisoformat(start)
    n = p.n_accounts
    kind = np.full(n, _PERSON, dtype=np.int8)
    shares = ((_EMPLOYER, p.employer_share), (_MERCHANT, p.merchant_share), (_LANDLORD, p.landlord_share),
              (_UTILITY, p.utility_share))
    order = rng.permutation(n)
    pos = 0
    for k, share in shares:
        m = max(2, round(share * n))
        kind[order[pos : pos + m]] = k
        pos += m
    open_day = np.where(rng.random(n) < p.new_account_share, rng.uniform(1, p.n_days - 14, n), 0.0)
    open_day[kind != _PERSON] = 0.0

    # communities: people (and shops) of a place; families, friends, local shops and most p2p stay inside one
    community = rng.integers(0, max(1, (kind == _PERSON).sum() // p.community_size), n)
    patterns = _draw_patterns(rng, p, kind, open_day, community)
    launder = np.zeros(n, dtype=bool)
    for pat in patterns:
        launder[pat.members] = True
    plain = launder & (kind == _PERSON) & (rng.random(n) >= p.camouflage)  # members with no ordinary life
    living = np.flatnonzero((kind == _PERSON) & ~plain)

    # pattern transfers (amounts later, from the ordinary distribution) and cover transfers with ordinary accounts
    lau = _Edges()
    parents: list[int] = []
    fees: list[float] = []
    for pat in patterns:
        conserve = rng.random() < p.conserve_value
        base = len(parents)
        for src, dst, day, parent in pat.hops:
            lau.add(src, dst, day, kind=_LAUNDERING)
            parents.append(base + parent if (conserve and parent >= 0) else -1)
            fees.append(float(rng.uniform(0.001, 0.03)))
        n_cover = int(rng.binomial(len(pat.hops), rng.uniform(0, p.counterparty_overlap)))
        if n_cover:
            member = rng.choice(pat.members, n_cover)
            pick = rng.integers(0, len(living), n_cover)
            other = living[pick]
            other = np.where(other == member, living[(pick + 1) % len(living)], other)
            day = np.array([h[2] for h in pat.hops])
            when = rng.uniform(max(0.0, day.min() - 7), min(p.n_days - 0.01, day.max() + 7), n_cover)
            inbound = rng.random(n_cover) < 0.5
            lau.add(np.where(inbound, other, member), np.where(inbound, member, other), when, kind=_COVER)
            parents.extend([-1] * n_cover)
            fees.extend([0.0] * n_cover)
    la = lau.arrays()

    n_sched_estimate = _ordinary(np.random.default_rng([seed, 1]), p, kind, open_day, living, community, 0)
    n_sched = sum(len(d) for d in n_sched_estimate.day)
    n_free = max(0, p.target_transfers - n_sched - len(la["day"]))
    od = _ordinary(np.random.default_rng([seed, 1]), p, kind, open_day, living, community, n_free).arrays()

    # an account only transacts once opened: shift ordinary transfers that fall before an opening
    lo = np.maximum(open_day[od["src"]], open_day[od["dst"]])
    early = od["day"] < lo
    od["day"] = np.where(early, lo + (od["day"] / p.n_days) * (p.n_days - lo), od["day"])
    ok = (od["day"] >= 0) & (od["day"] < p.n_days) & (od["src"] != od["dst"])
    od = {k: v[ok] for k, v in od.items()}

    # laundering amounts: resampled from the ordinary transfers between the same kinds of account (person or
    # business at each end), jittered; forwards keep the value less a fee
    def like_ordinary(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        return _resample_like(rng, od["amount"], _pair_class(kind, od["src"], od["dst"]), _pair_class(kind, src, dst))

    amount = like_ordinary(la["src"], la["dst"]) * rng.lognormal(0, 0.05, len(la["day"]))
    for i, parent in enumerate(parents):
        if parent >= 0:
            amount[i] = amount[parent] * (1 - fees[i])
    la["amount"] = amount
    la["day"] = np.clip(la["day"], 0, p.n_days - 1e-6)

    cols = {k: np.concatenate([od[k], la[k]]) for k in od}
    # every account transacts at least once: a quiet account buys once at a shop
    seen = np.zeros(n, dtype=bool)
    seen[cols["src"]] = True
    seen[cols["dst"]] = True
    quiet = np.flatnonzero(~seen)
    if len(quiet):  # a quiet shop gets one customer; a quiet person or business buys once at a shop
        merchants = np.flatnonzero(kind == _MERCHANT)
        is_shop = kind[quiet] == _MERCHANT
        shop = merchants[rng.integers(0, len(merchants), len(quiet))]
        shop = np.where(shop == quiet, merchants[(np.searchsorted(merchants, shop) + 1) % len(merchants)], shop)
        customer = living[rng.integers(0, len(living), len(quiet))]
        extra = {"src": np.where(is_shop, customer, quiet), "dst": np.where(is_shop, quiet, shop),
                 "day": open_day[quiet] + rng.uniform(0, 1, len(quiet)) * (p.n_days - open_day[quiet]),
                 "kind": np.zeros(len(quiet), dtype=np.int8)}
        extra["amount"] = like_ordinary(extra["src"], extra["dst"])
        cols = {k: np.concatenate([cols[k], extra[k]]) for k in cols}

    cents = np.maximum(np.round(cols["amount"] * 100), 1).astype(np.int64)
    # no leak through row order: shuffle, then a stable sort by time
    shuffle = rng.permutation(len(cents))
    cols = {k: v[shuffle] for k, v in cols.items()}
    cents = cents[shuffle]
    by_time = np.argsort(np.floor(cols["day"]) if p.day_resolution else cols["day"], kind="stable")
    cols = {k: v[by_time] for k, v in cols.items()}
    cents = cents[by_time]

    ids = np.char.add("A", np.char.zfill(rng.permutation(10 * n)[:n].astype(str), len(str(10 * n - 1))))
    total = len(cents)
    frame = pd.DataFrame({
        "transaction_id": np.char.add("T", np.char.zfill(np.arange(1, total + 1).astype(str), 8)),
        "timestamp": _timestamps(cols["day"], start_date, p.day_resolution),
        "sender_account": ids[cols["src"]],
        "receiver_account": ids[cols["dst"]],
        "amount": np.char.add(np.char.add((cents // 100).astype(str), "."),
                              np.char.zfill((cents % 100).astype(str), 2)),
    })
    if p.optional_columns:
        home = _COUNTRIES[rng.integers(0, len(_COUNTRIES), n)]
        frame["currency"] = _CURRENCIES[rng.choice(3, total, p=[0.95, 0.03, 0.02])]
        frame["sender_country"] = home[cols["src"]]
        frame["receiver_country"] = home[cols["dst"]]
        to_shop = kind[cols["dst"]] == _MERCHANT
        frame["channel"] = np.where(to_shop, np.where(rng.random(total) < 0.9, "card", "ach"),
                                    np.where(rng.random(total) < 0.75, "ach", "wire"))
    frame = frame.astype(object)

    labels = pd.DataFrame({
        "account_id": ids,
        "is_laundering": launder,
        "typology": pd.Series([None] * n, dtype=object),
        "pattern_id": pd.Series([None] * n, dtype=object),
        "role": np.asarray(ORDINARY_ROLES, dtype=object)[kind],
    })
    typology = labels["typology"].to_numpy()
    pattern_id = labels["pattern_id"].to_numpy()
    role = labels["role"].to_numpy()
    for i, pat in enumerate(patterns):
        for member, r in zip(pat.members, pat.roles, strict=True):
            typology[member], pattern_id[member], role[member] = pat.typology, f"P{i:04d}", r
    labels["typology"], labels["pattern_id"], labels["role"] = typology, pattern_id, role
    labels = labels.sort_values("account_id", ignore_index=True)
    return frame, labels


def with_required_columns_only(params: WorldParams) -> WorldParams:
    """The same parameters with the optional columns (currency, countries, channel) absent."""
    return replace(params, optional_columns=False)


def _top_k_hits(y: np.ndarray, risk: np.ndarray, k: int) -> float:
    """Expected positives among the top ``k`` by risk, ties at the cut broken at random (in expectation)."""
    if k <= 0:
        return 0.0
    order = np.sort(risk)[::-1]
    cut = order[min(k, len(order)) - 1]
    above = risk > cut
    tied = risk == cut
    room = min(k, len(risk)) - int(above.sum())
    return float(y[above].sum() + room * (y[tied].sum() / max(int(tied.sum()), 1)))


def evaluate(labels: pd.DataFrame, scores: pd.DataFrame, budgets: tuple[float, ...] = (0.005, 0.01, 0.02)) -> dict:
    """Account-level figures of a ranking against a world's labels.

    ``scores``: ``account_id, risk_score, alert`` (accounts missing from ``scores`` rank last and are not
    alerted; accounts not in ``labels`` are ignored). Returns ``average_precision`` (scikit-learn),
    ``precision_top_1pct``, ``average_precision_by_typology`` (each typology's accounts against the ordinary
    ones), ``at_budget`` (precision and recall among the top share of accounts, per budget; ties
    at the cut count in expectation), ``alert_policy`` (alert rate, precision, recall, and recall by typology at
    the ``alert`` column), and counts.
    """
    from sklearn.metrics import average_precision_score

    missing = {"account_id", "risk_score", "alert"} - set(scores.columns)
    if missing:
        raise ValueError(f"scores lack column(s): {', '.join(sorted(missing))}")
    s = scores.drop_duplicates("account_id").set_index("account_id")
    risk = pd.to_numeric(s["risk_score"], errors="coerce").reindex(labels["account_id"]).to_numpy(dtype=float)
    floor = np.nanmin(risk) - 1 if np.isfinite(risk).any() else 0.0
    risk = np.where(np.isnan(risk), floor, risk)
    alert_raw = s["alert"].reindex(labels["account_id"])
    alert = alert_raw.map(lambda v: str(v).strip().lower() in ("true", "1", "yes")).to_numpy(dtype=bool)
    y = labels["is_laundering"].to_numpy(dtype=bool)
    n = len(y)
    positives = int(y.sum())
    ap = float(average_precision_score(y, risk)) if positives else float("nan")
    k1 = max(1, math.ceil(0.01 * n))
    at_budget = {}
    for b in budgets:
        k = max(1, math.ceil(b * n))
        hits = _top_k_hits(y, risk, k)
        at_budget[f"{b:.1%}"] = {"accounts": k, "precision": round(hits / k, 4),
                                 "recall": round(hits / positives, 4) if positives else float("nan")}
    by_typology, ap_by_typology = {}, {}
    typ = labels["typology"].to_numpy()
    for t in sorted({str(v) for v in typ[y] if v is not None}):
        rows = y & (typ == t)
        by_typology[t] = {"accounts": int(rows.sum()), "recall": round(float(alert[rows].mean()), 4)}
        # this typology's accounts against the ordinary ones (other laundering left out)
        keep = rows | ~y
        ap_by_typology[t] = round(float(average_precision_score(rows[keep], risk[keep])), 4)
    return {
        "accounts": n,
        "positives": positives,
        "prevalence": round(positives / n, 4) if n else float("nan"),
        "average_precision": round(ap, 4),
        "precision_top_1pct": round(_top_k_hits(y, risk, k1) / k1, 4),
        "average_precision_by_typology": ap_by_typology,
        "at_budget": at_budget,
        "alert_policy": {
            "alert_rate": round(float(alert.mean()), 4) if n else float("nan"),
            "alerts": int(alert.sum()),
            "precision": round(float((alert & y).sum() / alert.sum()), 4) if alert.any() else float("nan"),
            "recall": round(float(alert[y].mean()), 4) if positives else float("nan"),
            "recall_by_typology": by_typology,
        },
    }
