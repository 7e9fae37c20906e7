"""Inverted index of watchlist names for fast, complete candidate generation.

Every name and alias of every entry is normalised once (typed form, and the untyped form used
for queries without an entity type) and stored as integer token ids in flat arrays. For each
vocabulary token the index keeps its postings (the names holding it), a rarity weight, and
blocking keys (symmetric-deletion variants up to the token's edit budget, transliteration
skeleton with one deletion, Metaphone, nickname group, consonant skeleton, initial) stored as
64-bit hashes, through which a query token finds every vocabulary token it can align with.
That lookup runs once per distinct query token and is cached (``QueryToken``): the similar
tokens, their exact similarities, and for every list name that holds one of them the best
weighted similarity it can contribute. ``prewarm`` computes it at build time for the list's own
words and the common-names lexicon, so screening new names mostly hits the cache.

Candidate names come from the query tokens with the shortest posting lists: a name matching
none of a set R of query tokens scores at most A/(A+U), where A sums the best contributions of
the other tokens and U the weights of R (an unaligned query token costs its weight), so once
that bound drops below the threshold every qualifying name must hold a token similar to one in
R (the max-score argument). A vectorised bound per candidate then removes most of them before
the exact alignment.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import xxhash
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from kyc_assets.screening.nicknames import COMMON_NAMES, is_common_name, nickname_groups
from kyc_assets.screening.normalize import GENERIC_WORDS, normalize_name
from kyc_assets.screening.similarity import (
    INITIAL_SIM,
    MIN_TOKEN_SIM,
    Vocabulary,
    block_similarity,
    consonant_key,
    has_vowel,
    metaphone,
    token_similarity,
    translit_skeleton,
)
from kyc_assets.watchlists.model import WatchlistEntry

LOW_WEIGHT_TOKENS = frozenset({
    "al", "el", "bin", "ibn", "bint", "abu", "abd", "abdul", "ben", "ould", "de", "del", "la", "le",
    "van", "von", "der", "den", "da", "dos", "das", "di", "du", "y", "e",
})
LOW_WEIGHT = 0.3
JOINED_FACTOR = 0.9  # names compared without spaces count slightly less
UNMATCHED_QUERY_COST = 1.0  # share of its weight an unaligned query token costs
UNMATCHED_CANDIDATE_COST = 0.35  # share of its weight an unaligned list-name token costs
UNMATCHED_CANDIDATE_COST_COMMON = 0.7  # ... when the query is made of common names only ('Jose Lopez')
COMMON_FUZZY_FACTOR = 0.8  # a common-names-only query matched only through spelling closeness
KNOWN_DF = 3  # a list word in this many names is a real name, not a published misspelling
COMMON_DF_MIN = 20  # a list token in at least this many names (and this share of them) is common
COMMON_DF_SHARE = 0.001
SINGLE_TOKEN_FACTOR = 0.9  # multi-token names aligned on one token only
_JOIN_KEY = 6
_CACHE_LIMIT = 200_000
PREWARM_LIMIT = 60_000
DICT_BLOCK_LIMIT = 3_000_000  # blocking keys up to which key lookups go through a dict  # vocabulary size up to which the index pre-computes every list word's lookup


def stable_hash(key: str) -> int:
    """Stable signed 64-bit hash of a blocking key (xxh3): unlike ``hash()`` the same in every process, so
    a saved index (``index_store``) stays valid; a collision only adds tokens that the exact similarity drops."""
    return xxhash.xxh3_64_intdigest(key.encode()) - (1 << 63)


def default_weight(token: str) -> float:
    """Token weight without corpus statistics: particles and generic company words low, initials lower."""
    if token in LOW_WEIGHT_TOKENS or token in GENERIC_WORDS:
        return LOW_WEIGHT
    return 0.5 if len(token) == 1 else 1.0


def deletion_variants(token: str, max_deletions: int) -> set[str]:
    """The token and every string made from it by deleting up to ``max_deletions`` characters."""
    out = {token}
    frontier = {token}
    for _ in range(max_deletions):
        frontier = {t[:i] + t[i + 1:] for t in frontier for i in range(len(t))}
        out |= frontier
    return out


def token_keys(token: str, *, query: bool) -> set[str]:
    """Blocking keys of a token; a query token and a list token with similarity >= MIN_TOKEN_SIM share one.

    Symmetric deletion: two tokens at most k spelling edits apart (a substitution or an adjacent
    transposition deletes one character on each side, an insertion one on one side) share a
    variant with at most k deletions from each, so the keys are the deletion variants up to the
    edit budget (1 edit from 4 characters, 2 from 5), the transliteration skeleton and its
    one-deletion variants, the Metaphone key, nickname groups and the consonant skeleton.
    """
    if len(token) == 1:
        return {"x:" + token} if query else {"i:" + token}
    # Two tokens within budget share a variant at least max(length) - budget long: two deletions are
    # only ever needed from 6 characters, one from 4 (see ``edit_budget``).
    depth = 2 if len(token) >= 6 else 1 if len(token) >= 4 else 0
    keys = {"r:" + v for v in deletion_variants(token, depth)}
    skel = translit_skeleton(token)
    keys.update("d:" + v for v in deletion_variants(skel, 1 if len(skel) >= 4 else 0))
    meta = metaphone(token)
    if len(token) >= 3 and len(meta) >= 2:
        keys.add("m:" + meta)
    keys.update(f"n:{g}" for g in nickname_groups(token))
    ckey = consonant_key(token)
    if ckey:
        if query:
            keys.add(("c:" if not has_vowel(token) else "cn:") + ckey)
        else:
            keys.add("c:" + ckey)
            if not has_vowel(token):
                keys.add("cn:" + ckey)
    if query:
        keys.add("i:" + token[0])
    return keys


@dataclass
class QueryToken:
    """A query token's similar list tokens and the list names holding them (cached per token)."""

    token: str
    sims: dict[int, float]  # vocabulary token id -> similarity (>= MIN_TOKEN_SIM)
    names: np.ndarray  # sorted ids of names holding a similar token
    contrib: np.ndarray  # per name: max over its similar tokens of weight * similarity
    max_contrib: float

    @property
    def initial(self) -> bool:
        """True for a one-letter token (an initial): matched by first letter, never enumerated."""
        return len(self.token) == 1

    def sim_of(self, tid: int, ctoken: str) -> float:
        """Similarity of this query token to vocabulary token ``tid`` (text ``ctoken``)."""
        if self.initial:
            return token_similarity(self.token, ctoken)
        return self.sims.get(tid, 0.0)


class NameIndex:
    """All names of a list of entries, tokenised once, with postings and token blocking keys."""

    def __init__(self, entries: list[WatchlistEntry]) -> None:
        vocab: dict[str, int] = {}
        tokens: list[str] = []
        name_tok = array("i")
        name_ptr = array("q", [0])
        name_entry = array("i")
        name_ref = array("i")
        ident: dict[str, list[int]] = {}
        for e_idx, entry in enumerate(entries):
            seen: set[str] = set()
            for ref, (name, _kind) in enumerate(entry.names()):
                for form in (normalize_name(name, entry.entity_type), normalize_name(name)):
                    if not form or form in seen:
                        continue
                    seen.add(form)
                    for tok in form.split():
                        tid = vocab.get(tok)
                        if tid is None:
                            tid = vocab[tok] = len(tokens)
                            tokens.append(tok)
                        name_tok.append(tid)
                    name_ptr.append(len(name_tok))
                    name_entry.append(e_idx)
                    name_ref.append(ref)
            for _kind, value in entry.identifiers:
                key = _identifier_key(value)
                if key:
                    ident.setdefault(key, []).append(e_idx)
        self.entries = entries
        self.vocab = vocab
        self.tokens = tokens
        self.name_tok = np.frombuffer(name_tok, dtype=np.int32) if name_tok else np.empty(0, np.int32)
        self.name_ptr = np.frombuffer(name_ptr, dtype=np.int64)
        self.name_entry = np.frombuffer(name_entry, dtype=np.int32) if name_entry else np.empty(0, np.int32)
        self.name_ref = np.frombuffer(name_ref, dtype=np.int32) if name_ref else np.empty(0, np.int32)
        self.identifiers = ident
        self._build_postings()
        self._build_weights()
        self._build_blocks()
        self._build_joined()
        self._cache: dict[str, QueryToken] = {}

    def prewarm(self, limit: int = PREWARM_LIMIT) -> int:
        """Fill the query-token cache with the list's own words and the common-names lexicon (the tokens
        most queries consist of), so that screening new names rarely computes a lookup; skipped above
        ``limit`` vocabulary tokens (a million-entity list: the cache would cost too much memory).
        Returns the number of tokens cached."""
        if len(self.tokens) + len(COMMON_NAMES) > min(limit, _CACHE_LIMIT):
            return 0
        for token in (*self.tokens, *sorted(COMMON_NAMES)):
            self.query_token(token)
        return len(self._cache)

    # ---- build ------------------------------------------------------------------------------
    @property
    def name_count(self) -> int:
        """Number of indexed name forms."""
        return len(self.name_entry)

    def _build_postings(self) -> None:
        """Token id -> sorted name ids (each name once per token), as CSR arrays."""
        counts = np.diff(self.name_ptr)
        owner = np.repeat(np.arange(self.name_count, dtype=np.int32), counts)
        pairs = np.unique(np.stack([self.name_tok.astype(np.int64), owner.astype(np.int64)], axis=1), axis=0) \
            if len(owner) else np.empty((0, 2), np.int64)
        self.post_names = pairs[:, 1].astype(np.int32)
        df = np.bincount(pairs[:, 0], minlength=len(self.tokens)) if len(pairs) else np.zeros(len(self.tokens), int)
        self.post_ptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        self.doc_freq = df

    def _build_weights(self) -> None:
        """Rarity weight per token in [0.2, 1]: tokens found in many list names weigh less."""
        n = max(self.name_count, 2)
        scale = max(math.log(n) - math.log(5), 1.0)
        df = np.maximum(self.doc_freq, 1)
        rarity = np.minimum(1.0, np.log(n / df) / scale)
        weight = np.maximum(0.2, 0.2 + 0.8 * rarity)
        for tid, tok in enumerate(self.tokens):
            if len(tok) == 1:
                weight[tid] *= 0.5
            elif tok in LOW_WEIGHT_TOKENS or tok in GENERIC_WORDS:
                weight[tid] = min(weight[tid], LOW_WEIGHT)
        self.token_weight = weight.astype(np.float64)
        self._weight_list = self.token_weight.tolist()
        self.name_len = np.diff(self.name_ptr)
        cum = np.concatenate([[0.0], np.cumsum(self.token_weight[self.name_tok])])
        self.name_weight = cum[self.name_ptr[1:]] - cum[self.name_ptr[:-1]]

    def _build_blocks(self) -> None:
        """Blocking keys of every vocabulary token as sorted 64-bit key hashes with their token ids
        (compact at a million entities); nickname and consonant blocks also as small dicts."""
        key_hash = array("q")
        key_tid = array("i")
        nick: dict[int, list[int]] = {}
        cons: dict[str, list[int]] = {}
        for tid, tok in enumerate(self.tokens):
            keys = token_keys(tok, query=False)
            key_hash.extend(map(stable_hash, keys))
            key_tid.extend([tid] * len(keys))
            for g in nickname_groups(tok):
                nick.setdefault(g, []).append(tid)
            ckey = consonant_key(tok)
            if ckey:
                cons.setdefault("c:" + ckey, []).append(tid)
                if not has_vowel(tok):
                    cons.setdefault("cn:" + ckey, []).append(tid)
        hashes = np.frombuffer(key_hash, dtype=np.int64) if key_hash else np.empty(0, np.int64)
        tids = np.frombuffer(key_tid, dtype=np.int32) if key_tid else np.empty(0, np.int32)
        order = np.argsort(hashes, kind="stable")
        self.block_hash = hashes[order]
        self.block_tid = tids[order]
        # Key -> (start, end) in block_tid through a dict while it stays affordable (dict probes beat
        # binary searches over a large array); a million-entity list uses the binary search.
        self.block_ranges: dict[int, tuple[int, int]] | None = None
        if len(self.block_hash) <= DICT_BLOCK_LIMIT:
            uniq, starts = np.unique(self.block_hash, return_index=True)
            ends = np.append(starts[1:], len(self.block_hash))
            self.block_ranges = dict(zip(uniq.tolist(), zip(starts.tolist(), ends.tolist(), strict=True),
                                         strict=True))
            self._block_tid_list = self.block_tid.tolist()
        self.nick_blocks = nick
        self.cons_blocks = cons
        self.vocabulary = Vocabulary.build(self.tokens)
        self.common_df = max(COMMON_DF_MIN, COMMON_DF_SHARE * self.name_count)

    def block(self, token: str) -> np.ndarray:
        """Ids of the vocabulary tokens sharing a blocking key with query token ``token`` (unique, sorted)."""
        if self.block_ranges is not None:
            get, block_tid = self.block_ranges.get, self._block_tid_list
            found: set[int] = set()
            for key in token_keys(token, query=True):
                r = get(stable_hash(key))
                if r is not None:
                    found.update(block_tid[r[0]:r[1]])
            return np.fromiter(sorted(found), dtype=np.int64, count=len(found))
        qh = np.fromiter(map(stable_hash, token_keys(token, query=True)), dtype=np.int64)
        lo = np.searchsorted(self.block_hash, qh, "left")
        hi = np.searchsorted(self.block_hash, qh, "right")
        sizes = hi - lo
        total = int(sizes.sum())
        if not total:
            return np.empty(0, np.int64)
        starts = np.repeat(lo - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
        return np.unique(self.block_tid[starts + np.arange(total)]).astype(np.int64)

    def is_known(self, token: str) -> bool:
        """True when the query token is itself a real name: a common name, or a word found in several
        list names (a word of one list name may be a published misspelling such as 'muhmmad')."""
        if len(token) < 3:
            return False
        if is_common_name(token):
            return True
        tid = self.vocab.get(token)
        return tid is not None and self.doc_freq[tid] >= KNOWN_DF

    def is_common(self, token: str) -> bool:
        """True for a token many unrelated people share: a common name, a particle or generic word, or a
        token found in many list names."""
        if is_common_name(token) or token in LOW_WEIGHT_TOKENS or token in GENERIC_WORDS:
            return True
        tid = self.vocab.get(token)
        return tid is not None and self.doc_freq[tid] >= self.common_df

    def _build_joined(self) -> None:
        """Space-free name keys (first and last characters) for the 'abdulrahman'/'abdul rahman' comparison,
        as sorted key hashes with CSR name ids (compact and quick to save at a million entities)."""
        tokens = self.tokens
        tok, ptr = self.name_tok.tolist(), self.name_ptr.tolist()
        texts = []
        key_hash = array("q")
        for nid in range(self.name_count):
            text = "".join(tokens[t] for t in tok[ptr[nid]:ptr[nid + 1]])
            texts.append(text)
            key_hash.append(stable_hash("jp:" + text[:_JOIN_KEY]))
            key_hash.append(stable_hash("js:" + text[-_JOIN_KEY:]))
        hashes = np.frombuffer(key_hash, dtype=np.int64) if key_hash else np.empty(0, np.int64)
        owners = np.repeat(np.arange(self.name_count, dtype=np.int32), 2)
        order = np.lexsort((owners, hashes))  # by key, then name id: each key's names sorted
        hashes, owners = hashes[order], owners[order]
        self.joined_hash = hashes
        self.joined_ids = owners
        self.joined_text = texts
        self.joined_len = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))

    # ---- lookups ------------------------------------------------------------------------------
    def weight(self, token: str) -> float:
        """Rarity weight of a list token, or the default weight of a token the list does not use."""
        tid = self.vocab.get(token)
        return self._weight_list[tid] if tid is not None else default_weight(token)

    query_weight = weight

    def tids_of(self, name_id: int) -> list[int]:
        """Token ids of one indexed name."""
        return self.name_tok[self.name_ptr[name_id]:self.name_ptr[name_id + 1]].tolist()

    def name_tokens(self, name_id: int) -> list[str]:
        """Tokens of one indexed name."""
        return [self.tokens[t] for t in self.tids_of(name_id)]

    def name_source(self, name_id: int) -> tuple[str, str]:
        """The published name and its kind ('primary', 'strong_aka' ...) behind an indexed name."""
        entry = self.entries[int(self.name_entry[name_id])]
        return entry.names()[int(self.name_ref[name_id])]

    def postings(self, tid: int) -> np.ndarray:
        """Sorted ids of the names holding token ``tid``."""
        return self.post_names[self.post_ptr[tid]:self.post_ptr[tid + 1]]

    def identifier_matches(self, identifiers: Iterable[str] | None) -> list[tuple[int, str]]:
        """Entries listing one of the given identifier values (normalised: letters and digits, upper case)."""
        found: list[tuple[int, str]] = []
        for value in identifiers or ():
            key = _identifier_key(value)
            found.extend((e, key) for e in self.identifiers.get(key, ()) if key)
        return found

    def query_token(self, token: str) -> QueryToken:
        """Similar list tokens and the names holding them for one query token (cached)."""
        info = self._cache.get(token)
        if info is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            info = self._cache[token] = self._lookup(token)
        return info

    def _lookup(self, token: str) -> QueryToken:
        """Compute a QueryToken: blocked vocabulary tokens, exact similarities, name contributions."""
        empty = QueryToken(token, {}, np.empty(0, np.int32), np.empty(0), 0.0)
        if len(token) == 1:
            return QueryToken(token, {}, np.empty(0, np.int32), np.empty(0), INITIAL_SIM)
        tids = self.block(token)
        if not len(tids):
            return empty
        nick_ids: set[int] = set()
        for g in nickname_groups(token):
            nick_ids.update(self.nick_blocks.get(g, ()))
        ckey = consonant_key(token)
        cons_ids = set(self.cons_blocks.get(("c:" if not has_vowel(token) else "cn:") + ckey, ())) if ckey \
            else set()
        tid_list = tids.tolist()
        nick = np.fromiter((t in nick_ids for t in tid_list), dtype=bool, count=len(tids)) if nick_ids \
            else np.zeros(len(tids), dtype=bool)
        cons = np.fromiter((t in cons_ids for t in tid_list), dtype=bool, count=len(tids)) if cons_ids \
            else np.zeros(len(tids), dtype=bool)
        sims = block_similarity(token, tids, self.vocabulary, nick, cons, self.is_known(token))
        keep = sims >= MIN_TOKEN_SIM
        tids, sims = tids[keep], sims[keep]
        if not len(tids):
            return empty
        parts = [self.postings(t) for t in tids.tolist()]
        names = np.concatenate(parts)
        values = np.repeat(self.token_weight[tids] * sims, [len(p) for p in parts])
        order = np.lexsort((-values, names))
        names, values = names[order], values[order]
        first = np.ones(len(names), dtype=bool)
        first[1:] = names[1:] != names[:-1]
        names, values = names[first], values[first]
        return QueryToken(token, dict(zip(tids.tolist(), sims.tolist(), strict=True)), names, values,
                          float(values.max()) if len(values) else 0.0)

    def candidates(self, tokens: list[str], min_score: float) -> tuple[np.ndarray, list[QueryToken], list[float]]:
        """Names that may score >= ``min_score`` (sorted ids), with the query tokens' infos and weights."""
        qinfo = [self.query_token(t) for t in tokens]
        qweights = [self.weight(t) for t in tokens]
        order = sorted((i for i, q in enumerate(qinfo) if not q.initial), key=lambda i: len(qinfo[i].names))
        total = sum(q.max_contrib for q in qinfo)
        unaligned = 0.0
        chosen: list[int] = []
        for i in order:
            if total <= 0.0 or total < min_score * (total + unaligned):
                break
            chosen.append(i)
            total -= qinfo[i].max_contrib
            unaligned += qweights[i]
        pools = [qinfo[i].names for i in chosen if len(qinfo[i].names)]
        if pools:
            cands = pools[0] if len(pools) == 1 else np.unique(np.concatenate(pools))
            cands = cands[self._bound(cands, qinfo, qweights) >= min_score]
        else:
            cands = np.empty(0, np.int32)
        joined = self._joined_candidates(tokens, min_score)
        if len(joined):
            cands = np.union1d(cands, joined)
        return cands, qinfo, qweights

    def _bound(self, cands: np.ndarray, qinfo: list[QueryToken], qweights: list[float]) -> np.ndarray:
        """Upper bound of each candidate's token-alignment score (see the module docstring)."""
        gain = np.zeros(len(cands))
        cost = np.zeros(len(cands))
        present_count = np.zeros(len(cands), dtype=np.int64)
        for info, w in zip(qinfo, qweights, strict=True):
            if info.initial:
                gain += INITIAL_SIM
                present_count += 1
                continue
            if not len(info.names):
                cost += UNMATCHED_QUERY_COST * w
                continue
            idx = np.searchsorted(info.names, cands)
            idx[idx >= len(info.names)] = 0
            present = info.names[idx] == cands
            gain += np.where(present, info.contrib[idx], 0.0)
            cost += np.where(present, 0.0, UNMATCHED_QUERY_COST * w)
            present_count += present
        c = UNMATCHED_CANDIDATE_COST
        with np.errstate(invalid="ignore", divide="ignore"):
            loose = gain / (gain + cost)
            tight = gain / ((1 - c) * gain + c * self.name_weight[cands] + cost)
            bound = np.where(gain > 0, np.minimum(loose, tight), 0.0)
        single = (present_count <= 1) & ((len(qinfo) > 1) | (self.name_len[cands] > 1))
        return np.where(single, SINGLE_TOKEN_FACTOR * bound, bound)

    def _joined_candidates(self, tokens: list[str], min_score: float) -> np.ndarray:
        """Names whose space-free form is close enough to the query's to score >= min_score."""
        text = "".join(tokens)
        qh = np.array([stable_hash("jp:" + text[:_JOIN_KEY]), stable_hash("js:" + text[-_JOIN_KEY:])], np.int64)
        lo = np.searchsorted(self.joined_hash, qh, "left")
        hi = np.searchsorted(self.joined_hash, qh, "right")
        parts = [self.joined_ids[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True) if b > a]
        if not parts:
            return np.empty(0, np.int32)
        cand = parts[0] if len(parts) == 1 else np.union1d(parts[0], parts[1])
        # Levenshtein similarity is at most 1 - |length difference| / longer length: drop names too long or
        # too short to reach min_score before computing any distance (the same names survive).
        clen = self.joined_len[cand]
        longer = np.maximum(clen, len(text))
        cand = cand[JOINED_FACTOR * (longer - np.abs(clen - len(text))) >= (min_score - 1e-9) * longer]
        if not len(cand):
            return cand
        texts = self.__dict__.get("_joined_obj")
        if texts is None:  # the joined texts as an object array: candidates gathered by one fancy index
            texts = self.__dict__["_joined_obj"] = np.array(self.joined_text, dtype=object)
        # Similarities below the cutoff come back as 0 and cannot reach min_score either (exact: the cutoff is
        # a hair under min_score / JOINED_FACTOR, and values at or above it are the uncut similarities).
        cutoff = (min_score - 1e-9) / JOINED_FACTOR if min_score > 1e-9 else None
        sims = process.cdist([text], texts[cand], scorer=Levenshtein.normalized_similarity, dtype=np.float64,
                             score_cutoff=cutoff)[0]
        return np.sort(cand[JOINED_FACTOR * sims >= min_score])


def _identifier_key(value: object) -> str:
    """Identifier value in comparison form: letters and digits only, upper case; '' when too short."""
    key = "".join(ch for ch in str(value or "") if ch.isalnum()).upper()
    return key if len(key) >= 5 else ""
