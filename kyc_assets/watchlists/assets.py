"""The watchlist asset: the normalised union of every configured sanctions list."""


import hashlib
import json

import dagster as dg
import pandas as pd

from kyc_assets.quality import gx
from kyc_assets.quality.checks import gx_check, table_metadata
from kyc_assets.resources import WatchlistSourceResource

WATCHLIST_KEY_COLUMNS = ["entity_id", "list_source", "list_version", "entity_type", "primary_name"]
# A list that shrank by more than this between versions is an error, not an update.
MAX_SHRINK = 0.5


def entries_frame(loaded_lists) -> pd.DataFrame:
    """Flatten loaded lists into one table; list-valued fields are stored as JSON text."""
    rows = []
    for loaded in loaded_lists:
        for entry in loaded.entries:
            record = {k: json.dumps(v) if isinstance(v, (list, tuple, dict)) else v
                      for k, v in entry.to_record().items()}
            record["list_version"] = loaded.version
            rows.append(record)
    df = pd.DataFrame(rows)
    front = [c for c in WATCHLIST_KEY_COLUMNS if c in df]
    return df[front + [c for c in df.columns if c not in front]] if len(df) else pd.DataFrame(
        columns=WATCHLIST_KEY_COLUMNS)


@dg.asset(
    group_name="watchlists",
    owners=["team:kyc-screening"],
    kinds={"python", "duckdb"},
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec("watchlist_entries_valid", asset="watchlist_entries", blocking=True,
                          description="ids present and unique, every entry has a name and a known type (GX)."),
        dg.AssetCheckSpec("watchlist_not_collapsed", asset="watchlist_entries", blocking=True,
                          description="Entry count did not shrink by more than half versus the previous version."),
    ],
)
def watchlist_entries(context: dg.AssetExecutionContext, watchlists: WatchlistSourceResource):
    """Sanctions and PEP list entries from every configured source, normalised to one schema.

    Each row carries the content hash of the list version it came from, so a screening hit can
    be traced to the exact bytes of the list that produced it. Default source: a bundled
    public-domain subset of the US OFAC SDN list.
    """
    from kyc_assets.watchlists.sources import load_watchlist

    loaded = [load_watchlist(path) for path in watchlists.resolved_paths()]
    df = entries_frame(loaded)
    versions = {lst.list_source: lst.version for lst in loaded}
    combined = hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()

    previous = context.instance.get_latest_materialization_event(context.asset_key)
    previous_count = None
    if previous and previous.asset_materialization:
        value = previous.asset_materialization.metadata.get("dagster/row_count")
        previous_count = int(value.value) if value is not None else None

    yield dg.Output(df, data_version=dg.DataVersion(combined[:16]), metadata=table_metadata(
        df, list_versions=dg.MetadataValue.json(versions),
        entries_by_type=dg.MetadataValue.json(df["entity_type"].value_counts().to_dict() if len(df) else {})))
    yield gx_check(df, gx.required_columns(*WATCHLIST_KEY_COLUMNS) + gx.row_count_between(1, None)
                   + gx.not_null("entity_id", "primary_name", "list_version") + gx.unique("entity_id")
                   + gx.in_set("entity_type", ["person", "organization", "vessel", "aircraft"]),
                   check_name="watchlist_entries_valid")
    collapsed = previous_count is not None and len(df) < previous_count * (1 - MAX_SHRINK)
    yield dg.AssetCheckResult(
        check_name="watchlist_not_collapsed", passed=not collapsed,
        metadata={"entries": len(df), "previous_entries": previous_count if previous_count is not None else -1})
