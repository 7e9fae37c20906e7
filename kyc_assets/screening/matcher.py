"""Fuzzy name screening of parties against a watchlist.

Scoring compares normalised names token by token, independent of order: each query token is
aligned with at most one candidate token (greedy on similarity, see ``similarity.py`` for the
token similarity: spelling, transliteration skeletons, Metaphone, nicknames, initials).
Tokens are weighted by rarity when the Screener's index is available ('al', 'mohammed' count
less than 'zawahiri'; generic company words such as 'trading' count little everywhere).
Unaligned query tokens cost their full weight, unaligned list tokens (a middle name the
customer record lacks) a fraction of it. Names that differ only in spacing ('abdulrahman' /
'abdul rahman') are also compared without spaces.

The Screener indexes every name and alias once (``index.NameIndex``): integer token ids,
rarity weights, postings, and blocking keys over the token vocabulary. A query token's similar
list tokens are found once through the blocking keys and cached; candidate names come from the
query's rarest tokens only (a name that matches none of them cannot reach the threshold: a
max-score bound), are pruned with a vectorised upper bound, and only the few survivors get
the exact, explainable alignment. Secondary attributes (date of birth, nationality, entity
type, weak alias, identifiers) then move the score.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz.distance import Levenshtein

from kyc_assets.screening.index import (  # noqa: F401  (scoring constants re-exported)
    COMMON_FUZZY_FACTOR,
    JOINED_FACTOR,
    LOW_WEIGHT,
    LOW_WEIGHT_TOKENS,
    SINGLE_TOKEN_FACTOR,
    UNMATCHED_CANDIDATE_COST,
    UNMATCHED_CANDIDATE_COST_COMMON,
    UNMATCHED_QUERY_COST,
    NameIndex,
    QueryToken,
    default_weight,
)
from kyc_assets.screening.nicknames import are_nicknames, is_common_name
from kyc_assets.screening.normalize import GENERIC_WORDS, entity_type_for, normalize_name
from kyc_assets.screening.similarity import (  # noqa: F401  (re-exported for callers and tests)
    MIN_TOKEN_SIM,
    metaphone,
    token_similarity,
    translit_skeleton,
)
from kyc_assets.watchlists.countries import country_to_iso2
from kyc_assets.watchlists.model import WatchlistEntry

#: Start of the 'potential_match' band (an analyst reviews the hit). Chosen on the evaluation set
#: in kyc_assets_tests/fixtures/screening_eval (see ``evaluation.threshold_sweep``).
DEFAULT_THRESHOLD = 0.80
#: Start of the 'match' band (strong name evidence, possibly confirmed by secondary attributes).
MATCH_THRESHOLD = 0.92


DOB_EXACT_BONUS = 0.06
DOB_YEAR_BONUS = 0.03
DOB_MISMATCH_PENALTY = 0.12
NATIONALITY_BONUS = 0.02
NATIONALITY_MISMATCH_PENALTY = 0.03
ENTITY_TYPE_PENALTY = 0.20
WEAK_ALIAS_PENALTY = 0.05
IDENTIFIER_SCORE = 1.0  # an identifier match is decisive
PERSONAL_TYPES = (None, "person")  # entity types the common-name rules apply to

@dataclass
class NameScore:
    """Result of comparing two names: score and the aligned token pairs ``(q, c, similarity)``."""

    score: float
    pairs: list[tuple[str, str, float]] = field(default_factory=list)
    query_tokens: int = 0
    candidate_tokens: int = 0
    joined: bool = False  # scored on the names with spaces removed ('aljamal' vs 'al jamal')

    def describe(self) -> str:
        """Human-readable summary, e.g. 'name tokens 2/2 aligned (hussein~husain 0.93)'."""
        if self.joined:
            q, c, s = self.pairs[0]
            return f"names compared without spaces ({q}~{c} {s:.2f})"
        fuzzy = [f"{q}~{c} {s:.2f}" for q, c, s in self.pairs if q != c]
        text = f"name tokens {len(self.pairs)}/{self.query_tokens} aligned"
        return text + (f" ({', '.join(fuzzy)})" if fuzzy else "")


def align(query: Sequence[str], candidate: Sequence[str], qweights: Sequence[float], cweights: Sequence[float],
          sims: list[tuple[float, int, int]], qcommon: Sequence[bool] | None = None) -> NameScore:
    """Weighted order-insensitive alignment score from the token pairs ``(sim, i, j)`` with sim >= MIN_TOKEN_SIM.

    Aligned pairs count the list token's weight times their similarity; unaligned query tokens
    cost their weight, unaligned list tokens UNMATCHED_CANDIDATE_COST of theirs; a name aligned on
    one token of several is scaled by SINGLE_TOKEN_FACTOR; then the space-free comparison may win.
    ``qcommon`` flags query tokens that many people share: when every query token is common
    ('Jose Lopez'), a listed middle name the query lacks costs more (UNMATCHED_CANDIDATE_COST_COMMON)
    and a match that needs spelling closeness rather than exact tokens or known variants is scaled
    by COMMON_FUZZY_FACTOR: such names are shared by many unrelated people.
    """
    if not query or not candidate:
        return NameScore(0.0, [], len(query), len(candidate))
    all_common = bool(qcommon) and all(qcommon)
    sims.sort(reverse=True)
    used_q: set[int] = set()
    used_c: set[int] = set()
    pairs: list[tuple[str, str, float]] = []
    num = den = 0.0
    for sim, i, j in sims:
        if i in used_q or j in used_c:
            continue
        used_q.add(i)
        used_c.add(j)
        w = cweights[j]
        num += w * sim
        den += w
        pairs.append((query[i], candidate[j], sim))
    ccost = UNMATCHED_CANDIDATE_COST_COMMON if all_common else UNMATCHED_CANDIDATE_COST
    den += UNMATCHED_QUERY_COST * sum(w for i, w in enumerate(qweights) if i not in used_q)
    den += ccost * sum(w for j, w in enumerate(cweights) if j not in used_c)
    score = num / den if den else 0.0
    if len(pairs) == 1 and max(len(query), len(candidate)) > 1:
        score *= SINGLE_TOKEN_FACTOR
    if all_common and any(q != c and not _known_variant(q, c) for q, c, _ in pairs):
        score *= COMMON_FUZZY_FACTOR
    if len(query) != len(candidate):
        jq, jc = "".join(query), "".join(candidate)
        joined = JOINED_FACTOR * Levenshtein.normalized_similarity(jq, jc)
        if all_common and jq != jc:
            joined *= COMMON_FUZZY_FACTOR
        if joined > score:  # 'aljamal' vs 'al jamal'
            return NameScore(joined, [(" ".join(query), " ".join(candidate), joined / JOINED_FACTOR)],
                             len(query), len(candidate), joined=True)
    return NameScore(min(1.0, score), pairs, len(query), len(candidate))


def _known_variant(a: str, b: str) -> bool:
    """True for an initial, a nickname pair or equal transliteration skeletons: a documented variant,
    unlike a spelling that is merely close ('jhon'/'john') or sounds alike ('sato'/'saati')."""
    return len(a) == 1 or len(b) == 1 or are_nicknames(a, b) or translit_skeleton(a) == translit_skeleton(b)


def lexicon_common(token: str) -> bool:
    """Common without list statistics: a common name, a particle or a generic company word."""
    return is_common_name(token) or token in LOW_WEIGHT_TOKENS or token in GENERIC_WORDS


def score_tokens(query: list[str], candidate: list[str], weight=default_weight,
                 entity_type: str | None = None) -> NameScore:
    """Order-insensitive weighted alignment score of two token lists (token similarity computed here;
    without list statistics, a query token is 'known' and 'common' when it is a common name; the
    common-name rules apply to persons and untyped names, not to organizations or vessels)."""
    sims = [(s, i, j) for i, q in enumerate(query) for j, c in enumerate(candidate)
            if (s := token_similarity(q, c, len(q) >= 3 and is_common_name(q))) >= MIN_TOKEN_SIM]
    qcommon = [lexicon_common(t) for t in query] if entity_type in PERSONAL_TYPES else None
    return align(query, candidate, [weight(t) for t in query], [weight(t) for t in candidate], sims, qcommon)


def score_pair(query: str, candidate: str, schema: str | None = None) -> float:
    """Name similarity in [0,1] of a query name and a list name (no rarity statistics).

    ``schema`` is an entity type or a FollowTheMoney schema ('Person', 'Company', 'Vessel' ...).
    """
    etype = entity_type_for(schema)
    return score_tokens(normalize_name(query, etype).split(), normalize_name(candidate, etype).split(),
                        entity_type=etype).score


@dataclass
class Hit:
    """One screening hit: which list entry, through which name, how strong, and why."""

    entity_id: str
    list_source: str
    matched_name: str
    score: float
    decision: str  # 'match' | 'potential_match' | 'no_match'
    explanation: str


def decision_for(score: float) -> str:
    """Decision band of a final score."""
    if score >= MATCH_THRESHOLD:
        return "match"
    return "potential_match" if score >= DEFAULT_THRESHOLD else "no_match"


def _max_bonus(date_of_birth: str | None, nationality: str | None) -> float:
    """The most secondary attributes can add to a name score (bounds candidate pruning)."""
    return (DOB_EXACT_BONUS if date_of_birth else 0.0) + (NATIONALITY_BONUS if nationality else 0.0)


class Screener:
    """Screens names against watchlist entries through an inverted index of name tokens."""

    def __init__(self, entries: Iterable[WatchlistEntry], *, prewarm: bool = True) -> None:
        """Index the entries; ``prewarm`` also pre-computes the similar-word lookups of the list's own
        words and of common names (part of the build: screening new names then rarely computes one)."""
        self.entries = list(entries)
        self.index = NameIndex(self.entries)
        if prewarm:
            self.index.prewarm()

    # ---- per-name scoring -------------------------------------------------------------------
    def weight(self, token: str) -> float:
        """Rarity weight of a token in [0.2, 1]: tokens found in many list names weigh less."""
        return self.index.weight(token)

    def query_tokens(self, name: str, entity_type: str | None = None) -> list[str]:
        """Normalised tokens of a query name."""
        return normalize_name(name, entity_type).split()

    def score_name(self, query: str | list[str], name_id: int, entity_type: str | None = None) -> NameScore:
        """Exact score of a query against one indexed name (no index shortcuts: the brute-force reference)."""
        tokens = query if isinstance(query, list) else self.query_tokens(query, entity_type)
        ctoks = self.index.name_tokens(name_id)
        sims = [(s, i, j) for i, q in enumerate(tokens) for j, c in enumerate(ctoks)
                if (s := token_similarity(q, c, self.index.is_known(q))) >= MIN_TOKEN_SIM]
        return align(tokens, ctoks, [self.index.query_weight(t) for t in tokens],
                     [self.index.weight(t) for t in ctoks], sims, self._qcommon(tokens, entity_type))

    def _qcommon(self, tokens: list[str], entity_type: str | None) -> list[bool] | None:
        """Common-token flags of a person's or untyped query (None for organizations and vessels)."""
        return [self.index.is_common(t) for t in tokens] if entity_type in PERSONAL_TYPES else None

    def _score_candidate(self, tokens: list[str], qinfo: list[QueryToken], qweights: list[float],
                         name_id: int, qcommon: list[bool] | None) -> NameScore:
        """Score through the per-query-token similarity caches (same values as ``score_name``)."""
        tids = self.index.tids_of(name_id)
        vocab = self.index.tokens
        ctoks = [vocab[t] for t in tids]
        sims = []
        for i, info in enumerate(qinfo):
            for j, tid in enumerate(tids):
                s = info.sim_of(tid, ctoks[j])
                if s >= MIN_TOKEN_SIM:
                    sims.append((s, i, j))
        weights = self.index._weight_list
        return align(tokens, ctoks, qweights, [weights[t] for t in tids], sims, qcommon)

    # ---- candidate generation ---------------------------------------------------------------
    def candidates(self, tokens: list[str], min_score: float) -> np.ndarray:
        """Indexed-name ids that may score >= ``min_score`` against the query tokens."""
        return self.index.candidates(tokens, min_score)[0]

    # ---- screening --------------------------------------------------------------------------
    def screen(self, name: str, *, entity_type: str | None = None, date_of_birth=None,
               nationality: str | None = None, threshold: float | None = None, limit: int = 10,
               identifiers: Iterable[str] | None = None) -> list[Hit]:
        """Screen one party name; return hits with final score >= threshold, best first, one per entry.

        ``date_of_birth`` is 'YYYY', 'YYYY-MM', 'YYYY-MM-DD' or a date; ``nationality`` a country name
        or ISO alpha-2 code; ``identifiers`` passport/national-id/registration numbers (a match is
        decisive); missing values (None, NaN, '') are ignored. Never raises on odd name text.
        """
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        entity_type = entity_type_for(entity_type) if entity_type else None
        date_of_birth, nationality = _as_text(date_of_birth), _as_text(nationality)
        tokens = self.query_tokens(name, entity_type)
        best: dict[int, tuple[float, int, NameScore]] = {}
        if tokens:
            min_score = threshold - _max_bonus(date_of_birth, nationality)
            ids, qinfo, qweights = self.index.candidates(tokens, min_score)
            name_entry = self.index.name_entry
            qcommon = self._qcommon(tokens, entity_type)
            for nid in ids.tolist():
                result = self._score_candidate(tokens, qinfo, qweights, nid, qcommon)
                if result.score < min_score:
                    continue
                entry_idx = int(name_entry[nid])
                current = best.get(entry_idx)
                if current is None or result.score > current[0]:
                    best[entry_idx] = (result.score, nid, result)
        hits = []
        for entry_idx, (name_score, nid, result) in best.items():
            entry = self.entries[entry_idx]
            name, kind = self.index.name_source(nid)
            score, notes = _adjust(name_score, entry, kind, entity_type, date_of_birth, nationality)
            if score >= threshold:
                hits.append(Hit(entry.entity_id, entry.list_source, name, round(score, 4), decision_for(score),
                                "; ".join([result.describe(), *notes])))
        for entry_idx, value in self.index.identifier_matches(identifiers):
            entry = self.entries[entry_idx]
            hits = [h for h in hits if h.entity_id != entry.entity_id]
            hits.append(Hit(entry.entity_id, entry.list_source, entry.primary_name, IDENTIFIER_SCORE,
                            decision_for(IDENTIFIER_SCORE), f"identifier {value} matches"))
        hits.sort(key=lambda h: (-h.score, h.entity_id))
        return hits[:limit]

    def screen_batch(self, rows: Sequence[dict], threshold: float | None = None, limit: int = 10,
                     workers: int = 1) -> list[list[Hit]]:
        """Screen many rows (keys name[, entity_type, date_of_birth, nationality, identifiers]).

        Returns one hit list per row, in input order. ``workers`` > 1 forks worker processes that
        share this index copy-on-write (Linux); 1 screens in this process.
        """
        rows = list(rows)
        if workers <= 1 or len(rows) < 2_000 or "fork" not in multiprocessing.get_all_start_methods():
            return [self._screen_row(row, threshold, limit) for row in rows]
        global _WORKER_SCREENER
        _WORKER_SCREENER = self
        chunk = max(500, len(rows) // (workers * 8))
        parts = [(rows[i:i + chunk], threshold, limit) for i in range(0, len(rows), chunk)]
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = pool.map(_screen_chunk, parts)
        _WORKER_SCREENER = None
        return [hits for part in results for hits in part]

    def screen_many(self, rows: Iterable[dict], threshold: float | None = None, limit: int = 10,
                    workers: int = 1) -> list[dict]:
        """Screen rows with keys name[, entity_type, date_of_birth, nationality, row_id]; one dict per hit."""
        rows = list(rows)
        out = []
        for i, (row, hits) in enumerate(zip(rows, self.screen_batch(rows, threshold, limit, workers), strict=True)):
            out.extend({"row_id": row.get("row_id", i), **hit.__dict__} for hit in hits)
        return out

    def _screen_row(self, row: dict, threshold: float | None, limit: int) -> list[Hit]:
        """Screen one row dict."""
        return self.screen(row.get("name") or "", entity_type=row.get("entity_type"),
                           date_of_birth=row.get("date_of_birth"), nationality=row.get("nationality"),
                           threshold=threshold, limit=limit, identifiers=row.get("identifiers"))


_WORKER_SCREENER: Screener | None = None


def _screen_chunk(args: tuple[list[dict], float | None, int]) -> list[list[Hit]]:
    """Worker-process body of ``Screener.screen_batch`` (the screener is inherited through fork)."""
    rows, threshold, limit = args
    assert _WORKER_SCREENER is not None
    return [_WORKER_SCREENER._screen_row(row, threshold, limit) for row in rows]


def default_workers() -> int:
    """Worker processes for bulk screening: the CPUs available to this process."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _as_text(value) -> str | None:
    """Optional attribute as text: None/NaN/blank -> None, dates -> ISO 'YYYY-MM-DD'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    text = str(value).strip()
    return text or None


def _adjust(score: float, entry: WatchlistEntry, name_kind: str, entity_type: str | None,
            date_of_birth: str | None, nationality: str | None) -> tuple[float, list[str]]:
    """Move a name score with secondary attributes; return the final score and explanation notes."""
    notes: list[str] = []
    if name_kind == "weak_aka":
        score -= WEAK_ALIAS_PENALTY
        notes.append("matched weak alias")
    if entity_type and entity_type != entry.entity_type:
        score -= ENTITY_TYPE_PENALTY
        notes.append(f"entity type mismatch ({entity_type} vs {entry.entity_type})")
    if date_of_birth and entry.dates_of_birth:
        delta, note = _dob_effect(date_of_birth, entry.dates_of_birth)
        score += delta
        notes.append(note)
    if nationality and entry.nationalities:
        code = country_to_iso2(nationality) or nationality.strip().upper()
        if code in entry.nationalities:
            score += NATIONALITY_BONUS
            notes.append("nationality matches")
        else:
            score -= NATIONALITY_MISMATCH_PENALTY
            notes.append("nationality differs")
    return max(0.0, min(1.0, score)), notes


def _dob_effect(query_dob: str, listed: list[str]) -> tuple[float, str]:
    """Score change and note for a query DOB ('YYYY[-MM[-DD]]') against listed DOBs."""
    query_dob = query_dob.strip()[:10]
    for listed_dob in listed:
        common = min(len(query_dob), len(listed_dob))
        if common >= 7 and query_dob[:common] == listed_dob[:common]:
            return DOB_EXACT_BONUS, "DOB matches"
    try:
        year = int(query_dob[:4])
    except ValueError:
        return 0.0, "DOB not comparable"
    years = set()
    for d in listed:
        try:
            years.add(int(d[:4]))
        except ValueError:
            continue
    if not years:
        return 0.0, "DOB not comparable"
    if year in years:
        return DOB_YEAR_BONUS, "DOB year matches"
    if any(abs(year - y) <= 1 for y in years):
        return 0.0, "DOB year within 1"
    return -DOB_MISMATCH_PENALTY, "DOB differs"
