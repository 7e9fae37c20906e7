"""Benchmark: rate 1,000,000 synthetic customers with the bundled methodology (goal: under 60 s).

Run by ``make bench`` (group ``risk``), or alone:
``python -c "from kyc_assets_tests.bench_risk import bench_rating; print(bench_rating())"``.
Reports the rating time (input already in memory), the rows per second and the process's peak memory
(max RSS). The synthetic customers mix every category of every factor (a seeded numpy generator).
"""

from __future__ import annotations

import resource
import time
from datetime import date

import numpy as np
import pandas as pd


def synthetic_inputs(n: int, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)

    def pick(values, p=None):
        return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=p)]

    countries = ["GBR", "DEU", "FRA", "ESP", "IRN", "BGR", "AFG", "KEN", "USA", None]
    p_countries = [0.4, 0.15, 0.1, 0.1, 0.01, 0.04, 0.02, 0.03, 0.1, 0.05]
    days = pd.Timestamp("2026-12-01") - pd.to_timedelta(rng.integers(1, 4000, n), unit="D")
    last = pd.Timestamp("2026-12-01") - pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    score = rng.random(n)
    score[rng.random(n) < 0.3] = np.nan
    return pd.DataFrame({
        "customer_id": np.char.add("C-", np.arange(n).astype(str)).astype(object),
        "customer_type": pick(["person", "company", "trust", None], [0.85, 0.1, 0.02, 0.03]),
        "nationality": pick(countries, p_countries),
        "residence_country": pick(countries, p_countries),
        "corridor_countries": pick([None, "DE", "DE;FR", "KP", "BG;DE", "KE"], [0.6, 0.2, 0.1, 0.01, 0.05, 0.04]),
        "sanctions_status": pick(["none", "suppressed", "potential", "confirmed", None],
                                 [0.95, 0.02, 0.02, 0.001, 0.009]),
        "open_potential_matches": rng.integers(0, 2, n) * (rng.random(n) < 0.02),
        "is_pep": pick([False, True, None], [0.97, 0.02, 0.01]),
        "pep_class": pick(["domestic", "foreign", None], [0.5, 0.3, 0.2]),
        "adverse_media": pick(["none", "found", "not_enabled"], [0.9, 0.02, 0.08]),
        "onboarding_channel": pick(["in_person", "remote", None], [0.4, 0.55, 0.05]),
        "document_status": pick(["ok", "extraction_disagreement", "inconsistent", "missing"], [0.9, 0.05, 0.03, 0.02]),
        "document_expiry": (days + pd.to_timedelta(3650, unit="D")).strftime("%Y-%m-%d").to_numpy(dtype=object),
        "has_account": rng.random(n) < 0.95,
        "anomaly_max_score": score,
        "typology_alerts": rng.poisson(0.05, n).astype(float),
        "account_opened": days.strftime("%Y-%m-%d").to_numpy(dtype=object),
        "last_activity": last.strftime("%Y-%m-%d").to_numpy(dtype=object),
        "reactivated": rng.random(n) < 0.005,
    })


def bench_rating(n: int = 1_000_000) -> dict:
    from kyc_assets.risk.engine import rate, tier_counts
    from kyc_assets.risk.methodology import load_country_lists, load_methodology

    methodology, lists = load_methodology(), load_country_lists()
    inputs = synthetic_inputs(n)
    started = time.perf_counter()
    out = rate(inputs, methodology, lists, as_of=date(2026, 12, 1))
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    rate(inputs, methodology, lists, as_of=date(2026, 12, 1), reasons=False)
    without_reasons = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    counts = tier_counts(out["computed_tier"])
    return {"customers": n, "seconds": round(seconds, 2), "customers_per_s": round(n / seconds),
            "seconds_without_reasons": round(without_reasons, 2), "peak_rss_mb": round(peak_mb),
            "goal_s": 60, "tiers": counts}


if __name__ == "__main__":
    print(bench_rating())
