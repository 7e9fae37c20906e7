"""Monitoring benchmarks for ``make bench``: throughput of the ``kyc monitor`` path and detection quality.

The lead calls these from ``kyc_assets_tests/bench.py``:

- :func:`throughput_figures` (sizes, default 100k, 1M, 5M): each size runs in its own process (so peak RSS
  belongs to that size): generate N transactions, write them as CSV, then time ``monitor_file`` (the
  ``kyc monitor`` code path: streamed validation, features at every 7th day across the period, scores).
- :func:`detection_figures`: a generated world with planted typologies; average precision over accounts
  (positives = planted accounts) and recall per typology at the alert policy, for the platform and for the
  seed approach (IsolationForest(contamination=0.01) on per-account amount, frequency and country code),
  in the same run.

``python -m kyc_assets_tests.bench_monitoring`` prints both. Figures are rates and ratios, never asserted.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

START = date(2026, 6, 1)
DAYS = 90


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def throughput(n: int) -> dict:
    """One size, in this process: seconds, tx/s and peak RSS of the monitor path over N generated rows."""
    from kyc_assets.monitoring.monitor import monitor_file
    from kyc_assets.sample_data.transactions import generate_transactions

    accounts = [f"ACC{i:07d}" for i in range(max(200, n // 50))]
    tx, _ = generate_transactions(accounts, n=n, start=START, days=DAYS, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "transactions.csv"
        tx.to_csv(path, index=False)
        del tx
        before = _peak_mb()
        started = time.perf_counter()
        result, quarantined = monitor_file(path, now=pd.Timestamp("2027-01-01", tz="UTC"))
        seconds = time.perf_counter() - started
    return {"figure": f"monitoring {n:,} transactions (kyc monitor path)", "seconds": round(seconds, 1),
            "rate": f"{n / seconds:,.0f} tx/s", "accounts": len(result),
            "alert_rate": f"{result['alert'].mean():.3%}", "quarantined": sum(quarantined.values()),
            "peak_mb": round(_peak_mb()), "peak_mb_before_monitor": round(before)}


def throughput_figures(sizes: tuple[int, ...] = (100_000, 1_000_000, 5_000_000)) -> list[dict]:
    """Each size in a fresh subprocess; returns the figures (a failed size gives an ``error`` entry)."""
    figures = []
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for n in sizes:
        out = subprocess.run([sys.executable, "-m", "kyc_assets_tests.bench_monitoring", "throughput", str(n)],
                             check=False, capture_output=True, text=True, env=env)
        if out.returncode:
            tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
            figures.append({"figure": f"monitoring {n:,} transactions", "error": tail})
            continue
        figures.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return figures


def seed_scores(valid: pd.DataFrame, accounts: list[str], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The seed approach: IsolationForest(contamination=0.01) on per-account mean amount, transaction count
    and (encoded) country code. Returns (anomaly score, alert flag) per account of ``accounts``."""
    from sklearn.ensemble import IsolationForest

    legs = pd.concat([
        valid[["sender_account", "amount_base", "sender_country"]].set_axis(["account", "amount", "country"], axis=1),
        valid[["receiver_account", "amount_base", "receiver_country"]].set_axis(["account", "amount", "country"],
                                                                                axis=1),
    ])
    per = legs.groupby("account").agg(amount=("amount", "mean"), frequency=("amount", "size"),
                                      country=("country", lambda c: c.mode().iat[0] if c.notna().any() else ""))
    per = per.reindex(accounts)
    per["amount"] = per["amount"].fillna(0.0)
    per["frequency"] = per["frequency"].fillna(0)
    per["country"] = per["country"].fillna("").astype("category").cat.codes
    forest = IsolationForest(contamination=0.01, random_state=seed).fit(per.to_numpy(dtype=float))
    x = per.to_numpy(dtype=float)
    return -forest.score_samples(x), forest.predict(x) == -1


def detection_figures(n: int = 300_000, n_accounts: int = 6_000, seed: int = 5) -> dict:
    """Average precision and per-typology recall on a generated world, platform vs seed approach."""
    from sklearn.metrics import average_precision_score

    from kyc_assets.monitoring.monitor import monitor_transactions
    from kyc_assets.monitoring.schema import validate_transactions
    from kyc_assets.sample_data.transactions import generate_transactions

    accounts = [f"C{i:06d}" for i in range(n_accounts)]
    raw, labels = generate_transactions(accounts, n=n, start=START, days=DAYS, seed=seed)
    now = pd.Timestamp("2027-01-01", tz="UTC")
    started = time.perf_counter()
    results, _ = monitor_transactions(raw, now=now)
    seconds = time.perf_counter() - started
    by_account = results.set_index("account_id")
    risk = by_account["risk_score"].reindex(accounts).fillna(0.0).to_numpy()
    alert = by_account["alert"].reindex(accounts).fillna(False).to_numpy(dtype=bool)
    valid, _ = validate_transactions(raw, now=now)
    seed_risk, seed_alert = seed_scores(valid, accounts)

    planted: dict[str, set[str]] = {}
    for lab in labels:
        planted.setdefault(lab["typology"], set()).add(lab["account_id"])
    positive = set().union(*planted.values()) if planted else set()
    y = np.array([a in positive for a in accounts])
    index = {a: i for i, a in enumerate(accounts)}
    recall = {}
    for typology, members in sorted(planted.items()):
        rows = [index[a] for a in members]
        recall[typology] = {"platform": f"{alert[rows].mean():.2f}", "seed": f"{seed_alert[rows].mean():.2f}",
                            "accounts": len(rows)}
    precision = (y & alert).sum() / max(alert.sum(), 1)
    return {
        "figure": f"detection on a generated world ({n:,} tx, {n_accounts:,} accounts, {y.sum()} planted)",
        "average_precision": {"platform": round(float(average_precision_score(y, risk)), 3),
                              "seed": round(float(average_precision_score(y, seed_risk)), 3),
                              "chance": round(float(y.mean()), 3)},
        "alert_rate": {"platform": f"{alert.mean():.2%}", "seed": f"{seed_alert.mean():.2%}"},
        "precision_at_alert": {"platform": round(float(precision), 3),
                               "seed": round(float((y & seed_alert).sum() / max(seed_alert.sum(), 1)), 3)},
        "recall_overall": {"platform": round(float(alert[y].mean()), 3), "seed": round(float(seed_alert[y].mean()), 3)},
        "recall_per_typology": recall,
        "monitor_seconds": round(seconds, 1),
    }


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "throughput":  # child process: one size
        print(json.dumps(throughput(int(sys.argv[2]))))
        return
    sizes = tuple(int(s) for s in os.environ.get("KYC_BENCH_SIZES", "100000,1000000,5000000").split(","))
    figures = throughput_figures(sizes)
    for fig in figures:
        print(f"{fig.pop('figure'):<52} " + "  ".join(f"{k}={v}" for k, v in fig.items()), flush=True)
    timed = [(int(s), f["seconds"]) for s, f in zip(sizes, figures, strict=True) if "seconds" in f]
    for (n0, t0), (n1, t1) in itertools.pairwise(timed):
        print(f"{'monitoring scaling':<52} {n1 / n0:.0f}x rows -> {t1 / t0:.1f}x time")
    print(json.dumps(detection_figures(), indent=1))


if __name__ == "__main__":
    main()
