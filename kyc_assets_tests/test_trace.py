"""Lineage (kyc trace) from a case back to the Dagster materializations, documents, lists, models and
decisions; and reproducibility: the same inputs give the same cases and evidence ids."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from kyc_assets.audit.trace import build_trace, render_trace
from kyc_assets.cases.assets import build_escalated_cases
from kyc_assets.cases.store import CaseStore
from kyc_assets.onboarding.store import DocumentStore
from kyc_assets.resources import CaseStoreResource, WarehouseIOManager

DOC_OK, DOC_BAD, DOC_ORPHAN = "1" * 64, "2" * 64, "3" * 64
ENTRY = "f" * 64


def _frames(run_id: str = "screen-run") -> dict[str, pd.DataFrame]:
    return {
        "customers": pd.DataFrame([
            {"customer_id": "C-1", "full_name": "Ivan Petrov", "date_of_birth": "1970-05-05",
             "document_number": "P123", "document_sha256s": f'["{DOC_OK}"]'},
            {"customer_id": "C-2", "full_name": "Ana Lima", "date_of_birth": "1990-01-01",
             "document_number": "P456", "document_sha256s": f'["{DOC_BAD}"]'}]),
        "screening_results": pd.DataFrame([
            {"customer_id": "C-1", "list_entity_id": "us_ofac_sdn:42", "list_source": "us_ofac_sdn",
             "list_version": "v7", "entry_hash": ENTRY, "hit_type": "sanctions", "score": 0.97, "decision": "match",
             "explanation": "name and DOB", "run_id": run_id, "suppressed": False},
            {"customer_id": "C-2", "list_entity_id": None, "list_source": None, "list_version": "v7",
             "entry_hash": None, "hit_type": None, "score": 0.0, "decision": "no_match", "explanation": "",
             "run_id": run_id, "suppressed": False}]),
        "anomaly_scores": pd.DataFrame([
            {"account_id": "ACC1", "as_of_date": pd.Timestamp("2026-03-02"), "risk_score": 0.85, "alert": True,
             "triggered_rules": "structuring", "reasons": "structuring", "run_id": "score-run",
             "model_version": "iforest-abc"}]),
        "extracted_entities": pd.DataFrame([
            {"document_sha256": DOC_OK, "status": "ok", "document_type": "passport", "mrz_valid": True,
             "expiry_date": "2031-01-01", "warnings": "[]", "method": "mrz"},
            {"document_sha256": DOC_BAD, "status": "ok", "document_type": "passport", "mrz_valid": False,
             "expiry_date": "2020-01-01", "warnings": '["visual zone surname does not match the MRZ"]',
             "method": "mrz"},
            {"document_sha256": DOC_ORPHAN, "status": "ok", "document_type": "id_card", "mrz_valid": True,
             "expiry_date": "2019-06-30", "warnings": "[]", "method": "mrz"}]),
    }


def _graph(frames: dict[str, pd.DataFrame]) -> list:
    @dg.asset(code_version="1")
    def extracted_entities() -> pd.DataFrame:
        return frames["extracted_entities"]

    @dg.asset(code_version="1")
    def customers(extracted_entities: pd.DataFrame) -> pd.DataFrame:
        return frames["customers"]

    @dg.asset(code_version="1")
    def screening_results(context, customers: pd.DataFrame) -> pd.DataFrame:
        return frames["screening_results"].assign(run_id=context.run_id)  # rows carry their run, as the real ones

    @dg.asset(code_version="1")
    def anomaly_scores(context) -> pd.DataFrame:
        return frames["anomaly_scores"].assign(run_id=context.run_id)

    return [extracted_entities, customers, screening_results, anomaly_scores,
            build_escalated_cases({1: 1, 2: 3, 3: 5, 4: 10})]


def _run(tmp_path, name: str, instance=None):
    url = f"sqlite:///{tmp_path / name}"
    instance = instance or dg.DagsterInstance.ephemeral()
    result = dg.materialize(_graph(_frames()), instance=instance,
                            resources={"case_store": CaseStoreResource(database_url=url)})
    assert result.success
    return CaseStore(url), instance, result


def _decision_inputs(store: CaseStore) -> dict:
    return {c["case_id"]: (c["subject_type"], c["subject_id"], c["priority"],
                           sorted(e["evidence_id"] for e in store.get_case(c["case_id"])["evidence"]))
            for c in store.list_cases()}


def test_escalation_turns_hits_alerts_and_document_failures_into_one_case_per_subject(tmp_path):
    store, _, result = _run(tmp_path, "a.sqlite")
    cases = {(c["subject_type"], c["subject_id"]): c for c in store.list_cases()}
    assert set(cases) == {("customer", "C-1"), ("customer", "C-2"), ("account", "ACC1"), ("document", DOC_ORPHAN)}
    c2 = store.get_case(cases[("customer", "C-2")]["case_id"])
    assert sorted(e["reference"]["failure"] for e in c2["evidence"]) == [
        "expired_document", "extraction_disagreement", "invalid_mrz"]
    assert c2["priority"] == 2  # invalid MRZ: risk 0.8
    screening = store.get_case(cases[("customer", "C-1")]["case_id"])["evidence"][0]["reference"]
    assert screening["data_version"] and screening["code_version"] == "1" and screening["list_version"] == "v7"
    meta = result.asset_materializations_for_node("escalated_cases")[0].metadata
    assert meta["opened"].value == 4 and meta["pii_stored"].value is False


def test_rematerializing_with_the_same_inputs_reproduces_the_same_decision_inputs(tmp_path):
    first, instance, _ = _run(tmp_path, "a.sqlite")
    before = _decision_inputs(first)
    # Same instance and store again: nothing new.
    _, _, again = _run(tmp_path, "a.sqlite", instance=instance)
    meta = again.asset_materializations_for_node("escalated_cases")[0].metadata
    assert (meta["opened"].value, meta["evidence_added"].value) == (0, 0)
    assert _decision_inputs(first) == before
    # A fresh store and instance fed the same inputs: the same cases with the same evidence ids.
    second, _, _ = _run(tmp_path, "b.sqlite")
    assert _decision_inputs(second) == before and len(before) == 4


def test_trace_walks_from_the_case_to_every_input(tmp_path):
    store, instance, result = _run(tmp_path, "a.sqlite")
    documents = DocumentStore(tmp_path / "documents")
    case_id = next(c["case_id"] for c in store.list_cases() if c["subject_id"] == "C-1")
    store.decide(case_id, decision="confirmed", reason="listed person", analyst="alice")
    store.approve(case_id, analyst="bob")
    trace = build_trace(store.get_case(case_id), instance=instance, document_store=documents)
    by_key = {m["asset_key"]: m for m in trace["materializations"]}
    # Exactly the screening hit's inputs: the account alert's anomaly_scores is not behind this case.
    assert set(by_key) == {"escalated_cases", "screening_results", "customers", "extracted_entities"}
    assert len(trace["materializations"]) == 4 and trace["lineage_problems"] == []
    for m in by_key.values():
        assert m["run_id"] == result.run_id and m["data_version"] and m["code_version"] and m["timestamp"]
    assert by_key["customers"]["via"] == "input of screening_results"
    assert by_key["screening_results"]["via"].startswith("evidence ")
    assert trace["escalation_runs"] == [result.run_id]
    assert trace["documents"][0]["sha256"] == DOC_OK and trace["documents"][0]["stored"] is False
    assert trace["lists"] == [{"list_source": "us_ofac_sdn", "list_version": "v7", "list_entity_id": "us_ofac_sdn:42",
                               "entry_hash": ENTRY, "hit_type": "sanctions", "explanation": "name and DOB"}]
    assert [(d["decision"], d["analyst"], d["approved_by"]) for d in trace["decisions"]] == [
        ("confirmed", "alice", "bob")]
    text = render_trace(trace)
    assert "screening_results run" in text and "confirmed by alice" in text and "Ivan" not in text


def test_trace_without_a_dagster_instance_lists_the_recorded_references(tmp_path):
    store, _, _ = _run(tmp_path, "a.sqlite")
    case_id = next(c["case_id"] for c in store.list_cases() if c["subject_type"] == "account")
    trace = build_trace(store.get_case(case_id))
    assert trace["materializations"] == [] and trace["materializations_included"] is False
    assert trace["dagster_instance"] is None
    assert "materializations: not included" in render_trace(trace)
    assert trace["models"] == [{"model_version": "iforest-abc", "partitions": ["2026-03-02"]}]


# -- The lineage is exact: a world of several documents and days, materialized run by run ---------------------
# The graph has the real graph's shape: per-document partitions (raw_documents -> document_text ->
# extracted_entities), customers reading every document, one asset per list and their union, daily
# transactions read through a rolling window, a drift window for scores, an unpartitioned model, and the
# real escalation asset, on the real DuckDB IO manager. Runs interleave, so "the newest materialization"
# is wrong for almost every input, which is what a trace built from pointers or recency got wrong.

DOCS = {"a" * 64: ("C-A", "Ivan Petrov", True), "b" * 64: ("C-B", "Ana Lima", False), "c" * 64: ("C-C", "Olga Orlova", True)}
LISTED = {"C-A": ("us_ofac_sdn", "us_ofac_sdn:1"), "C-C": ("un_sc", "un_sc:7")}
LIST_VERSION = {"us_ofac_sdn": "v-ofac-1", "un_sc": "v-un-1"}
ALERTS = {"ACC1": ["2026-03-03", "2026-03-05"], "ACC2": ["2026-03-07"]}
WINDOW = 3  # transaction_features reads this many days of transactions


def _world_assets():
    docs = dg.DynamicPartitionsDefinition(name="documents")
    days = dg.DailyPartitionsDefinition(start_date="2026-03-01", end_date="2026-03-10")
    per_doc = {"partitions_def": docs, "metadata": {"partition_expr": "document_sha256"}}

    @dg.asset(code_version="1", **per_doc)
    def raw_documents(context) -> pd.DataFrame:
        return pd.DataFrame({"document_sha256": [context.partition_key], "size_bytes": [100]})

    @dg.asset(code_version="1", **per_doc)
    def document_text(context, raw_documents: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"document_sha256": [context.partition_key], "text": ["P<..."]})

    @dg.asset(code_version="1", **per_doc)
    def extracted_entities(context, document_text: pd.DataFrame) -> pd.DataFrame:
        sha = context.partition_key
        return pd.DataFrame([{"document_sha256": sha, "status": "ok", "document_type": "passport",
                              "mrz_valid": DOCS[sha][2], "expiry_date": "2031-01-01", "warnings": "[]",
                              "method": "mrz"}])

    @dg.asset(code_version="1")
    def customers(extracted_entities: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame([{"customer_id": DOCS[sha][0], "full_name": DOCS[sha][1], "date_of_birth": "1970-01-01",
                              "document_number": "X1", "document_sha256s": f'["{sha}"]'}
                             for sha in sorted(extracted_entities["document_sha256"])])

    def list_asset(source: str):
        @dg.asset(name=f"watchlist_{source}", code_version="1")
        def _list() -> dg.Output:
            df = pd.DataFrame({"entity_id": [f"{source}:1", f"{source}:7"],
                               "list_version": LIST_VERSION[source]})
            return dg.Output(df, data_version=dg.DataVersion(LIST_VERSION[source]),
                             metadata={"list_source": source, "list_version": LIST_VERSION[source]})
        return _list

    @dg.asset(code_version="1", ins={"watchlist_us_ofac_sdn": dg.AssetIn(), "watchlist_un_sc": dg.AssetIn()})
    def watchlist_entries(watchlist_us_ofac_sdn: pd.DataFrame, watchlist_un_sc: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([watchlist_us_ofac_sdn, watchlist_un_sc], ignore_index=True)

    @dg.asset(code_version="1")
    def screening_results(context, customers: pd.DataFrame, watchlist_entries: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for cid in customers["customer_id"]:
            source, entity = LISTED.get(cid, ("us_ofac_sdn", None))
            rows.append({"customer_id": cid, "list_entity_id": entity, "list_source": source,
                         "list_version": LIST_VERSION[source], "entry_hash": ENTRY if entity else None,
                         "hit_type": "sanctions" if entity else None, "score": 0.97 if entity else 0.0,
                         "decision": "match" if entity else "no_match", "explanation": "name and DOB",
                         "run_id": context.run_id, "suppressed": False})
        return pd.DataFrame(rows)

    @dg.asset(code_version="1", partitions_def=days, metadata={"partition_expr": "timestamp"})
    def transactions(context) -> pd.DataFrame:
        day = pd.Timestamp(context.partition_key)
        return pd.DataFrame({"timestamp": [day, day], "account_id": ["ACC1", "ACC2"], "amount": [9500.0, 120.0]})

    window = dg.TimeWindowPartitionMapping(start_offset=-(WINDOW - 1), end_offset=0,
                                           allow_nonexistent_upstream_partitions=True)

    @dg.asset(code_version="1", partitions_def=days, metadata={"partition_expr": "as_of_date"},
              ins={"transactions": dg.AssetIn(partition_mapping=window)})
    def transaction_features(context, transactions: pd.DataFrame) -> pd.DataFrame:
        day = pd.Timestamp(context.partition_key)
        return pd.DataFrame({"as_of_date": [day, day], "account_id": ["ACC1", "ACC2"],
                             "amount_sum": [float(transactions["amount"].sum())] * 2})

    @dg.asset(code_version="1", deps=[transaction_features])
    def anomaly_model() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"model_version": "iforest-1"})

    drift = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=0, allow_nonexistent_upstream_partitions=True)

    @dg.asset(code_version="2", partitions_def=days, metadata={"partition_expr": "as_of_date"}, deps=[anomaly_model],
              ins={"transaction_features": dg.AssetIn(partition_mapping=drift)})
    def anomaly_scores(context, transaction_features: pd.DataFrame) -> pd.DataFrame:
        day = context.partition_key
        rows = [{"account_id": acc, "as_of_date": pd.Timestamp(day), "risk_score": 0.95 if day in alerted else 0.1,
                 "alert": day in alerted, "triggered_rules": "structuring" if day in alerted else "",
                 "reasons": "structuring" if day in alerted else "", "run_id": context.run_id,
                 "model_version": "iforest-1"} for acc, alerted in sorted(ALERTS.items())]
        return pd.DataFrame(rows)

    assets = [raw_documents, document_text, extracted_entities, customers, list_asset("us_ofac_sdn"),
              list_asset("un_sc"), watchlist_entries, screening_results, transactions, transaction_features,
              anomaly_model, anomaly_scores]
    return [*assets, build_escalated_cases({1: 1, 2: 3, 3: 5, 4: 10}, lineage_assets=assets)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Documents A and B, lists, screening, days 1-5 and an escalation; then document C, days 6-9, a
    second screening and escalation; then document A and day 3 again (newer than what the cases used)."""
    tmp_path = tmp_path_factory.mktemp("world")
    assets = _world_assets()
    # A SQLite instance on disk, as `make demo` uses (its run shards number events differently from the index).
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    url = f"sqlite:///{tmp_path / 'cases.sqlite'}"
    resources = {"case_store": CaseStoreResource(database_url=url),
                 "io_manager": WarehouseIOManager(root_uri=str(tmp_path / "warehouse"))}
    runs: dict[tuple[str, str | None], list[str]] = {}

    def run(names: list[str], partition: str | None = None) -> str:
        result = dg.materialize(assets, selection=names, partition_key=partition, instance=instance,
                                resources=resources)
        assert result.success
        for name in names:
            runs.setdefault((name, partition), []).append(result.run_id)
        return result.run_id

    def document(sha: str) -> None:
        instance.add_dynamic_partitions("documents", [sha])
        run(["raw_documents", "document_text", "extracted_entities"], sha)

    doc_a, doc_b, doc_c = DOCS
    document(doc_a)
    document(doc_b)
    run(["watchlist_us_ofac_sdn", "watchlist_un_sc", "watchlist_entries"])
    run(["customers", "screening_results"])
    for d in range(1, 6):
        run(["transactions", "transaction_features"] + (["anomaly_scores"] if d > 1 else []), f"2026-03-0{d}")
        if d == 1:
            run(["anomaly_model"])
    run(["escalated_cases"])
    document(doc_c)
    for d in range(6, 10):
        run(["transactions", "transaction_features", "anomaly_scores"], f"2026-03-0{d}")
    run(["customers", "screening_results"])
    run(["escalated_cases"])
    document(doc_a)  # re-read later: the cases used the first reading
    run(["transactions", "transaction_features", "anomaly_scores"], "2026-03-03")
    return {"store": CaseStore(url), "instance": instance, "runs": runs}


def _expected_reads(instance, child, parent: str, partitions: list[str]) -> set[int]:
    """For a child materialization: the storage ids of ``parent`` it read, from its pointer and the partitions."""
    cursor = int(child.asset_materialization.tags[f"dagster/input_event_pointer/{parent}"])
    out = set()
    for p in partitions or [None]:
        records = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(parent), asset_partitions=[p] if p else None, before_storage_id=cursor + 1),
            limit=1).records
        out.update(r.storage_id for r in records)
    return out


def _record(instance, storage_id: int, asset: str):
    return instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset),
                                                                 storage_ids=[storage_id]), limit=1).records[0]


def test_trace_lists_exactly_the_materializations_behind_each_case(world):
    from datetime import date, timedelta

    store, instance, runs = world["store"], world["instance"], world["runs"]
    cases = {c["subject_id"]: store.get_case(c["case_id"]) for c in store.list_cases()}
    assert set(cases) == {"C-A", "C-B", "C-C", "ACC1", "ACC2"}
    escalations = set(runs[("escalated_cases", None)])
    for subject, case in cases.items():
        trace = build_trace(case, instance=instance)
        assert trace["lineage_problems"] == []
        got = {m["storage_id"]: m for m in trace["materializations"]}
        expected: dict[int, str] = {}  # storage id -> asset, derived independently from the evidence rows
        for e in case["evidence"]:
            ref = e["reference"]
            root = _record(instance, ref["storage_id"], ref["asset_key"])
            assert root.run_id == ref["run_id"] and root.asset_materialization.partition == ref.get("partition")
            assert root.asset_materialization.tags["dagster/data_version"] == ref["data_version"]
            expected[root.storage_id] = ref["asset_key"]
            if e["kind"] == "screening_hit":
                assert ref["run_id"] in runs[("screening_results", None)]
                (customers_id,) = _expected_reads(instance, root, "customers", [])
                (entries_id,) = _expected_reads(instance, root, "watchlist_entries", [])
                entries = _record(instance, entries_id, "watchlist_entries")
                (list_id,) = _expected_reads(instance, entries, f"watchlist_{ref['list_source']}", [])
                expected.update({customers_id: "customers", entries_id: "watchlist_entries",
                                 list_id: f"watchlist_{ref['list_source']}"})
                child, shas = _record(instance, customers_id, "customers"), ref["document_sha256s"]
            elif e["kind"] == "document_failure":
                child, shas = root, None
            if e["kind"] in ("screening_hit", "document_failure"):
                for asset, parent in (("extracted_entities", "document_text"), ("document_text", "raw_documents")):
                    if shas is not None:
                        (read,) = _expected_reads(instance, child, asset, shas)
                        expected[read] = asset
                        child = _record(instance, read, asset)
                    (read,) = _expected_reads(instance, child, parent, [child.asset_materialization.partition])
                    expected[read] = parent
                    child, shas = _record(instance, read, parent), None
                assert child.asset_materialization.partition in (ref.get("document_sha256s") or [ref["partition"]])
            else:
                day = date.fromisoformat(ref["partition"])
                assert ref["run_id"] in runs[("anomaly_scores", ref["partition"])]
                expected.update(dict.fromkeys(_expected_reads(instance, root, "anomaly_model", []), "anomaly_model"))
                features = [(day - timedelta(days=k)).isoformat() for k in (1, 0)]
                for fid in _expected_reads(instance, root, "transaction_features",
                                           [f for f in features if f >= "2026-03-01"]):
                    expected[fid] = "transaction_features"
                    feature = _record(instance, fid, "transaction_features")
                    fday = date.fromisoformat(feature.asset_materialization.partition)
                    window = [(fday - timedelta(days=k)).isoformat() for k in range(WINDOW)]
                    expected.update(dict.fromkeys(_expected_reads(
                        instance, feature, "transactions", [w for w in window if w >= "2026-03-01"]), "transactions"))
        escalation_ids = {sid for sid, m in got.items() if m["asset_key"] == "escalated_cases"}
        assert {got[s]["run_id"] for s in escalation_ids} <= escalations and escalation_ids
        assert {s: m["asset_key"] for s, m in got.items() if s not in escalation_ids} == expected, subject
        # Nothing from another capability, another document or another list.
        keys = {m["asset_key"] for m in got.values()}
        partitions = {m["partition"] for m in got.values() if m["partition"]}
        if subject.startswith("ACC"):
            assert keys == {"anomaly_scores", "transaction_features", "transactions", "anomaly_model",
                            "escalated_cases"}
            alert_days = {e["reference"]["partition"] for e in case["evidence"]}
            assert alert_days == set(ALERTS[subject])
            assert {m["partition"] for m in got.values() if m["asset_key"] == "anomaly_scores"} == alert_days
            assert max(partitions) == max(alert_days)
        else:
            sha = next(s for s, (cid, _, _) in DOCS.items() if cid == subject)
            assert partitions == {sha}
            assert not keys & {"transactions", "transaction_features", "anomaly_scores", "anomaly_model"}
            if subject in LISTED:
                other = {"us_ofac_sdn": "un_sc", "un_sc": "us_ofac_sdn"}[LISTED[subject][0]]
                assert f"watchlist_{LISTED[subject][0]}" in keys and f"watchlist_{other}" not in keys
            else:  # a document failure only: no screening in its lineage
                assert keys == {"extracted_entities", "document_text", "raw_documents", "escalated_cases"}
    # The re-reading of document A and of day 3 came after the cases: the traces name the first ones.
    first_a = runs[("extracted_entities", next(iter(DOCS)))][0]
    assert {m["run_id"] for m in build_trace(cases["C-A"], instance=instance)["materializations"]
            if m["asset_key"] == "extracted_entities"} == {first_a}
    day3 = [m["run_id"] for m in build_trace(cases["ACC1"], instance=instance)["materializations"]
            if m["asset_key"] == "anomaly_scores" and m["partition"] == "2026-03-03"]
    assert day3 == [runs[("anomaly_scores", "2026-03-03")][0]]


def test_an_account_trace_is_grouped_by_asset_and_day_with_each_data_version_once(world):
    store, instance = world["store"], world["instance"]
    case_id = next(c["case_id"] for c in store.list_cases() if c["subject_id"] == "ACC1")
    trace = build_trace(store.get_case(case_id), instance=instance)
    text = render_trace(trace)
    section = text.split("materializations (", 1)[1].split("\ndocuments:", 1)[0].split("\nmodels:", 1)[0]
    lines = section.splitlines()[1:]
    assert len(lines) == len(set(lines)) == len(trace["materialization_groups"])
    for m in trace["materializations"]:  # every data version printed once in the whole trace
        assert text.count(m["data_version"]) == 1, m["data_version"]
    # Groups cover every materialization exactly once; inside an asset, days in order.
    covered = sorted(s for g in trace["materialization_groups"] for s in g["storage_ids"])
    assert covered == sorted(m["storage_id"] for m in trace["materializations"])
    for asset in {g["asset_key"] for g in trace["materialization_groups"]}:
        days = [p for g in trace["materialization_groups"] if g["asset_key"] == asset for p in g["partitions"]]
        assert days == sorted(days), asset
    # Reading order: the escalation, the evidence, then its inputs.
    order = list(dict.fromkeys(g["asset_key"] for g in trace["materialization_groups"]))
    assert order[:2] == ["escalated_cases", "anomaly_scores"] and order.index("transactions") > order.index(
        "transaction_features")
    # The evidence: one line per group of alerts, the alert days as ranges.
    evidence_lines = text.split("evidence (", 1)[1].split("\nmaterializations", 1)[0].splitlines()[1:]
    assert len(evidence_lines) == len(trace["evidence_groups"]) <= len(ALERTS["ACC1"])
    assert sorted(p for g in trace["evidence_groups"] for p in g["partitions"]) == ALERTS["ACC1"]
    # --json keeps every field it had, and adds the groups.
    for key in ("evidence", "materializations", "documents", "lists", "models", "escalation_runs", "decisions",
                "report", "dagster_instance", "evidence_groups", "materialization_groups", "lineage_problems"):
        assert key in trace
    assert {"asset_key", "partition", "run_id", "data_version", "code_version", "timestamp", "storage_id", "inputs",
            "via"} <= set(trace["materializations"][0])


def test_partition_ranges_join_consecutive_days_only():
    from kyc_assets.audit.trace import partition_ranges

    assert partition_ranges(["2026-03-03", "2026-03-01", "2026-03-02", "2026-03-05"]) == \
        "2026-03-01..2026-03-03, 2026-03-05"
    assert partition_ranges(["b" * 4, "a" * 4]) == "aaaa, bbbb" and partition_ranges([]) == ""


def test_evidence_escalated_before_lineage_was_recorded_is_traced_exactly_or_flagged(world):
    """An older case has no ``lineage`` on its evidence: the trace starts from the row's own run, follows the
    exact (unpartitioned) inputs, and names what it cannot know instead of guessing by recency."""
    store, instance, runs = world["store"], world["instance"], world["runs"]
    case = store.get_case(next(c["case_id"] for c in store.list_cases() if c["subject_id"] == "C-A"))
    recorded = {m["storage_id"]: m for m in build_trace(case, instance=instance)["materializations"]}
    for e in case["evidence"]:
        for key in ("lineage", "storage_id", "lineage_unresolved"):
            e["reference"].pop(key, None)
    trace = build_trace(case, instance=instance)
    got = {m["storage_id"]: m for m in trace["materializations"]}
    assert {m["asset_key"] for m in got.values()} == {
        "escalated_cases", "screening_results", "customers", "watchlist_entries", "watchlist_us_ofac_sdn"}
    assert set(got) <= set(recorded)  # the same materializations, as far as they can be known
    assert [p["problem"] for p in trace["lineage_problems"]] == [
        "extracted_entities: partitions read by customers unknown (asset not in the graph)"]
    assert "NOT FOUND" in render_trace(trace)
    # A reference to a run the instance does not know is reported, never replaced by the newest run's.
    case["evidence"][0]["reference"]["run_id"] = "no-such-run"
    problems = build_trace(case, instance=instance)["lineage_problems"]
    assert problems[0]["problem"] == "no materialization of screening_results in run no-such-run"
    assert runs[("screening_results", None)]
