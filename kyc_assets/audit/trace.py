"""Lineage for auditors: the chain from a case back to every input, and nothing else.

For each evidence item of a case the trace lists the Dagster materializations that produced it (asset
key, partition, run id, data version, code version, timestamp): exactly those escalation recorded on
the evidence (``lineage``: storage ids, see audit/lineage.py), which follow each evidence row's own run
id and partition, and the partition mappings of the asset graph, down to the raw documents. A screening
hit's trace names its customer's document partitions, the customer profiles, its list and
``watchlist_entries``, ``screening_results`` and the escalation run; an account alert's, the days behind
it. It adds the document files (sha256 and where the bytes are stored), the list versions and matched
entries, the model versions, the escalation runs, and the decisions with who made and approved them.

The Dagster instance is the platform's (``Settings.dagster_home``: ``DAGSTER_HOME``, by default
``$KYC_HOME/dagster_home``, as the Makefile sets it). Without one, or when the instance holds none of the
case's materializations, :class:`TraceError` says so: an empty lineage is never printed as if it were
the truth. ``build_trace(..., instance=None)`` lists only the references recorded with the case, and
says that the materializations are not included.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from kyc_assets.audit.lineage import (
    materialization_by_id,
    materialization_of_run,
    materializations_by_ids,
    pointers,
    walker,
)
from kyc_assets.cases.reasons import case_sentences

ESCALATION_ASSET = "escalated_cases"


class TraceError(ValueError):
    """The trace cannot be built truthfully (no instance, or one that knows nothing of the case)."""


def find_instance(dagster_home: Path | str | None):
    """The Dagster instance in ``dagster_home`` (``Settings.dagster_home``); TraceError when there is none."""
    import dagster as dg

    if not dagster_home:
        raise TraceError("no Dagster instance configured (set DAGSTER_HOME or KYC_HOME)")
    home = Path(dagster_home)
    if not home.is_dir() or not ((home / "dagster.yaml").is_file() or (home / "storage").is_dir()):
        raise TraceError(f"no Dagster instance at {home} (set DAGSTER_HOME to the instance the platform ran with, "
                         "or pass --without-instance for the recorded references only)")
    return dg.DagsterInstance.from_config(str(home))


def _materialization(record) -> dict:
    mat = record.asset_materialization
    tags = mat.tags or {}
    return {"asset_key": mat.asset_key.to_user_string(), "partition": mat.partition, "run_id": record.run_id,
            "data_version": tags.get("dagster/data_version"), "code_version": tags.get("dagster/code_version"),
            "timestamp": datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds"),
            "storage_id": record.storage_id,
            "inputs": {k: v for k, v in pointers(record).items() if v is not None}}


def _collect(instance, refs: list[dict], escalation_runs: list[str]) -> tuple[dict[int, dict], list[dict]]:
    """Every materialization behind the evidence (by storage id, with the evidence ids it stands behind)
    and what could not be found or followed."""
    nodes: dict[int, dict] = {}
    problems: list[dict] = []
    plain = walker(instance)  # evidence escalated before lineage was recorded: exact parents only
    wanted: dict[str, dict[int, list[str]]] = {}  # asset -> storage id -> evidence ids

    def add(record, evidence_id: str) -> None:
        node = nodes.setdefault(record.storage_id, {**_materialization(record), "evidence_ids": []})
        if evidence_id not in node["evidence_ids"]:
            node["evidence_ids"].append(evidence_id)

    for ref in refs:
        if not ref.get("asset_key"):
            continue
        eid = ref["evidence_id"]
        lineage = ref.get("lineage")
        if lineage is None:
            root = (materialization_by_id(instance, ref["asset_key"], ref["storage_id"]) if ref.get("storage_id")
                    else materialization_of_run(instance, ref["asset_key"], ref["run_id"], ref.get("partition"))
                    if ref.get("run_id") else None)
            if root is None:
                problems.append({"evidence_id": eid, "asset_key": ref["asset_key"], "problem": ref.get(
                    "lineage_error") or f"no materialization of {ref['asset_key']}"
                                     f"{'[' + ref['partition'] + ']' if ref.get('partition') else ''} in run "
                                     f"{ref.get('run_id') or '(none recorded)'}"})
                continue
            found = plain.walk(root, _scope(ref), stop_at=frozenset({ESCALATION_ASSET}))
            lineage = found.storage_ids
            problems += [{"evidence_id": eid, "asset_key": note.split(":")[0], "problem": note}
                         for note in sorted(set(found.unresolved))]
        for p in ref.get("lineage_unresolved") or []:
            problems.append({"evidence_id": eid, "asset_key": p.split(":")[0], "problem": p})
        for asset_key, ids in lineage.items():
            for storage_id in ids:
                wanted.setdefault(asset_key, {}).setdefault(int(storage_id), []).append(eid)
    for asset_key, ids in sorted(wanted.items()):  # one query per asset (and 500 ids), whatever the evidence count
        ordered = sorted(ids)
        records = [r for i in range(0, len(ordered), 500)
                   for r in materializations_by_ids(instance, asset_key, ordered[i:i + 500])]
        for record in records:
            for eid in ids[record.storage_id]:
                add(record, eid)
        for missing in sorted(set(ids) - {r.storage_id for r in records}):
            problems.append({"evidence_id": ids[missing][0], "asset_key": asset_key,
                             "problem": f"materialization {missing} of {asset_key} is not in this instance"})
    for run in escalation_runs:
        record = materialization_of_run(instance, ESCALATION_ASSET, run)
        if record is None:
            problems.append({"evidence_id": "escalation", "asset_key": ESCALATION_ASSET,
                             "problem": f"no materialization of {ESCALATION_ASSET} in run {run}"})
        else:
            add(record, "escalation")
    return nodes, problems


def _scope(ref: dict):
    from kyc_assets.audit.lineage import evidence_scope

    return evidence_scope(ref)


def _annotate_via(nodes: dict[int, dict]) -> list[dict]:
    """``via`` on each node (the evidence it is, or the assets that read it), in reading order: the
    escalation, the evidence, then their inputs level by level; by partition and storage id inside."""
    depth: dict[str, int] = {}
    for node in nodes.values():
        if node["asset_key"] == ESCALATION_ASSET:
            depth[node["asset_key"]] = -1
    frontier = {n["asset_key"] for n in nodes.values() if n["asset_key"] != ESCALATION_ASSET
                and not any(n["asset_key"] in m["inputs"] for m in nodes.values() if m["asset_key"] != ESCALATION_ASSET)}
    level = 0
    while frontier:
        for key in frontier:
            depth.setdefault(key, level)
        frontier = {k for n in nodes.values() if n["asset_key"] in frontier for k in n["inputs"]} - set(depth)
        level += 1
    out = []
    for node in nodes.values():
        readers = sorted({m["asset_key"] for m in nodes.values() if node["asset_key"] in m["inputs"]
                          and set(m["evidence_ids"]) & set(node["evidence_ids"]) and m is not node})
        if node["asset_key"] == ESCALATION_ASSET:
            node["via"] = "escalation run"
        elif readers:
            node["via"] = "input of " + ", ".join(readers)
        else:
            node["via"] = "evidence " + ", ".join(e[:12] for e in node["evidence_ids"][:3]) + (
                f" (+{len(node['evidence_ids']) - 3})" if len(node["evidence_ids"]) > 3 else "")
        out.append(node)
    return sorted(out, key=lambda n: (depth.get(n["asset_key"], 99), n["asset_key"], n["partition"] or "",
                                      n["storage_id"]))


def _as_day(key: str | None) -> date | None:
    try:
        return date.fromisoformat(key) if key and len(key) == 10 else None
    except ValueError:
        return None


def partition_ranges(keys: list[str]) -> str:
    """Partition keys for people: consecutive days as ``first..last``, others listed, sorted."""
    keys = sorted(k for k in keys if k)
    days = [_as_day(k) for k in keys]
    if not keys or any(d is None for d in days):
        return ", ".join(keys)
    runs, start, prev = [], days[0], days[0]
    for d in days[1:]:
        if d != prev + timedelta(days=1):
            runs.append((start, prev))
            start = d
        prev = d
    runs.append((start, prev))
    return ", ".join(a.isoformat() if a == b else f"{a.isoformat()}..{b.isoformat()}" for a, b in runs)


def group_materializations(materializations: list[dict]) -> list[dict]:
    """The materializations grouped by asset, data version and code version: one group per asset and
    version with its partitions (days in order) and the runs that wrote them (in partition order), so a
    version shared by many days, or written again by several runs, shows once."""
    groups: dict[tuple, dict] = {}
    for m in sorted(materializations, key=lambda m: (m["partition"] or "", m["storage_id"])):
        key = (m["asset_key"], m["data_version"], m["code_version"])
        g = groups.setdefault(key, {"asset_key": m["asset_key"], "run_ids": [],
                                    "data_version": m["data_version"], "code_version": m["code_version"],
                                    "partitions": [], "storage_ids": [], "first_timestamp": m["timestamp"],
                                    "last_timestamp": m["timestamp"], "via": m["via"], "evidence_ids": []})
        if m["partition"]:
            g["partitions"].append(m["partition"])
        if m["run_id"] not in g["run_ids"]:
            g["run_ids"].append(m["run_id"])
        g["storage_ids"].append(m["storage_id"])
        g["first_timestamp"] = min(g["first_timestamp"], m["timestamp"])
        g["last_timestamp"] = max(g["last_timestamp"], m["timestamp"])
        g["evidence_ids"] = sorted(set(g["evidence_ids"]) | set(m["evidence_ids"]))
    order = {m["asset_key"]: i for i, m in reversed(list(enumerate(materializations)))}
    out = sorted(groups.values(), key=lambda g: (order[g["asset_key"]], sorted(g["partitions"])[:1],
                                                 g["first_timestamp"]))
    for g in out:
        g["partitions"] = sorted(g["partitions"])
        g["partition_ranges"] = partition_ranges(g["partitions"])
        g["run_id"] = g["run_ids"][0] if len(g["run_ids"]) == 1 else None
    return out


def _runs(run_ids: list[str], shown: int = 3) -> str:
    if len(run_ids) == 1:
        return f"run {run_ids[0]}"
    return f"{len(run_ids)} runs " + ", ".join(r[:8] for r in run_ids[:shown]) + (", ..." if len(run_ids) > shown else "")


def build_trace(case: dict, *, instance=None, document_store=None, instance_label: str | None = None) -> dict:
    """The trace of a case (``CaseStore.get_case`` output) as a JSON-serialisable dict.

    With ``instance``: every materialization behind the evidence (``materializations``, one per storage
    id, and ``materialization_groups``, the same grouped by asset and version) and ``lineage_problems``
    (what is recorded but not found); TraceError when the instance holds none of them. Without:
    the recorded references only, ``materializations_included`` false."""
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
    evidence = [{k: ref.get(k) for k in ("evidence_id", "kind", "asset_key", "partition", "run_id",
                                         "data_version", "code_version", "storage_id")} for ref in refs]
    trace = {
        "case_id": case["case_id"], "subject_type": case["subject_type"], "subject_id": case["subject_id"],
        "status": case["status"], "outcome": case.get("outcome"),
        "reasons": case_sentences(case),
        "evidence": evidence, "evidence_groups": group_evidence(evidence),
        "materializations": [], "materialization_groups": [], "lineage_problems": [],
        "documents": list(documents.values()), "lists": list(lists.values()),
        "models": [{**m, "partitions": sorted(p for p in m["partitions"] if p)} for m in models.values()],
        "escalation_runs": sorted({e["actor"].removeprefix("dagster:run:") for e in case.get("events", [])
                                   if e["actor"].startswith("dagster:run:")}),
        "decisions": [{k: d.get(k) for k in ("decision_id", "decision", "reason", "analyst", "decided_at", "status",
                                             "approved_by", "approved_at")} for d in case.get("decisions", [])],
        "report": case.get("report"),
        "dagster_instance": None,
        "materializations_included": instance is not None,
    }
    if instance is None:
        return trace
    trace["dagster_instance"] = instance_label or getattr(instance, "root_directory", None) or type(instance).__name__
    nodes, problems = _collect(instance, refs, trace["escalation_runs"])
    expected = any(r.get("asset_key") for r in refs) or trace["escalation_runs"]
    if expected and not nodes:
        raise TraceError(f"the Dagster instance at {trace['dagster_instance']} holds none of the materializations of "
                         f"{case['case_id']} (is DAGSTER_HOME the instance the platform ran with?)")
    trace["materializations"] = _annotate_via(nodes)
    trace["materialization_groups"] = group_materializations(trace["materializations"])
    trace["lineage_problems"] = problems
    return trace


def group_evidence(evidence: list[dict]) -> list[dict]:
    """Evidence items of the same kind, asset, run and versions as one group with their partitions."""
    groups: dict[tuple, dict] = {}
    for e in evidence:
        key = (e["kind"], e.get("asset_key"), e.get("run_id"), e.get("data_version"), e.get("code_version"))
        g = groups.setdefault(key, {"kind": e["kind"], "asset_key": e.get("asset_key"), "run_id": e.get("run_id"),
                                    "data_version": e.get("data_version"), "code_version": e.get("code_version"),
                                    "partitions": [], "evidence_ids": []})
        if e.get("partition"):
            g["partitions"].append(e["partition"])
        g["evidence_ids"].append(e["evidence_id"])
    out = sorted(groups.values(), key=lambda g: (g["kind"], g["asset_key"] or "", sorted(g["partitions"])[:1]))
    for g in out:
        g["partitions"] = sorted(g["partitions"])
        g["partition_ranges"] = partition_ranges(g["partitions"])
    return out


def _ids(ids: list[str], shown: int = 3) -> str:
    return ", ".join(i[:12] for i in ids[:shown]) + (f" (+{len(ids) - shown})" if len(ids) > shown else "")


def _where(asset_key, ranges: str, count: int) -> str:
    if not ranges:
        return str(asset_key)
    return f"{asset_key}[{ranges}]" + (f" ({count} partitions)" if count > 1 else "")


def render_trace(trace: dict) -> str:
    """The trace as indented text for a terminal (no PII: ids, hashes, versions and analysts only).
    Evidence and materializations are grouped by asset and version, partitions (days) in order, so
    each data version is printed once per group."""
    outcome = f", {trace['outcome']}" if trace.get("outcome") else ""
    lines = [f"case {trace['case_id']}: {trace['subject_type']} {trace['subject_id']} ({trace['status']}{outcome})"]
    if trace.get("reasons"):
        lines.append("why:")
        lines.extend(f"  {r}" for r in trace["reasons"])
    lines.append(f"evidence ({len(trace['evidence'])} items):")
    included = trace.get("materializations_included", True)
    for g in trace.get("evidence_groups") or group_evidence(trace["evidence"]):
        # With the lineage below, its data version is printed there (once); without, here.
        version = "" if included and trace["materializations"] else f" data_version {g['data_version'] or '-'}"
        lines.append(f"  {g['kind']} x{len(g['evidence_ids'])}: "
                     f"{_where(g['asset_key'], g['partition_ranges'], len(g['partitions']))} "
                     f"run {g['run_id'] or '-'}{version} (evidence {_ids(g['evidence_ids'])})")
    if not included:
        lines.append("materializations: not included (references recorded with the case only)")
    else:
        groups = trace.get("materialization_groups") or []
        lines.append(f"materializations ({len(trace['materializations'])} in {len(groups)} groups, Dagster instance "
                     f"{trace['dagster_instance']}):")
        for g in groups:
            when = g["first_timestamp"] if g["first_timestamp"] == g["last_timestamp"] else                 f"{g['first_timestamp']} .. {g['last_timestamp']}"
            lines.append(f"  {_where(g['asset_key'], g['partition_ranges'], len(g['partitions']))} {_runs(g['run_ids'])} "
                         f"data_version {g['data_version'] or '-'} code_version {g['code_version'] or '-'} "
                         f"at {when} <- {g['via']}")
        for p in trace.get("lineage_problems") or []:
            lines.append(f"  NOT FOUND (evidence {str(p['evidence_id'])[:12]}): {p['problem']}")
    if trace["documents"]:
        lines.append("documents:")
        lines += [f"  sha256 {d['sha256']} file {d.get('file', '-')}" for d in trace["documents"]]
    if trace["lists"]:
        lines.append("lists:")
        lines += [f"  {x['list_source']} version {x['list_version']} entry {x['list_entity_id']} "
                  f"(entry hash {(x.get('entry_hash') or '-')[:12]})" for x in trace["lists"]]
    if trace["models"]:
        lines.append("models:")
        lines += [f"  {m['model_version']} on {partition_ranges(m['partitions']) or '-'}" for m in trace["models"]]
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
