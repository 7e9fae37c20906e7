"""Fuzzy name screening of parties against a watchlist.

Scoring compares normalised names token by token, independent of order: each query token is
aligned with at most one candidate token (greedy on similarity), token similarity mixes
Jaro-Winkler and Levenshtein (rapidfuzz) and is lifted halfway to 1 when both tokens share a Metaphone key
(jellyfish), so 'hussein'/'husain' and 'mohammed'/'muhammad' align. Tokens are weighted by rarity
when the Screener's index is available ('al', 'mohammed' count less than 'zawahiri'). Unaligned
query tokens cost their full weight, unaligned list tokens (e.g. a middle name the customer
record lacks) a fraction of it.

The Screener builds an inverted index (exact token, 3-letter prefix, 3-letter suffix, Metaphone
key) over all names and aliases, gathers candidates through it and scores only those.
Secondary attributes (date of birth, nationality, entity type, weak alias) then move the score.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import jellyfish
import numpy as np
from rapidfuzz.distance import JaroWinkler, Levenshtein

from kyc_assets.screening.normalize import normalize_name
from kyc_assets.watchlists.countries import country_to_iso2
from kyc_assets.watchlists.model import WatchlistEntry

#: Start of the 'potential_match' band (an analyst reviews the hit). See README/report for the evaluation.
DEFAULT_THRESHOLD = 0.80
#: Start of the 'match' band (strong name evidence, possibly confirmed by secondary attributes).
MATCH_THRESHOLD = 0.92

MIN_TOKEN_SIM = 0.70  # token pairs below this are not aligned
UNMATCHED_QUERY_COST = 1.0  # share of its weight an unaligned query token costs
UNMATCHED_CANDIDATE_COST = 0.35  # share of its weight an unaligned list-name token costs
SINGLE_TOKEN_FACTOR = 0.9  # multi-token names aligned on one token only

DOB_EXACT_BONUS = 0.06
DOB_YEAR_BONUS = 0.03
DOB_MISMATCH_PENALTY = 0.12
NATIONALITY_BONUS = 0.02
NATIONALITY_MISMATCH_PENALTY = 0.03
ENTITY_TYPE_PENALTY = 0.20
WEAK_ALIAS_PENALTY = 0.05

#: Particles and very common name parts weighted low when no index is available.
LOW_WEIGHT_TOKENS = frozenset({
    "al", "el", "bin", "ibn", "bint", "abu", "abd", "abdul", "ben", "ould", "de", "del", "la", "le",
    "van", "von", "der", "den", "da", "dos", "das", "di", "du", "y", "e",
})
_MAX_CANDIDATES = 400
_MIN_EVIDENCE = 0.3  # share of the query weight an indexed name must hit to be scored


@lru_cache(maxsize=200_000)
def _metaphone(token: str) -> str:
    """Metaphone key of a token (cached)."""
    return jellyfish.metaphone(token) if token.isalpha() else token


_SKELETON_RULES = (("dzh", "j"), ("dj", "j"), ("zh", "j"), ("kh", "h"), ("gh", "g"), ("ph", "f"), ("th", "t"),
                   ("sch", "sh"), ("ck", "k"), ("q", "k"), ("c", "k"), ("w", "v"), ("ou", "u"), ("oo", "u"),
                   ("ee", "i"), ("ie", "i"), ("y", "i"), ("ei", "ai"), ("x", "ks"))


@lru_cache(maxsize=200_000)
def translit_skeleton(token: str) -> str:
    """Token with common transliteration variants folded (dzh/zh->j, kh->h, ou->u, y->i ...) and
    doubled letters collapsed, so 'Dzhamal'/'Jamal' and 'Youssef'/'Yusef' share one skeleton."""
    for old, new in _SKELETON_RULES:
        token = token.replace(old, new)
    out = []
    for ch in token:
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


@lru_cache(maxsize=500_000)
def token_similarity(a: str, b: str) -> float:
    """Similarity in [0,1] of two normalised name tokens (spelling plus sound)."""
    if a == b:
        return 1.0
    if len(a) == 1 or len(b) == 1:  # an initial matches the name it abbreviates
        return 0.75 if a[0] == b[0] else 0.0
    sim = _spelling_similarity(a, b)
    sa, sb = translit_skeleton(a), translit_skeleton(b)
    if (sa, sb) != (a, b) and len(sa) > 1 and len(sb) > 1:
        sim = max(sim, 0.97 if sa == sb else 0.95 * _spelling_similarity(sa, sb))
    if min(len(a), len(b)) >= 3 and len(_metaphone(a)) >= 2 and _metaphone(a) == _metaphone(b):
        sim = max(sim, (sim + 1.0) / 2.0)
    return sim


def _spelling_similarity(a: str, b: str) -> float:
    """Mean of Jaro-Winkler and normalised Levenshtein similarity."""
    return 0.5 * JaroWinkler.normalized_similarity(a, b) + 0.5 * Levenshtein.normalized_similarity(a, b)


def default_weight(token: str) -> float:
    """Token weight without corpus statistics: particles low, digits/initials lower, others 1."""
    if token in LOW_WEIGHT_TOKENS:
        return 0.3
    return 0.5 if len(token) == 1 else 1.0


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


def score_tokens(query: list[str], candidate: list[str], weight=default_weight) -> NameScore:
    """Order-insensitive weighted alignment score of two token lists."""
    if not query or not candidate:
        return NameScore(0.0, [], len(query), len(candidate))
    sims = sorted(
        ((token_similarity(q, c), i, j) for i, q in enumerate(query) for j, c in enumerate(candidate)),
        reverse=True,
    )
    used_q: set[int] = set()
    used_c: set[int] = set()
    pairs: list[tuple[str, str, float]] = []
    num = den = 0.0
    for sim, i, j in sims:
        if sim < MIN_TOKEN_SIM:
            break
        if i in used_q or j in used_c:
            continue
        used_q.add(i)
        used_c.add(j)
        w = weight(candidate[j])
        num += w * sim
        den += w
        pairs.append((query[i], candidate[j], sim))
    den += UNMATCHED_QUERY_COST * sum(weight(t) for i, t in enumerate(query) if i not in used_q)
    den += UNMATCHED_CANDIDATE_COST * sum(weight(t) for j, t in enumerate(candidate) if j not in used_c)
    score = num / den if den else 0.0
    if len(pairs) == 1 and max(len(query), len(candidate)) > 1:
        score *= SINGLE_TOKEN_FACTOR
    joined = Levenshtein.normalized_similarity("".join(query), "".join(candidate))
    if len(query) != len(candidate) and 0.9 * joined > score:  # 'aljamal' vs 'al jamal'
        return NameScore(0.9 * joined, [(" ".join(query), " ".join(candidate), joined)],
                         len(query), len(candidate), joined=True)
    return NameScore(min(1.0, score), pairs, len(query), len(candidate))


def score_pair(query: str, candidate: str, schema: str | None = None) -> float:
    """Name similarity in [0,1] of a query name and a list name (no rarity statistics)."""
    return score_tokens(normalize_name(query, schema).split(), normalize_name(candidate, schema).split()).score


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


@dataclass
class _IndexedName:
    """One name of one entry as stored in the index."""

    entry: int
    name: str
    kind: str
    tokens: list[str]


def _index_keys(token: str) -> list[str]:
    """Blocking keys of a token: exact, 3-prefix, skeleton 3-prefix, 3-suffix (long tokens), Metaphone."""
    skeleton = translit_skeleton(token)
    keys = ["t:" + token, "p:" + token[:3], "k:" + skeleton[:3]]
    if len(token) >= 5:
        keys.append("s:" + token[-3:])
    meta = _metaphone(token)
    if meta:
        keys.append("m:" + meta)
    return keys


class Screener:
    """Screens names against watchlist entries through an inverted index of name-token keys."""

    def __init__(self, entries: list[WatchlistEntry]) -> None:
        self.entries = list(entries)
        self.names: list[_IndexedName] = []
        for idx, entry in enumerate(self.entries):
            seen: set[str] = set()
            for name, kind in entry.names():
                # typed form for typed queries, untyped form for queries without an entity type
                for form in {normalize_name(name, entry.entity_type), normalize_name(name)}:
                    if form and form not in seen:
                        seen.add(form)
                        self.names.append(_IndexedName(idx, name, kind, form.split()))
        doc_freq: dict[str, int] = {}
        postings: dict[str, list[int]] = {}
        for nid, item in enumerate(self.names):
            for token in set(item.tokens):
                doc_freq[token] = doc_freq.get(token, 0) + 1
                for key in _index_keys(token):
                    postings.setdefault(key, []).append(nid)
        self._postings = {k: np.unique(np.asarray(v, dtype=np.int32)) for k, v in postings.items()}
        self._doc_freq = doc_freq
        self._log_n = math.log(max(len(self.names), 2))

    def weight(self, token: str) -> float:
        """Rarity weight of a token in [0.2, 1]: tokens found in many list names weigh less."""
        df = self._doc_freq.get(token)
        if df is None:
            return default_weight(token)
        rarity = min(1.0, math.log(len(self.names) / df) / max(self._log_n - math.log(5), 1.0))
        return max(0.2, 0.2 + 0.8 * rarity) * (0.5 if len(token) == 1 else 1.0)

    def score_name(self, query: str, candidate_tokens: list[str], entity_type: str | None = None) -> NameScore:
        """Score a query name against one indexed name's tokens with rarity weights."""
        return score_tokens(normalize_name(query, entity_type).split(), candidate_tokens, self.weight)

    def candidates(self, tokens: list[str]) -> np.ndarray:
        """Indexed-name ids sharing enough key evidence with the query tokens (best first)."""
        evidence = np.zeros(len(self.names), dtype=np.float32)
        total = 0.0
        for token in dict.fromkeys(tokens):
            w = self.weight(token)
            total += w
            hit = np.zeros(len(self.names), dtype=bool)
            for key in _index_keys(token):
                ids = self._postings.get(key)
                if ids is not None:
                    hit[ids] = True
            evidence += w * hit
        if total == 0.0:
            return np.empty(0, dtype=np.int64)
        ids = np.flatnonzero(evidence >= _MIN_EVIDENCE * total)
        if len(ids) > _MAX_CANDIDATES:
            top = np.argpartition(-evidence[ids], _MAX_CANDIDATES)[:_MAX_CANDIDATES]
            ids = ids[top]
        return ids[np.argsort(-evidence[ids], kind="stable")]

    def screen(self, name: str, *, entity_type: str | None = None, date_of_birth=None,
               nationality: str | None = None, threshold: float | None = None, limit: int = 10) -> list[Hit]:
        """Screen one party name; return hits with final score >= threshold, best first, one per entry.

        ``date_of_birth`` is 'YYYY', 'YYYY-MM', 'YYYY-MM-DD' or a date; ``nationality`` a country name
        or ISO alpha-2 code; missing values (None, NaN, '') are ignored.
        """
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        date_of_birth, nationality = _as_text(date_of_birth), _as_text(nationality)
        tokens = normalize_name(name, entity_type).split()
        best: dict[int, tuple[float, _IndexedName, NameScore]] = {}
        for nid in self.candidates(tokens):
            item = self.names[nid]
            result = score_tokens(tokens, item.tokens, self.weight)
            current = best.get(item.entry)
            if current is None or result.score > current[0]:
                best[item.entry] = (result.score, item, result)
        hits = []
        for entry_idx, (name_score, item, result) in best.items():
            entry = self.entries[entry_idx]
            score, notes = _adjust(name_score, entry, item.kind, entity_type, date_of_birth, nationality)
            if score >= threshold:
                explanation = "; ".join([result.describe(), *notes])
                hits.append(Hit(entry.entity_id, entry.list_source, item.name, round(score, 4),
                                decision_for(score), explanation))
        hits.sort(key=lambda h: (-h.score, h.entity_id))
        return hits[:limit]

    def screen_many(self, rows: Iterable[dict], threshold: float | None = None, limit: int = 10) -> list[dict]:
        """Screen rows with keys name[, entity_type, date_of_birth, nationality, row_id]; one dict per hit."""
        out = []
        for i, row in enumerate(rows):
            for hit in self.screen(row["name"], entity_type=row.get("entity_type"),
                                   date_of_birth=row.get("date_of_birth"), nationality=row.get("nationality"),
                                   threshold=threshold, limit=limit):
                out.append({"row_id": row.get("row_id", i), **hit.__dict__})
        return out


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
    years = {int(d[:4]) for d in listed}
    if year in years:
        return DOB_YEAR_BONUS, "DOB year matches"
    if any(abs(year - y) <= 1 for y in years):
        return 0.0, "DOB year within 1"
    return -DOB_MISMATCH_PENALTY, "DOB differs"
