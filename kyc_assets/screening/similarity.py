"""Similarity of two normalised name tokens, as a scalar and vectorised over a block of tokens.

A token pair's similarity mixes Jaro-Winkler and optimal string alignment (rapidfuzz), then is lifted by
sound and transliteration evidence: equal transliteration skeletons ('dzhamal'/'jamal'),
equal Metaphone keys ('hussein'/'husain', lifted halfway to 1), nickname groups
('bill'/'william'), and consonant skeletons for names written without vowels in the source
script ('mhmd'/'muhammad'). Initials match the names they abbreviate at 0.80; tokens holding
digits match only exactly (a numbered company 'ACME 2' is not 'ACME 3').

``token_similarity`` is the definition; ``block_similarity`` computes exactly the same values
for one token against many vocabulary tokens with rapidfuzz's C routines.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import jellyfish
import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA, JaroWinkler

from kyc_assets.screening.nicknames import are_nicknames

MIN_TOKEN_SIM = 0.80  # token pairs below this are never aligned (see the evaluation)
INITIAL_SIM = 0.80  # an initial against a name starting with that letter (aligns; the pair model weighs it)
NICKNAME_SIM = 0.90  # 'bill' / 'william'
CONSONANT_SIM = 0.90  # 'mhmd' (abjad transliteration) / 'muhammad'
SKELETON_EQUAL_SIM = 0.97  # 'dzhamal' / 'jamal'
SKELETON_TYPO_SIM = 0.87  # transliteration skeletons one edit apart
TYPO_SIM = (1.0, 0.92, 0.85)  # by number of spelling edits (within ``edit_budget``)
FIRST_LETTER_PENALTY = 0.03  # typists rarely get the first letter wrong

_SKELETON_RULES = (("dzh", "j"), ("dj", "j"), ("zh", "j"), ("kh", "h"), ("gh", "g"), ("ph", "f"), ("th", "t"),
                   ("sch", "sh"), ("ck", "k"), ("q", "k"), ("c", "k"), ("w", "v"), ("ou", "u"), ("oo", "u"),
                   ("ee", "i"), ("ie", "i"), ("y", "i"), ("ei", "ai"), ("x", "ks"),
                   ("ue", "u"), ("oe", "o"), ("ae", "a"))  # last three: German umlauts written out
_VOWELS = frozenset("aeiouy")


@lru_cache(maxsize=200_000)
def metaphone(token: str) -> str:
    """Metaphone key of an alphabetic token (other tokens are their own key)."""
    return jellyfish.metaphone(token) if token.isalpha() else token


@lru_cache(maxsize=200_000)
def translit_skeleton(token: str) -> str:
    """Token with common transliteration variants folded (dzh/zh->j, kh->h, ou->u, y->i ...) and
    doubled letters collapsed, so 'Dzhamal'/'Jamal' and 'Youssef'/'Yusef' share one skeleton."""
    for old, new in _SKELETON_RULES:
        token = token.replace(old, new)
    out: list[str] = []
    for ch in token:
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


@lru_cache(maxsize=200_000)
def consonant_key(token: str) -> str:
    """Consonants of the skeleton ('muhammad' -> 'mhmd'); '' for tokens shorter than 3 consonants."""
    key = "".join(ch for ch in translit_skeleton(token) if ch not in _VOWELS)
    return key if len(key) >= 3 and key.isalpha() else ""


def has_vowel(token: str) -> bool:
    """True when the token has a vowel (abjad transliterations such as 'mhmd' have none)."""
    return any(ch in _VOWELS for ch in token)


def has_digit(token: str) -> bool:
    """True when the token holds a digit (numbers in company or vessel names)."""
    if token.isalpha():  # fast path: letters only (the usual name token) hold no digit
        return False
    return any(ch.isdigit() for ch in token)


def spelling_similarity(a: str, b: str) -> float:
    """Mean of Jaro-Winkler and normalised optimal-string-alignment similarity (a transposition is one edit)."""
    return 0.5 * JaroWinkler.normalized_similarity(a, b) + 0.5 * OSA.normalized_similarity(a, b)


def edit_budget(len_a: int, len_b: int) -> int:
    """Spelling edits tolerated between two tokens of these lengths (a transposition is one edit).

    Short names change identity with one letter ('liu'/'lu'), so tokens under 4 characters match
    only exactly or as a sound/transliteration variant; one edit from 4 characters; two edits once
    the shorter token has 5 characters and the longer 6 ('hsasn'/'hassan').
    """
    lo, hi = (len_a, len_b) if len_a <= len_b else (len_b, len_a)
    if lo < 4:
        return 0
    return 2 if lo >= 5 and hi >= 6 else 1


def typo_similarity(edits: int, same_first: bool) -> float:
    """Similarity of two tokens ``edits`` spelling edits apart (within budget); a different first letter costs more."""
    return TYPO_SIM[edits] - (0.0 if same_first else FIRST_LETTER_PENALTY)


def is_variant(a: str, b: str) -> bool:
    """True when two tokens are one name by sound or convention, not by spelling closeness: equal
    transliteration skeletons, equal Metaphone keys, one nickname group, or an abjad consonant match."""
    if a == b:
        return True
    if translit_skeleton(a) == translit_skeleton(b):
        return True
    ma = metaphone(a)
    if min(len(a), len(b)) >= 3 and len(ma) >= 2 and ma == metaphone(b):
        return True
    if are_nicknames(a, b):
        return True
    return (not has_vowel(a) or not has_vowel(b)) and bool(consonant_key(a)) and consonant_key(a) == consonant_key(b)


@lru_cache(maxsize=500_000)
def token_similarity(a: str, b: str, known: bool = False) -> float:
    """Similarity in [0,1] of query token ``a`` and list token ``b`` (spelling within an edit budget, plus sound).

    Spelling: within ``edit_budget`` edits the similarity is ``typo_similarity``, beyond it 0.
    Sound and transliteration evidence lifts it: equal skeletons 0.97, skeletons one edit apart
    0.87, equal Metaphone keys halfway to 1 from the Jaro-Winkler/OSA mean, nickname group or abjad
    consonant match 0.90. ``known``: the query token is itself a real name (a common name or a
    word of the list); a known name written exactly is not a typo of another name, so only
    variants (``is_variant``) align with it.
    """
    if a == b:
        return 1.0
    if has_digit(a) or has_digit(b):
        return 0.0
    if len(a) == 1 or len(b) == 1:  # an initial matches the name it abbreviates
        return INITIAL_SIM if a[0] == b[0] else 0.0
    sim = 0.0
    edits = OSA.distance(a, b)
    if edits <= edit_budget(len(a), len(b)):
        sim = typo_similarity(edits, a[0] == b[0])
    sa, sb = translit_skeleton(a), translit_skeleton(b)
    variant = False
    if (sa != a or sb != b) and len(sa) > 1 and len(sb) > 1:
        if sa == sb:
            sim, variant = max(sim, SKELETON_EQUAL_SIM), True
        elif min(len(sa), len(sb)) >= 4 and OSA.distance(sa, sb) <= 1:
            sim = max(sim, SKELETON_TYPO_SIM)
    ma = metaphone(a)
    if min(len(a), len(b)) >= 3 and len(ma) >= 2 and ma == metaphone(b):
        sim, variant = max(sim, (spelling_similarity(a, b) + 1.0) / 2.0), True
    if are_nicknames(a, b):
        sim, variant = max(sim, NICKNAME_SIM), True
    if (not has_vowel(a) or not has_vowel(b)) and consonant_key(a) and consonant_key(a) == consonant_key(b):
        sim, variant = max(sim, CONSONANT_SIM), True
    if known and not variant:
        return 0.0
    return sim


def _pair_scores(query: str, choices: list[str]) -> np.ndarray:
    """Spelling similarity of ``query`` against every choice (float64, rapidfuzz C routines)."""
    jw = process.cdist([query], choices, scorer=JaroWinkler.normalized_similarity, dtype=np.float64)[0]
    lev = process.cdist([query], choices, scorer=OSA.normalized_similarity, dtype=np.float64)[0]
    return 0.5 * jw + 0.5 * lev


@dataclass
class Vocabulary:
    """Per-token arrays of a token vocabulary, precomputed for ``block_similarity``."""

    tokens: list[str]
    skeletons: list[str]
    length: np.ndarray
    skel_len: np.ndarray
    skel_changed: np.ndarray
    digit: np.ndarray
    meta_id: np.ndarray  # -1 when the token has no usable Metaphone key (shorter than 3 or key < 2)
    first: np.ndarray  # code point of the first character
    meta_ids: dict[str, int]

    @classmethod
    def build(cls, tokens: list[str]) -> Vocabulary:
        """Precompute skeletons, lengths, digit flags, Metaphone ids and first letters."""
        n = len(tokens)
        skeletons = [translit_skeleton(t) for t in tokens]
        meta_ids: dict[str, int] = {}
        meta = np.full(n, -1, dtype=np.int64)
        for i, t in enumerate(tokens):
            key = metaphone(t)
            if len(t) >= 3 and len(key) >= 2:
                meta[i] = meta_ids.setdefault(key, len(meta_ids))
        return cls(
            tokens=tokens, skeletons=skeletons,
            length=np.fromiter(map(len, tokens), dtype=np.int64, count=n),
            skel_len=np.fromiter(map(len, skeletons), dtype=np.int64, count=n),
            skel_changed=np.fromiter((s != t for s, t in zip(skeletons, tokens, strict=True)), dtype=bool, count=n),
            digit=np.fromiter(map(has_digit, tokens), dtype=bool, count=n),
            meta_id=meta,
            first=np.fromiter((ord(t[0]) if t else 0 for t in tokens), dtype=np.int64, count=n),
            meta_ids=meta_ids,
        )


def block_similarity(query: str, tids: np.ndarray, vocab: Vocabulary, nick: np.ndarray,
                     consonant: np.ndarray, known: bool = False) -> np.ndarray:
    """``token_similarity(query, vocab.tokens[t], known)`` for every ``t`` in ``tids`` (vectorised; identical values).

    ``nick`` flags tokens that are nickname-equivalent to the query and ``consonant`` tokens whose
    consonant key equals the query's with one side written without vowels (computed by the caller).
    """
    if not len(tids):
        return np.empty(0)
    tokens = [vocab.tokens[t] for t in tids.tolist()]
    lengths = vocab.length[tids]
    qlen = len(query)
    lo, hi = np.minimum(lengths, qlen), np.maximum(lengths, qlen)
    budget = np.where(lo < 4, 0, np.where((lo >= 5) & (hi >= 6), 2, 1))
    edits = process.cdist([query], tokens, scorer=OSA.distance, dtype=np.int32, score_cutoff=2)[0]
    first = vocab.first[tids] == ord(query[0])
    typo = np.asarray(TYPO_SIM)[np.minimum(edits, 2)] - np.where(first, 0.0, FIRST_LETTER_PENALTY)
    sim = np.where(edits <= budget, typo, 0.0)
    variant = nick | consonant
    sq = translit_skeleton(query)
    use_skel = ((sq != query) | vocab.skel_changed[tids]) & (vocab.skel_len[tids] > 1) & (len(sq) > 1)
    if use_skel.any():
        idx = np.flatnonzero(use_skel)
        sub = [vocab.skeletons[t] for t in tids[idx].tolist()]
        equal = np.fromiter((s == sq for s in sub), dtype=bool, count=len(sub))
        sdist = process.cdist([sq], sub, scorer=OSA.distance, dtype=np.int32, score_cutoff=1)[0]
        near = (sdist <= 1) & (np.minimum(vocab.skel_len[tids[idx]], len(sq)) >= 4)
        skel_sim = np.where(equal, SKELETON_EQUAL_SIM, np.where(near, SKELETON_TYPO_SIM, 0.0))
        sim[idx] = np.maximum(sim[idx], skel_sim)
        variant[idx] |= equal
    mq = metaphone(query)
    qmeta = vocab.meta_ids.get(mq, -2) if len(query) >= 3 and len(mq) >= 2 else -2
    same = (vocab.meta_id[tids] == qmeta) & (lengths >= 3)
    if same.any():
        idx = np.flatnonzero(same)
        lifted = (_pair_scores(query, [tokens[i] for i in idx.tolist()]) + 1.0) / 2.0
        sim[idx] = np.maximum(sim[idx], lifted)
        variant |= same
    sim = np.where(nick, np.maximum(sim, NICKNAME_SIM), sim)
    sim = np.where(consonant, np.maximum(sim, CONSONANT_SIM), sim)
    if known:
        sim = np.where(variant, sim, 0.0)
    if qlen == 1:
        sim = np.where(first, INITIAL_SIM, 0.0)
    else:
        sim = np.where(lengths == 1, np.where(first, INITIAL_SIM, 0.0), sim)
    sim = np.where(vocab.digit[tids] | has_digit(query), 0.0, sim)
    exact = lengths == qlen
    if exact.any():
        exact &= np.fromiter((t == query for t in tokens), dtype=bool, count=len(tokens))
    return np.where(exact, 1.0, sim)
