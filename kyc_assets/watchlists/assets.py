"""The watchlist assets: one asset per configured list, and ``watchlist_entries``, their union.

Why one asset per list rather than a static partition per list: each list has its own
source, format, failure modes (an outage at one publisher must not hold the others back),
retry policy, refresh schedule, freshness limit and history of row counts, and each shows
with its own lineage, checks and data version in the UI. Adding a list is a configuration
change (``KYC_WATCHLIST_SOURCES``) that adds the asset ``watchlist_<name>``. Every version of
a list is identified by the sha256 of its bytes (``list_version`` column and ``dg.DataVersion``).
"""


import hashlib
import json

import dagster as dg
import pandas as pd

from kyc_assets.quality import gx
from kyc_assets.quality.checks import gx_check, table_metadata
from kyc_assets.resources import WatchlistSourceResource
from kyc_assets.watchlists.config import SourceSpec

WATCHLIST_KEY_COLUMNS = ["entity_id", "list_source", "list_version", "entity_type", "primary_name"]
ENTITY_TYPES = ["person", "organization", "vessel", "aircraft"]
# A list that shrank by more than this between versions is an error, not an update.
MAX_SHRINK = 0.5
# Downloads: Dagster re-runs a failed download step 3 times, 1, 2 then 4 minutes apart (+/- jitter),
# on top of the HTTP-level retries inside one attempt (download.fetch).
DOWNLOAD_RETRY = dg.RetryPolicy(max_retries=3, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
# Downloaded lists are refreshed hourly (the freshness limit defaults to 24 hours).
REFRESH_CRON = "0 * * * *"
OWNERS = ["team:kyc-screening"]


def entry_hash(record: dict) -> str:
    """sha256 (32 hex) of one entry's content: changes exactly when the published entry changes."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


def entries_frame(loaded_lists) -> pd.DataFrame:
    """Flatten loaded lists into one table; list-valued fields are stored as JSON text.

    Each row carries its list's version (content hash of the list's bytes) and ``entry_hash``,
    the content hash of the entry itself (for delta screening and suppressions).
    """
    rows = []
    for loaded in loaded_lists:
        for entry in loaded.entries:
            record = entry.to_record()
            row = {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, tuple, dict)) else v
                   for k, v in record.items()}
            row["list_version"] = loaded.version
            row["entry_hash"] = entry_hash(record)
            rows.append(row)
    df = pd.DataFrame(rows)
    front = [c for c in WATCHLIST_KEY_COLUMNS if c in df]
    return df[front + [c for c in df.columns if c not in front]] if len(df) else pd.DataFrame(
        columns=WATCHLIST_KEY_COLUMNS)


def list_asset_name(spec: SourceSpec) -> str:
    """Asset name of one configured list."""
    return f"watchlist_{spec.name}"


def _previous_row_count(context: dg.AssetExecutionContext) -> int | None:
    """Row count of the asset's latest materialization before this run, None when there is none."""
    previous = context.instance.get_latest_materialization_event(context.asset_key)
    if previous and previous.asset_materialization:
        value = previous.asset_materialization.metadata.get("dagster/row_count")
        return int(value.value) if value is not None else None
    return None


def _entry_checks(df: pd.DataFrame, previous: int | None, *, valid_check: str, collapse_check: str):
    """The checks every table of entries carries (one list, or their union): entries valid (GX, blank
    names included) and the count not collapsed by more than MAX_SHRINK against the previous version."""
    yield gx_check(df, gx.required_columns(*WATCHLIST_KEY_COLUMNS) + gx.row_count_between(1, None)
                   + gx.not_null("entity_id", "primary_name", "list_version") + gx.unique("entity_id")
                   + gx.in_set("entity_type", ENTITY_TYPES),
                   check_name=valid_check, extra_failures=_blank_names(df))
    collapsed = previous is not None and len(df) < previous * (1 - MAX_SHRINK)
    yield dg.AssetCheckResult(
        check_name=collapse_check, passed=not collapsed,
        metadata={"entries": len(df), "previous_entries": previous if previous is not None else -1})


def _blank_names(df: pd.DataFrame) -> list[str]:
    """Failure text when some entry has an empty or white-space name."""
    if not len(df):
        return []
    blank = int(df["primary_name"].fillna("").astype(str).str.strip().eq("").sum())
    return [f"{blank} entries without a name"] if blank else []


def build_list_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    """The asset holding the current version of one configured list, with its checks."""
    name = list_asset_name(spec)
    kind = "url" if spec.is_url else "bundled" if spec.is_bundled else "path"

    @dg.asset(
        name=name,
        group_name="watchlists",
        owners=OWNERS,
        kinds={"python", "duckdb"},
        code_version="1",
        description=f"The '{spec.name}' list ({kind} source), normalised; each version identified by the "
                    f"sha256 of its bytes. A failed or truncated download never replaces the last good copy.",
        metadata={"source": spec.display_location(), "source_kind": kind},
        retry_policy=DOWNLOAD_RETRY if spec.is_url else None,
        automation_condition=dg.AutomationCondition.on_cron(REFRESH_CRON) if spec.is_url else None,
        check_specs=[
            dg.AssetCheckSpec("list_entries_valid", asset=name, blocking=True,
                              description="ids present and unique, every entry has a name and a known type (GX)."),
            dg.AssetCheckSpec("list_not_collapsed", asset=name, blocking=True,
                              description="Entry count did not shrink by more than half versus the previous version."),
        ],
    )
    def _list_asset(context: dg.AssetExecutionContext, watchlists: WatchlistSourceResource):
        from kyc_assets.watchlists.download import WatchlistDownloadError
        from kyc_assets.watchlists.errors import WatchlistFormatError

        try:
            refreshed = watchlists.refresh(spec)
        except WatchlistDownloadError as exc:
            raise dg.Failure(description=str(exc), allow_retries=exc.retryable) from None
        except (WatchlistFormatError, OSError) as exc:
            raise dg.Failure(description=f"{spec.name}: {exc}", allow_retries=False) from None
        loaded = refreshed.loaded
        df = entries_frame([loaded])
        previous = _previous_row_count(context)
        context.log.info(f"{spec.name}: {len(df)} entries ({loaded.format}, {refreshed.status}), "
                         f"version {loaded.version[:12]}")
        yield dg.Output(df, data_version=dg.DataVersion(loaded.version), metadata=table_metadata(
            df, list_source=loaded.list_source, list_version=loaded.version, format=loaded.format,
            published=loaded.published or "not stated", fetch_status=refreshed.status,
            downloaded_at=refreshed.state.get("downloaded_at", ""),
            entries_by_type=dg.MetadataValue.json(df["entity_type"].value_counts().to_dict() if len(df) else {}),
            pep_entries=int(sum(e.is_pep for e in loaded.entries))))
        yield from _entry_checks(df, previous, valid_check="list_entries_valid", collapse_check="list_not_collapsed")

    return _list_asset


def build_freshness_check(spec: SourceSpec) -> dg.AssetChecksDefinition:
    """A check that fails when the copy of a list in use is older than its limit (FATF R.6: without delay)."""
    name = list_asset_name(spec)

    @dg.asset_check(
        asset=name,
        name="list_fresh",
        description="The list was confirmed current by its source within the maximum age (URL sources: "
                    "KYC_WATCHLIST_MAX_AGE_HOURS, default 24 h; local files: exempt unless "
                    "KYC_WATCHLIST_LOCAL_MAX_AGE_HOURS is set; the bundled sample: exempt).",
    )
    def _fresh(watchlists: WatchlistSourceResource) -> dg.AssetCheckResult:
        fresh = watchlists.freshness(spec)
        return dg.AssetCheckResult(
            passed=fresh.passed,
            metadata={"age_hours": fresh.age_hours if fresh.age_hours is not None else -1.0,
                      "max_age_hours": fresh.max_age_hours if fresh.max_age_hours is not None else -1.0,
                      "basis": fresh.basis})

    return _fresh


def build_watchlist_entries(list_names: list[str]) -> dg.AssetsDefinition:
    """``watchlist_entries``: the union of every list asset (the table screening reads)."""

    @dg.asset(
        name="watchlist_entries",
        group_name="watchlists",
        owners=OWNERS,
        kinds={"python", "duckdb"},
        code_version="2",
        ins={n: dg.AssetIn(n) for n in list_names},
        automation_condition=dg.AutomationCondition.eager(),
        check_specs=[
            dg.AssetCheckSpec("watchlist_entries_valid", asset="watchlist_entries", blocking=True,
                              description="ids present and unique, every entry has a name and a known type (GX)."),
            dg.AssetCheckSpec("watchlist_not_collapsed", asset="watchlist_entries", blocking=True,
                              description="Entry count did not shrink by more than half versus the previous version."),
        ],
    )
    def watchlist_entries(context: dg.AssetExecutionContext, **lists: pd.DataFrame):
        """Sanctions and PEP list entries from every configured list, normalised to one schema.

        Each row carries the content hash of the list version it came from, so a screening hit
        can be traced to the exact bytes of the list that produced it. Default source: a bundled
        public-domain subset of the US OFAC SDN list.
        """
        frames = [lists[n] for n in list_names if lists.get(n) is not None and len(lists[n])]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=WATCHLIST_KEY_COLUMNS)
        versions = {str(s): str(v) for s, v in df[["list_source", "list_version"]].drop_duplicates()
                    .itertuples(index=False)} if len(df) else {}
        combined = hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()
        previous = _previous_row_count(context)
        yield dg.Output(df, data_version=dg.DataVersion(combined[:16]), metadata=table_metadata(
            df, list_versions=dg.MetadataValue.json(versions),
            entries_by_type=dg.MetadataValue.json(df["entity_type"].value_counts().to_dict() if len(df) else {})))
        yield from _entry_checks(df, previous, valid_check="watchlist_entries_valid", collapse_check="watchlist_not_collapsed")

    return watchlist_entries


def build_watchlist_assets(specs) -> list:
    """Every watchlist asset and check for the configured lists: one asset and a freshness check per
    list, then ``watchlist_entries``."""
    list_assets = [build_list_asset(s) for s in specs]
    return [*list_assets, *(build_freshness_check(s) for s in specs),
            build_watchlist_entries([list_asset_name(s) for s in specs])]
