"""``kyc trace REV-...``: a review case back to the rating behind it, the methodology and its inputs.

The review records the rating run that opened it (run id, storage id, data version), the methodology and
country-list versions, and the input assets' data versions. With the Dagster instance, the trace adds the
``customer_risk_ratings`` materialization of that run and, through its input event pointers, the exact
materializations of each input it read (customers, screening results, lists, anomaly scores...), with
their data and code versions. Without one it lists what the review recorded, and says so.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kyc_assets.audit.lineage import materialization_by_id, materialization_of_run, pointers

RATINGS = "customer_risk_ratings"


def _node(record) -> dict:
    mat = record.asset_materialization
    tags = mat.tags or {}
    return {"asset_key": mat.asset_key.to_user_string(), "partition": mat.partition, "run_id": record.run_id,
            "storage_id": record.storage_id, "data_version": tags.get("dagster/data_version"),
            "code_version": tags.get("dagster/code_version"),
            "timestamp": datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds")}


def build_review_trace(review: dict, *, instance=None) -> dict:
    """The trace of a review (``ReviewStore.get_review`` output) as a JSON-serialisable dict."""
    from kyc_assets.audit.trace import TraceError

    rating = review.get("rating") or {}
    trace = {"review_id": review["review_id"], "customer_id": review["customer_id"], "kind": review["kind"],
             "status": review["status"], "tier": review["tier"], "reasons": review["reasons"],
             "due_date": review["due_date"], "opened_on": review["opened_on"], "closed_on": review.get("closed_on"),
             "closed_by": review.get("closed_by"), "outcome": review.get("outcome"),
             "events": [{k: e[k] for k in ("event_key", "kind", "reason", "added_on")} for e in review.get("events", [])],
             "edd": [{k: e[k] for k in ("item", "recorded_by", "recorded_at")} for e in review.get("edd", [])],
             "rating": {"run_id": rating.get("run_id"), "methodology_version": rating.get("methodology_version"),
                        "country_lists_version": rating.get("country_lists_version"), "score": rating.get("score"),
                        "tier": rating.get("tier"), "as_of": rating.get("as_of")},
             "input_versions": rating.get("input_versions") or {},
             "materializations": [], "materializations_included": instance is not None}
    if instance is None:
        return trace
    run_id = rating.get("run_id")
    record = materialization_of_run(instance, RATINGS, run_id) if run_id else None
    if record is None:
        raise TraceError(f"the Dagster instance holds no {RATINGS} materialization of run {run_id} behind "
                         f"{review['review_id']} (is DAGSTER_HOME the instance the platform ran with?)")
    nodes = [_node(record)]
    for parent, storage_id in sorted(pointers(record).items()):
        parent_record = materialization_by_id(instance, parent, storage_id) if storage_id is not None else None
        if parent_record is not None:
            nodes.append({**_node(parent_record), "read_by": RATINGS})
        else:
            nodes.append({"asset_key": parent, "storage_id": storage_id, "read_by": RATINGS,
                          "note": "never materialized (read as empty)" if storage_id is None else "not found"})
    trace["materializations"] = nodes
    return trace


def render_review_trace(trace: dict) -> str:
    r = trace["rating"]
    lines = [(f"{trace['review_id']}: {trace['kind']} of customer {trace['customer_id']}, {trace['tier']} risk, "
             f"{trace['status']}, due {trace['due_date']}"),
             "reasons: " + "; ".join(trace["reasons"]),
             (f"rating: run {r['run_id']}, methodology {r['methodology_version']}, country lists "
             f"{r['country_lists_version']}, score {r['score']}, tier {r['tier']} (as of {r['as_of']})"),
             "inputs (data versions): " + (", ".join(f"{k} {v}" for k, v in sorted(trace["input_versions"].items()))
                                           or "none recorded")]
    lines.append("events:")
    lines += [f"  {e['added_on']} {e['kind']}: {e['reason']}" for e in trace["events"]]
    if trace["edd"]:
        lines.append("EDD: " + ", ".join(f"{e['item']} ({e['recorded_by']})" for e in trace["edd"]))
    if trace["closed_on"]:
        lines.append(f"closed {trace['closed_on']} by {trace['closed_by']}: {trace['outcome']}")
    if trace["materializations_included"]:
        lines.append("materializations:")
        for m in trace["materializations"]:
            lines.append(f"  {m['asset_key']}{'[' + m['partition'] + ']' if m.get('partition') else ''} "
                         f"storage {m.get('storage_id')} run {m.get('run_id', '-')} data {m.get('data_version', '-')} "
                         f"code {m.get('code_version', '-')}{'  ' + m['note'] if m.get('note') else ''}")
    else:
        lines.append("materializations: not included (no Dagster instance)")
    return "\n".join(lines)


def trace_command(store, args, instance_of, run, print_json) -> int:
    """``kyc trace REV-...`` (called by kyc_assets/cases/commands.py with its helpers)."""
    from kyc_assets.risk.reviews_store import ReviewStore

    review = run(lambda: ReviewStore(store).get_review(args.case_id))
    instance = instance_of(args)
    try:
        trace = run(lambda: build_review_trace(review, instance=instance))
    finally:
        if instance is not None:
            instance.dispose()
    if args.json:
        print_json(trace)
    else:
        print(render_review_trace(trace))
    return 0
