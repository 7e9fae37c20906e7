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
from rapidfuzz.distance import Indel, Levenshtein

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
from kyc_assets.screening.normalize import (
    GENERIC_WORDS,
    LEGAL_FORMS,
    clean_text,
    entity_type_for,
    normalize_name,
)
from kyc_assets.screening.pair_model import (
    FEATURES,
    SKELETON_FAMILY,
    PairModel,
    family_for,
    is_latin_text,
    legal_form_kinds,
    load_model,
)
from kyc_assets.screening.similarity import (  # noqa: F401  (re-exported for callers and tests)
    MIN_TOKEN_SIM,
    has_digit,
    metaphone,
    token_similarity,
    translit_skeleton,
)
from kyc_assets.watchlists.countries import country_to_iso2
from kyc_assets.watchlists.model import WatchlistEntry

#: Start of the 'potential_match' band (an analyst reviews the hit): the pair model's probability that the
#: names denote one party. Chosen on the TRAINING part only: the lowest threshold keeping false hits of the
#: tuning customer pool (evaluation.ordinary_customers, seed 77) under 1 per 1,000 against the lists
#: (0.9 per 1,000 at 0.75, 1.7 at 0.70), with perturbed right-entity recall 0.963 on training entities.
DEFAULT_THRESHOLD = 0.75
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
    """Result of comparing two names: score (the pair model's probability once ``model_score`` ran),
    the aligned token pairs ``(q, c, similarity)`` and what the model needs to explain itself."""

    score: float
    pairs: list[tuple[str, str, float]] = field(default_factory=list)
    query_tokens: int = 0
    candidate_tokens: int = 0
    joined: bool = False  # scored on the names with spaces removed ('aljamal' vs 'al jamal')
    align: float = 0.0  # the token-alignment score (what candidate retrieval bounds)
    acronym: bool = False  # one name is the acronym of the other
    idx: list[tuple[int, int, float]] = field(default_factory=list)  # aligned (query i, list j, similarity)
    qtokens: Sequence[str] = ()
    ctokens: Sequence[str] = ()
    qweights: Sequence[float] = ()
    cweights: Sequence[float] = ()
    qcommon: Sequence[bool] | None = None
    contributions: list[tuple[str, float]] = field(default_factory=list)
    features: list[float] | None = None  # the model's feature vector (set when explanations are deferred)
    family: str | None = None  # the model family that scored it (idem)
    exact_floor: bool = False  # the score was lifted to EXACT_NAME_SCORE (an exact listed name)

    def describe(self) -> str:
        """Human-readable summary, e.g. 'name tokens 2/2 aligned (hussein~husain 0.93); model: align +4.1, ...'."""
        if self.acronym:
            text = f"acronym ({' '.join(self.qtokens)} / {' '.join(self.ctokens)})"
        elif self.joined:
            q, c, s = self.pairs[0]
            text = f"names compared without spaces ({q}~{c} {s:.2f})"
        else:
            fuzzy = [f"{q}~{c} {s:.2f}" for q, c, s in self.pairs if q != c]
            text = f"name tokens {len(self.pairs)}/{self.query_tokens} aligned"
            text += f" ({', '.join(fuzzy)})" if fuzzy else ""
        if self.contributions:
            text += "; model: " + ", ".join(f"{n} {v:+.2f}" for n, v in self.contributions)
        return text


def align(query: Sequence[str], candidate: Sequence[str], qweights: Sequence[float], cweights: Sequence[float],
          sims: list[tuple[float, int, int]], qcommon: Sequence[bool] | None = None) -> NameScore:
    """Weighted order-insensitive alignment score from the token pairs ``(sim, i, j)`` with sim >= MIN_TOKEN_SIM.

    Aligned pairs count the list token's weight times their similarity; unaligned query tokens
    cost their weight, unaligned list tokens UNMATCHED_CANDIDATE_COST of theirs; a name aligned on
    one token of several is scaled by SINGLE_TOKEN_FACTOR; then the space-free comparison may win.
    ``qcommon`` flags query tokens that many people share (a feature of the pair model, which
    weighs how much such names prove; the alignment score itself does not use it).
    """
    if not query or not candidate:
        return NameScore(0.0, [], len(query), len(candidate), qtokens=query, ctokens=candidate)
    sims.sort(reverse=True)
    used_q: set[int] = set()
    used_c: set[int] = set()
    pairs: list[tuple[str, str, float]] = []
    idx: list[tuple[int, int, float]] = []
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
        idx.append((i, j, sim))
    den += UNMATCHED_QUERY_COST * sum(w for i, w in enumerate(qweights) if i not in used_q)
    den += UNMATCHED_CANDIDATE_COST * sum(w for j, w in enumerate(cweights) if j not in used_c)
    score = num / den if den else 0.0
    if len(pairs) == 1 and max(len(query), len(candidate)) > 1:
        score *= SINGLE_TOKEN_FACTOR
    joined = False
    if score < JOINED_MAX_ALIGN:  # names split differently or misspelt across a short token ('al rmi' / 'al lami')
        jq, jc = "".join(query), "".join(candidate)
        jsim = Levenshtein.normalized_similarity(jq, jc)
        jscore = JOINED_FACTOR * jsim
        if jscore > score and jsim >= JOINED_MIN_SIM:  # 'aljamal' vs 'al jamal'
            pairs, score, joined = [(" ".join(query), " ".join(candidate), jscore / JOINED_FACTOR)], jscore, True
    score = min(1.0, score)
    return NameScore(score, pairs, len(query), len(candidate), joined=joined, align=score, idx=idx,
                     qtokens=query, ctokens=candidate, qweights=qweights, cweights=cweights, qcommon=qcommon)


def _known_variant(a: str, b: str) -> bool:
    """True for an initial, a nickname pair or equal transliteration skeletons: a documented variant,
    unlike a spelling that is merely close ('jhon'/'john') or sounds alike ('sato'/'saati')."""
    return len(a) == 1 or len(b) == 1 or are_nicknames(a, b) or translit_skeleton(a) == translit_skeleton(b)


def lexicon_common(token: str) -> bool:
    """Common without list statistics: a common name, a particle or a generic company word."""
    return is_common_name(token) or token in LOW_WEIGHT_TOKENS or token in GENERIC_WORDS


def score_tokens(query: list[str], candidate: list[str], weight=default_weight,
                 entity_type: str | None = None, common=None) -> NameScore:
    """Order-insensitive weighted alignment of two token lists (token similarity computed here; a query
    token is 'known' when it is a common name; ``common`` flags tokens many people share, default the
    lexicon). Returns the alignment (``NameScore.align``), not yet the model's probability."""
    sims = [(s, i, j) for i, q in enumerate(query) for j, c in enumerate(candidate)
            if (s := token_similarity(q, c, len(q) >= 3 and is_common_name(q))) >= MIN_TOKEN_SIM]
    common = common or lexicon_common
    result = align(query, candidate, [weight(t) for t in query], [weight(t) for t in candidate], sims,
                   [common(t) for t in query])
    _check_acronym(result)
    return result


#: Words left out of acronyms ('Islamic Republic of Iran Shipping Lines' -> 'IRISL').
ACRONYM_SKIP = frozenset({"of", "and", "the", "for", "de", "del", "la", "le", "des", "du", "et", "y", "i", "al",
                          "el", "und", "fur", "der", "di", "da"})
ACRONYM_ALIGN = 0.9  # alignment score of an acronym match (the model decides what it proves)


def acronyms_of(tokens: Sequence[str]) -> set[str]:
    """Acronyms of a name of 3+ tokens: first letters without the small words, and of every token."""
    if len(tokens) < 3:
        return set()
    out = {"".join(t[0] for t in tokens if t not in ACRONYM_SKIP), "".join(t[0] for t in tokens)}
    return {a for a in out if len(a) >= 3}


def _check_acronym(result: NameScore) -> None:
    """Mark (and lift the alignment of) a pair where one side is one token spelling the other's acronym."""
    q, c = result.qtokens, result.ctokens
    short, long_ = (q, c) if len(q) == 1 else (c, q) if len(c) == 1 else (None, None)
    if short and len(short[0]) >= 3 and short[0].isalpha() and short[0] in acronyms_of(long_):
        result.acronym = True
        result.align = max(result.align, ACRONYM_ALIGN)
        result.score = result.align


def _meaningful(token: str) -> bool:
    return len(token) > 1 and token not in LOW_WEIGHT_TOKENS and token not in GENERIC_WORDS \
        and token not in LEGAL_FORMS


@dataclass(frozen=True)
class RawContext:
    """What the pair model reads from one side's raw name and tokens, independent of the other side
    (computed once per query and once per list name by the screener, instead of once per pair)."""

    latin: bool
    forms: frozenset[str]
    digits: frozenset[str]
    sorted_tokens: tuple[str, ...]
    sorted_text: str = ""  # the sorted tokens joined by spaces (whole-name spelling)
    skeleton: str = ""  # consonant skeleton of the name, tokens in order, no spaces
    sorted_skeleton: str = ""  # ... of the tokens in sorted order


def raw_context(raw: str, tokens: Sequence[str]) -> RawContext:
    """The ``RawContext`` of a raw name and its normalised tokens."""
    srt = tuple(sorted(tokens))
    return RawContext(is_latin_text(raw), legal_form_kinds(raw), frozenset(t for t in tokens if has_digit(t)),
                      srt, " ".join(srt), name_skeleton(tokens), name_skeleton(srt))


_NOT_SKELETON = str.maketrans("", "", "aeiouwy")


def name_skeleton(tokens: Sequence[str]) -> str:
    """Consonant skeleton of a name: transliteration skeletons of the tokens without vowels (and w, y: written
    for vowels in Arabic-script transliteration),
    joined without spaces, doubled letters collapsed ('Abd al-Karim AL-GHAMARI' -> 'bdlkrmlgmr', as its
    Arabic-script original 'mhmd bdlkrm lghmr' minus the first name); script and spacing independent."""
    out: list[str] = []
    for ch in "".join(translit_skeleton(t.replace("w", "")) for t in tokens).translate(_NOT_SKELETON):
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


def pair_features(ns: NameScore, query_raw: str, candidate_raw: str, qctx: RawContext | None = None,
                  cctx: RawContext | None = None) -> list[float]:
    """The pair model's feature vector (``pair_model.FEATURES`` order) of an aligned name pair.

    ``qctx``/``cctx``: the sides' precomputed ``raw_context`` (computed here when absent; same values)."""
    q, c = ns.qtokens, ns.ctokens
    qw, cw = ns.qweights, ns.cweights
    if not q or not c:
        return [0.0] * len(FEATURES)
    qctx = qctx or raw_context(query_raw, q)
    cctx = cctx or raw_context(candidate_raw, c)
    all_common = bool(ns.qcommon) and all(ns.qcommon)
    if ns.joined or ns.acronym:
        sim = ns.align
        q_cover = c_cover = sim
        exact_share, min_sim, initials = 0.0, sim, 0
        evidence = min(sum(cw), 3.0) / 3.0
        max_rarity = max(cw)
        single = 0.0
        q_extra = c_extra = 0
        fuzzy = True
    else:  # one pass over the aligned pairs (sums in the same order as the per-feature expressions)
        idx = ns.idx
        used_q = {i for i, _, _ in idx}
        used_c = {j for _, j, _ in idx}
        aligned_w = exact_w = 0
        min_sim = 1.0 if idx else 0.0
        initials = 0
        full: list[float] = []
        for i, j, s in idx:
            qi, cj, w = q[i], c[j], cw[j]
            aligned_w += w
            if qi == cj:
                exact_w += w
            min_sim = min(min_sim, s)
            if len(qi) == 1 or len(cj) == 1:
                if qi != cj:
                    initials += 1
            else:
                full.append(w)
        aligned_w = aligned_w or 1.0
        qtot, ctot = sum(qw) or 1.0, sum(cw) or 1.0
        q_cover = sum(qw[i] for i in used_q) / qtot
        c_cover = sum(cw[j] for j in used_c) / ctot
        exact_share = exact_w / aligned_w if idx else 0.0
        evidence = min(sum(full), 3.0) / 3.0
        max_rarity = max(full, default=0.0)
        q_extra = sum(1 for i, t in enumerate(q) if i not in used_q and _meaningful(t))
        c_extra = sum(1 for j, t in enumerate(c) if j not in used_c and _meaningful(t))
        single = 1.0 if len(idx) == 1 and (q_extra or c_extra) else 0.0
        # only read when every query token is common
        fuzzy = all_common and any(q[i] != c[j] and not _known_variant(q[i], c[j]) for i, j, _ in idx)
    ql, cl = qctx.latin, cctx.latin
    string_sim = Indel.normalized_similarity(qctx.sorted_text, cctx.sorted_text)
    skel = skeleton_similarity(qctx, cctx)
    qforms, cforms = qctx.forms, cctx.forms
    return [
        ns.align, q_cover, c_cover, exact_share, min_sim, min(initials, 3) / 3.0, evidence, max_rarity, single,
        min(q_extra, 3) / 3.0, min(c_extra, 3) / 3.0, float(q_extra > 0 and c_extra > 0), float(all_common),
        float(all_common and fuzzy), float(all_common and min(q_cover, c_cover) < 0.999), float(ns.joined), float(ns.acronym), float(ql != cl), float(not ql and not cl),
        float(bool(qforms) and bool(cforms) and bool(qforms & cforms)),
        float(bool(qforms) and bool(cforms) and not qforms & cforms),
        float(qctx.digits != cctx.digits), float(min(len(q), len(c)) == 1),
        float(qctx.sorted_tokens == cctx.sorted_tokens),
        string_sim, skel, skel if ql != cl else 0.0,
    ]


def model_score(ns: NameScore, query_raw: str, candidate_raw: str, family: str,
                model: PairModel | None = None, *, qctx: RawContext | None = None, cctx: RawContext | None = None,
                explain: bool = True) -> NameScore:
    """Set ``ns.score`` to the pair model's probability (0 below the retrieval floor) and keep the largest
    feature contributions as the explanation (``explain=False``: keep the features, explain later with
    ``explain_score``, as the screener does for its hits only)."""
    model = model or load_model()
    if ns.align < model.retrieval_floor and model.skeleton_gate is None:
        ns.score = 0.0
        return ns
    x = pair_features(ns, query_raw, candidate_raw, qctx, cctx)
    if not model.gate(ns.align, x[SKELETON_SIM]):
        ns.score = 0.0
        return ns
    if ns.align < model.retrieval_floor:  # let in by the skeleton gate: its own model
        family = SKELETON_FAMILY
    ns.score = model.probability(family, x)
    if x[SAME_TOKENS] and not x[LEGAL_DIFF] and ns.score < EXACT_NAME_SCORE:  # an exact listed name is reviewed
        ns.score = EXACT_NAME_SCORE
        ns.exact_floor = True
    ns.features, ns.family = x, family
    if explain:
        explain_score(ns, model)
    return ns


def explain_score(ns: NameScore, model: PairModel) -> NameScore:
    """Fill ``ns.contributions`` from the features ``model_score`` kept (coefficient x value, largest first)."""
    if ns.features is not None and not ns.contributions:
        ns.contributions = model.contributions(ns.family, ns.features)
        if ns.exact_floor:
            ns.contributions = [("exact name", 0.0), *ns.contributions]
    return ns


#: Most list names whose raw-name context the screener keeps (about 30 MB; cleared when full).
NAME_CONTEXT_CACHE = 100_000
#: Lists with fewer indexed names than this are scored name by name with the model's rarity table.
SMALL_LIST_NAMES = 2_000
#: Space-free comparisons count only when the joined texts are this similar (a spacing variant, not a new name).
JOINED_MIN_SIM = 0.8
#: ... tried only when the token alignment stays below this (the space-free score is at most JOINED_FACTOR).
JOINED_MAX_ALIGN = 0.9
#: Floor of the score of a query whose normalised tokens equal a listed name's (exact recall must stay 1).
EXACT_NAME_SCORE = 0.93
SAME_TOKENS = FEATURES.index("same_tokens")
LEGAL_DIFF = FEATURES.index("legal_diff")
SKELETON_SIM = FEATURES.index("skeleton_sim")


def skeleton_similarity(qctx: RawContext, cctx: RawContext) -> float:
    """The ``skeleton_sim`` feature from the two sides' contexts (in order or token-sorted, the better)."""
    if not qctx.skeleton or not cctx.skeleton:
        return 0.0
    return max(Indel.normalized_similarity(qctx.skeleton, cctx.skeleton),
               Indel.normalized_similarity(qctx.sorted_skeleton, cctx.sorted_skeleton))


def pair_score(query: str, candidate: str, schema: str | None = None, model: PairModel | None = None) -> NameScore:
    """Score and explanation of a query name against a list name (rarity from the model's training lists).

    ``schema`` is an entity type or a FollowTheMoney schema ('Person', 'Company', 'Vessel' ...).
    """
    model = model or load_model()
    etype = entity_type_for(schema)
    ns = score_tokens(normalize_name(query, etype).split(), normalize_name(candidate, etype).split(),
                      weight=model.weight, entity_type=etype,
                      common=lambda t: lexicon_common(t) or model.is_common(t))
    return model_score(ns, clean_text(query), clean_text(candidate), family_for(etype), model)


def score_pair(query: str, candidate: str, schema: str | None = None) -> float:
    """Probability in [0,1] that a query name and a list name denote one party (the pair model)."""
    return pair_score(query, candidate, schema).score


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

    def __init__(self, entries: Iterable[WatchlistEntry], *, prewarm: bool = True,
                 model: PairModel | None = None) -> None:
        """Index the entries; ``prewarm`` also pre-computes the similar-word lookups of the list's own
        words and of common names (part of the build: screening new names then rarely computes one)."""
        self.entries = list(entries)
        self.index = NameIndex(self.entries)
        self.model = model or load_model()
        self._acronyms: dict[str, list[int]] | None = None
        # A short list says little about how rare a token is: below SMALL_LIST_NAMES names every name is
        # scored (no retrieval shortcut) with the rarity table of the model's training lists.
        self._small = self.index.name_count < SMALL_LIST_NAMES
        self._weights = [self.model.weight(t) for t in self.index.tokens] if self._small \
            else self.index._weight_list
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
        """Exact score of a query against one indexed name (no index shortcuts: the brute-force reference).

        ``query`` is the raw name (or its tokens, then joined as the raw text); the model family is the
        query's entity type, else the listed entry's."""
        tokens = query if isinstance(query, list) else self.query_tokens(query, entity_type)
        raw = " ".join(query) if isinstance(query, list) else clean_text(query)
        ctoks = self.index.name_tokens(name_id)
        sims = [(s, i, j) for i, q in enumerate(tokens) for j, c in enumerate(ctoks)
                if (s := token_similarity(q, c, self.index.is_known(q))) >= MIN_TOKEN_SIM]
        result = align(tokens, ctoks, [self._query_weight(t) for t in tokens],
                       [self._weights[t] for t in self.index.tids_of(name_id)], sims, self._qcommon(tokens))
        _check_acronym(result)
        return self._model_score(result, raw, name_id, entity_type)

    def _family(self, name_id: int, entity_type: str | None) -> str:
        return family_for(entity_type or self.entries[int(self.index.name_entry[name_id])].entity_type)

    def _name_context(self, name_id: int) -> tuple[RawContext, str]:
        """The list name's ``RawContext`` (script, legal forms, digit tokens, sorted tokens) and its entry's
        model family, cached per name."""
        cache = self.__dict__.get("_name_ctx")
        if cache is None:
            cache = self.__dict__["_name_ctx"] = {}
        ctx = cache.get(name_id)
        if ctx is None:
            if len(cache) >= NAME_CONTEXT_CACHE:  # bounded memory on huge lists: start over
                cache.clear()
            ctx = cache[name_id] = (raw_context(self.index.name_source(name_id)[0], self.index.name_tokens(name_id)),
                                    self._family(name_id, None))
        return ctx

    def _model_score(self, result: NameScore, raw: str, name_id: int, entity_type: str | None) -> NameScore:
        return model_score(result, raw, self.index.name_source(name_id)[0], self._family(name_id, entity_type),
                           self.model)

    def _query_weight(self, token: str) -> float:
        return self.model.weight(token) if self._small else self.index.query_weight(token)

    def _qcommon(self, tokens: list[str], entity_type: str | None = None) -> list[bool]:
        """Common-token flags of a query (a pair-model feature)."""
        if self._small:
            return [self.index.is_common(t) or self.model.is_common(t) for t in tokens]
        return [self.index.is_common(t) for t in tokens]

    def _score_candidate(self, tokens: list[str], qinfo: list[QueryToken], qweights: list[float],
                         name_id: int, qcommon: list[bool] | None) -> NameScore:
        """Alignment through the per-query-token similarity caches (same values as ``score_name``'s)."""
        tids = self.index.tids_of(name_id)
        vocab = self.index.tokens
        ctoks = [vocab[t] for t in tids]
        sims = []
        for i, info in enumerate(qinfo):  # QueryToken.sim_of, inlined (the same values)
            if info.initial:
                tok = info.token
                for j, ctok in enumerate(ctoks):
                    s = token_similarity(tok, ctok)
                    if s >= MIN_TOKEN_SIM:
                        sims.append((s, i, j))
            else:
                get = info.sims.get
                for j, tid in enumerate(tids):
                    s = get(tid, 0.0)
                    if s >= MIN_TOKEN_SIM:
                        sims.append((s, i, j))
        weights = self._weights
        result = align(tokens, ctoks, qweights, [weights[t] for t in tids], sims, qcommon)
        _check_acronym(result)
        return result

    # ---- candidate generation ---------------------------------------------------------------
    def candidates(self, tokens: list[str], min_score: float) -> np.ndarray:
        """Indexed-name ids that may align >= ``min_score`` with the query tokens (acronyms included)."""
        ids = self.index.candidates(tokens, min_score)[0]
        extra = self._acronym_candidates(tokens)
        return np.union1d(ids, extra) if len(extra) else ids

    def _acronym_candidates(self, tokens: list[str]) -> np.ndarray:
        """Names that are the acronym of the query, or whose acronym the query is."""
        if len(tokens) == 1 and len(tokens[0]) >= 3:
            if self._acronyms is None:
                self._build_acronyms()
            return np.asarray(self._acronyms.get(tokens[0], ()), dtype=np.int32)
        found: list[int] = []
        for acro in acronyms_of(tokens):
            tid = self.index.vocab.get(acro)
            if tid is not None:
                found.extend(n for n in self.index.postings(tid).tolist() if self.index.name_len[n] == 1)
        return np.asarray(sorted(set(found)), dtype=np.int32)

    def _build_acronyms(self) -> None:
        acronyms: dict[str, list[int]] = {}
        index = self.index
        for nid in np.flatnonzero(index.name_len >= 3).tolist():
            for acro in acronyms_of(index.name_tokens(nid)):
                acronyms.setdefault(acro, []).append(nid)
        self._acronyms = acronyms

    # ---- screening --------------------------------------------------------------------------
    def screen(self, name: str, *, entity_type: str | None = None, date_of_birth=None,
               nationality: str | None = None, threshold: float | None = None, limit: int = 10,
               identifiers: Iterable[str] | None = None, _reference: bool = False) -> list[Hit]:
        """Screen one party name; return hits with final score >= threshold, best first, one per entry.

        ``date_of_birth`` is 'YYYY', 'YYYY-MM', 'YYYY-MM-DD' or a date; ``nationality`` a country name
        or ISO alpha-2 code; ``identifiers`` passport/national-id/registration numbers (a match is
        decisive); missing values (None, NaN, '') are ignored. Never raises on odd name text.
        Candidates are the names whose token alignment reaches the model's retrieval floor; each is
        scored by the pair model (a probability), then moved by secondary attributes.
        (``_reference``: the plain per-candidate path, kept to test that the fast path gives the same hits.)
        """
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        entity_type = entity_type_for(entity_type) if entity_type else None
        date_of_birth, nationality = _as_text(date_of_birth), _as_text(nationality)
        raw = clean_text(name)
        tokens = self.query_tokens(raw, entity_type)
        best: dict[int, tuple[float, int, NameScore]] = {}
        if tokens:
            floor, gate = self.model.retrieval_floor, self.model.skeleton_gate
            min_score = threshold - _max_bonus(date_of_birth, nationality)
            ids, qinfo, qweights = self.index.candidates(tokens, floor)
            if self._small:
                ids = np.arange(self.index.name_count)
                qweights = [self._query_weight(t) for t in tokens]
            extra = self._acronym_candidates(tokens)
            if len(extra):
                ids = np.union1d(ids, extra)
            name_entry = self.index.name_entry
            qcommon = self._qcommon(tokens)
            qctx = None if _reference else raw_context(raw, tokens)
            qfamily = family_for(entity_type) if entity_type else None
            model = self.model
            for nid in ids.tolist():
                result = self._score_candidate(tokens, qinfo, qweights, nid, qcommon)
                if result.align < floor and not _reference and (
                        gate is None or skeleton_similarity(qctx, self._name_context(nid)[0]) < gate):
                    continue  # (the reference path leaves the gate to model_score: score 0)
                if _reference:
                    result = self._model_score(result, raw, nid, entity_type)
                else:  # per-side raw-name work cached; explanations computed for the hits only
                    cctx, family = self._name_context(nid)
                    result = model_score(result, raw, "", qfamily or family, model, qctx=qctx, cctx=cctx,
                                         explain=False)
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
                explain_score(result, self.model)
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
