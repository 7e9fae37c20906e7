"""`make bench`: the platform's speed figures, printed as rates and ratios (never asserted in tests).

Each figure runs in a fresh process so that peak memory (max RSS) belongs to that figure alone.
Set KYC_BENCH_SIZES (e.g. "100000,1000000") to choose the transaction volumes.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_monitoring(n: int) -> dict:
    from kyc_assets.monitoring.monitor import monitor_transactions
    from kyc_assets.sample_data.transactions import generate_transactions

    accounts = [f"ACC{i:06d}" for i in range(max(200, n // 50))]
    tx, _ = generate_transactions(accounts, n=n, start=date(2026, 9, 1), days=60, seed=1)
    started = time.perf_counter()
    result, quarantine = monitor_transactions(tx)
    seconds = time.perf_counter() - started
    return {"figure": f"monitoring {n:,} transactions", "seconds": round(seconds, 2),
            "rate": f"{n / seconds:,.0f} tx/s", "accounts": len(result), "peak_mb": round(_peak_mb())}


def bench_screening(queries: int = 500) -> dict:
    import random

    from kyc_assets.screening.matcher import Screener
    from kyc_assets.watchlists.sources import load_watchlist

    entries = load_watchlist().entries
    started = time.perf_counter()
    screener = Screener(entries)
    build = time.perf_counter() - started
    rng = random.Random(3)
    names = [rng.choice(entries).primary_name for _ in range(queries // 2)]
    names += [f"{rng.choice(['John', 'Maria', 'Wei', 'Olga', 'Ahmed'])} {rng.choice(['Smith', 'Garcia', 'Chen'])}"
              for _ in range(queries - len(names))]
    started = time.perf_counter()
    hits = sum(len(screener.screen(name)) for name in names)
    seconds = time.perf_counter() - started
    return {"figure": f"screening {queries} names against {len(entries):,} entries",
            "rate": f"{queries / seconds:,.0f} names/s", "index_build_s": round(build, 2), "hits": hits,
            "peak_mb": round(_peak_mb())}


def bench_documents() -> dict:
    from kyc_assets.onboarding.extract import extract_document
    from kyc_assets.sample_data.world import generate_world

    with tempfile.TemporaryDirectory() as tmp:
        generate_world(tmp, seed=5, customers=6, transactions=1000, accounts=100)
        files = sorted(Path(tmp, "inbox").rglob("*.png"))
        started = time.perf_counter()
        valid = sum(bool(extract_document(f.read_bytes()).get("mrz_valid")) for f in files)
        seconds = time.perf_counter() - started
    identity = sum(1 for f in files if "bill" not in f.name)
    return {"figure": f"document extraction ({len(files)} images, OCR + MRZ)",
            "rate": f"{len(files) / seconds:.2f} documents/s", "seconds_per_document": round(seconds / len(files), 2),
            "mrz_valid_ratio": f"{valid}/{identity}", "peak_mb": round(_peak_mb())}


FIGURES = {"documents": bench_documents, "screening": bench_screening, "monitoring": bench_monitoring}


def main() -> None:
    if len(sys.argv) > 1:  # child: one figure
        name, *args = sys.argv[1:]
        print(json.dumps(FIGURES[name](*map(int, args))))
        return
    sizes = [int(s) for s in os.environ.get("KYC_BENCH_SIZES", "100000,1000000").split(",")]
    jobs = [("documents",), ("screening",)] + [("monitoring", str(n)) for n in sizes]
    env = {**os.environ, "OMP_THREAD_LIMIT": "1", "PYTHONWARNINGS": "ignore"}
    monitoring = []
    for job in jobs:
        out = subprocess.run([sys.executable, "-m", "kyc_assets_tests.bench", *job], capture_output=True, text=True,
                             env=env)
        if out.returncode:
            print(f"{job[0]}: failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        figure = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{figure.pop('figure'):<52} " + "  ".join(f"{k}={v}" for k, v in figure.items()), flush=True)
        if job[0] == "monitoring":
            monitoring.append((int(job[1]), figure["seconds"]))
    if len(monitoring) > 1:
        (n0, t0), (n1, t1) = monitoring[0], monitoring[-1]
        print(f"{'monitoring scaling':<52} {n1 // n0}x rows -> {t1 / t0:.1f}x time")


if __name__ == "__main__":
    main()
