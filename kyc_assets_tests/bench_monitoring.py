"""Monitoring benchmarks for ``make bench``: throughput of the ``kyc monitor`` path and detection quality.

The lead calls these from ``kyc_assets_tests/bench.py``:

- :func:`throughput_figures` (sizes, default 100k, 1M, 5M): each size runs in its own process (so peak RSS
  belongs to that size): generate N transactions, write them as CSV, then time ``monitor_file`` (the
  ``kyc monitor`` code path: streamed validation, features at every 7th day across the period, scores).
- :func:`detection_figures`: a generated world with planted typologies; average precision over accounts
  (positives = planted accounts) and recall per typology at the alert policy, for the platform and for the
  seed approach (IsolationForest(contamination=0.01) on per-account amount, frequency and country code),
  in the same run (the project's first sample world, whose planted patterns are compact, short and loud).
- :func:`heldout_detection_figures`: the harder world of :mod:`kyc_assets.sample_data.aml_world` on held-out
  seeds (``EVAL_SEEDS``) and each held-out parameter set (``EVAL_PARAMS``): each world is written as a CSV and
  scored by ``kyc monitor`` exactly as a user would run it (default alert policy), side by side with the seed
  approach and a naive degree count; average precision, precision in the top 1%, precision/recall at alert
  budgets of 0.5%, 1% and 2% of accounts, recall by typology at the alert policy, alert rate, time.
  ``required_only=True`` drops the optional columns (currency, countries, channel): sender, receiver, amount
  and day only, like the hidden benchmark.
- :func:`supervised_reference_figures`: how learnable those held-out worlds are: a gradient-boosting probe on
  simple four-column features, trained with the labels of TUNE worlds (a reference, not a detector; slow).

``python -m kyc_assets_tests.bench_monitoring`` prints them. Figures are rates and ratios, never asserted.
"""

from __future__ import annotations

import itertools
import json
import math
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


def degree_scores(valid: pd.DataFrame, accounts: list[str]) -> np.ndarray:
    """A naive baseline: the number of distinct counterparties of each account (in or out)."""
    pairs = pd.concat([valid[["sender_account", "receiver_account"]].set_axis(["account", "other"], axis=1),
                       valid[["receiver_account", "sender_account"]].set_axis(["account", "other"], axis=1)])
    return pairs.drop_duplicates().groupby("account").size().reindex(accounts).fillna(0).to_numpy(dtype=float)


def _run_kyc_monitor(csv_path: Path, out_path: Path) -> pd.DataFrame:
    """``kyc monitor --transactions CSV --output OUT`` in this process (the command a user runs), read back."""
    import contextlib
    import io

    from kyc_assets.cli import main as kyc

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = kyc(["monitor", "--transactions", str(csv_path), "--output", str(out_path)])
    if code:
        raise RuntimeError(f"kyc monitor exited {code}: {err.getvalue().strip()[-300:]}")
    return pd.read_csv(out_path, dtype={"account_id": str})


def _mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return round(float(np.mean(values)), 3) if values else float("nan")


def _summary(evals: list[dict]) -> dict:
    """Mean over worlds of the figures of :func:`kyc_assets.sample_data.aml_world.evaluate`."""
    out = {"AP": _mean([e["average_precision"] for e in evals]),
           "P@top1%": _mean([e["precision_top_1pct"] for e in evals])}
    for budget in evals[0]["at_budget"]:
        out[f"P/R@{budget}"] = (f"{_mean([e['at_budget'][budget]['precision'] for e in evals]):.3f}/"
                                f"{_mean([e['at_budget'][budget]['recall'] for e in evals]):.3f}")
    policy = [e["alert_policy"] for e in evals]
    out["alert_rate"] = f"{_mean([p['alert_rate'] for p in policy]):.2%}"
    out["P/R@policy"] = f"{_mean([p['precision'] for p in policy]):.3f}/{_mean([p['recall'] for p in policy]):.3f}"
    typologies = sorted({t for p in policy for t in p["recall_by_typology"]})
    out["AP_by_typology"] = {t: _mean([e["average_precision_by_typology"][t] for e in evals
                                       if t in e["average_precision_by_typology"]]) for t in typologies}
    out["recall_by_typology@policy"] = {
        t: _mean([p["recall_by_typology"][t]["recall"] for p in policy if t in p["recall_by_typology"]])
        for t in typologies}
    return out


def heldout_detection_figures(k_seeds: int = 2, required_only: bool = False, param_sets: int | None = None) -> dict:
    """Detection on held-out worlds: ``k_seeds`` seeds of ``EVAL_SEEDS`` x each of ``EVAL_PARAMS``.

    Per world: generate, write CSV, run ``kyc monitor`` on it (timed), score the same CSV with the seed approach
    and the degree baseline, and evaluate all three against the labels. Returns the means over worlds (and AP
    per parameter set); nothing here is tuned on these seeds or parameters.
    """
    from kyc_assets.monitoring.schema import read_transactions, validate_transactions
    from kyc_assets.sample_data.aml_world import (
        EVAL_PARAMS,
        EVAL_SEEDS,
        evaluate,
        generate_world,
        with_required_columns_only,
    )

    sets = EVAL_PARAMS[: param_sets or len(EVAL_PARAMS)]
    results: dict[str, list[dict]] = {"platform": [], "seed": [], "degree": []}
    per_set: dict[str, dict[str, list[float]]] = {}
    seconds, cpu_seconds, rows = [], [], []
    for set_no, params in enumerate(sets):
        if required_only:
            params = with_required_columns_only(params)
        for seed in list(EVAL_SEEDS)[:k_seeds]:
            tx, labels = generate_world(seed, params)
            rows.append(len(tx))
            with tempfile.TemporaryDirectory() as tmp:
                csv_path = Path(tmp) / "transactions.csv"
                tx.to_csv(csv_path, index=False)
                started, cpu_started = time.perf_counter(), time.process_time()
                platform = _run_kyc_monitor(csv_path, Path(tmp) / "scores.csv")
                seconds.append(time.perf_counter() - started)
                cpu_seconds.append(time.process_time() - cpu_started)
                valid, _ = validate_transactions(read_transactions(csv_path))
            accounts = labels["account_id"].tolist()
            seed_risk, seed_alert = seed_scores(valid, accounts)
            degree = degree_scores(valid, accounts)
            scored = {
                "platform": platform,
                "seed": pd.DataFrame({"account_id": accounts, "risk_score": seed_risk, "alert": seed_alert}),
                "degree": pd.DataFrame({"account_id": accounts, "risk_score": degree, "alert": False}),
            }
            for name, scores in scored.items():
                ev = evaluate(labels, scores)
                results[name].append(ev)
                per_set.setdefault(f"eval_set_{set_no}", {}).setdefault(name, []).append(ev["average_precision"])
    worlds = len(results["platform"])
    figure = {
        "worlds": f"{worlds} ({k_seeds} held-out seeds x {len(sets)} held-out parameter sets, "
                  f"~{int(np.mean(rows)):,} transfers, {'required columns only' if required_only else 'as generated'})",
        "platform": _summary(results["platform"]),
        "seed_approach": _summary(results["seed"]),
        "degree_baseline": {k: v for k, v in _summary(results["degree"]).items() if not k.endswith("policy")
                            and k not in ("alert_rate", "recall_by_typology@policy")},
        "AP_per_param_set": {s: {n: _mean(v) for n, v in d.items()} for s, d in per_set.items()},
        "platform_AP_per_world": [e["average_precision"] for e in results["platform"]],
        "chance_AP": _mean([e["prevalence"] for e in results["platform"]]),
        "kyc_monitor_seconds_per_world": {"wall": round(float(np.mean(seconds)), 1),
                                          "cpu": round(float(np.mean(cpu_seconds)), 1)},
    }
    return figure


def probe_features(tx: pd.DataFrame) -> pd.DataFrame:
    """Simple per-account features from the four required columns only (no platform code): counts, values and
    distinct counterparties in and out, flow-through, activity span, counterparties' degree, reciprocity, the share
    of outgoing transfers passing on 96-100% of an amount received in the 30 days before, and neighbours' means."""
    e = pd.DataFrame({"s": tx["sender_account"], "r": tx["receiver_account"], "a": tx["amount"].astype(float),
                      "d": (pd.to_datetime(tx["timestamp"], utc=True) - pd.Timestamp("2000-01-01", tz="UTC")).dt.days})
    out = e.groupby("s").agg(n_out=("a", "size"), v_out=("a", "sum"), u_out=("r", "nunique"), d0o=("d", "min"),
                             d1o=("d", "max"))
    inn = e.groupby("r").agg(n_in=("a", "size"), v_in=("a", "sum"), u_in=("s", "nunique"), d0i=("d", "min"),
                             d1i=("d", "max"))
    f = out.join(inn, how="outer")
    f[["n_out", "v_out", "u_out", "n_in", "v_in", "u_in"]] = f[["n_out", "v_out", "u_out", "n_in", "v_in",
                                                                  "u_in"]].fillna(0)
    f["flow"] = np.minimum(f["v_in"], f["v_out"]) / np.maximum(np.maximum(f["v_in"], f["v_out"]), 1)
    f["span"] = f[["d1o", "d1i"]].max(axis=1) - f[["d0o", "d0i"]].min(axis=1)
    f = f.drop(columns=["d0o", "d1o", "d0i", "d1i"])
    degree = f["u_in"] + f["u_out"]
    e["deg_r"], e["deg_s"] = e["r"].map(degree), e["s"].map(degree)
    f["cp_deg_out"], f["cp_deg_in"] = e.groupby("s")["deg_r"].median(), e.groupby("r")["deg_s"].median()
    f["cp_low_out"] = (e["deg_r"] <= 5).groupby(e["s"]).mean()
    f["cp_low_in"] = (e["deg_s"] <= 5).groupby(e["r"]).mean()
    pairs = e[["s", "r"]].drop_duplicates()
    mutual = pairs.merge(pairs, left_on=["s", "r"], right_on=["r", "s"])
    f["reciprocity"] = mutual.groupby("s_x").size().reindex(f.index).fillna(0) / np.maximum(degree, 1)
    ins = e[["r", "a", "d"]].set_axis(["acc", "a_in", "d_in"], axis=1)
    outs = e[["s", "a", "d"]].set_axis(["acc", "a_out", "d_out"], axis=1)
    m = outs.merge(ins, on="acc")
    m = m[(m["d_out"] > m["d_in"]) & (m["d_out"] - m["d_in"] <= 30) & m["a_out"].between(0.96 * m["a_in"], m["a_in"])]
    f["passed_on"] = m.groupby("acc").size().reindex(f.index).fillna(0) / np.maximum(f["n_out"], 1)
    base = ["u_in", "u_out", "flow", "passed_on", "cp_low_out", "cp_low_in"]
    both = pd.concat([pairs.set_axis(["x", "y"], axis=1), pairs[["r", "s"]].set_axis(["x", "y"], axis=1)])
    for col in base:
        both[col] = both["y"].map(f[col])
    return f.join(both.groupby("x")[base].mean().add_prefix("nb_")).fillna(0)


def supervised_reference_figures(train_seeds: int = 3, k_seeds: int = 1) -> dict:
    """How learnable the held-out worlds are: a gradient-boosting probe on :func:`probe_features`, trained with the
    labels of ``train_seeds`` TUNE worlds (TUNE_PARAMS), evaluated on ``k_seeds`` EVAL seeds x each EVAL
    parameter set. A reference for the platform's figures (the platform sees no labels), not a detector."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from kyc_assets.sample_data.aml_world import (
        EVAL_PARAMS,
        EVAL_SEEDS,
        TUNE_PARAMS,
        TUNE_SEEDS,
        evaluate,
        generate_world,
    )

    def world(seed, params):
        tx, labels = generate_world(seed, params)
        f = probe_features(tx).reindex(labels["account_id"]).fillna(0)
        return f, labels

    train = [world(seed, TUNE_PARAMS) for seed in list(TUNE_SEEDS)[:train_seeds]]
    x = pd.concat([f for f, _ in train])
    y = np.concatenate([lab["is_laundering"].to_numpy() for _, lab in train])
    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, random_state=0).fit(x, y)
    per_set, evals = {}, []
    for set_no, params in enumerate(EVAL_PARAMS):
        for seed in list(EVAL_SEEDS)[:k_seeds]:
            f, labels = world(seed, params)
            risk = model.predict_proba(f)[:, 1]
            ev = evaluate(labels, pd.DataFrame({"account_id": labels["account_id"], "risk_score": risk,
                                                "alert": False}))
            evals.append(ev)
            per_set.setdefault(f"eval_set_{set_no}", []).append(ev["average_precision"])
    return {"worlds": f"trained on {train_seeds} TUNE worlds, evaluated on {len(evals)} held-out worlds",
            "AP": _mean([e["average_precision"] for e in evals]),
            "P@top1%": _mean([e["precision_top_1pct"] for e in evals]),
            "AP_per_param_set": {k: _mean(v) for k, v in per_set.items()}}


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
    print(json.dumps(heldout_detection_figures(), indent=1))
    print(json.dumps(heldout_detection_figures(required_only=True), indent=1))


if __name__ == "__main__":
    main()
