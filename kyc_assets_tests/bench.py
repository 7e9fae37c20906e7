"""`make bench`: the platform's speed and quality figures, printed as rates and ratios.

Each figure runs in a fresh process so that its peak memory (max RSS) is its own. Figures are
never asserted in tests. ``KYC_BENCH_ONLY=documents,screening`` runs a subset (by group);
``KYC_BENCH_QUICK=1`` skips the slowest figures (5M transactions, 1M-entity screening list,
inbox latency under `dagster dev`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

# (group, label, module, function, kwargs, slow)
FIGURES = [
    ("documents", "MRZ accuracy on rendered documents", "bench_documents", "bench_rendered_documents", {}, False),
    ("documents", "ICAO 9303 specimen MRZ strings", "bench_documents", "bench_icao_specimens", {}, False),
    ("documents", "documents: held-out specimens, ours vs PassportEye", "bench_documents", "bench_specimens",
     {"n": 150}, False),
    ("documents", "documents: specimens, tune (not a result)", "bench_documents", "bench_specimens",
     {"n": 25, "split": "tune"}, True),
    ("documents", "onboarding throughput (in-process)", "bench_documents", "bench_onboarding_throughput", {}, False),
    ("documents", "inbox -> screened latency (dagster dev)", "bench_documents", "bench_inbox_latency", {}, True),
    ("screening", "kyc screen end to end, OFAC 2021 + UN, 100,000 names (load/index/query split)", "bench_screening",
     "bench_end_to_end", {}, False),
    ("screening", "screening throughput, full OFAC list", "bench_screening", "bench_throughput", {}, False),
    ("screening", "screening quality (own evaluation set)", "bench_screening", "bench_evaluation", {}, False),
    ("screening", "screening 100,000 customers (memory)", "bench_screening", "bench_memory", {}, False),
    ("screening", "screening 1,000,000 synthetic entities", "bench_screening", "bench_scale", {}, True),
    ("monitoring", "monitoring 100,000 transactions", "bench_monitoring", "throughput", {"n": 100_000}, False),
    ("monitoring", "monitoring 1,000,000 transactions", "bench_monitoring", "throughput", {"n": 1_000_000}, False),
    ("monitoring", "monitoring 5,000,000 transactions", "bench_monitoring", "throughput", {"n": 5_000_000}, True),
    ("monitoring", "detection vs the seed approach", "bench_monitoring", "detection_figures", {}, False),
    ("monitoring", "detection on held-out worlds", "bench_monitoring", "heldout_detection_figures", {}, False),
    ("monitoring", "detection, held-out, required columns only", "bench_monitoring", "heldout_detection_figures",
     {"required_only": True}, False),
    ("monitoring", "learnability: supervised probe, held-out", "bench_monitoring", "supervised_reference_figures", {},
     True),
    ("cases", "case queue with 100,000 cases (PostgreSQL)", "bench_cases", "bench_case_queue", {}, False),
    ("cases", "kyc audit verify over 1,000,000 entries", "bench_audit", "bench_audit_verify", {}, False),
    ("risk", "risk rating 1,000,000 customers", "bench_risk", "bench_rating", {"n": 1_000_000}, False),
    ("storage", "4 processes writing partitions of one Delta table (local folder)", "bench_storage",
     "bench_concurrent_partitions", {}, False),
    ("storage", "4 processes writing partitions of one Delta table (S3, moto)", "bench_storage",
     "bench_concurrent_partitions", {"s3": True}, False),
    ("storage", "per-run storage overhead: DuckDB vs Delta local vs Delta S3", "bench_storage", "bench_run_overhead",
     {}, False),
    ("cases", "escalation with 4 concurrent writers (PostgreSQL)", "bench_cases", "bench_escalation_writers", {},
     False),
]


def _child(module: str, function: str, kwargs_json: str) -> None:
    import importlib

    func = getattr(importlib.import_module(f"kyc_assets_tests.{module}"), function)
    result = func(**json.loads(kwargs_json))
    print("BENCH-RESULT " + json.dumps(result, default=str))


def _format(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_format(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(*sys.argv[2:])
        return
    only = {g for g in os.environ.get("KYC_BENCH_ONLY", "").split(",") if g}
    quick = os.environ.get("KYC_BENCH_QUICK") == "1"
    env = {**os.environ, "OMP_THREAD_LIMIT": "1", "PYTHONWARNINGS": "ignore"}
    for group, label, module, function, kwargs, slow in FIGURES:
        if (only and group not in only) or (quick and slow):
            continue
        if not os.path.exists(os.path.join(os.path.dirname(__file__), f"{module}.py")):
            print(f"{label:<46} (not available: {module}.py missing)")
            continue
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "kyc_assets_tests.bench", "--child", module, function,
                              json.dumps(kwargs)], capture_output=True, text=True, env=env)
        lines = [l for l in out.stdout.splitlines() if l.startswith("BENCH-RESULT ")]
        if out.returncode or not lines:
            tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"{label:<46} FAILED: {tail[:200]}", flush=True)
            continue
        result = json.loads(lines[-1].removeprefix("BENCH-RESULT "))
        items = result.items() if isinstance(result, dict) else [("result", result)]
        print(f"{label:<46} " + "  ".join(f"{k}={_format(v)}" for k, v in items)
              + f"  [{time.perf_counter() - started:.0f} s]", flush=True)


if __name__ == "__main__":
    main()
