"""Exact lineage of one evidence item: the Dagster materializations that produced it, and nothing else.

Dagster records on every materialization, for each parent asset, ``dagster/input_event_pointer/<parent>``:
the storage id of the parent's newest materialization (of *any* partition) when the step started. For an
unpartitioned parent that is exactly the materialization read. For a partitioned parent it is only a
cursor: the partitions read are those the asset graph's partition mapping assigns to the child's
partition, and for each of them the materialization read is the newest one at or before the cursor.
Following the pointer itself would name whichever partition happened to be written last (another
customer's document, an unrelated day), which is the bug this module exists to avoid.

Two narrowings keep the lineage to the evidence rather than to everything an asset read:

- an unpartitioned asset reading *all* partitions of a parent (``customers`` reads every document) is
  followed only into the partitions the evidence names (the customer's document sha256s); with none
  named (the anomaly model's training days) the walk stops there and says so;
- a parent whose materialization metadata records a ``list_source`` (one asset per sanctions list) is
  kept only when it is the list the evidence's hit came from.

Escalation runs :func:`evidence_lineage` when it records new evidence (the graph and the instance are at
hand there, and the lineage is frozen as it was); ``kyc trace`` fetches the recorded storage ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INPUT_POINTER = "dagster/input_event_pointer/"
NULL_POINTER = "NULL"
MAX_NODES = 5_000  # a bound on one walk (an evidence item needs a few dozen)


@dataclass(frozen=True)
class Scope:
    """What the evidence names: the partitions (document sha256s) and list sources it came from."""

    partitions: frozenset[str] = frozenset()
    list_sources: frozenset[str] = frozenset()


@dataclass
class Lineage:
    """Storage ids by asset key (the root included), and what the walk could not follow."""

    root: int
    storage_ids: dict[str, list[int]] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)

    def as_reference(self) -> dict:
        return {"storage_id": self.root, "lineage": {k: sorted(v) for k, v in sorted(self.storage_ids.items())},
                **({"lineage_unresolved": sorted(set(self.unresolved))} if self.unresolved else {})}


def _key(record) -> str:
    return record.asset_materialization.asset_key.to_user_string()


def pointers(record) -> dict[str, int | None]:
    """Parent asset key -> the input event pointer recorded on a materialization (None for NULL)."""
    tags = record.asset_materialization.tags or {}
    return {k.removeprefix(INPUT_POINTER): (None if v == NULL_POINTER else int(v))
            for k, v in tags.items() if k.startswith(INPUT_POINTER)}


def materialization_by_id(instance, asset_key: str, storage_id: int):
    import dagster as dg

    records = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey.from_user_string(asset_key), storage_ids=[storage_id]), limit=1).records
    return records[0] if records else None


def materializations_by_ids(instance, asset_key: str, storage_ids: list[int]) -> list:
    import dagster as dg

    if not storage_ids:
        return []
    return list(instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey.from_user_string(asset_key), storage_ids=list(storage_ids)),
        limit=len(storage_ids)).records)


def materialization_of_run(instance, asset_key: str, run_id: str, partition: str | None = None):
    """The materialization of ``asset_key`` (and ``partition``) written by run ``run_id``, or None.
    Never another run's: a reference to a run that is gone is reported, not replaced by the newest.

    Searched in the asset's index within the run's time span (not with ``get_records_for_run``: on the
    default SQLite instance a run's own event log numbers its events differently from the asset index
    that input pointers and ``storage_ids`` filters use)."""
    import time

    import dagster as dg

    run = instance.get_run_record_by_id(run_id)
    if run is None:
        return None
    started = run.start_time or run.create_timestamp.timestamp()
    ended = run.end_time or time.time()
    records_filter = dg.AssetRecordsFilter(
        asset_key=dg.AssetKey.from_user_string(asset_key), asset_partitions=[partition] if partition else None,
        after_timestamp=started - 1, before_timestamp=ended + 1)
    cursor = None
    while True:
        result = instance.fetch_materializations(records_filter, limit=1000, cursor=cursor)
        found = next((r for r in result.records if r.run_id == run_id), None)
        if found is not None or not result.has_more:
            return found  # newest first: the run's last write, should a step have written the key twice
        cursor = result.cursor


def latest_at_or_before(instance, asset_key: str, partition: str | None, cursor: int | None):
    """The newest materialization of ``asset_key[partition]`` with storage id <= ``cursor`` (all when None)."""
    import dagster as dg

    records = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey.from_user_string(asset_key), asset_partitions=[partition] if partition else None,
        before_storage_id=cursor + 1 if cursor is not None else None), limit=1).records
    return records[0] if records else None


def latest_per_partition(instance, asset_key: str, partitions: list[str], cursor: int) -> dict[str, object]:
    """For each partition, its newest materialization with storage id <= ``cursor``, in few queries (the
    records come newest first; pages are read until every partition is found or none is left)."""
    import dagster as dg

    found: dict[str, object] = {}
    wanted = set(partitions)
    records_filter = dg.AssetRecordsFilter(asset_key=dg.AssetKey.from_user_string(asset_key),
                                           asset_partitions=sorted(wanted), before_storage_id=cursor + 1)
    page_cursor = None
    while wanted - set(found):
        result = instance.fetch_materializations(records_filter, limit=max(100, 4 * len(wanted)), cursor=page_cursor)
        for record in result.records:
            found.setdefault(record.asset_materialization.partition, record)
        if not result.has_more:
            break
        page_cursor = result.cursor
    return found


class _Walker:
    """Caches parent lookups across the evidence items of one escalation (they share most nodes)."""

    def __init__(self, instance, asset_graph):
        self.instance = instance
        self.graph = asset_graph
        self._parents: dict[tuple[int, str, Scope], tuple[list, str | None]] = {}
        self._by_id: dict[tuple[str, int], object] = {}
        self._latest: dict[tuple[str, int], dict[str, object]] = {}  # (asset, cursor) -> partition -> record

    def _pointed(self, asset_key: str, storage_id: int):
        if (asset_key, storage_id) not in self._by_id:
            self._by_id[(asset_key, storage_id)] = materialization_by_id(self.instance, asset_key, storage_id)
        return self._by_id[(asset_key, storage_id)]

    def _latest_at(self, asset_key: str, partitions: list[str], cursor: int) -> list:
        known = self._latest.setdefault((asset_key, cursor), {})
        missing = [p for p in partitions if p not in known]
        if missing:
            found = latest_per_partition(self.instance, asset_key, missing, cursor)
            known.update({p: found.get(p) for p in missing})
        return [known[p] for p in partitions if known[p] is not None]

    def _partitions_def(self, asset_key: str):
        import dagster as dg

        key = dg.AssetKey.from_user_string(asset_key)
        if self.graph is None or not self.graph.has(key):
            return None, False
        return self.graph.get(key).partitions_def, True

    def parents(self, record, parent_key: str, cursor: int | None, scope: Scope) -> tuple[list, str | None]:
        """The materializations of ``parent_key`` that the step writing ``record`` read, narrowed to the
        scope; and a note when they cannot be determined exactly."""
        memo = (record.storage_id, parent_key, scope)
        if memo not in self._parents:
            self._parents[memo] = self._resolve(record, parent_key, cursor, scope)
        return self._parents[memo]

    def _resolve(self, record, parent_key: str, cursor: int | None, scope: Scope) -> tuple[list, str | None]:
        import dagster as dg

        if cursor is None:
            return [], None  # the parent had never been materialized when the step ran
        parent_def, known = self._partitions_def(parent_key)
        child_key = _key(record)
        if not known:
            # No graph (or an asset no longer in it): an unpartitioned pointer is still exact.
            pointed = self._pointed(parent_key, cursor)
            if pointed is None:
                return [], f"{parent_key}: pointed materialization {cursor} not found"
            if pointed.asset_materialization.partition is not None:
                return [], f"{parent_key}: partitions read by {child_key} unknown (asset not in the graph)"
            return self._by_list_source([pointed], scope), None
        if parent_def is None:
            pointed = self._pointed(parent_key, cursor)
            return (self._by_list_source([pointed], scope), None) if pointed is not None else \
                ([], f"{parent_key}: pointed materialization {cursor} not found")
        child_partition = record.asset_materialization.partition
        if child_partition is None:
            # An unpartitioned child reads every partition: follow only those the evidence names.
            with dg.partition_loading_context(dynamic_partitions_store=self.instance):
                keys = sorted(p for p in scope.partitions if parent_def.has_partition_key(p))
            if not keys:
                return [], None
        else:
            with dg.partition_loading_context(dynamic_partitions_store=self.instance):
                result = self.graph.get_parent_partition_keys_for_child(
                    child_partition, dg.AssetKey.from_user_string(parent_key),
                    dg.AssetKey.from_user_string(child_key))
                keys = sorted(result.partitions_subset.get_partition_keys())
        return self._latest_at(parent_key, keys, cursor), None

    @staticmethod
    def _by_list_source(records: list, scope: Scope) -> list:
        if not scope.list_sources:
            return records
        out = []
        for r in records:
            source = r.asset_materialization.metadata.get("list_source")
            if source is None or str(getattr(source, "value", source)) in scope.list_sources:
                out.append(r)
        return out

    def walk(self, root, scope: Scope, *, stop_at: frozenset[str] = frozenset()) -> Lineage:
        lineage = Lineage(root=root.storage_id)
        seen = {root.storage_id}
        queue = [root]
        while queue and len(seen) < MAX_NODES:
            record = queue.pop(0)
            lineage.storage_ids.setdefault(_key(record), []).append(record.storage_id)
            if _key(record) in stop_at:
                continue
            for parent_key, cursor in sorted(pointers(record).items()):
                found, note = self.parents(record, parent_key, cursor, scope)
                if note:
                    lineage.unresolved.append(note)
                for parent in found:
                    if parent.storage_id not in seen:
                        seen.add(parent.storage_id)
                        queue.append(parent)
        return lineage


def walker(instance, asset_graph=None) -> _Walker:
    """A lineage walker over ``instance``; without ``asset_graph`` partitioned parents stay unresolved."""
    return _Walker(instance, asset_graph)


def evidence_scope(reference: dict) -> Scope:
    """The partitions and list sources an evidence reference names."""
    shas = reference.get("document_sha256s") or []
    return Scope(partitions=frozenset(str(s) for s in shas),
                 list_sources=frozenset([str(reference["list_source"])]) if reference.get("list_source") else
                 frozenset())
