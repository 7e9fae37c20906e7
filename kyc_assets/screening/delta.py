"""Screening a whole customer base against the current list versions, re-scoring only what changed.

Plain Python (pandas, DuckDB), no Dagster. The unit of work is a (customer, list entry) pair, and
its result depends only on the customer's screening inputs (name, date of birth, nationality),
the entry's *content* and the matching logic. So:

* every list entry gets a content hash over the fields screening and analysts look at
  (``entry_content_hash``); list-level metadata (the list version, FtM ``last_seen`` stamps) is
  left out, so republishing an unchanged entry in a new list version does not change it;
* every customer gets a hash of its screening inputs (``customer_screening_hash``);
* the previous run's entry hashes are kept in a small state table next to the results
  (``kyc.screening_entry_state``), validated against the previous materialization before use.

On a new list version, the *delta* is the set of entries whose (list, id, content hash) was not
screened last time (added or changed). A customer whose inputs did not change keeps its previous
hits on unchanged entries; it is screened against the delta with a cheap index over the delta
alone at a lowered threshold (``PREFILTER_THRESHOLD``), and only when that finds something is the
customer re-screened in full against the whole list, so the reported scores always come from the
same full-corpus scorer. New or changed customers, a first run, a changed matcher, an invalid
state or a delta larger than ``MAX_DELTA_SHARE`` of the list all mean a full screen: the fallback
is always the full, correct computation.

Accepted approximation: token rarity weights depend on the whole list, so a carried-over score
on an unchanged entry may differ slightly from what a full re-screen against the new list would
give (the hit itself is kept; the prefilter margin of 0.2 below the threshold covers the delta).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

SCREENING_COLUMNS = ["customer_id", "customer_hash", "list_entity_id", "list_source", "list_version", "entry_hash",
                     "hit_type", "matched_name", "score", "decision", "explanation", "suppressed", "run_id"]
HIT_TYPES = ("sanctions", "pep")
#: Hits kept per customer and screening source (the matcher's own default is 10).
HIT_LIMIT = 25
#: Threshold of the delta-only prefilter; customers scoring at least this against a new or
#: changed entry are re-screened in full.
PREFILTER_THRESHOLD = 0.60
#: A delta larger than this share of the list is screened in full for everyone.
MAX_DELTA_SHARE = 0.5
#: Bump when the row semantics of this module change: invalidates carried-over results.
DELTA_LOGIC_VERSION = "1"
#: The fields of an entry that define its content (what the matcher and the analyst see).
ENTRY_CONTENT_FIELDS = ("entity_id", "list_source", "entity_type", "primary_name", "aliases", "dates_of_birth",
                        "nationalities", "places_of_birth", "identifiers", "addresses", "programs", "remarks",
                        "original_script_names", "topics", "is_pep", "listed_on")
LIST_COLUMNS = ("aliases", "dates_of_birth", "nationalities", "places_of_birth", "identifiers", "addresses",
                "programs", "original_script_names", "topics")
PEP_TOPICS = ("role.pep", "role.rca")
STATE_TABLE = "screening_entry_state"
RESULTS_TABLE = "screening_results"


def _clean(value: object) -> object:
    """A JSON-stable form of a cell: JSON text parsed, NaN/None -> None, numpy scalars -> Python."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{":
            try:
                return json.loads(text)
            except ValueError:
                return value
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return [_clean(v) for v in value]
    return value


def entry_content_hash(record: dict) -> str:
    """sha256 (hex) of an entry's content fields; absent fields (e.g. no ``topics``) do not count."""
    content = {k: _clean(record[k]) for k in ENTRY_CONTENT_FIELDS if k in record and _clean(record[k]) is not None}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


def customer_screening_hash(name: object, date_of_birth: object, nationality: object) -> str:
    """sha256 (hex) of a customer's screening inputs; a change means the customer is screened in full."""
    parts = [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
             for v in (name, date_of_birth, nationality)]
    return hashlib.sha256(json.dumps(["customer-v1", *parts]).encode()).hexdigest()


def _topics(value: object) -> list[str]:
    value = _clean(value)
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    return [str(t) for t in value] if isinstance(value, list) else []


def _truthy(value: object) -> bool:
    value = _clean(value)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "t")
    return bool(value) if value is not None else False


def entry_hit_type(record: dict) -> str:
    """'pep' for a politically exposed person (or close associate) who is not also sanctioned, else
    'sanctions'. Reads an ``is_pep`` flag, FtM ``topics`` ('role.pep', 'role.rca', 'sanction') or a
    ``list_type`` column when the watchlist provides them; tolerates their absence."""
    topics = _topics(record.get("topics"))
    if any(t.startswith("sanction") for t in topics):
        return "sanctions"
    if _truthy(record.get("is_pep")) or any(t == p or t.startswith(p + ".") for t in topics for p in PEP_TOPICS) \
            or str(record.get("list_type") or "").lower() == "pep":
        return "pep"
    return "sanctions"


def with_entry_hashes(entries: pd.DataFrame) -> pd.DataFrame:
    """The watchlist_entries table with ``entry_hash`` and ``hit_type`` columns (computed here)."""
    out = entries.copy()
    records = out.to_dict("records")
    out["entry_hash"] = [entry_content_hash(r) for r in records]
    out["hit_type"] = [entry_hit_type(r) for r in records]
    return out


def entries_from_frame(df: pd.DataFrame) -> list:
    """Rebuild WatchlistEntry objects from the watchlist_entries table (list columns are JSON text)."""
    from kyc_assets.watchlists.model import WatchlistEntry

    entries = []
    for record in df.to_dict("records"):  # from_record reads the fields it knows and ignores the rest
        record = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
        for column in LIST_COLUMNS:
            if column in record:
                value = _clean(record[column])
                record[column] = value if isinstance(value, list) else []
        entries.append(WatchlistEntry.from_record(record))
    return entries


def entry_keys(entries: pd.DataFrame) -> set[tuple[str, str, str]]:
    """(list_source, entity_id, entry_hash) of every entry: what a screening run covered."""
    return set(zip(entries["list_source"].astype(str), entries["entity_id"].astype(str), entries["entry_hash"],
                   strict=True))


def state_hash(keys: Iterable[tuple[str, str, str]], logic_version: str) -> str:
    """Fingerprint of a screening state (entries covered plus the matching logic)."""
    digest = hashlib.sha256(logic_version.encode())
    for key in sorted(keys):
        digest.update("\0".join(key).encode() + b"\n")
    return digest.hexdigest()


#: Modules of the screening package that do not affect scores (everything else does).
_NOT_SCORING = {"__init__.py", "assets.py", "suppressions.py", "providers.py", "evaluation.py"}


def matching_logic_version() -> str:
    """Hash of the scoring code (every module of the screening package that can affect a score, and
    the country table the matcher uses) plus this module's parameters: a changed matcher (new
    scoring, new thresholds) invalidates every carried-over result."""
    from kyc_assets.watchlists import countries

    digest = hashlib.sha256(f"{DELTA_LOGIC_VERSION}:{HIT_LIMIT}:{PREFILTER_THRESHOLD}".encode())
    here = Path(__file__).parent
    for path in [*sorted(p for p in here.glob("*.py") if p.name not in _NOT_SCORING), Path(countries.__file__)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class PreviousScreening:
    """The last committed screening run: its rows and the entries it covered."""

    results: pd.DataFrame
    entry_keys: set[tuple[str, str, str]]


@dataclass
class ScreeningStats:
    """Counts for materialization metadata (no names, no ids)."""

    entries: int = 0
    delta_entries: int = 0
    customers_full: int = 0
    customers_carried: int = 0
    customers_rescreened: int = 0
    customers_without_name: int = 0
    provider_calls: int = 0
    provider_carried: int = 0
    mode: str = "full"
    index: str = ""  # how the full index was obtained: 'loaded', 'built (saved)', 'disabled' ('' = not needed)
    reasons: list[str] = field(default_factory=list)


def _row(customer_id: str, customer_hash: str, run_id: str, **values) -> dict:
    return {"customer_id": customer_id, "customer_hash": customer_hash, "list_entity_id": None, "list_source": None,
            "list_version": None, "entry_hash": None, "hit_type": None, "matched_name": None, "score": 0.0,
            "decision": "no_match", "explanation": "", "suppressed": False, "run_id": run_id, **values}


class _Lists:
    """Current list entries indexed for screening, built lazily (a full index only when needed)."""

    def __init__(self, entries: pd.DataFrame, index_dir: Path | None = None):
        self.frame = entries
        self.index_dir = index_dir
        self.index_status = ""
        self.meta = {eid: (src, ver, h, t) for eid, src, ver, h, t in zip(
            entries["entity_id"].astype(str), entries["list_source"].astype(str), entries["list_version"].astype(str),
            entries["entry_hash"], entries["hit_type"], strict=True)}
        self.versions = dict(zip(entries["list_version"].astype(str), entries["list_source"].astype(str),
                                 strict=True))
        self._full = None

    def full(self):
        if self._full is None:
            from kyc_assets.screening.index_store import cached_screener
            from kyc_assets.screening.matcher import Screener

            # The saved index of exactly these entries (their content hashes) under this code version.
            key = ["screening_results", *self.frame["entry_hash"].astype(str)]
            self._full, report = cached_screener(key, lambda: Screener(entries_from_frame(self.frame)),
                                                 self.index_dir)
            self.index_status = report.status
        return self._full

    def hit_rows(self, hits, customer_id: str, customer_hash: str, run_id: str) -> list[dict]:
        rows = []
        for hit in hits:
            source, version, entry_hash, hit_type = self.meta[str(hit.entity_id)]
            rows.append(_row(customer_id, customer_hash, run_id, list_entity_id=str(hit.entity_id),
                             list_source=source, list_version=version, entry_hash=entry_hash, hit_type=hit_type,
                             matched_name=hit.matched_name, score=float(hit.score), decision=hit.decision,
                             explanation=hit.explanation))
        return rows


def _screen(screener, customer, threshold: float | None = None):
    return screener.screen(customer.full_name, entity_type="person", date_of_birth=customer.date_of_birth,
                           nationality=customer.nationality, threshold=threshold, limit=HIT_LIMIT)


def screen_customer_base(customers: pd.DataFrame, entries: pd.DataFrame, run_id: str,
                         previous: PreviousScreening | None = None,
                         provider: Callable | None = None, provider_name: str | None = None,
                         index_dir: Path | None = None) -> tuple[pd.DataFrame, ScreeningStats]:
    """Screen every customer against every current list version (and the REST provider, if given).

    ``entries`` must carry ``entry_hash`` and ``hit_type`` (see ``with_entry_hashes``). Returns one row
    per hit, plus one ``no_match`` row per customer and list version (and provider) without a hit,
    so that a missing (customer, list version) row always means *not screened*, never *clean*.
    ``provider(customer) -> list[dict]`` returns rows for one customer (see providers.py).
    ``index_dir``: folder of the saved screening index (see index_store.py); None builds the index in memory.
    """
    lists = _Lists(entries, index_dir)
    stats = ScreeningStats(entries=len(entries))
    keys = entry_keys(entries)
    prev_rows: dict[str, list[dict]] = {}
    prev_hash: dict[str, str] = {}
    unchanged: set[tuple[str, str, str]] = set()
    delta = entries
    if previous is not None:
        unchanged = keys & previous.entry_keys
        delta = entries[[k not in unchanged for k in zip(entries["list_source"].astype(str),
                                                         entries["entity_id"].astype(str), entries["entry_hash"],
                                                         strict=True)]]
        if len(delta) > MAX_DELTA_SHARE * max(len(entries), 1):
            stats.reasons.append("delta too large")
            previous = None
    if previous is not None:
        stats.mode = "delta"
        for record in previous.results.to_dict("records"):
            prev_rows.setdefault(str(record["customer_id"]), []).append(record)
            prev_hash.setdefault(str(record["customer_id"]), record.get("customer_hash"))
    stats.delta_entries = len(delta)
    delta_screener = None
    if previous is not None and len(delta):
        from kyc_assets.screening.matcher import Screener

        delta_screener = Screener(entries_from_frame(delta))
    provider_version = f"provider:{provider_name}" if provider is not None else None

    rows: list[dict] = []
    for c in customers.itertuples(index=False):
        cid = str(c.customer_id)
        chash = customer_screening_hash(c.full_name, c.date_of_birth, c.nationality)
        has_name = isinstance(c.full_name, str) and c.full_name.strip() != ""
        unchanged_customer = previous is not None and prev_hash.get(cid) == chash
        customer_rows: list[dict] = []
        if not has_name:
            stats.customers_without_name += 1
        elif unchanged_customer and (delta_screener is None or not _screen(delta_screener, c, PREFILTER_THRESHOLD)):
            stats.customers_carried += 1
            for r in prev_rows.get(cid, []):
                if r.get("decision") == "no_match" or r.get("list_version") == provider_version:
                    continue
                key = (str(r["list_source"]), str(r["list_entity_id"]), r["entry_hash"])
                if key in unchanged:  # re-stamped with the entry's current list version
                    _, version, _, hit_type = lists.meta[key[1]]
                    customer_rows.append({**{k: r.get(k) for k in SCREENING_COLUMNS}, "list_version": version,
                                          "hit_type": hit_type, "suppressed": False})
        else:
            if unchanged_customer:
                stats.customers_rescreened += 1
            else:
                stats.customers_full += 1
            customer_rows = lists.hit_rows(_screen(lists.full(), c), cid, chash, run_id)
        covered = {r["list_version"] for r in customer_rows}
        for version, source in sorted(lists.versions.items()):
            if version not in covered:
                customer_rows.append(_row(cid, chash, run_id, list_source=source, list_version=version,
                                          explanation="no list entry at or above the threshold" if has_name
                                          else "no name to screen"))
        if provider is not None:
            carried = [r for r in prev_rows.get(cid, []) if r.get("list_version") == provider_version] \
                if unchanged_customer else []
            if carried:
                stats.provider_carried += 1
                customer_rows.extend({**{k: r.get(k) for k in SCREENING_COLUMNS}, "suppressed": False}
                                     for r in carried)
            else:
                found = provider(c) if has_name else []
                stats.provider_calls += int(has_name)
                customer_rows.extend(_row(cid, chash, run_id, list_source=provider_name,
                                          list_version=provider_version, **hit) for hit in found)
                if not found:
                    customer_rows.append(_row(cid, chash, run_id, list_source=provider_name,
                                              list_version=provider_version,
                                              explanation="no provider hit" if has_name else "no name to screen"))
        rows.extend(customer_rows)
    stats.index = lists.index_status
    df = pd.DataFrame(rows, columns=SCREENING_COLUMNS)
    df["score"] = df["score"].astype(float)
    df["suppressed"] = df["suppressed"].astype(bool)
    return df, stats


def coverage_gaps(results: pd.DataFrame, customers: pd.DataFrame, current_versions: Iterable[str]) -> dict:
    """What the blocking coverage check looks at: customers lacking a row for some *current* list
    version (a row from an older version does not count), and list rows from versions no longer current."""
    current = set(current_versions)
    have = set(zip(results["customer_id"].astype(str), results["list_version"].astype(str), strict=True))
    missing = {str(cid) for cid in customers["customer_id"] for v in current if (str(cid), v) not in have}
    if not current:  # no list at all: nobody is screened
        missing = {str(cid) for cid in customers["customer_id"]}
    list_rows = ~results["list_version"].astype(str).str.startswith("provider:")
    stale = int((list_rows & ~results["list_version"].astype(str).isin(current)).sum())
    return {"unscreened_customers": len(missing), "stale_rows": stale, "current_versions": len(current)}


# --- state in the warehouse (a Delta table beside the results, through kyc_assets.storage) ---------------

def save_entry_state(database, schema: str, keys: set[tuple[str, str, str]]) -> None:
    """Replace the state table with the entries this run covered. ``database``: the
    :class:`~kyc_assets.storage.Warehouse` (or its folder/URL)."""
    from kyc_assets.storage import as_warehouse

    frame = pd.DataFrame(sorted(keys), columns=["list_source", "entity_id", "entry_hash"]).astype(str)
    as_warehouse(database).write(STATE_TABLE, frame)


def load_previous(database, schema: str, expected_state: str | None, expected_rows: int | None,
                  logic_version: str) -> tuple[PreviousScreening | None, str]:
    """The previous run's state if it is the one the last materialization committed, else None.

    Returns (state or None, reason). The state is trusted only when the entry-state table hashes to
    the fingerprint recorded in the last materialization and the results table has its row count.
    """
    from kyc_assets.storage import as_warehouse

    if not expected_state or expected_rows is None:
        return None, "no previous materialization with screening state"
    warehouse = as_warehouse(database)
    if not (warehouse.exists(STATE_TABLE) and warehouse.exists(RESULTS_TABLE)):
        return None, "no state table"
    state_frame = warehouse.read(STATE_TABLE, columns=["list_source", "entity_id", "entry_hash"])
    state = state_frame.itertuples(index=False, name=None)
    results = warehouse.read(RESULTS_TABLE)
    keys = {(str(a), str(b), str(c)) for a, b, c in state}
    if state_hash(keys, logic_version) != expected_state:
        return None, "state does not match the last materialization (or the matcher changed)"
    if len(results) != expected_rows or not set(SCREENING_COLUMNS) <= set(results.columns):
        return None, "results table does not match the last materialization"
    return PreviousScreening(results=results, entry_keys=keys), "ok"
