"""Lineage for auditors: the chain from a case back to every input.

For each evidence item of a case the trace names the Dagster materialization it came from (asset
key, partition, run id, data version, code version, timestamp) and walks upstream through the
provenance Dagster records on every materialization (``dagster/input_event_pointer/<asset>`` tags,
which point at the exact input materialization that was read) down to the raw documents. It adds
the document files (sha256 and where the bytes are stored), the list versions and matched entries,
the model versions, the escalation runs, and the decisions with who made and approved them.

Reads the Dagster instance of ``DAGSTER_HOME`` (``instance.fetch_materializations``); without an
instance the trace still lists the references recorded with the case, and says so.
"""

from __future__ import annotations

from datetime import UTC, datetime

INPUT_POINTER = "dagster/input_event_pointer/"
MAX_NODES = 2_000  # a bound on the upstream walk (a case never needs more)


def _materialization(record) -> dict:
    mat = record.asset_materialization
    tags = mat.tags or {}
    return {"asset_key": mat.asset_key.to_user_string(), "partition": mat.partition, "run_id": record.run_id,
            "data_version": tags.get("dagster/data_version"), "code_version": tags.get("dagster/code_version"),
            "timestamp": datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds"),
            "storage_id": record.storage_id,
            "inputs": {k.removeprefix(INPUT_POINTER): int(v) for k, v in tags.items() if k.startswith(INPUT_POINTER)}}


def _find(instance, asset_key: str, *, partition: str | None = None, run_id: str | None = None,
          storage_id: int | None = None):
    import dagster as dg

    key = dg.AssetKey.from_user_string(asset_key)
    records_filter = dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None,
                                           storage_ids=[storage_id] if storage_id is not None else None)
    records = instance.fetch_materializations(records_filter, limit=1 if storage_id is not None else 50).records
    if run_id:  # the referenced run; else the newest (e.g. a row carried over by delta screening)
        return next((r for r in records if r.run_id == run_id), records[0] if records else None)
    return records[0] if records else None


def materialization_chain(instance, roots: list[dict]) -> list[dict]:
    """The materializations the roots (``asset_key``, ``partition``, ``run_id``) point to, and every
    upstream materialization reached through their input pointers; each appears once, with ``via``
    naming the evidence or the downstream asset that read it."""
    seen: dict[int, dict] = {}
    queue: list[tuple[object, str]] = []
    for root in roots:
        record = _find(instance, root["asset_key"], partition=root.get("partition"), run_id=root.get("run_id"))
        if record is not None:
            via = f"evidence {root.get('evidence_id', '')[:12]}"
            if root.get("run_id") and record.run_id != root["run_id"]:
                via += f" (referenced run {root['run_id']} not found; newest shown)"
            queue.append((record, via))
    while queue and len(seen) < MAX_NODES:
        record, via = queue.pop(0)
        if record.storage_id in seen:
            continue
        node = {**_materialization(record), "via": via}
        seen[record.storage_id] = node
        for asset_key, storage_id in sorted(node["inputs"].items()):
            if storage_id in seen:
                continue
            upstream = _find(instance, asset_key, storage_id=storage_id)
            if upstream is not None:
                queue.append((upstream, f"input of {node['asset_key']}"
                                        + (f"[{node['partition']}]" if node["partition"] else "")))
    return list(seen.values())


def build_trace(case: dict, *, instance=None, document_store=None) -> dict:
    """The trace of a case (``CaseStore.get_case`` output) as a JSON-serialisable dict."""
    refs = [{**e["reference"], "evidence_id": e["evidence_id"], "kind": e["kind"]} for e in case["evidence"]]
    documents, lists, models = {}, {}, {}
    for ref in refs:
        for sha in ref.get("document_sha256s") or []:
            doc = {"sha256": sha, "evidence_ids": []}
            if document_store is not None:
                doc["file"] = str(document_store.path(sha))
                doc["stored"] = document_store.contains(sha)
                if doc["stored"]:
                    meta = document_store.meta(sha)
                    doc.update({k: meta.get(k) for k in ("original_name", "received_at", "media_type", "size_bytes")
                                if k in meta})
            documents.setdefault(sha, doc)["evidence_ids"].append(ref["evidence_id"])
        if ref.get("list_entity_id"):
            lists[(ref.get("list_source"), ref.get("list_version"), ref["list_entity_id"])] = {
                "list_source": ref.get("list_source"), "list_version": ref.get("list_version"),
                "list_entity_id": ref["list_entity_id"], "entry_hash": ref.get("entry_hash"),
                "hit_type": ref.get("hit_type"), "explanation": ref.get("explanation")}
        if ref.get("model_version"):
            models.setdefault(ref["model_version"], {"model_version": ref["model_version"], "partitions": []})[
                "partitions"].append(ref.get("partition"))
    trace = {
        "case_id": case["case_id"], "subject_type": case["subject_type"], "subject_id": case["subject_id"],
        "status": case["status"], "outcome": case.get("outcome"),
        "evidence": [{k: ref.get(k) for k in ("evidence_id", "kind", "asset_key", "partition", "run_id",
                                              "data_version", "code_version")} for ref in refs],
        "materializations": [], "documents": list(documents.values()), "lists": list(lists.values()),
        "models": [{**m, "partitions": sorted(p for p in m["partitions"] if p)} for m in models.values()],
        "escalation_runs": sorted({e["actor"].removeprefix("dagster:run:") for e in case.get("events", [])
                                   if e["actor"].startswith("dagster:run:")}),
        "decisions": [{k: d.get(k) for k in ("decision_id", "decision", "reason", "analyst", "decided_at", "status",
                                             "approved_by", "approved_at")} for d in case.get("decisions", [])],
        "report": case.get("report"),
        "dagster_instance": None,
    }
    if instance is None:
        trace["dagster_instance"] = "none (set DAGSTER_HOME to include the materializations)"
        return trace
    trace["dagster_instance"] = getattr(instance, "root_directory", None) or type(instance).__name__
    trace["materializations"] = materialization_chain(
        instance, [r for r in refs if r.get("asset_key")] + [
            {"asset_key": "escalated_cases", "run_id": run, "evidence_id": "escalation"}
            for run in trace["escalation_runs"]])
    return trace


def render_trace(trace: dict) -> str:
    """The trace as indented text for a terminal (no PII: ids, hashes, versions and analysts only)."""
    outcome = f", {trace['outcome']}" if trace.get("outcome") else ""
    lines = [f"case {trace['case_id']}: {trace['subject_type']} {trace['subject_id']} ({trace['status']}{outcome})"]
    lines.append("evidence:")
    for e in trace["evidence"]:
        lines.append(f"  {e['evidence_id'][:12]} {e['kind']}: {e.get('asset_key')}"
                     f"{'[' + e['partition'] + ']' if e.get('partition') else ''} run {e.get('run_id') or '-'}"
                     f" data_version {e.get('data_version') or '-'}")
    lines.append(f"materializations ({trace['dagster_instance']}):")
    for m in trace["materializations"]:
        lines.append(f"  {m['asset_key']}{'[' + m['partition'] + ']' if m['partition'] else ''} run {m['run_id']} "
                     f"data_version {m['data_version'] or '-'} code_version {m['code_version'] or '-'} "
                     f"at {m['timestamp']} <- {m['via']}")
    if trace["documents"]:
        lines.append("documents:")
        lines += [f"  sha256 {d['sha256']} file {d.get('file', '-')}" for d in trace["documents"]]
    if trace["lists"]:
        lines.append("lists:")
        lines += [f"  {x['list_source']} version {x['list_version']} entry {x['list_entity_id']} "
                  f"(entry hash {(x.get('entry_hash') or '-')[:12]})" for x in trace["lists"]]
    if trace["models"]:
        lines.append("models:")
        lines += [f"  {m['model_version']} on {', '.join(m['partitions']) or '-'}" for m in trace["models"]]
    lines.append("decisions:")
    for d in trace["decisions"] or []:
        approval = f", {d['status']} by {d['approved_by']} at {d['approved_at']}" if d.get("approved_by") else ""
        lines.append(f"  {d['decided_at']} {d['decision']} by {d['analyst']} ({d['status']}){approval}")
    if not trace["decisions"]:
        lines.append("  none yet")
    if trace.get("report"):
        r = trace["report"]
        lines.append(f"report: {r['report_id']} {r['status']} prepared by {r['prepared_by']}"
                     f"{', approved by ' + r['approved_by'] if r.get('approved_by') else ''}")
    return "\n".join(lines)
