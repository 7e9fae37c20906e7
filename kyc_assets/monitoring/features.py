"""Behavioural features per (account, as-of date) over validated transactions, computed with DuckDB SQL.

Each transaction gives an account "legs": an *out* leg for the sender and an *in* leg for the receiver.
A self-transaction (sender == receiver) is the account's own cash movement and gives one leg only: *out*
for ``cash_withdrawal``, *in* otherwise (cash deposit); it has no counterparty.

For an as-of date D, the window of w days is the w calendar days ending on D inclusive (UTC dates).
Features per window w (suffix ``_{w}d``; windows default to 1, 7 and 30 days):

- ``tx_out_count``, ``tx_in_count``: number of out / in legs.
- ``amount_out_sum``, ``amount_in_sum``, ``amount_out_mean``, ``amount_out_max``, ``amount_out_std``
  (sample standard deviation; 0 with fewer than two out legs).
- ``distinct_counterparties_out`` (fan-out), ``distinct_counterparties_in`` (fan-in). Exact.
- ``cash_share``: share of legs on ``cash_deposit`` / ``cash_withdrawal``.
- ``round_amount_share``: share of legs whose original amount is >= 1,000 and a multiple of 100.
- ``high_risk_share``: share of legs where the sender or receiver country is high-risk.
- ``structuring_count``: legs with amount in ``[threshold*(1-margin), threshold)``.

Plus (``P`` = ``pattern_days``, 30 by default):

- ``passthrough_ratio``: max over in legs of min(IN, OUT) / max(IN, OUT), where IN and OUT are the money
  received and sent in the ``passthrough_hours`` starting at that in leg, counted when both are at least
  ``passthrough_min_amount``; else 0. An in leg is assessed on the day of the last leg of its dwell
  window (when all of its legs are known) and counts for as-of dates in the P days from then.
- ``velocity_change``: (legs in the last 7 days / 7) / (legs per day over the observed part of the last
  30 days, from the account's first leg in that window); 0 without activity or with < 14 days of history.
- ``cycle_flag``: 1 when the account lies on a time-respecting cycle of 2-4 transfers (A->B->A,
  A->B->C->A, A->B->C->D->A) completed in the last P days, each transfer at least ``cycle_min_amount`` and
  each hop carrying between ``cycle_amount_ratio[0]`` and ``cycle_amount_ratio[1]`` times the previous hop,
  the whole cycle within P days. Bounded: cycles are assembled from two-hop paths (a meet-in-the-middle
  join), never an open recursion.
- ``scatter_gather_paths``: the largest number of distinct intermediaries B on time-respecting two-hop
  paths A -> B -> C between one source A and one destination C (same amount and ratio rules as cycles),
  when at least ``scatter_gather_min_paths``, for A, C and every B of such a pattern completed in the last
  P days; else 0. Captures scatter-gather and layered (stack) flows.
- ``hub_neighbor_degree``: the account sent money (>= ``cycle_min_amount``) in the last P days to a
  *pass-through hub* (an account whose P-day inflows and outflows are both >= ``passthrough_min_amount``
  and within a factor 2 of each other) and this is that hub's number of distinct senders; or received from
  such a hub, and this is the hub's number of distinct receivers (the larger of the two). The members of
  fan-in, fan-out and gather-scatter patterns, not just the hub.
- ``dormancy_gap_days``: the longest run of days without any leg that ended inside the last
  ``dormancy_recent_days`` (7) days; 0 when the account had no earlier leg in the data.
- ``dormant_reactivation``: 1 when ``dormancy_gap_days >= dormancy_days`` (30) and the account has
  ``>= dormancy_min_legs`` legs or moved ``>= dormancy_min_amount`` (in + out) in the recent days.

Graph joins skip, as intermediaries, accounts with more than ``graph_max_degree`` large legs in the data
(merchants, payroll, exchanges): their paths say nothing about one customer and would explode the join.

How it scales (see :class:`FeatureEngine`): DuckDB aggregates the legs once per (account, day); a
windowed sum at an as-of date is the difference of two cumulative sums found by binary search (numpy),
a windowed maximum comes from a sparse table of log2(window) levels, and distinct counterparties are exact
through +1/-1 coverage events per (account, counterparty, day). No leg is joined to every as-of date,
except large legs to the P days following them (``hub_neighbor_degree``). About 1 s per 100,000
transactions on 2 cores, whatever the number of as-of dates.

Amounts are ``amount_base`` when present (converted to the base currency), else ``amount``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from kyc_assets.monitoring.graph import GraphParams

# The assets read 37 days of transactions per as-of date (monitoring/assets.py LOOKBACK_DAYS), so the
# windows every path shares stop at 30 days; patterns over longer spans are the graph module's job.
DEFAULT_WINDOWS: tuple[int, ...] = (1, 7, 30)
HIGH_RISK_COUNTRIES: tuple[str, ...] = ("IR", "KP", "MM", "SY", "AF", "YE", "RU")  # = KYC_HIGH_RISK_COUNTRIES default
WINDOW_FEATURES: tuple[str, ...] = (
    "tx_out_count",
    "tx_in_count",
    "amount_out_sum",
    "amount_in_sum",
    "amount_out_mean",
    "amount_out_max",
    "amount_out_std",
    "distinct_counterparties_out",
    "distinct_counterparties_in",
    "cash_share",
    "round_amount_share",
    "high_risk_share",
    "structuring_count",
)
GLOBAL_FEATURES: tuple[str, ...] = (
    "passthrough_ratio",
    "velocity_change",
    "cycle_flag",
    "scatter_gather_paths",
    "hub_neighbor_degree",
    "dormancy_gap_days",
    "dormant_reactivation",
)
_EPOCH = "DATE '1970-01-01'"


def feature_columns(windows: Sequence[int] = DEFAULT_WINDOWS) -> list[str]:
    """The feature column names for the given windows (ordered: window features by window, then globals)."""
    return [f"{name}_{w}d" for w in windows for name in WINDOW_FEATURES] + list(GLOBAL_FEATURES)


FEATURE_COLUMNS: list[str] = feature_columns(DEFAULT_WINDOWS)

_ID_COLUMNS = ["account_id", "as_of_date"]
# The columns of the scan table the SQL reads (see prepare_transactions).
SCAN_COLUMNS: tuple[str, ...] = ("ts", "s", "r", "amt", "amt_orig", "channel", "sc", "rc")


def _check_windows(windows: Iterable[int]) -> tuple[int, ...]:
    out = tuple(int(w) for w in windows)
    if not out or any(w < 1 for w in out) or len(set(out)) != len(out):
        raise ValueError("windows must be distinct positive day counts")
    return out


def prepare_transactions(tx: pd.DataFrame) -> pd.DataFrame:
    """The minimal typed frame DuckDB scans (``SCAN_COLUMNS``): naive-UTC timestamps, the amount in the base
    currency (``amt``) and as written (``amt_orig``), optional columns filled with None."""
    missing = [c for c in ("timestamp", "sender_account", "receiver_account", "amount") if c not in tx.columns]
    if missing:
        raise ValueError(f"compute_features: missing column(s): {', '.join(missing)}")
    ts = pd.to_datetime(tx["timestamp"], utc=True).dt.tz_localize(None)
    amount_col = "amount_base" if "amount_base" in tx.columns else "amount"

    def optional(col: str) -> pd.Series:
        if col in tx.columns:
            return tx[col].astype(object).where(tx[col].notna(), None)
        return pd.Series([None] * len(tx), index=tx.index, dtype=object)

    return pd.DataFrame(
        {
            "ts": ts.astype("datetime64[us]"),
            "s": tx["sender_account"].astype(str),
            "r": tx["receiver_account"].astype(str),
            "amt": pd.to_numeric(tx[amount_col], errors="coerce").astype(float),
            "amt_orig": pd.to_numeric(tx["amount"], errors="coerce").astype(float),
            "channel": optional("channel"),
            "sc": optional("sender_country"),
            "rc": optional("receiver_country"),
        }
    ).reset_index(drop=True)


_prepare = prepare_transactions  # former private name


def _sql_list(values: Iterable[str]) -> str:
    items = [str(v).upper().replace("'", "''") for v in values]
    return "(" + ", ".join(f"'{v}'" for v in items) + ")" if items else "(NULL)"


def _empty_features(windows: Sequence[int]) -> pd.DataFrame:
    frame = pd.DataFrame({"account_id": pd.Series(dtype=object), "as_of_date": pd.Series(dtype=object)})
    for col in feature_columns(windows):
        frame[col] = pd.Series(dtype=float)
    return frame


@dataclass(frozen=True)
class FeatureParams:
    """The one feature configuration every monitoring path uses (``kyc monitor``, the assets, the bench):
    the window features of :class:`FeatureEngine` and the graph typologies (:class:`GraphParams`).
    Build it from the platform settings with :meth:`from_settings`."""

    windows: tuple[int, ...] = DEFAULT_WINDOWS
    reporting_threshold: float = 10_000.0
    structuring_margin: float = 0.1
    high_risk_countries: tuple[str, ...] = HIGH_RISK_COUNTRIES
    passthrough_hours: float = 48
    passthrough_min_amount: float = 5_000.0
    cycle_min_amount: float = 1_000.0
    cycle_amount_ratio: tuple[float, float] = (0.5, 1.05)
    velocity_windows: tuple[int, int] = (7, 30)
    pattern_days: int = 30
    scatter_gather_min_paths: int = 3
    graph_max_degree: int = 200
    dormancy_days: int = 30
    dormancy_recent_days: int = 7
    dormancy_min_legs: int = 5
    dormancy_min_amount: float = 10_000.0
    graph: GraphParams = field(default_factory=GraphParams)

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", _check_windows(self.windows))
        object.__setattr__(self, "high_risk_countries", tuple(self.high_risk_countries))
        FeatureEngine.check_options(**self.engine_options())

    def engine_options(self) -> dict:
        """The keyword options of :class:`FeatureEngine` (everything but the graph parameters)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "graph"}

    def with_options(self, **overrides) -> FeatureParams:
        """A copy with some options replaced (graph options by their GraphParams name, prefixed ``graph_``
        only where the name is shared: ``graph_max_degree`` stays the window engine's)."""
        graph_names = {f.name for f in fields(GraphParams)}
        own = {k: v for k, v in overrides.items() if k in {f.name for f in fields(self)}}
        graph = {k: v for k, v in overrides.items() if k not in own and k in graph_names}
        unknown = set(overrides) - set(own) - set(graph)
        if unknown:
            raise ValueError(f"unknown feature option(s): {', '.join(sorted(unknown))}")
        return replace(self, **own, graph=replace(self.graph, **graph) if graph else self.graph)

    def describe(self) -> dict:
        """JSON-friendly view (for metadata and the model card)."""
        return asdict(self)

    @classmethod
    def from_settings(cls, settings) -> FeatureParams:
        """The platform configuration (:class:`kyc_assets.settings.Settings`)."""
        return cls(reporting_threshold=settings.reporting_threshold,
                   high_risk_countries=tuple(settings.high_risk_countries))


def compute_features(
    tx: pd.DataFrame,
    *,
    as_of: list[date] | None = None,
    params: FeatureParams | None = None,
    **overrides,
) -> pd.DataFrame:
    """One row of features per (account_id, as_of_date) for accounts active in the lookback before each date.

    ``tx`` is a validated transaction frame (see ``schema.validate_transactions``). ``as_of`` defaults to
    every distinct transaction date (UTC). The lookback is ``max(windows)`` days ending on the as-of date;
    accounts without a leg in it get no row. See the module docstring for each feature's definition.
    ``params`` is the feature configuration (default :class:`FeatureParams`); ``overrides`` replace single
    options of it (e.g. ``windows=(1, 7)``).
    Columns: ``account_id``, ``as_of_date`` (datetime.date), then ``feature_columns(windows)``.
    """
    params = (params or FeatureParams()).with_options(**overrides) if overrides else (params or FeatureParams())
    options = params.engine_options()
    if len(tx) == 0:
        return _empty_features(options["windows"])
    frame = prepare_transactions(tx)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("tx_frame", frame)
        con.execute("CREATE TEMP TABLE tx_raw AS SELECT * FROM tx_frame")
        con.unregister("tx_frame")
        if as_of is None:
            dates = transaction_dates(con, "tx_raw")
        else:
            dates = sorted({pd.Timestamp(d).date() for d in as_of})
        if not dates:
            return _empty_features(options["windows"])
        return FeatureEngine(con, "tx_raw", dates, **options).features(dates)
    finally:
        con.close()


def transaction_dates(con: duckdb.DuckDBPyConnection, table: str) -> list[date]:
    """The distinct UTC dates of the usable transactions in the scan table ``table``."""
    return [r[0] for r in con.execute(
        f"SELECT DISTINCT CAST(ts AS DATE) FROM {table} WHERE ts IS NOT NULL AND amt IS NOT NULL ORDER BY 1"
    ).fetchall()]


def _range_max(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, max_len: int) -> np.ndarray:
    """max(values[lo:hi]) per query (NaN for an empty range), through a sparse table of log2(max_len) levels.

    Every query range is at most ``max_len`` rows long (one row per account and day, windows of at most
    ``max_len`` days), so the table needs only a handful of levels whatever the data size.
    """
    filled = np.where(np.isnan(values), -np.inf, values).astype(float)
    levels = [filled]
    span = 1
    while span * 2 <= max(1, max_len) and span < len(filled):
        prev = levels[-1]
        nxt = prev.copy()
        nxt[: len(prev) - span] = np.maximum(prev[: len(prev) - span], prev[span:])
        levels.append(nxt)
        span *= 2
    length = hi - lo
    out = np.full(len(lo), np.nan)
    ok = length > 0
    if not ok.any():
        return out
    k = np.floor(np.log2(length[ok])).astype(np.int64)
    k = np.minimum(k, len(levels) - 1)
    table = np.stack(levels)
    lo_ok, hi_ok = lo[ok], hi[ok]
    best = np.maximum(table[k, lo_ok], table[k, hi_ok - (1 << k)])
    out[ok] = np.where(np.isinf(best), np.nan, best)
    return out


class FeatureEngine:
    """Features for any as-of dates out of one scan table, prepared once.

    DuckDB builds the legs, one row per (account, day) with its aggregates, the pattern events (pass-through,
    cycles, scatter-gather) and the distinct-counterparty coverage events. Windowed values for an
    (account, as-of date) are then differences of cumulative sums found by binary search (numpy), and
    windowed maxima come from a small sparse table: no leg is joined to the as-of dates.
    """

    _METRICS = ("n_legs", "n_out", "n_in", "s_out", "s_in", "q_out", "n_cash", "n_round", "n_hr", "n_struct")

    @staticmethod
    def check_options(
        *, windows, reporting_threshold, structuring_margin, passthrough_hours, velocity_windows, pattern_days,
        scatter_gather_min_paths, graph_max_degree, dormancy_days, dormancy_recent_days, **_,
    ) -> None:
        """Raise ValueError on inconsistent options."""
        _check_windows(windows)
        short, long = (int(v) for v in velocity_windows)
        if not 0 < short < long:
            raise ValueError("velocity_windows must be (short, long) with 0 < short < long")
        if not 0 <= structuring_margin < 1 or reporting_threshold <= 0:
            raise ValueError("reporting_threshold must be > 0 and structuring_margin in [0, 1)")
        if passthrough_hours <= 0:
            raise ValueError("passthrough_hours must be positive")
        if pattern_days < 1 or dormancy_days < 1 or dormancy_recent_days < 1:
            raise ValueError("pattern_days, dormancy_days and dormancy_recent_days must be positive")
        if scatter_gather_min_paths < 2 or graph_max_degree < 1:
            raise ValueError("scatter_gather_min_paths must be >= 2 and graph_max_degree >= 1")

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        dates: Sequence[date],
        *,
        windows: Sequence[int] = DEFAULT_WINDOWS,
        reporting_threshold: float = 10_000.0,
        structuring_margin: float = 0.1,
        high_risk_countries: Sequence[str] = HIGH_RISK_COUNTRIES,
        passthrough_hours: float = 48,
        passthrough_min_amount: float = 5_000.0,
        cycle_min_amount: float = 1_000.0,
        cycle_amount_ratio: tuple[float, float] = (0.5, 1.05),
        velocity_windows: tuple[int, int] = (7, 30),
        pattern_days: int = 30,
        scatter_gather_min_paths: int = 3,
        graph_max_degree: int = 200,
        dormancy_days: int = 30,
        dormancy_recent_days: int = 7,
        dormancy_min_legs: int = 5,
        dormancy_min_amount: float = 10_000.0,
    ) -> None:
        """Prepare the engine over the scan table ``table`` (``SCAN_COLUMNS``) for as-of dates within ``dates``
        (their range bounds the legs that are read)."""
        self.check_options(
            windows=windows, reporting_threshold=reporting_threshold, structuring_margin=structuring_margin,
            passthrough_hours=passthrough_hours, velocity_windows=velocity_windows, pattern_days=pattern_days,
            scatter_gather_min_paths=scatter_gather_min_paths, graph_max_degree=graph_max_degree,
            dormancy_days=dormancy_days, dormancy_recent_days=dormancy_recent_days)
        if not dates:
            raise ValueError("FeatureEngine needs at least one as-of date")
        self.con = con
        self.windows = _check_windows(windows)
        self.short, self.long = (int(v) for v in velocity_windows)
        self.lookback = max(self.windows)
        self.recent = int(dormancy_recent_days)
        self.pat = int(pattern_days)
        self.internal = sorted(set(self.windows) | {self.short, self.long, self.pat, self.recent})
        self.dormancy_days = int(dormancy_days)
        self.dormancy_min_legs = int(dormancy_min_legs)
        self.dormancy_min_amount = float(dormancy_min_amount)
        self.min_edge = float(cycle_min_amount)
        self.min_pt = float(passthrough_min_amount)
        scan = max(max(self.internal), self.dormancy_days + self.recent)
        low = float(reporting_threshold) * (1 - float(structuring_margin))
        lo_ratio, hi_ratio = (float(v) for v in cycle_amount_ratio)
        hr = _sql_list(high_risk_countries)
        dns = sorted({_dn(d) for d in dates})
        first_asof, last_asof = dns[0], dns[-1]
        day = f"CAST(CAST(ts AS DATE) - {_EPOCH} AS INTEGER)"
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE legs AS
            WITH t AS (
                SELECT ts, {day} AS dn, s, r, amt, amt_orig, coalesce(lower(channel), '') AS channel,
                       coalesce(upper(sc) IN {hr} OR upper(rc) IN {hr}, false) AS is_hr
                FROM {table}
                WHERE ts IS NOT NULL AND amt IS NOT NULL
                  AND {day} > {first_asof - scan} AND {day} <= {last_asof}
            )
            SELECT account_id, cp, is_out, ts, dn, amt,
                   channel IN ('cash_deposit', 'cash_withdrawal') AS is_cash,
                   amt_orig >= 1000 AND round(amt_orig * 100) % 10000 = 0 AS is_round,
                   is_hr,
                   amt >= {low!r} AND amt < {float(reporting_threshold)!r} AS is_struct
            FROM (
                SELECT s AS account_id, CASE WHEN s = r THEN NULL ELSE r END AS cp, true AS is_out,
                       ts, dn, amt, amt_orig, channel, is_hr
                FROM t WHERE s <> r OR channel = 'cash_withdrawal'
                UNION ALL
                SELECT r, CASE WHEN s = r THEN NULL ELSE s END, false, ts, dn, amt, amt_orig, channel, is_hr
                FROM t WHERE s <> r OR channel <> 'cash_withdrawal'
            );
            CREATE OR REPLACE TEMP TABLE acc AS
            SELECT account_id, CAST(row_number() OVER (ORDER BY account_id) - 1 AS BIGINT) AS code
            FROM (SELECT DISTINCT account_id FROM legs);
            -- the last active day of each account before the scanned range (dormancy only)
            CREATE OR REPLACE TEMP TABLE prior AS
            SELECT account_id, max(dn) AS dn FROM (
                SELECT s AS account_id, {day} AS dn FROM {table}
                WHERE ts IS NOT NULL AND amt IS NOT NULL AND {day} <= {first_asof - scan}
                UNION ALL
                SELECT r, {day} FROM {table}
                WHERE ts IS NOT NULL AND amt IS NOT NULL AND {day} <= {first_asof - scan}
            ) GROUP BY account_id;
            CREATE OR REPLACE TEMP TABLE daily AS
            SELECT account_id, dn,
                   count(*) AS n_legs,
                   count(*) FILTER (WHERE is_out) AS n_out,
                   count(*) FILTER (WHERE NOT is_out) AS n_in,
                   coalesce(sum(amt) FILTER (WHERE is_out), 0) AS s_out,
                   coalesce(sum(amt) FILTER (WHERE NOT is_out), 0) AS s_in,
                   coalesce(sum(amt * amt) FILTER (WHERE is_out), 0) AS q_out,
                   max(amt) FILTER (WHERE is_out) AS m_out,
                   count(*) FILTER (WHERE is_cash) AS n_cash,
                   count(*) FILTER (WHERE is_round) AS n_round,
                   count(*) FILTER (WHERE is_hr) AS n_hr,
                   count(*) FILTER (WHERE is_struct) AS n_struct
            FROM legs GROUP BY account_id, dn;
            """
        )
        _pattern_events(con, self.pat, self.min_edge, lo_ratio, hi_ratio, int(scatter_gather_min_paths),
                        int(graph_max_degree), round(float(passthrough_hours) * 3600), self.min_pt)
        pairs = con.execute(
            """
            SELECT a.code, p.is_out, p.dn, p.prev FROM (
                SELECT account_id, is_out, dn, lag(dn) OVER (PARTITION BY account_id, is_out, cp ORDER BY dn) AS prev
                FROM (SELECT DISTINCT account_id, is_out, cp, dn FROM legs WHERE cp IS NOT NULL)
            ) p JOIN acc a USING (account_id)
            """
        ).fetchnumpy()
        self._coverage = _coverage_events({k: _plain(v) for k, v in pairs.items()}, self.internal)
        metrics = ", ".join(f"coalesce(d.{m}, 0)::DOUBLE AS {m}" for m in self._METRICS)
        self.rows = con.execute(
            f"""
            WITH gaps AS (
                SELECT account_id, dn, dn - lag(dn) OVER (PARTITION BY account_id ORDER BY dn) AS gap
                FROM (SELECT account_id, dn FROM daily UNION ALL SELECT account_id, dn FROM prior)
            )
            SELECT a.code, coalesce(d.dn, p.dn) AS dn, {metrics}, d.m_out::DOUBLE AS m_out,
                   g.gap::DOUBLE AS gap, p.pt::DOUBLE AS pt, p.cyc::DOUBLE AS cyc, p.sg::DOUBLE AS sg
            FROM daily d
            FULL OUTER JOIN pattern_events p ON p.account_id = d.account_id AND p.dn = d.dn
            LEFT JOIN gaps g ON g.account_id = d.account_id AND g.dn = d.dn
            JOIN acc a ON a.account_id = coalesce(d.account_id, p.account_id)
            ORDER BY a.code, dn
            """
        ).fetchnumpy()
        self.names = con.execute("SELECT account_id FROM acc ORDER BY code").fetchnumpy()["account_id"]
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE acc_range AS
            SELECT a.code, min(d.dn) AS f, max(d.dn) AS l FROM daily d JOIN acc a USING (account_id) GROUP BY a.code;
            CREATE OR REPLACE TEMP TABLE big_legs AS
            SELECT DISTINCT a.code, c.code AS cp_code, l.is_out, l.dn
            FROM legs l JOIN acc a ON a.account_id = l.account_id JOIN acc c ON c.account_id = l.cp
            WHERE l.cp IS NOT NULL AND l.amt >= {self.min_edge!r};
            DROP TABLE legs; DROP TABLE daily; DROP TABLE prior; DROP TABLE pattern_events;
            """
        )
        self.rows = {k: _plain(v) for k, v in self.rows.items()}
        self.row_keys = _key(self.rows["code"], self.rows["dn"])
        active = self.rows["n_legs"] > 0
        self.active_keys = self.row_keys[active]
        self.active_dn = self.rows["dn"][active].astype(np.int64)

    def _cum(self, values: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(values, dtype=float)])

    def features(self, dates: Sequence[date], active_within: int | None = None) -> pd.DataFrame:
        """Feature rows for the as-of ``dates`` (columns as :func:`compute_features`).

        With ``active_within``, only accounts with a leg in the ``active_within`` days ending on the as-of
        date get a row (the monitor scores each account on the dates when it was recently active).
        """
        dns = sorted({_dn(d) for d in dates})
        grid = self.con.execute(
            f"SELECT r.code, d.dn FROM acc_range r JOIN (SELECT unnest($1::INTEGER[]) AS dn) d "
            f"ON d.dn >= r.f AND d.dn <= r.l + {self.lookback - 1} ORDER BY r.code, d.dn", [dns]
        ).fetchnumpy()
        code, dn = grid["code"].astype(np.int64), grid["dn"].astype(np.int64)
        keys = _key(code, dn)
        hi = np.searchsorted(self.row_keys, keys, side="right")
        lo = {w: np.searchsorted(self.row_keys, keys - w, side="right") for w in self.internal}
        legs = self._cum(self.rows["n_legs"])
        keep = (legs[hi] - legs[lo[self.lookback]]) > 0
        if active_within is not None:
            recent_lo = np.searchsorted(self.row_keys, keys - int(active_within), side="right")
            keep &= (legs[hi] - legs[recent_lo]) > 0
        code, dn, keys, hi = code[keep], dn[keep], keys[keep], hi[keep]
        lo = {w: v[keep] for w, v in lo.items()}
        if len(code) == 0:
            return _empty_features(self.windows)

        sums: dict[tuple[str, int], np.ndarray] = {}
        for m in self._METRICS:
            cum = self._cum(self.rows[m])
            for w in self.internal:
                sums[m, w] = cum[hi] - cum[lo[w]]
        account_start = _key(code, np.full(len(code), -(2**30)))
        distinct = {}
        for (direction, w), (starts, ends) in self._coverage.items():
            began = np.searchsorted(starts, keys, side="right") - np.searchsorted(starts, account_start)
            ended = np.searchsorted(ends, keys, side="right") - np.searchsorted(ends, account_start)
            distinct[f"e_{direction}_{w}"] = (began - ended).astype(float)
        out: dict[str, np.ndarray] = {}
        for w in self.windows:
            n_out, n_in, n_legs = sums["n_out", w], sums["n_in", w], sums["n_legs", w]
            s_out, q_out = sums["s_out", w], sums["q_out", w]
            some = np.maximum(n_legs, 1)
            var = np.maximum(q_out - s_out * s_out / np.maximum(n_out, 1), 0) / np.maximum(n_out - 1, 1)
            out.update({
                f"tx_out_count_{w}d": n_out,
                f"tx_in_count_{w}d": n_in,
                f"amount_out_sum_{w}d": s_out,
                f"amount_in_sum_{w}d": sums["s_in", w],
                f"amount_out_mean_{w}d": np.where(n_out > 0, s_out / np.maximum(n_out, 1), 0.0),
                f"amount_out_max_{w}d": np.nan_to_num(_range_max(self.rows["m_out"], lo[w], hi, w), nan=0.0),
                f"amount_out_std_{w}d": np.where(n_out > 1, np.sqrt(var), 0.0),
                f"distinct_counterparties_out_{w}d": distinct[f"e_out_{w}"],
                f"distinct_counterparties_in_{w}d": distinct[f"e_in_{w}"],
                f"cash_share_{w}d": np.where(n_legs > 0, sums["n_cash", w] / some, 0.0),
                f"round_amount_share_{w}d": np.where(n_legs > 0, sums["n_round", w] / some, 0.0),
                f"high_risk_share_{w}d": np.where(n_legs > 0, sums["n_hr", w] / some, 0.0),
                f"structuring_count_{w}d": sums["n_struct", w],
            })
        pat_lo = lo[self.pat]
        out["passthrough_ratio"] = np.nan_to_num(_range_max(self.rows["pt"], pat_lo, hi, self.pat), nan=0.0)
        # velocity: the long rate over the history observed in the long window (first active day to as-of)
        a_hi = np.searchsorted(self.active_keys, keys, side="right")
        a_lo = np.searchsorted(self.active_keys, keys - self.long, side="right")
        first = self.active_dn[np.minimum(a_lo, len(self.active_dn) - 1)]
        span = np.minimum(dn - first + 1, self.long).astype(float)
        n_short, n_long = sums["n_legs", self.short], sums["n_legs", self.long]
        ok = (a_hi > a_lo) & (n_long > 0) & (span >= 2 * self.short)
        out["velocity_change"] = np.where(
            ok, (n_short / self.short) / (np.maximum(n_long, 1) / np.maximum(span, 1)), 0.0)
        out["cycle_flag"] = (np.nan_to_num(_range_max(self.rows["cyc"], pat_lo, hi, self.pat)) > 0).astype(np.int64)
        out["scatter_gather_paths"] = np.nan_to_num(_range_max(self.rows["sg"], pat_lo, hi, self.pat), nan=0.0)
        out["hub_neighbor_degree"] = self._hub_neighbors(code, dn, keys, sums, distinct, dns)
        gap = np.nan_to_num(_range_max(self.rows["gap"], lo[self.recent], hi, self.recent), nan=0.0)
        out["dormancy_gap_days"] = np.maximum(gap - 1, 0)
        recent_amount = sums["s_in", self.recent] + sums["s_out", self.recent]
        out["dormant_reactivation"] = (
            (out["dormancy_gap_days"] >= self.dormancy_days)
            & ((sums["n_legs", self.recent] >= self.dormancy_min_legs) | (recent_amount >= self.dormancy_min_amount))
        ).astype(np.int64)

        columns = feature_columns(self.windows)
        body = pd.DataFrame(np.column_stack([np.asarray(out[c], dtype=float) for c in columns]), columns=columns)
        for col in ("cycle_flag", "dormant_reactivation"):
            body[col] = body[col].astype(np.int64)
        body.insert(0, "as_of_date", pd.to_datetime(dn.astype("datetime64[D]")).date)
        body.insert(0, "account_id", self.names[code].astype(object))
        return body

    def _hub_neighbors(self, code, dn, keys, sums, distinct, dns) -> np.ndarray:
        """``hub_neighbor_degree`` for the grid rows (see the module docstring)."""
        p = self.pat
        s_in, s_out = sums["s_in", p], sums["s_out", p]
        fan_in, fan_out = distinct[f"e_in_{p}"], distinct[f"e_out_{p}"]
        balanced = ((s_in >= self.min_pt) & (s_out >= self.min_pt)
                    & (np.minimum(s_in, s_out) >= 0.5 * np.maximum(s_in, s_out))
                    & (np.maximum(fan_in, fan_out) >= 3))
        result = np.zeros(len(code))
        if not balanced.any():
            return result
        hubs = pd.DataFrame({"hub": code[balanced], "dn": dn[balanced], "fan_in": fan_in[balanced],
                             "fan_out": fan_out[balanced]})
        self.con.register("hubs_frame", hubs)
        try:
            found = self.con.execute(
                f"""
                SELECT b.code, d.dn, max(CASE WHEN b.is_out THEN h.fan_in ELSE h.fan_out END) AS hub
                FROM big_legs b
                JOIN (SELECT unnest($1::INTEGER[]) AS dn) d ON d.dn >= b.dn AND d.dn < b.dn + {p}
                JOIN hubs_frame h ON h.hub = b.cp_code AND h.dn = d.dn
                GROUP BY b.code, d.dn
                """, [dns]
            ).fetchnumpy()
        finally:
            self.con.unregister("hubs_frame")
        if len(found["code"]) == 0:
            return result
        found_keys = _key(found["code"].astype(np.int64), found["dn"].astype(np.int64))
        pos = np.searchsorted(keys, found_keys)
        pos_ok = pos < len(keys)
        match = pos_ok & (keys[np.minimum(pos, len(keys) - 1)] == found_keys)
        result[pos[match]] = np.asarray(found["hub"], dtype=float)[match]
        return result


def _plain(values) -> np.ndarray:
    """A fetched column as a plain array: NULLs (masked) become NaN in float columns."""
    if isinstance(values, np.ma.MaskedArray):
        if values.dtype.kind in "iu" and not values.mask.any():
            return values.filled(0)
        return values.astype(float).filled(np.nan)
    return np.asarray(values)


def _dn(d: date) -> int:
    """Days since 1970-01-01."""
    return (pd.Timestamp(d).date() - date(1970, 1, 1)).days


def _key(code: np.ndarray, dn: np.ndarray) -> np.ndarray:
    """A sortable int64 key for (account code, day number): code-major, then day."""
    return np.asarray(code, dtype=np.int64) * (1 << 32) + (np.asarray(dn, dtype=np.int64) + (1 << 31))


def _coverage_events(pairs: dict[str, np.ndarray], internal: Sequence[int]) -> dict:
    """Per (direction, window w): the sorted keys of the days on which a counterparty starts and stops
    counting in the account's w-day distinct count, so that (starts <= D) - (stops <= D) is the exact
    number of distinct counterparties in the w days ending on D.

    ``pairs`` holds one row per (account code, direction, counterparty, day) with the previous day the
    pair was seen (``prev``, NaN if none). A counterparty seen on days d1 < d2 < ... counts on days
    [d_i, d_i + w - 1]; the part not already covered by d_(i-1) starts at max(d_i, d_(i-1) + w).
    """
    out = {}
    code = pairs["code"].astype(np.int64)
    dn = pairs["dn"].astype(np.int64)
    prev = pairs["prev"].astype(float)
    is_out = pairs["is_out"].astype(bool)
    for direction, mask in (("out", is_out), ("in", ~is_out)):
        c, d, p = code[mask], dn[mask], prev[mask]
        for w in internal:
            start = np.where(np.isnan(p), d, np.maximum(d, np.nan_to_num(p, nan=0).astype(np.int64) + w))
            out[direction, w] = (np.sort(_key(c, start)), np.sort(_key(c, d + w)))
    return out


def _pattern_events(
    con: duckdb.DuckDBPyConnection, pat: int, min_amount: float, lo: float, hi: float, sg_min: int,
    max_degree: int, pt_seconds: int, min_pt: float,
) -> None:
    """Create ``pattern_events`` (account_id, dn, pt, cyc, sg): per account and day, the pass-through ratio
    assessed that day, and the cycles and scatter-gather patterns completed that day (see module docstring)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE edges AS
        SELECT account_id AS s, cp AS r, ts, amt FROM legs
        WHERE is_out AND cp IS NOT NULL AND amt >= {min_amount!r};
        CREATE OR REPLACE TEMP TABLE busy AS
        SELECT node FROM (SELECT s AS node FROM edges UNION ALL SELECT r FROM edges)
        GROUP BY node HAVING count(*) > {max_degree};
        CREATE OR REPLACE TEMP TABLE p2 AS  -- two-hop paths a -> b -> c, time-respecting, amounts decaying
        SELECT e1.s AS a, e1.r AS b, e2.r AS c, e1.ts AS t1, e2.ts AS t2, e1.amt AS a1, e2.amt AS a2
        FROM edges e1 JOIN edges e2 ON e1.r = e2.s
        WHERE e1.r NOT IN (SELECT node FROM busy)
          AND e2.ts >= e1.ts AND e2.ts < e1.ts + INTERVAL {pat} DAY
          AND e2.amt BETWEEN e1.amt * {lo!r} AND e1.amt * {hi!r};
        CREATE OR REPLACE TEMP TABLE pattern_events AS
        WITH cyc AS (
            SELECT a, b, NULL AS c, NULL AS d, t2 AS t_last FROM p2 WHERE c = a
            UNION ALL
            SELECT p2.a, p2.b, p2.c, NULL, e3.ts
            FROM p2 JOIN edges e3 ON e3.s = p2.c AND e3.r = p2.a
            WHERE p2.c <> p2.a AND e3.ts >= p2.t2 AND e3.ts < p2.t1 + INTERVAL {pat} DAY
              AND e3.amt BETWEEN p2.a2 * {lo!r} AND p2.a2 * {hi!r}
            UNION ALL
            SELECT x.a, x.b, x.c, y.b, y.t2
            FROM p2 x JOIN p2 y ON y.a = x.c AND y.c = x.a
            WHERE x.c <> x.a AND y.b <> x.b AND y.t1 >= x.t2 AND y.t2 < x.t1 + INTERVAL {pat} DAY
              AND y.a1 BETWEEN x.a2 * {lo!r} AND x.a2 * {hi!r}
        ),
        cyc_members AS (
            SELECT account_id, CAST(CAST(t_last AS DATE) - {_EPOCH} AS INTEGER) AS dn FROM (
                SELECT a AS account_id, t_last FROM cyc
                UNION ALL SELECT b, t_last FROM cyc
                UNION ALL SELECT c, t_last FROM cyc WHERE c IS NOT NULL
                UNION ALL SELECT d, t_last FROM cyc WHERE d IS NOT NULL
            )
        ),
        sg AS (
            SELECT a, c, count(DISTINCT b) AS k, max(t2) AS t_last, list(DISTINCT b) AS mids
            FROM p2 WHERE a <> c GROUP BY a, c HAVING count(DISTINCT b) >= {sg_min}
        ),
        sg_members AS (
            SELECT account_id, CAST(CAST(t_last AS DATE) - {_EPOCH} AS INTEGER) AS dn, k FROM (
                SELECT a AS account_id, t_last, k FROM sg
                UNION ALL SELECT c, t_last, k FROM sg
                UNION ALL SELECT unnest(mids), t_last, k FROM sg
            )
        ),
        pt_legs AS (
            SELECT account_id, is_out,
                sum(CASE WHEN is_out THEN amt ELSE 0 END) OVER w AS out_after,
                sum(CASE WHEN is_out THEN 0 ELSE amt END) OVER w AS in_after,
                max(ts) OVER w AS last_ts
            FROM legs
            WINDOW w AS (PARTITION BY account_id ORDER BY ts
                         RANGE BETWEEN CURRENT ROW AND INTERVAL {pt_seconds} SECOND FOLLOWING)
        ),
        pt AS (
            SELECT account_id, CAST(CAST(last_ts AS DATE) - {_EPOCH} AS INTEGER) AS dn,
                   least(in_after, out_after) / greatest(in_after, out_after) AS ratio
            FROM pt_legs
            WHERE NOT is_out AND in_after >= {min_pt!r} AND out_after >= {min_pt!r}
        )
        SELECT account_id, dn, max(pt) AS pt, max(cyc) AS cyc, max(sg) AS sg FROM (
            SELECT account_id, dn, ratio AS pt, NULL::INTEGER AS cyc, NULL::BIGINT AS sg FROM pt
            UNION ALL SELECT account_id, dn, NULL, 1, NULL FROM cyc_members
            UNION ALL SELECT account_id, dn, NULL, NULL, k FROM sg_members
        ) GROUP BY account_id, dn;
        DROP TABLE p2; DROP TABLE busy; DROP TABLE edges;
        """
    )


