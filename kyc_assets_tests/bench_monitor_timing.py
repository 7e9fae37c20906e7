"""Where the time of ``kyc monitor`` goes at 1,000,000 transactions: reading and validating the file, then the
graph typologies and the window features and scores (``run_period``), with peak memory.

``python -m kyc_assets_tests.bench_monitor_timing [n]`` prints one JSON line (run it alone: it is a timing).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd


def main() -> None:
    from kyc_assets.monitoring.monitor import monitor_file
    from kyc_assets.sample_data.transactions import generate_transactions

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    accounts = [f"ACC{i:07d}" for i in range(max(200, n // 50))]
    tx, _ = generate_transactions(accounts, n=n, start=date(2026, 6, 1), days=90, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "transactions.csv"
        tx.to_csv(path, index=False)
        del tx
        notes: dict = {}
        started = time.perf_counter()
        cpu = time.process_time()
        result, _ = monitor_file(path, notes=notes, now=pd.Timestamp("2027-01-01", tz="UTC"))
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
    print(json.dumps({"transactions": n, "accounts": len(result), "total_wall_s": round(wall, 1),
                      "total_cpu_s": round(cpu, 1),
                      "read_and_validate_wall_s": round(wall - notes.get("seconds", 0.0), 1),
                      "features_and_scores_wall_s": notes.get("seconds"),
                      "of_which_graph_wall_s": notes.get("graph_seconds"),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      "load_average": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
