"""The screening assets: every customer against every current list version, and adverse media."""


import dagster as dg
import pandas as pd

from kyc_assets.quality import gx
from kyc_assets.quality.checks import gx_check, table_metadata, table_schema
from kyc_assets.resources import (
    AdverseMediaResource,
    CaseStoreResource,
    RestScreeningProviderResource,
    ScreeningStateResource,
)
from kyc_assets.screening.delta import (
    HIT_TYPES,
    SCREENING_COLUMNS,
    coverage_gaps,
    entries_from_frame,
    entry_keys,
    load_previous,
    matching_logic_version,
    save_entry_state,
    screen_customer_base,
    state_hash,
    with_entry_hashes,
)
from kyc_assets.screening.suppressions import apply_suppressions
from kyc_assets.settings import screening_index_dir

__all__ = ["SCREENING_COLUMNS", "adverse_media_results", "entries_from_frame", "screen_customers",
           "screening_results"]

ADVERSE_MEDIA_COLUMNS = ["customer_id", "provider", "status", "article_url", "title", "domain", "language",
                         "source_country", "seen_at", "run_id"]


def screen_customers(customers: pd.DataFrame, entries: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """Full screen of every customer against every entry (no state, no provider, no suppressions)."""
    return screen_customer_base(customers, with_entry_hashes(entries), run_id)[0]


def _previous_state(context: dg.AssetExecutionContext, state: ScreeningStateResource, logic: str):
    """The last committed run's state, or None (full screen) with the reason."""
    if not state.delta:
        return None, "delta screening disabled"
    event = context.instance.get_latest_materialization_event(context.asset_key)
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
    expected = meta.get("entry_state_hash")
    rows = meta.get("dagster/row_count")
    return load_previous(state.database, state.schema_name, expected.value if expected else None,
                         int(rows.value) if rows is not None else None, logic)


@dg.asset(
    group_name="screening",
    owners=["team:kyc-screening"],
    kinds={"python", "duckdb"},
    code_version="2",
    automation_condition=dg.AutomationCondition.eager(),
    check_specs=[
        dg.AssetCheckSpec("screening_results_valid", asset="screening_results", blocking=True,
                          description="Scores in [0, 1], decisions and hit types known, list version recorded (GX)."),
        dg.AssetCheckSpec("every_customer_screened", asset="screening_results", blocking=True,
                          description="Fails when any customer lacks a result against any current list version "
                                      "(a row from an older version does not count): unscreened is never clean."),
    ],
)
def screening_results(context: dg.AssetExecutionContext, customers: pd.DataFrame, watchlist_entries: pd.DataFrame,
                      screening_state: ScreeningStateResource, case_store: CaseStoreResource,
                      screening_provider: RestScreeningProviderResource):
    """Every customer screened against every current list version with explainable fuzzy matching.

    One row per hit (``hit_type`` 'sanctions' or 'pep', score, decision band, explanation, the list
    version and the entry's content hash) and one ``no_match`` row per customer and list version
    without a hit. A new list version re-screens automatically; only added or changed entries are
    scored in full (see screening/delta.py). Hits an analyst cleared are kept with ``suppressed``
    true; a changed list entry lifts its suppressions. With a REST provider configured, its hits
    join with ``list_source`` naming the provider.
    """
    entries = with_entry_hashes(watchlist_entries)
    logic = matching_logic_version()
    previous, why = _previous_state(context, screening_state, logic)
    client = screening_provider.client()
    provider = None
    if client is not None:
        from kyc_assets.screening.providers import provider_rows

        def provider(customer):
            return provider_rows(client, customer)

    df, stats = screen_customer_base(customers, entries, context.run_id, previous, provider,
                                     client.name if client is not None else None, index_dir=screening_index_dir())
    store = case_store.store()
    hits = df[df["decision"] != "no_match"]
    current_hashes = dict(zip(entries["entity_id"].astype(str), entries["entry_hash"], strict=True))
    current_hashes.update(zip(hits["list_entity_id"].astype(str), hits["entry_hash"], strict=True))
    lifted = store.lift_changed_suppressions(current_hashes, actor=f"dagster:run:{context.run_id}")
    df = apply_suppressions(df, store.active_suppression_keys())
    keys = entry_keys(entries)
    save_entry_state(screening_state.database, screening_state.schema_name, keys)

    hits = df[df["decision"] != "no_match"]
    current_versions = sorted(set(entries["list_version"].astype(str)))
    yield dg.Output(df, metadata=table_metadata(
        df, customers_screened=int(df["customer_id"].nunique()), hits=len(hits),
        matches=int((hits["decision"] == "match").sum()), pep_hits=int((hits["hit_type"] == "pep").sum()),
        suppressed_hits=int(hits["suppressed"].sum()), suppressions_lifted=lifted,
        list_versions=dg.MetadataValue.json(current_versions), screening_mode=stats.mode,
        full_screen_reason=why if stats.mode == "full" else "", delta_entries=stats.delta_entries,
        customers_full=stats.customers_full, customers_carried=stats.customers_carried,
        customers_rescreened=stats.customers_rescreened, provider_calls=stats.provider_calls,
        matching_logic=logic, entry_state_hash=state_hash(keys, logic), screening_index=stats.index))
    yield gx_check(df, gx.required_columns(*SCREENING_COLUMNS)
                   + gx.not_null("customer_id", "customer_hash", "decision", "list_version", "list_source")
                   + gx.between("score", 0, 1) + gx.in_set("decision", ["match", "potential_match", "no_match"])
                   + gx.in_set("hit_type", list(HIT_TYPES)) + gx.unique("customer_id", "list_version", "list_entity_id"),
                   check_name="screening_results_valid")
    gaps = coverage_gaps(df, customers, current_versions)
    yield dg.AssetCheckResult(check_name="every_customer_screened",
                              passed=gaps["unscreened_customers"] == 0 and gaps["stale_rows"] == 0,
                              metadata={"customers": len(customers), **gaps})


@dg.asset(
    group_name="screening",
    owners=["team:kyc-screening"],
    kinds={"python", "duckdb"},
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec("adverse_media_results_valid", asset="adverse_media_results", blocking=True,
                          description="Known statuses; when enabled, every named customer was searched (GX)."),
    ],
)
def adverse_media_results(context: dg.AssetExecutionContext, customers: pd.DataFrame,
                          adverse_media: AdverseMediaResource):
    """Negative news about customers from the configured adverse-media provider (GDELT DOC 2.0 API).

    Off by default (``KYC_ADVERSE_MEDIA_URL``): the asset then records one ``disabled`` row per
    customer, so nobody can read "no articles" into a search that never ran. Enabled, each named
    customer gets one row per article found, or one ``no_articles`` row. Not eager: every run calls
    an external, rate-limited service, so it runs on request or on a schedule.
    """
    client = adverse_media.client()
    rows = []
    for c in customers.itertuples(index=False):
        base = {"customer_id": str(c.customer_id), "provider": client.name if client else None,
                "run_id": context.run_id}
        name = c.full_name if isinstance(c.full_name, str) else ""
        if client is None:
            rows.append({**base, "status": "disabled"})
            continue
        if len(" ".join(name.replace('"', " ").split())) < 3:
            rows.append({**base, "status": "no_name"})
            continue
        articles = client.search(name)
        rows.extend({**base, "status": "article", "article_url": a.url, "title": a.title, "domain": a.domain,
                     "language": a.language, "source_country": a.source_country, "seen_at": a.seen_at}
                    for a in articles)
        if not articles:
            rows.append({**base, "status": "no_articles"})
    df = pd.DataFrame(rows, columns=ADVERSE_MEDIA_COLUMNS).astype(object)  # text, even when all empty
    df = df.where(df.notna(), None)
    # Article titles and URLs name people: they stay out of the metadata preview.
    meta = table_metadata(df.drop(columns=["title", "article_url"]), enabled=client is not None,
                          articles=int((df["status"] == "article").sum()),
                          customers_with_articles=int(df.loc[df["status"] == "article", "customer_id"].nunique()))
    meta["dagster/column_schema"] = dg.MetadataValue.table_schema(table_schema(df))
    yield dg.Output(df, metadata=meta)
    missing = set(customers["customer_id"].astype(str)) - set(df["customer_id"])
    yield gx_check(df, gx.required_columns(*ADVERSE_MEDIA_COLUMNS) + gx.not_null("customer_id", "status")
                   + gx.in_set("status", ["article", "no_articles", "no_name", "disabled"]),
                   check_name="adverse_media_results_valid",
                   extra_failures=[f"{len(missing)} customers without a row"] if missing else None)
