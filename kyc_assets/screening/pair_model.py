"""The calibrated pairwise name model: explainable features of an aligned name pair -> probability.

The matcher aligns the tokens of two normalised names (``matcher.align``); this module turns that
alignment, plus what the raw names say (script, legal form), into a fixed feature vector and scores
it with a logistic regression fitted on pairs built from the sanctions lists (``pairs.py``,
``train_pair_model.py``). One model per family ('person', 'organization', 'any' for vessels,
aircraft and untyped pairs), and 'skeleton' for pairs whose tokens align below the floor but whose
whole-name consonant skeletons agree (a name in another script or transliteration standard). The score is a probability that both names denote one party; every
hit keeps its per-feature contributions (coefficient x value) as its explanation.

The fitted coefficients ship as JSON in ``kyc_assets/data/screening_model/pair_model.json`` (no
pickle: fast to load, reviewable in a diff), with the token rarity table of the training lists that
``score_pair`` uses when no list index is at hand.
"""

from __future__ import annotations

import json
import math
import operator
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from anyascii import anyascii

MODEL_DIR = Path(__file__).resolve().parent.parent / "data" / "screening_model"
MODEL_PATH = MODEL_DIR / "pair_model.json"

#: Feature names, in vector order (documented in the training report).
FEATURES = (
    "align",  # weighted order-free alignment score of the two token lists (0..1)
    "q_cover",  # share of the query's token weight that is aligned
    "c_cover",  # share of the list name's token weight that is aligned
    "exact_share",  # share of the aligned weight from identical tokens
    "min_sim",  # lowest similarity of an aligned token pair
    "initials",  # aligned pairs in which one side is an initial (/3, capped)
    "evidence",  # rarity weight of aligned full (non-initial) tokens (/3, capped)
    "max_rarity",  # largest rarity weight among aligned full tokens
    "single",  # one token pair aligned while a meaningful token stays unaligned
    "q_extra",  # unaligned meaningful query tokens (/3, capped)
    "c_extra",  # unaligned meaningful list-name tokens (/3, capped)
    "both_extra",  # both sides keep an unaligned meaningful token (siblings: 'Supplies' vs 'Services')
    "all_common",  # every query token is a common name, particle or generic word
    "common_fuzzy",  # ... and some pair aligned only by spelling closeness
    "common_partial",  # ... and one of the names keeps unaligned tokens ('Mateo Lopez' / 'Mateo DIAZ LOPEZ')
    "joined",  # the names matched once spaces were removed ('abdulrahman' / 'abdul rahman')
    "acronym",  # one name is the acronym of the other ('IRISL')
    "script_cross",  # exactly one of the raw names is in a non-Latin script
    "nonlatin_both",  # both raw names are in a non-Latin script
    "legal_same",  # both names carry a legal form of one kind (JSC / OAO / Joint Stock Company)
    "legal_diff",  # both carry legal forms of different kinds (LLC vs CORP)
    "digit_mismatch",  # numbers in the names differ
    "one_token",  # one side is a single token
    "same_tokens",  # the normalised names hold the same tokens (any order)
    "string_sim",  # whole-name spelling similarity (Indel ratio of the token-sorted normalised names)
    "skeleton_sim",  # whole-name consonant-skeleton similarity (script and transliteration independent)
    "script_skeleton",  # skeleton_sim of a pair written in two scripts (0 otherwise)
)
#: 'skeleton' scores the pairs whose token alignment stays under the floor but whose consonant skeletons pass
#: the skeleton gate (names in another script or transliteration), whatever their entity type.
FAMILIES = ("person", "organization", "any", "skeleton")
SKELETON_FAMILY = "skeleton"


def family_for(entity_type: str | None) -> str:
    """Model family of an entity type: 'person', 'organization', else 'any'."""
    return entity_type if entity_type in ("person", "organization") else "any"


# ---- raw-name features ------------------------------------------------------------------------------
def is_latin_text(text: str) -> bool:
    """True when every letter is Latin script (ASCII fast path)."""
    if text.isascii():
        return True
    return _is_latin_slow(text)


@lru_cache(maxsize=65_536)
def _is_latin_slow(text: str) -> bool:
    import unicodedata

    return all(not ch.isalpha() or unicodedata.name(ch, "").startswith("LATIN") for ch in text)


#: Kinds of company legal forms: forms of one kind are interchangeable spellings of one legal form.
LEGAL_FORM_KINDS = {
    "joint_stock": "jsc ao oao zao pao pjsc cjsc ojsc ag sa ad nv kk plc aktiengesellschaft tk sae saa jscb "
                   "as asa ab oyj",
    "limited_liability": "llc ooo gmbh sarl srl sl ltda tov doo kft sro spzoo bv bvba oy aps mchj too pllc fzllc "
                         "sdn bhd",
    "corporation": "corp corporation inc incorporated",
    "limited": "ltd limited pte pty pvt private",
    "partnership": "lp llp kg gbr ohg snc scs",
    "free_zone": "fze fzco fzc",
    "cooperative": "coop cooperative",
}
_FORM_KIND = {tok: kind for kind, toks in LEGAL_FORM_KINDS.items() for tok in toks.split()}


@lru_cache(maxsize=65_536)
def legal_form_kinds(name: str) -> frozenset[str]:
    """Kinds of legal form a raw company name carries ('Rosoboronexport OAO' -> {'joint_stock'}).

    rigour's org-type table (when installed) rewrites spelled-out forms in many languages to their
    short comparison form ('joint stock company' -> 'jsc', 'obshchestvo s ogranichennoy
    otvetstvennostyu' -> 'ooo'); the short forms are then mapped to kinds.
    """
    text = re.sub(r"[^a-z0-9 ]+", " ", _fold_dots(anyascii(name).lower()))
    text = " ".join(_form_word(t) for t in text.split())  # 'LIABoLTY' -> 'liability'
    if _rigour_compare is not None:
        text = _rigour_compare(text)
    return frozenset(_FORM_KIND[t] for t in text.split() if t in _FORM_KIND)


def _form_word(token: str) -> str:
    """A misspelt legal-form word (one edit, two from 8 letters) as the form word; other tokens unchanged."""
    if len(token) < 6 or token in _FORM_WORDS:
        return token
    from rapidfuzz.distance import OSA

    for w in _FORM_WORDS:
        k = 2 if len(w) >= 8 else 1
        if abs(len(w) - len(token)) <= k and OSA.distance(token, w, score_cutoff=k) <= k:
            return w
    return token


_FORM_WORDS = ("limited", "liability", "company", "corporation", "incorporated", "partnership", "aktiengesellschaft",
               "gesellschaft", "joint", "stock", "public", "closed", "private", "society")


def _fold_dots(text: str) -> str:
    return re.sub(r"\b(?:[a-z]\.){2,}", lambda m: m.group(0).replace(".", ""), text)


try:  # rigour (MIT): multilingual legal-form table
    from rigour.names import replace_org_types_compare as _rigour_compare
except ImportError:  # pragma: no cover - optional
    _rigour_compare = None


# ---- the model ----------------------------------------------------------------------------------------
@dataclass
class Family:
    """Fitted logistic regression of one family: intercept and one coefficient per feature."""

    intercept: float
    coef: list[float]

    def logit(self, x: list[float]) -> float:
        if len(x) != len(self.coef):
            raise ValueError(f"{len(x)} feature values for {len(self.coef)} coefficients")
        return self.intercept + sum(map(operator.mul, self.coef, x))  # the products summed in feature order


@dataclass
class PairModel:
    """The shipped model: families, the rarity table of the training lists, version and metadata."""

    version: str
    families: dict[str, Family]
    rarity_names: int
    rarity_df: dict[str, int]
    retrieval_floor: float
    #: Pairs aligned below the floor are still scored when their consonant skeletons are this similar
    #: (a name in another script or transliteration: 'حكمت مزبان' / 'HIKMAT MIZBAN'); None: no such gate.
    skeleton_gate: float | None = None

    def gate(self, align: float, skeleton: float) -> bool:
        """True when a pair with this alignment and skeleton similarity is scored by the model (else 0)."""
        return align >= self.retrieval_floor or (self.skeleton_gate is not None and skeleton >= self.skeleton_gate
                                                 and SKELETON_FAMILY in self.families)

    def probability(self, family: str, x: list[float]) -> float:
        """P(same party) of feature vector ``x`` under ``family``'s model."""
        z = self.families[family].logit(x)
        return 1.0 / (1.0 + math.exp(-z)) if z > -35 else 0.0

    def contributions(self, family: str, x: list[float], top: int = 4) -> list[tuple[str, float]]:
        """The ``top`` largest feature contributions (coefficient x value, in log-odds), by magnitude."""
        fam = self.families[family]
        parts = [(n, c * v) for n, c, v in zip(FEATURES, fam.coef, x, strict=True) if v and c]
        parts.sort(key=lambda p: -abs(p[1]))
        return parts[:top]

    def weight(self, token: str) -> float:
        """Rarity weight of a token from the training lists' document frequencies (as ``NameIndex`` does)."""
        return _rarity_weight(self.rarity_df.get(token, 1), self.rarity_names, token)

    def is_common(self, token: str) -> bool:
        """A token shared by many list names (at least 20, and 0.1% of them)."""
        return self.rarity_df.get(token, 0) >= max(20, 0.001 * self.rarity_names)


def _rarity_weight(df: int, names: int, token: str) -> float:
    from kyc_assets.screening.index import GENERIC_WORDS, LOW_WEIGHT, LOW_WEIGHT_TOKENS

    n = max(names, 2)
    scale = max(math.log(n) - math.log(5), 1.0)
    rarity = min(1.0, math.log(n / max(df, 1)) / scale)
    w = max(0.2, 0.2 + 0.8 * rarity)
    if len(token) == 1:
        w *= 0.5
    elif token in LOW_WEIGHT_TOKENS or token in GENERIC_WORDS:
        w = min(w, LOW_WEIGHT)
    return w


#: Used before a model is fitted (and by the training script's baseline): the alignment score itself.
UNFITTED = {fam: Family(-8.0 * 0.8, [8.0] + [0.0] * (len(FEATURES) - 1)) for fam in FAMILIES}


@lru_cache(maxsize=1)
def load_model(path: str | None = None) -> PairModel:
    """The shipped model (cached); an unfitted stand-in (logistic of the alignment score) when absent."""
    p = Path(path) if path else MODEL_PATH
    if not p.is_file():
        return PairModel("unfitted", dict(UNFITTED), 2, {}, 0.6)
    data = json.loads(p.read_text(encoding="utf-8"))
    if list(data["features"]) != list(FEATURES):
        raise ValueError(f"{p}: model features differ from the code's FEATURES; retrain the pair model")
    fams = {name: Family(float(f["intercept"]), [float(f["coef"][n]) for n in FEATURES])
            for name, f in data["families"].items()}
    rarity = json.loads((p.parent / data["rarity_file"]).read_text(encoding="utf-8"))
    return PairModel(data["version"], fams, int(rarity["names"]), rarity["df"], float(data["retrieval_floor"]),
                     data.get("skeleton_gate"))
