"""The screening asset: every customer against every watchlist entry."""


import json

import dagster as dg
import pandas as pd

from kyc_assets.quality import gx
from kyc_assets.quality.checks import gx_check, table_metadata

SCREENING_COLUMNS = ["customer_id", "list_entity_id", "list_source", "list_version", "matched_name", "score",
                     "decision", "explanation", "run_id"]


LIST_COLUMNS = ("aliases", "dates_of_birth", "nationalities", "places_of_birth", "identifiers", "addresses",
                "programs")


def entries_from_frame(df: pd.DataFrame) -> list:
    """Rebuild WatchlistEntry objects from the watchlist_entries table (list columns are JSON text)."""
    from kyc_assets.watchlists.model import WatchlistEntry

    entries = []
    for record in df.to_dict("records"):
        for column in LIST_COLUMNS:
            value = record.get(column)
            record[column] = json.loads(value) if isinstance(value, str) and value else []
        entries.append(WatchlistEntry.from_record(record))
    return entries


def screen_customers(customers: pd.DataFrame, entries: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """One row per hit at or above the default threshold; a customer without hits gets one
    ``no_match`` row, so that an absent row always means *not screened*, never *clean*."""
    from kyc_assets.screening.matcher import Screener

    screener = Screener(entries_from_frame(entries))
    version_of = dict(zip(entries["entity_id"], entries["list_version"], strict=False))
    versions = ",".join(sorted(set(entries["list_version"])))
    rows = []
    for c in customers.itertuples(index=False):
        hits = screener.screen(c.full_name or "", entity_type="person", date_of_birth=c.date_of_birth,
                               nationality=c.nationality) if c.full_name else []
        for hit in hits:
            rows.append({"customer_id": c.customer_id, "list_entity_id": hit.entity_id,
                         "list_source": hit.list_source, "list_version": version_of.get(hit.entity_id, versions),
                         "matched_name": hit.matched_name, "score": float(hit.score), "decision": hit.decision,
                         "explanation": hit.explanation, "run_id": run_id})
        if not hits:
            rows.append({"customer_id": c.customer_id, "list_entity_id": None, "list_source": None,
                         "list_version": versions, "matched_name": None, "score": 0.0, "decision": "no_match",
                         "explanation": "no list entry at or above the threshold" if c.full_name
                         else "no name to screen", "run_id": run_id})
    return pd.DataFrame(rows, columns=SCREENING_COLUMNS)


@dg.asset(
    group_name="screening",
    owners=["team:kyc-screening"],
    kinds={"python", "duckdb"},
    code_version="1",
    automation_condition=dg.AutomationCondition.eager(),
    check_specs=[
        dg.AssetCheckSpec("screening_results_valid", asset="screening_results", blocking=True,
                          description="Scores in [0, 1], decisions known, list version recorded (GX)."),
        dg.AssetCheckSpec("every_customer_screened", asset="screening_results", blocking=True,
                          description="Fails when any customer has no screening result: unscreened is never clean."),
    ],
)
def screening_results(context: dg.AssetExecutionContext, customers: pd.DataFrame, watchlist_entries: pd.DataFrame):
    """Every customer screened against every watchlist entry with explainable fuzzy name matching.

    Rows carry the score, the decision band (`match`, `potential_match`, `no_match`), a short
    explanation, the list version (content hash) and the run id. A new list version re-screens
    customers automatically (declarative automation).
    """
    df = screen_customers(customers, watchlist_entries, context.run_id)
    hits = df[df["decision"] != "no_match"]
    yield dg.Output(df, metadata=table_metadata(
        df, customers_screened=int(df["customer_id"].nunique()), hits=len(hits),
        matches=int((df["decision"] == "match").sum()),
        list_versions=dg.MetadataValue.json(sorted(set(df["list_version"].dropna())))))
    yield gx_check(df, gx.required_columns(*SCREENING_COLUMNS) + gx.not_null("customer_id", "decision", "list_version")
                   + gx.between("score", 0, 1) + gx.in_set("decision", ["match", "potential_match", "no_match"]),
                   check_name="screening_results_valid")
    unscreened = set(customers["customer_id"]) - set(df["customer_id"])
    yield dg.AssetCheckResult(check_name="every_customer_screened", passed=not unscreened,
                              metadata={"customers": len(customers), "unscreened": len(unscreened)})
