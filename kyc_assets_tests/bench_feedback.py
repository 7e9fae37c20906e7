"""A simulated feedback loop: analysts' decisions on the first period's alerts train the supervised model that
scores the second period; the lift in precision at a fixed alert budget is the figure.

Period 1 is monitored without labels (unsupervised graph typologies, rules, anomaly model). Its alerts (the
daily budget policy) go to "analysts", who decide each one from the world's ground truth: confirmed when the
account is in a laundering pattern, false positive otherwise, in the order of the alert ranking (the time of
the decision, for the time-based validation split). Those decisions train
:func:`~kyc_assets.monitoring.model.fit_supervised`. Period 2 is then monitored twice, without and with the
supervised model, and both rankings are measured on the accounts that were NOT decided in period 1 (new cases
only: an account confirmed before would otherwise count as an easy hit).

``python -m kyc_assets_tests.bench_feedback [seed]`` prints the figures on a TUNE world (a tuning seed);
``python -m kyc_assets_tests.bench_feedback eval [seeds]`` on the held-out worlds (``EVAL_SEEDS[:seeds]`` with each
of ``EVAL_PARAMS``), with the mean lift: the reported figures.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd


def _precision_at(y: np.ndarray, risk: np.ndarray, share: float) -> float:
    k = max(1, math.ceil(share * len(y)))
    return float(y[np.argsort(-risk, kind="stable")[:k]].mean())


def feedback_loop(transactions: pd.DataFrame, labels: pd.DataFrame, *, split_day: int, budget: float = 0.05,
                  min_labels: int = 50, now: pd.Timestamp | None = None) -> dict:
    """Run the loop on one world; ``split_day`` (days from the first transaction) starts period 2."""
    from kyc_assets.monitoring.model import fit_supervised
    from kyc_assets.monitoring.monitor import monitor_run

    now = now or pd.Timestamp("2100-01-01", tz="UTC")
    ts = pd.to_datetime(transactions["timestamp"], utc=True)
    cut = ts.min().normalize() + pd.Timedelta(days=split_day)
    first, second = transactions[(ts < cut).to_numpy()], transactions[(ts >= cut).to_numpy()]
    truth = labels.set_index("account_id")
    run1, _ = monitor_run(first, now=now)
    alerted = run1.results[run1.results["alert"]].reset_index(drop=True)
    decisions = pd.DataFrame({
        "account_id": alerted["account_id"],
        "confirmed": truth["is_laundering"].reindex(alerted["account_id"]).fillna(False).to_numpy(dtype=bool),
        "decided_at": pd.Timestamp("2000-01-01") + pd.to_timedelta(np.arange(len(alerted)), unit="min"),
        "typology": truth["typology"].reindex(alerted["account_id"]).to_numpy(dtype=object),
    })
    features = run1.features.merge(run1.results[["account_id", "risk_score"]], on="account_id")
    supervised = fit_supervised(features.rename(columns={"risk_score": "unsupervised_risk"}), decisions,
                                min_labels=min_labels)
    base = monitor_run(second, now=now)[0].results
    out = {"period_1_alerts": len(alerted), "period_1_precision": round(float(decisions["confirmed"].mean()), 3)
           if len(decisions) else None, "labels": len(decisions), "supervised": supervised is not None}
    if supervised is None:
        return out
    learned = monitor_run(second, now=now, supervised=supervised)[0].results
    new = ~base["account_id"].isin(set(decisions["account_id"]))
    accounts = base.loc[new, "account_id"]
    y = truth["is_laundering"].reindex(accounts).fillna(False).to_numpy(dtype=bool)
    r0 = base.set_index("account_id")["risk_score"].reindex(accounts).to_numpy(dtype=float)
    r1 = learned.set_index("account_id")["risk_score"].reindex(accounts).to_numpy(dtype=float)
    p0, p1 = _precision_at(y, r0, budget), _precision_at(y, r1, budget)
    from sklearn.metrics import average_precision_score

    out.update({
        "budget": f"top {budget:.1%} of the period-2 accounts not decided in period 1 ({len(accounts)})",
        "precision_unsupervised": round(p0, 3), "precision_with_decisions": round(p1, 3),
        "lift": round(p1 / p0, 3) if p0 else None,
        "precision_at_budgets": {f"{b:.0%}": {"unsupervised": round(_precision_at(y, r0, b), 3),
                                              "with_decisions": round(_precision_at(y, r1, b), 3)}
                                 for b in (0.01, 0.02, 0.05, 0.1)},
        "ap_unsupervised": round(float(average_precision_score(y, r0)), 3),
        "ap_with_decisions": round(float(average_precision_score(y, r1)), 3),
        "combination_weight": supervised.weight,
        "supervised_validation": {k: v for k, v in supervised.validation.items() if k != "calibration"},
    })
    return out


def main() -> None:
    from kyc_assets.sample_data.aml_world import (
        EVAL_PARAMS,
        EVAL_SEEDS,
        TUNE_PARAMS,
        TUNE_SEEDS,
        generate_world,
    )

    if len(sys.argv) > 1 and sys.argv[1] == "eval":
        n = int(sys.argv[2]) if len(sys.argv) > 2 else 1
        rows = []
        for seed in list(EVAL_SEEDS)[:n]:
            for i, params in enumerate(EVAL_PARAMS):
                tx, labels = generate_world(seed, params)
                got = feedback_loop(tx, labels, split_day=params.n_days // 2)
                rows.append(got)
                print(json.dumps({"world": f"EVAL seed {seed}, parameter set {i} (held out)", **got}, default=str),
                      flush=True)
        done = [r for r in rows if r.get("supervised")]
        if done:
            print(json.dumps({
                "worlds": len(rows), "with_model": len(done),
                "mean_precision_unsupervised": round(float(np.mean([r["precision_unsupervised"] for r in done])), 3),
                "mean_precision_with_decisions": round(float(np.mean([r["precision_with_decisions"] for r in done])), 3),
                "mean_ap_unsupervised": round(float(np.mean([r["ap_unsupervised"] for r in done])), 3),
                "mean_ap_with_decisions": round(float(np.mean([r["ap_with_decisions"] for r in done])), 3)}))
        return
    seed = TUNE_SEEDS[int(sys.argv[1]) if len(sys.argv) > 1 else 0]
    tx, labels = generate_world(seed, TUNE_PARAMS)
    print(json.dumps({"world": f"TUNE seed {seed} (tuning)",
                      **feedback_loop(tx, labels, split_day=TUNE_PARAMS.n_days // 2)}, indent=1, default=str))


if __name__ == "__main__":
    main()
