"""Detection figures of the ``kyc monitor`` path on the harder sample world (:mod:`kyc_assets.sample_data.aml_world`).

``python -m kyc_assets_tests.bench_monitor_eval tune [seeds]``: the tuning worlds (``TUNE_SEEDS[:seeds]`` with
``TUNE_PARAMS``), the only ones the monitoring code may be tuned on.
``python -m kyc_assets_tests.bench_monitor_eval eval [seeds]``: the held-out worlds (``EVAL_SEEDS[:seeds]`` with
each of ``EVAL_PARAMS``): the reported figures; run once, never to choose anything.

Per world: average precision of the account ranking, precision in the top 1% of accounts, precision/recall at
several budgets, the alert rate, precision and recall at the platform's alert policy (the daily budget) and by
typology, and the wall time of the monitor path. Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd


def world_figures(tx: pd.DataFrame, labels: pd.DataFrame) -> dict:
    from kyc_assets.monitoring.monitor import monitor_run
    from kyc_assets.sample_data.aml_world import evaluate

    started = time.perf_counter()
    run, _ = monitor_run(tx, now=pd.Timestamp("2100-01-01", tz="UTC"))
    seconds = time.perf_counter() - started
    ev = evaluate(labels, run.results)
    return {"average_precision": ev["average_precision"], "precision_top_1pct": ev["precision_top_1pct"],
            "at_budget": ev["at_budget"], "alert_policy": ev["alert_policy"],
            "average_precision_by_typology": ev.get("average_precision_by_typology"),
            "prevalence": ev["prevalence"], "monitor_seconds": round(seconds, 1),
            "skipped_rules": run.notes.get("skipped_rules")}


def main() -> None:
    from kyc_assets.sample_data.aml_world import (
        EVAL_PARAMS,
        EVAL_SEEDS,
        TUNE_PARAMS,
        TUNE_SEEDS,
        generate_world,
    )

    which = sys.argv[1] if len(sys.argv) > 1 else "tune"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if which == "tune":
        worlds = [(f"TUNE seed {s} (tuning)", s, TUNE_PARAMS) for s in list(TUNE_SEEDS)[:n]]
    elif which == "eval":
        worlds = [(f"EVAL seed {s}, parameter set {i} (held out)", s, p)
                  for s in list(EVAL_SEEDS)[:n] for i, p in enumerate(EVAL_PARAMS)]
    else:
        raise SystemExit("usage: python -m kyc_assets_tests.bench_monitor_eval tune|eval [seeds]")
    figures = []
    for name, seed, params in worlds:
        tx, labels = generate_world(seed, params)
        fig = world_figures(tx, labels)
        figures.append(fig)
        print(json.dumps({"world": name, **fig}, default=str), flush=True)
    print(json.dumps({"worlds": len(figures),
                      "mean_average_precision": round(float(np.mean([f["average_precision"] for f in figures])), 4),
                      "mean_precision_top_1pct": round(float(np.mean([f["precision_top_1pct"] for f in figures])), 4)}))


if __name__ == "__main__":
    main()
