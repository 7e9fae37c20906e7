"""Impact of a proposed methodology before it goes live (what a model risk committee reads).

Both methodologies rate the same customers (today's inputs) with the same code; the comparison gives:
- how many customers change tier, in each direction, and the tier-to-tier matrix;
- which factors drive the changes (the sum of the contribution changes among the customers that moved,
  and how many of them each factor moved);
- how many reviews and EDD reviews each methodology would open in the next 12 months: every customer
  whose tier changes gets an event review now, plus the periodic reviews that fall due within the 12
  months (last review, or first rating, plus the tier's cadence); EDD reviews are those of an EDD tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from kyc_assets.risk.engine import FACTOR_NAMES, rate
from kyc_assets.risk.methodology import TIER_RANK, TIERS, CountryLists, RiskMethodology
from kyc_assets.risk.reviews import add_years


@dataclass
class Impact:
    current_version: str
    proposed_version: str
    customers: int
    up: int
    down: int
    matrix: dict[str, dict[str, int]]
    drivers: list[dict]
    reviews: dict[str, dict[str, int]]
    tiers: dict[str, dict[str, int]]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _reviews_next_year(tiers: pd.Series, base: pd.Series, methodology: RiskMethodology, as_of: date,
                       changed: np.ndarray) -> dict[str, int]:
    horizon = as_of + timedelta(days=365)
    cadence = methodology.review.cadence_years
    periodic = 0
    edd = 0
    events = int(changed.sum())
    for tier, start, moved in zip(tiers, base, changed, strict=True):
        due = add_years(start, cadence[tier])
        within = due <= horizon
        periodic += bool(within and not moved)
        if tier in methodology.review.edd_tiers and (within or moved):
            edd += 1
    return {"event_reviews": events, "periodic_reviews": periodic, "reviews": events + periodic, "edd_reviews": edd}


def compare(inputs: pd.DataFrame, current: RiskMethodology, proposed: RiskMethodology, lists: CountryLists, *,
            as_of: date, last_reviews: dict[str, date] | None = None) -> Impact:
    """Rate ``inputs`` under both methodologies and compare (see the module docstring). ``last_reviews``:
    customer -> last review (or first rating) day; missing customers count from ``as_of``."""
    a = rate(inputs, current, lists, as_of=as_of, reasons=False)
    b = rate(inputs, proposed, lists, as_of=as_of, reasons=False)
    ra = a["computed_tier"].map(TIER_RANK).to_numpy()
    rb = b["computed_tier"].map(TIER_RANK).to_numpy()
    up, down = rb > ra, rb < ra
    moved = up | down
    matrix = {t: {u: int(((a["computed_tier"] == t) & (b["computed_tier"] == u)).sum()) for u in TIERS} for t in TIERS}
    drivers = []
    for f in FACTOR_NAMES:
        delta = (b[f"c_{f}"] - a[f"c_{f}"]).to_numpy()[moved]
        if len(delta) and np.abs(delta).sum() > 0:
            drivers.append({"factor": f, "score_change": round(float(delta.sum()), 4),
                            "customers_moved": int((np.abs(delta) > 1e-9).sum()),
                            "weight": f"{current.factors[f].weight} -> {proposed.factors[f].weight}"})
    rules_a, rules_b = a["hard_rules"].to_numpy(), b["hard_rules"].to_numpy()
    rule_moves = int((moved & (rules_a != rules_b)).sum())
    if rule_moves:
        drivers.append({"factor": "hard_rules", "score_change": 0.0, "customers_moved": rule_moves, "weight": "-"})
    drivers.sort(key=lambda d: -abs(d["score_change"]) - d["customers_moved"] * 1e-6)
    last_reviews = last_reviews or {}
    base = a["customer_id"].map(lambda c: last_reviews.get(c, as_of))
    reviews = {"current": _reviews_next_year(a["computed_tier"], base, current, as_of, np.zeros(len(a), dtype=bool)),
               "proposed": _reviews_next_year(b["computed_tier"], base, proposed, as_of, moved)}
    counts = {"current": a["computed_tier"].value_counts().to_dict(),
              "proposed": b["computed_tier"].value_counts().to_dict()}
    tiers = {k: {t: int(v.get(t, 0)) for t in TIERS} for k, v in counts.items()}
    return Impact(current.label, proposed.label, len(a), int(up.sum()), int(down.sum()), matrix, drivers, reviews,
                  tiers)


def render_markdown(impact: Impact, as_of: date) -> str:
    """The impact as the markdown report the committee reads (the Dagster UI renders it)."""
    lines = [f"# Methodology impact: {impact.current_version} -> {impact.proposed_version}", "",
             f"Rated on {as_of.isoformat()}: {impact.customers} customers, same inputs, same code.", "",
             "## Tier changes", "",
             (f"- **{impact.up}** customers move **up**, **{impact.down}** move **down**, "
             f"{impact.customers - impact.up - impact.down} stay."), "",
             "| from \\ to | " + " | ".join(TIERS) + " |", "|---" * (len(TIERS) + 1) + "|"]
    for t in TIERS:
        lines.append(f"| {t} | " + " | ".join(str(impact.matrix[t][u]) for u in TIERS) + " |")
    lines += ["", "## Tier distribution", "", "| tier | current | proposed |", "|---|---|---|"]
    lines += [f"| {t} | {impact.tiers['current'][t]} | {impact.tiers['proposed'][t]} |" for t in TIERS]
    lines += ["", "## Factors driving the changes", ""]
    if impact.drivers:
        lines += ["| factor | weight | score change (sum over moved customers) | customers moved |",
                  "|---|---|---|---|"]
        lines += [f"| {d['factor']} | {d['weight']} | {d['score_change']:+.4f} | {d['customers_moved']} |"
                  for d in impact.drivers]
    else:
        lines.append("No customer changes tier.")
    lines += ["", "## Reviews in the next 12 months", "", "| | current | proposed | difference |", "|---|---|---|---|"]
    for k in ("reviews", "periodic_reviews", "event_reviews", "edd_reviews"):
        c, p = impact.reviews["current"][k], impact.reviews["proposed"][k]
        lines.append(f"| {k.replace('_', ' ')} | {c} | {p} | {p - c:+d} |")
    return "\n".join(lines) + "\n"
