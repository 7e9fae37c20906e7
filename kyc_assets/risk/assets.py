"""Risk rating and perpetual KYC assets (group ``kyc_risk``): thin wrappers over kyc_assets/risk.

- ``risk_country_lists``: the FATF and EU lists the geography factor reads (dated, versioned data).
- ``customer_risk_ratings``: one rating per customer; its code version is the methodology's (a new
  methodology shows every rating as stale).
- ``kyc_reviews_due``: daily; opens periodic and event reviews in the case store.
- ``risk_methodology_impact``: the what-if report of a proposed methodology (markdown in the UI).
"""


import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd

from kyc_assets.quality.checks import table_metadata
from kyc_assets.risk.engine import ENGINE_VERSION, tier_counts
from kyc_assets.risk.methodology import TIERS, load_country_lists, load_methodology

_RISK = {"group_name": "kyc_risk", "owners": ["team:kyc-risk"]}
RATINGS_INPUT_ASSETS = ("customers", "screening_results", "watchlist_entries", "adverse_media_results",
                        "anomaly_scores", "transactions", "risk_country_lists")
OPTIONAL_INPUTS = "risk_optional_inputs"


def _latest(instance: dg.DagsterInstance, key: str) -> "dict | None":
    """The latest materialization of ``key``: run id, storage id, data and code version (None if never)."""
    from kyc_assets.audit.lineage import latest_at_or_before

    record = latest_at_or_before(instance, key, None, None)
    if record is None or record.asset_materialization is None:
        return None
    tags = record.asset_materialization.tags or {}
    return {"run_id": record.run_id, "storage_id": record.storage_id,
            "data_version": tags.get("dagster/data_version"), "code_version": tags.get("dagster/code_version"),
            "partition": record.asset_materialization.partition}


def build_risk_assets(settings, start_date: str | None = None) -> list:
    """The risk assets; the methodology and country lists are read (and validated) now, at load: a bad
    file fails the code location in one line instead of every run."""
    from kyc_assets.cases.assets import OptionalWarehouseInputs
    from kyc_assets.resources import warehouse_io_manager_fields
    from kyc_assets.risk.inputs import load_reference

    methodology = load_methodology(settings.risk_methodology_path)
    lists = load_country_lists(settings.risk_country_lists_path)
    code_version = f"{ENGINE_VERSION}+{methodology.label}"
    optional = OptionalWarehouseInputs(**warehouse_io_manager_fields(settings))
    # What the assets are built with, as plain values (the configuration they show)
    lists_version = lists.version
    reference_path = str(settings.customer_reference_path) if settings.customer_reference_path else ""
    proposed_path = str(settings.risk_proposed_methodology_path) if settings.risk_proposed_methodology_path else ""

    @dg.asset(
        kinds={"yaml", "duckdb"},
        code_version=lists.version,
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(days=lists.max_age_days)),
        check_specs=[dg.AssetCheckSpec("risk_country_lists_current", asset="risk_country_lists",
                                       description="Warns when a list was published more than max_age_days ago "
                                                   "(the FATF and EU lists change about three times a year).")],
        **_RISK,
    )
    def risk_country_lists(context: dg.AssetExecutionContext):
        """The FATF call-for-action, FATF increased-monitoring and EU high-risk third-country lists: one row
        per list and country, with each list's version, publication date and source (bundled, dated data:
        kyc_assets/data/risk/country_lists.yaml, or KYC_RISK_COUNTRY_LISTS)."""
        rows = [{"list_name": name, "title": lst.title, "list_version": lst.version,
                 "published": lst.published.isoformat(), "source": lst.source, "country": code}
                for name, lst in lists.lists.items() for code in lst.countries]
        df = pd.DataFrame(rows)
        today = datetime.now(UTC).date()
        stale = lists.stale(today)
        yield dg.Output(df, metadata=table_metadata(
            df, country_lists_version=lists_version,
            lists=dg.MetadataValue.json({n: {"version": lst.version, "published": lst.published.isoformat(),
                                             "source": lst.source, "countries": len(lst.countries)}
                                         for n, lst in lists.lists.items()})))
        yield dg.AssetCheckResult(
            check_name="risk_country_lists_current", passed=not stale, severity=dg.AssetCheckSeverity.WARN,
            metadata={"max_age_days": lists.max_age_days, "stale_lists": dg.MetadataValue.json(stale),
                      "oldest_days": max(((today - lst.published).days for lst in lists.lists.values()), default=0)})

    @dg.asset(
        ins={"customers": dg.AssetIn(), "screening_results": dg.AssetIn(),
             "risk_country_lists": dg.AssetIn(),
             "watchlist_entries": dg.AssetIn(input_manager_key=OPTIONAL_INPUTS, metadata={
                 "columns": ["entity_id", "nationalities", "topics"]}),
             "adverse_media_results": dg.AssetIn(input_manager_key=OPTIONAL_INPUTS, metadata={
                 "columns": ["customer_id", "status"]}),
             "anomaly_scores": dg.AssetIn(input_manager_key=OPTIONAL_INPUTS, metadata={
                 "columns": ["account_id", "as_of_date", "risk_score", "alert", "triggered_rules"]}),
             "transactions": dg.AssetIn(input_manager_key=OPTIONAL_INPUTS, metadata={
                 "columns": ["timestamp", "sender_account", "receiver_account", "sender_country",
                             "receiver_country"]})},
        resource_defs={OPTIONAL_INPUTS: optional},
        required_resource_keys={"case_store"},
        kinds={"python", "duckdb"},
        code_version=code_version,
        automation_condition=dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
        .with_label("eager_allow_missing"),
        check_specs=[
            dg.AssetCheckSpec("every_customer_rated", asset="customer_risk_ratings", blocking=True,
                              description="Every customer has a rating with a valid tier: an unrated customer is "
                                          "never taken for low risk."),
            dg.AssetCheckSpec("risk_tiers_valid", asset="customer_risk_ratings", blocking=True,
                              description="Tiers among low/medium/high/prohibited, scores in [0, 1], one row per "
                                          "customer, the methodology version on every row."),
            dg.AssetCheckSpec("tier_distribution_stable", asset="customer_risk_ratings",
                              description="Warns when a tier's share moved by more than 15 points, or a tier "
                                          "emptied, against the previous materialization (with the numbers)."),
            dg.AssetCheckSpec("prohibited_customers_have_open_case", asset="customer_risk_ratings",
                              description="Every prohibited customer has an open alert case or review."),
        ],
        **_RISK,
    )
    def customer_risk_ratings(context: dg.AssetExecutionContext, customers: pd.DataFrame,
                              screening_results: pd.DataFrame, risk_country_lists: pd.DataFrame,
                              watchlist_entries: pd.DataFrame, adverse_media_results: pd.DataFrame,
                              anomaly_scores: pd.DataFrame, transactions: pd.DataFrame):
        """One risk rating per customer (FATF R.1 and R.10): a score in [0, 1], a tier (low, medium, high,
        prohibited), each factor's category and contribution, the hard rules that applied, the methodology
        version and the inputs' data versions. Factors: customer type, nationality, residence, transaction
        corridors (FATF and EU lists), sanctions screening, PEP class, adverse media, onboarding channel,
        document quality, anomaly scores, typology alerts, account age and dormancy. An approved analyst
        override sets the tier in force (both tiers shown) until the next review."""
        from kyc_assets.risk.inputs import build_inputs
        from kyc_assets.risk.ratings import distribution_shift, ratings_table, unrated
        from kyc_assets.risk.reviews import plan_reviews
        from kyc_assets.risk.reviews_store import ReviewStore

        as_of = datetime.now(UTC).date()
        reviews = ReviewStore(context.resources.case_store.store())
        reference = load_reference(reference_path or None)
        inputs = build_inputs(customers, screening_results, as_of=as_of, home_country=methodology.home_country,
                              lookback_days=methodology.behaviour.lookback_days, watchlist_entries=watchlist_entries,
                              adverse_media=adverse_media_results, reference=reference,
                              anomaly_scores=anomaly_scores, transactions=transactions,
                              confirmed=reviews.confirmed_cases())
        states = reviews.states()
        df = ratings_table(inputs, methodology, lists, as_of=as_of, overrides=reviews.active_overrides(as_of),
                           states=states)
        versions = {k: v for k in RATINGS_INPUT_ASSETS if (v := _latest(context.instance, k)) is not None}
        input_versions = {k: v["data_version"] for k, v in versions.items()}
        df["input_versions"] = json.dumps(input_versions, sort_keys=True)
        history = reviews.record_history(df, run_id=context.run_id)
        # A prohibited customer is never left without a case: an event review opens now.
        ref = {"run_id": context.run_id, "methodology_version": methodology.label,
               "country_lists_version": lists.version, "input_versions": input_versions}
        triggers, _ = plan_reviews(df[df["tier"] == "prohibited"], states, as_of=as_of, methodology=methodology,
                                   open_reviews=reviews.open_reviews(), done_keys=reviews.done_keys(), rating_ref=ref)
        opened = reviews.apply([t for t in triggers if t.event == "prohibited"], {}, as_of=as_of,
                               actor=f"dagster:run:{context.run_id}")
        counts = tier_counts(df["tier"])
        previous = context.instance.get_latest_materialization_event(context.asset_key)
        previous_counts = None
        if previous is not None and previous.asset_materialization is not None:
            value = previous.asset_materialization.metadata.get("tier_counts")
            previous_counts = value.value if value is not None else None
        # customer ids, names and inputs stay out of the metadata: counts and versions only
        meta = table_metadata(df[["score", "computed_tier", "tier", "methodology_version"]],
                              tier_counts=dg.MetadataValue.json(counts),
                              computed_tier_counts=dg.MetadataValue.json(tier_counts(df["computed_tier"])),
                              overrides_in_force=int((df["override_tier"] != "").sum()),
                              methodology_version=methodology.label, country_lists_version=lists_version,
                              code_version=code_version, input_versions=dg.MetadataValue.json(input_versions),
                              reference_file_rows=len(reference), history_entries=history,
                              prohibited_reviews_opened=opened["opened_event"])
        yield dg.Output(df, metadata=meta)
        missing = unrated(customers["customer_id"], df)
        yield dg.AssetCheckResult(check_name="every_customer_rated", passed=missing == 0,
                                  metadata={"customers": len(customers), "rated": len(df), "unrated": missing})
        bad = int((~df["tier"].isin(TIERS)).sum() + (~df["computed_tier"].isin(TIERS)).sum()
                  + (~df["score"].between(0, 1)).sum() + df["customer_id"].duplicated().sum()
                  + (df["methodology_version"] != methodology.label).sum())
        yield dg.AssetCheckResult(check_name="risk_tiers_valid", passed=bad == 0, metadata={"problems": bad})
        ok, shift = distribution_shift(previous_counts, counts)
        yield dg.AssetCheckResult(check_name="tier_distribution_stable", passed=ok,
                                  severity=dg.AssetCheckSeverity.WARN,
                                  metadata={k: dg.MetadataValue.json(v) if isinstance(v, dict | list) else v
                                            for k, v in shift.items()})
        prohibited = set(df.loc[df["tier"] == "prohibited", "customer_id"])
        without = prohibited - reviews.customers_with_open_cases()
        yield dg.AssetCheckResult(check_name="prohibited_customers_have_open_case", passed=not without,
                                  metadata={"prohibited": len(prohibited), "without_open_case": len(without)})

    # end_offset=1: today's partition exists (the reviews of a day are opened that morning, not the next)
    partitions = dg.DailyPartitionsDefinition(start_date=start_date or settings.transactions_start_date,
                                              timezone="UTC", end_offset=1)

    @dg.asset(
        partitions_def=partitions,
        kinds={"python", "sqlite"},
        code_version=code_version,
        metadata={"partition_expr": "as_of_date"},
        automation_condition=dg.AutomationCondition.on_cron("0 5 * * *", cron_timezone="UTC"),
        required_resource_keys={"case_store"},
        check_specs=[dg.AssetCheckSpec("reviews_on_time", asset="kyc_reviews_due",
                                       description="No customer is past its next review date without an open "
                                                   "review, and no customer has two open reviews."),
                     dg.AssetCheckSpec("reviews_not_overdue", asset="kyc_reviews_due",
                                       description="Warns when open reviews are past their due date.")],
        **_RISK,
    )
    def kyc_reviews_due(context: dg.AssetExecutionContext, customer_risk_ratings: pd.DataFrame):
        """Perpetual KYC for the day: each customer's next review date from its tier's cadence (high 1 year,
        medium 3, low 5 by default), and the reviews to open: periodic ones as they come due, event ones on a
        tier change, a new screening hit or PEP status, an identity document expiring within the window, a
        dormant account waking up, a confirmed case. Reviews open in the case store (kinds periodic_review and
        event_review), once per customer and cycle, with the reason and the evidence (the rating's run,
        methodology version and inputs). One row per trigger of the day."""
        from kyc_assets.risk.reviews import plan_reviews
        from kyc_assets.risk.reviews_store import ReviewStore

        as_of = date.fromisoformat(context.partition_key)
        reviews = ReviewStore(context.resources.case_store.store())
        rating = _latest(context.instance, "customer_risk_ratings") or {}
        ref = {"run_id": rating.get("run_id"), "storage_id": rating.get("storage_id"),
               "data_version": rating.get("data_version"), "methodology_version": methodology.label,
               "country_lists_version": lists.version,
               "input_versions": json.loads(customer_risk_ratings["input_versions"].iloc[0])
               if len(customer_risk_ratings) and "input_versions" in customer_risk_ratings else {}}
        confirmed = {c: v["case_ids"] for c, v in reviews.confirmed_cases().items()}
        triggers, states = plan_reviews(customer_risk_ratings, reviews.states(), as_of=as_of, methodology=methodology,
                                        open_reviews=reviews.open_reviews(), confirmed_cases=confirmed,
                                        done_keys=reviews.done_keys(), rating_ref=ref)
        counts = reviews.apply(triggers, states, as_of=as_of, actor=f"dagster:run:{context.run_id}")
        df = pd.DataFrame([{"as_of_date": pd.Timestamp(as_of), "customer_id": t.customer_id, "kind": t.kind,
                            "event": t.event, "event_key": t.event_key, "reason": t.reason,
                            "due_date": t.due_date.isoformat(), "tier": t.tier} for t in triggers],
                          columns=["as_of_date", "customer_id", "kind", "event", "event_key", "reason", "due_date",
                                   "tier"])
        df["as_of_date"] = pd.to_datetime(df["as_of_date"])
        open_now = reviews.list_reviews(status="open", limit=1_000_000)
        overdue = sum(r["due_date"] < as_of.isoformat() for r in open_now)
        with_open = {r["customer_id"] for r in open_now}
        late = sum(1 for cid, s in reviews.states().items() if s.next_review_on < as_of and cid not in with_open)
        doubles = len(open_now) - len(with_open)
        yield dg.Output(df, metadata=table_metadata(
            df[["kind", "event", "due_date", "tier"]], **{k: int(v) for k, v in counts.items()},
            open_reviews=len(open_now), by_event=dg.MetadataValue.json(df["event"].value_counts().to_dict())))
        yield dg.AssetCheckResult(check_name="reviews_on_time", passed=late == 0 and doubles == 0,
                                  metadata={"customers_past_review_without_open_review": late,
                                            "customers_with_two_open_reviews": doubles})
        yield dg.AssetCheckResult(check_name="reviews_not_overdue", passed=overdue == 0,
                                  severity=dg.AssetCheckSeverity.WARN,
                                  metadata={"open_reviews": len(open_now), "overdue": overdue})

    @dg.asset(
        required_resource_keys={"case_store"},
        kinds={"python"},
        code_version=code_version,
        check_specs=[dg.AssetCheckSpec("risk_methodology_impact_complete", asset="risk_methodology_impact",
                                       description="The report has every section, for the proposed methodology "
                                                   "when one is configured (KYC_RISK_PROPOSED_METHODOLOGY).")],
        **_RISK,
    )
    def risk_methodology_impact(context: dg.AssetExecutionContext, customer_risk_ratings: pd.DataFrame):
        """What-if report for the model risk committee: a proposed methodology (KYC_RISK_PROPOSED_METHODOLOGY)
        against the one in force, on today's customers and inputs: tier changes each way, the factors driving
        them, and the reviews and EDD reviews it would open in the next 12 months (markdown in the UI)."""
        from kyc_assets.risk.ratings import inputs_of
        from kyc_assets.risk.reviews_store import ReviewStore
        from kyc_assets.risk.whatif import compare, render_markdown

        as_of = datetime.now(UTC).date()
        if not proposed_path:
            text = ("# Methodology impact\n\nNo proposed methodology is configured: set "
                    "KYC_RISK_PROPOSED_METHODOLOGY to a methodology file, or run `kyc risk what-if --methodology "
                    "FILE`.\n")
            yield dg.Output(pd.DataFrame([{"report_markdown": text}]), metadata={"report": dg.MetadataValue.md(text),
                                                                                 "proposed": ""})
            yield dg.AssetCheckResult(check_name="risk_methodology_impact_complete", passed=True,
                                      metadata={"proposed": "none"})
            return
        proposed = load_methodology(proposed_path)
        reviews = ReviewStore(context.resources.case_store.store())
        bases = {c: s.last_review_on or s.first_rated_on for c, s in reviews.states().items()}
        impact = compare(inputs_of(customer_risk_ratings), methodology, proposed, lists, as_of=as_of,
                         last_reviews=bases)
        text = render_markdown(impact, as_of)
        yield dg.Output(pd.DataFrame([{"report_markdown": text, "current": impact.current_version,
                                       "proposed": impact.proposed_version, "up": impact.up, "down": impact.down}]),
                        metadata={"report": dg.MetadataValue.md(text), "proposed": impact.proposed_version,
                                  "customers_up": impact.up, "customers_down": impact.down,
                                  "reviews_next_12_months": dg.MetadataValue.json(impact.reviews)})
        missing = [s for s in ("## Tier changes", "## Factors driving", "## Reviews in the next 12 months")
                   if s not in text]
        yield dg.AssetCheckResult(check_name="risk_methodology_impact_complete", passed=not missing,
                                  severity=dg.AssetCheckSeverity.WARN, metadata={"missing_sections": ", ".join(missing)})

    return [risk_country_lists, customer_risk_ratings, kyc_reviews_due, risk_methodology_impact]
