"""Behavioural features per (account, as-of date) over validated transactions, computed with DuckDB SQL.

Each transaction gives an account "legs": an *out* leg for the sender and an *in* leg for the receiver.
A self-transaction (sender == receiver) is the account's own cash movement and gives one leg only: *out*
for ``cash_withdrawal``, *in* otherwise (cash deposit); it has no counterparty.

For an as-of date D, the window of w days is the w calendar days ending on D inclusive (UTC dates).
Features per window w (suffix ``_{w}d``):

- ``tx_out_count``, ``tx_in_count``: number of out / in legs.
- ``amount_out_sum``, ``amount_in_sum``, ``amount_out_mean``, ``amount_out_max``, ``amount_out_std``
  (sample standard deviation; 0 with fewer than two out legs).
- ``distinct_counterparties_out`` (fan-out), ``distinct_counterparties_in`` (fan-in).
- ``cash_share``: share of legs on ``cash_deposit`` / ``cash_withdrawal``.
- ``round_amount_share``: share of legs whose original amount is >= 1,000 and a multiple of 100.
- ``high_risk_share``: share of legs where the sender or receiver country is high-risk.
- ``structuring_count``: legs with amount in ``[threshold*(1-margin), threshold)``.

Plus, over the lookback (the largest window):

- ``passthrough_ratio``: max over in legs of min(IN, OUT) / max(IN, OUT), where IN and OUT are the money
  received and sent in the ``passthrough_hours`` starting at that in leg (only legs up to the end of D),
  counted when both are at least ``passthrough_min_amount``; else 0.
- ``velocity_change``: (legs in the last 7 days / 7) / (legs per day over the observed part of the last
  30 days, from the account's first leg in that window); 0 without activity or with < 14 days of history.
- ``cycle_flag``: 1 when the account lies on a time-respecting cycle of 2-4 transfers (A->B->A,
  A->B->C->A, A->B->C->D->A) inside the lookback, each transfer at least ``cycle_min_amount`` and each hop
  carrying between ``cycle_amount_ratio[0]`` and ``cycle_amount_ratio[1]`` times the previous hop. Bounded:
  cycles are assembled from two-hop paths (a meet-in-the-middle join), never an open recursion.

Amounts are ``amount_base`` when present (converted to the base currency), else ``amount``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import duckdb
import numpy as np
import pandas as pd

DEFAULT_WINDOWS: tuple[int, ...] = (1, 7, 30)
HIGH_RISK_COUNTRIES: tuple[str, ...] = ("IR", "KP", "MM", "SY", "AF", "YE")
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
GLOBAL_FEATURES: tuple[str, ...] = ("passthrough_ratio", "velocity_change", "cycle_flag")


def feature_columns(windows: Sequence[int] = DEFAULT_WINDOWS) -> list[str]:
    """The feature column names for the given windows (ordered: window features by window, then globals)."""
    return [f"{name}_{w}d" for w in windows for name in WINDOW_FEATURES] + list(GLOBAL_FEATURES)


FEATURE_COLUMNS: list[str] = feature_columns(DEFAULT_WINDOWS)

_ID_COLUMNS = ["account_id", "as_of_date"]


def _check_windows(windows: Iterable[int]) -> tuple[int, ...]:
    out = tuple(int(w) for w in windows)
    if not out or any(w < 1 for w in out) or len(set(out)) != len(out):
        raise ValueError("windows must be distinct positive day counts")
    return out


def _prepare(tx: pd.DataFrame) -> pd.DataFrame:
    """The minimal typed frame DuckDB scans: naive-UTC timestamps, one amount column, optional columns filled."""
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


def _sql_list(values: Iterable[str]) -> str:
    items = [str(v).upper().replace("'", "''") for v in values]
    return "(" + ", ".join(f"'{v}'" for v in items) + ")" if items else "(NULL)"


def _window_aggregates(windows: Sequence[int]) -> str:
    parts = []
    for w in windows:
        win = f"age < {w}"
        out, inn = f"is_out AND {win}", f"NOT is_out AND {win}"
        parts += [
            f"count(*) FILTER (WHERE {out}) AS tx_out_count_{w}d",
            f"count(*) FILTER (WHERE {inn}) AS tx_in_count_{w}d",
            f"coalesce(sum(amt) FILTER (WHERE {out}), 0) AS amount_out_sum_{w}d",
            f"coalesce(sum(amt) FILTER (WHERE {inn}), 0) AS amount_in_sum_{w}d",
            f"coalesce(avg(amt) FILTER (WHERE {out}), 0) AS amount_out_mean_{w}d",
            f"coalesce(max(amt) FILTER (WHERE {out}), 0) AS amount_out_max_{w}d",
            f"coalesce(stddev_samp(amt) FILTER (WHERE {out}), 0) AS amount_out_std_{w}d",
            f"count(DISTINCT cp) FILTER (WHERE {out}) AS distinct_counterparties_out_{w}d",
            f"count(DISTINCT cp) FILTER (WHERE {inn}) AS distinct_counterparties_in_{w}d",
            f"coalesce(avg(is_cash::DOUBLE) FILTER (WHERE {win}), 0) AS cash_share_{w}d",
            f"coalesce(avg(is_round::DOUBLE) FILTER (WHERE {win}), 0) AS round_amount_share_{w}d",
            f"coalesce(avg(is_hr::DOUBLE) FILTER (WHERE {win}), 0) AS high_risk_share_{w}d",
            f"count(*) FILTER (WHERE is_struct AND {win}) AS structuring_count_{w}d",
        ]
    return ",\n    ".join(parts)


def _empty_features(windows: Sequence[int]) -> pd.DataFrame:
    frame = pd.DataFrame({"account_id": pd.Series(dtype=object), "as_of_date": pd.Series(dtype=object)})
    for col in feature_columns(windows):
        frame[col] = pd.Series(dtype=float)
    return frame


def compute_features(
    tx: pd.DataFrame,
    *,
    as_of: list[date] | None = None,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    reporting_threshold: float = 10_000.0,
    structuring_margin: float = 0.1,
    high_risk_countries: Sequence[str] = HIGH_RISK_COUNTRIES,
    passthrough_hours: float = 48,
    passthrough_min_amount: float = 5_000.0,
    cycle_min_amount: float = 1_000.0,
    cycle_amount_ratio: tuple[float, float] = (0.5, 1.05),
    velocity_windows: tuple[int, int] = (7, 30),
) -> pd.DataFrame:
    """One row of features per (account_id, as_of_date) for accounts active in the lookback before each date.

    ``tx`` is a validated transaction frame (see ``schema.validate_transactions``). ``as_of`` defaults to
    every distinct transaction date (UTC). The lookback is ``max(windows)`` days ending on the as-of date;
    accounts without a leg in it get no row. See the module docstring for each feature's definition.
    Columns: ``account_id``, ``as_of_date`` (datetime.date), then ``feature_columns(windows)``.
    """
    windows = _check_windows(windows)
    short, long = (int(v) for v in velocity_windows)
    if not 0 < short < long:
        raise ValueError("velocity_windows must be (short, long) with 0 < short < long")
    if not 0 <= structuring_margin < 1 or reporting_threshold <= 0:
        raise ValueError("reporting_threshold must be > 0 and structuring_margin in [0, 1)")
    if passthrough_hours <= 0:
        raise ValueError("passthrough_hours must be positive")
    lo_ratio, hi_ratio = (float(v) for v in cycle_amount_ratio)
    if len(tx) == 0:
        return _empty_features(windows)
    frame = _prepare(tx)
    frame = frame[frame["amt"].notna() & frame["ts"].notna()]
    lookback = max(windows)
    scan = max(lookback, long)

    if as_of is None:
        dates = np.sort(frame["ts"].dt.normalize().unique())
        as_of_frame = pd.DataFrame({"as_of": pd.to_datetime(dates).date})
    else:
        as_of_frame = pd.DataFrame({"as_of": sorted({pd.Timestamp(d).date() for d in as_of})})
    if as_of_frame.empty:
        return _empty_features(windows)
    as_of_frame["as_of"] = pd.to_datetime(as_of_frame["as_of"]).astype("datetime64[s]")

    low = float(reporting_threshold) * (1 - float(structuring_margin))
    hr = _sql_list(high_risk_countries)
    pt_seconds = round(float(passthrough_hours) * 3600)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("tx_raw", frame)
        con.register("asof_raw", as_of_frame)
        con.execute(
            f"""
            CREATE TEMP TABLE asof_dates AS SELECT DISTINCT CAST(as_of AS DATE) AS as_of FROM asof_raw;
            CREATE TEMP TABLE legs AS
            WITH t AS (
                SELECT ts, CAST(ts AS DATE) AS day, s, r, amt, amt_orig, coalesce(lower(channel), '') AS channel,
                       upper(sc) IN {hr} OR upper(rc) IN {hr} AS is_hr
                FROM tx_raw
                WHERE CAST(ts AS DATE) > (SELECT min(as_of) FROM asof_dates) - {scan}
                  AND CAST(ts AS DATE) <= (SELECT max(as_of) FROM asof_dates)
            )
            SELECT account_id, cp, is_out, ts, day, amt,
                   channel IN ('cash_deposit', 'cash_withdrawal') AS is_cash,
                   amt_orig >= 1000 AND round(amt_orig * 100) % 10000 = 0 AS is_round,
                   coalesce(is_hr, false) AS is_hr,
                   amt >= {low!r} AND amt < {float(reporting_threshold)!r} AS is_struct
            FROM (
                SELECT s AS account_id, CASE WHEN s = r THEN NULL ELSE r END AS cp, true AS is_out,
                       ts, day, amt, amt_orig, channel, is_hr
                FROM t WHERE s <> r OR channel = 'cash_withdrawal'
                UNION ALL
                SELECT r, CASE WHEN s = r THEN NULL ELSE s END, false, ts, day, amt, amt_orig, channel, is_hr
                FROM t WHERE s <> r OR channel <> 'cash_withdrawal'
            );
            CREATE TEMP TABLE j AS
            SELECT a.as_of, l.*, CAST(a.as_of - l.day AS INTEGER) AS age
            FROM legs l JOIN asof_dates a ON l.day <= a.as_of AND l.day > a.as_of - {scan};
            """
        )
        features = con.execute(
            f"""
            WITH agg AS (
                SELECT account_id, as_of,
                    {_window_aggregates(windows)},
                    count(*) FILTER (WHERE age < {short}) AS _n_short,
                    count(*) FILTER (WHERE age < {long}) AS _n_long,
                    max(age) FILTER (WHERE age < {long}) + 1 AS _span_long,
                    count(*) FILTER (WHERE age < {lookback}) AS _n_lookback
                FROM j GROUP BY account_id, as_of
            ),
            pt_legs AS (
                SELECT as_of, account_id, is_out,
                    sum(CASE WHEN is_out THEN amt ELSE 0 END) OVER w AS out_after,
                    sum(CASE WHEN is_out THEN 0 ELSE amt END) OVER w AS in_after
                FROM j WHERE age < {lookback}
                WINDOW w AS (PARTITION BY as_of, account_id ORDER BY ts
                             RANGE BETWEEN CURRENT ROW AND INTERVAL {pt_seconds} SECOND FOLLOWING)
            ),
            pt AS (
                SELECT as_of, account_id,
                    max(least(in_after, out_after) / greatest(in_after, out_after)) AS passthrough_ratio
                FROM pt_legs
                WHERE NOT is_out AND in_after >= {float(passthrough_min_amount)!r}
                  AND out_after >= {float(passthrough_min_amount)!r}
                GROUP BY as_of, account_id
            )
            SELECT agg.*, coalesce(pt.passthrough_ratio, 0) AS passthrough_ratio
            FROM agg LEFT JOIN pt USING (as_of, account_id)
            WHERE _n_lookback > 0
            """
        ).df()
        cycles = _cycle_members(con, lookback, float(cycle_min_amount), lo_ratio, hi_ratio)
    finally:
        con.close()

    # The long rate is taken over the history actually observed (first leg in the long window up to
    # as_of): an account, or a data set, that starts mid-window is not a spike. Less than two short
    # windows of history says nothing about velocity, so it scores 0.
    span = features["_span_long"].fillna(0).clip(upper=long)
    features["velocity_change"] = np.where(
        (features["_n_long"] > 0) & (span >= 2 * short),
        (features["_n_short"] / short) / (features["_n_long"].clip(lower=1) / span.clip(lower=1)),
        0.0,
    )
    features = features.merge(cycles, on=["account_id", "as_of"], how="left")
    features["cycle_flag"] = features["cycle_flag"].fillna(0).astype(np.int64)
    features["as_of_date"] = pd.to_datetime(features["as_of"]).dt.date
    columns = _ID_COLUMNS + feature_columns(windows)
    features = features[columns].sort_values(_ID_COLUMNS, kind="stable").reset_index(drop=True)
    return features


def _cycle_members(
    con: duckdb.DuckDBPyConnection, lookback: int, min_amount: float, lo: float, hi: float
) -> pd.DataFrame:
    """(account_id, as_of, cycle_flag=1) for accounts on a 2-4 hop time-respecting cycle in the lookback."""
    return con.execute(
        f"""
        WITH e AS (
            SELECT account_id AS s, cp AS r, ts, amt FROM legs
            WHERE is_out AND cp IS NOT NULL AND amt >= {min_amount!r}
        ),
        p2 AS (  -- two-hop paths a -> b -> c, time-respecting, amount decaying within the ratio band
            SELECT e1.s AS a, e1.r AS b, e2.r AS c, e1.ts AS t1, e2.ts AS t2, e1.amt AS a1, e2.amt AS a2
            FROM e e1 JOIN e e2 ON e1.r = e2.s
            WHERE e2.ts >= e1.ts AND e2.ts < e1.ts + INTERVAL {lookback} DAY
              AND e2.amt BETWEEN e1.amt * {lo!r} AND e1.amt * {hi!r}
        ),
        cyc AS (
            SELECT a, b, NULL AS c, NULL AS d, t1 AS t_first, t2 AS t_last FROM p2 WHERE c = a
            UNION ALL
            SELECT p2.a, p2.b, p2.c, NULL, p2.t1, e3.ts
            FROM p2 JOIN e e3 ON e3.s = p2.c AND e3.r = p2.a
            WHERE p2.c <> p2.a AND e3.ts >= p2.t2 AND e3.ts < p2.t1 + INTERVAL {lookback} DAY
              AND e3.amt BETWEEN p2.a2 * {lo!r} AND p2.a2 * {hi!r}
            UNION ALL
            SELECT x.a, x.b, x.c, y.b, x.t1, y.t2
            FROM p2 x JOIN p2 y ON y.a = x.c AND y.c = x.a
            WHERE x.c <> x.a AND y.b <> x.b AND y.t1 >= x.t2 AND y.t2 < x.t1 + INTERVAL {lookback} DAY
              AND y.a1 BETWEEN x.a2 * {lo!r} AND x.a2 * {hi!r}
        ),
        members AS (
            SELECT DISTINCT account_id, CAST(t_first AS DATE) AS d_first, CAST(t_last AS DATE) AS d_last
            FROM (
                SELECT a AS account_id, t_first, t_last FROM cyc
                UNION ALL SELECT b, t_first, t_last FROM cyc
                UNION ALL SELECT c, t_first, t_last FROM cyc WHERE c IS NOT NULL
                UNION ALL SELECT d, t_first, t_last FROM cyc WHERE d IS NOT NULL
            )
        )
        SELECT DISTINCT m.account_id, a.as_of, 1 AS cycle_flag
        FROM members m JOIN asof_dates a ON m.d_last <= a.as_of AND m.d_first > a.as_of - {lookback}
        """
    ).df()
