"""Name normalisation for sanctions screening.

Both the customer name and every watchlist name go through ``normalize_name`` so that they are
compared in one form: ASCII, lower case, no punctuation, no titles, given names first, and
without company legal forms or vessel prefixes.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

from anyascii import anyascii
from rapidfuzz.distance import OSA

logger = logging.getLogger(__name__)

try:  # PyICU transliteration through normality (optional: without it anyascii alone transliterates)
    from normality import latinize_text as _latinize_text

    _latinize_text("\u0639")

    def _latinize(text: str) -> str:
        return _latinize_text(text) or text
except Exception:  # noqa: BLE001 - PyICU missing or its ICU library unusable: fall back to anyascii
    _latinize = None

#: Names longer than this (characters) are truncated before normalisation, with a warning.
MAX_NAME_CHARS = 512

from kyc_assets.screening.titles import SUFFIXES, TITLES  # noqa: E402,F401  (re-exported)

#: Company legal forms dropped from organization names (single tokens after abbreviation folding).
LEGAL_FORMS = frozenset({
    "llc", "ltd", "limited", "inc", "incorporated", "co", "corp", "corporation", "plc", "gmbh", "ag",
    "kg", "sa", "sas", "sarl", "srl", "spa", "sl", "bv", "nv", "oy", "ab", "as", "asa", "aps",
    "ooo", "oao", "zao", "pao", "ao", "ojsc", "cjsc", "jsc", "pjsc", "ltda", "cia", "fze", "fzco",
    "fzc", "fzllc", "llp", "lp", "pte", "pty", "bhd", "sdn", "tov", "sae", "wll", "cv", "ca",
    "sac", "saic", "eirl", "sprl", "kft", "zrt", "doo", "ad", "dd",
})
#: Multi-word legal forms, matched on the folded, space-separated text.
_LEGAL_PHRASES = re.compile(
    r"\b(?:s a de c v|sa de cv|s de rl de cv|s de rl|s en c|sa de c v|s a s|s a|s l|"
    r"limited liability company|joint stock company|closed joint stock company|"
    r"open joint stock company|public joint stock company)\b"
)
#: Generic words of company names: they say little about which company is meant, so they weigh little.
GENERIC_WORDS = frozenset({
    "trading", "trade", "traders", "international", "intl", "group", "holding", "holdings", "company",
    "companies", "general", "industries", "industrial", "industry", "services", "service", "global", "import",
    "export", "imports", "exports", "investment", "investments", "enterprise", "enterprises", "corp",
    "corporation", "commercial", "commerce", "the", "and", "of", "for", "bank", "management", "development",
    "consulting", "capital", "partners", "solutions", "systems", "technology", "technologies", "logistics",
    "shipping", "marine", "maritime", "energy", "oil", "gas", "petroleum", "construction", "engineering",
    "manufacturing", "products", "resources", "finance", "financial", "exchange", "establishment", "est",
    "agency", "center", "centre", "foundation", "association", "organization", "organisation", "institute",
    "ministry", "national", "state", "united", "new", "first", "limited", "incorporated",
})
#: Vessel name prefixes (after abbreviation folding): M/V, MV, M/T, MT, S/S, SS ...
VESSEL_PREFIXES = frozenset({"mv", "mt", "ms", "ss", "mfv", "fv", "my", "sy"})
_NON_PERSON = ("organization", "vessel", "aircraft")
#: FollowTheMoney schema names (and our entity types) mapped to the entity type used here.
SCHEMA_TYPES = {
    "person": "person", "organization": "organization", "company": "organization", "legalentity": None,
    "publicbody": "organization", "vessel": "vessel", "airplane": "aircraft", "aircraft": "aircraft",
    "entity": None, "thing": None, "": None,
}
#: Unicode categories removed before transliteration: symbols (emoji), controls (NUL), private use, unassigned.
_DROP_CATEGORIES = frozenset({"So", "Sk", "Cc", "Cf", "Cs", "Co", "Cn"})


def entity_type_for(schema: str | None) -> str | None:
    """Entity type for an FtM schema or entity type name ('Person', 'Company', 'vessel'); unknown -> None."""
    if schema is None:
        return None
    return SCHEMA_TYPES.get(str(schema).strip().lower().replace("_", ""))


def clean_text(name: object) -> str:
    """Name text safe to normalise: str, at most MAX_NAME_CHARS, no control characters, emoji or symbols.

    ``None`` and non-strings become text (``None`` -> ''); over-long names are truncated with a
    warning that carries the length only (no PII in logs).
    """
    if name is None:
        return ""
    text = name if isinstance(name, str) else str(name)
    if len(text) > MAX_NAME_CHARS:
        logger.warning("name of %d characters truncated to %d for screening", len(text), MAX_NAME_CHARS)
        text = text[:MAX_NAME_CHARS]
    if text.isascii():
        return text if text.isprintable() else "".join(ch if ch.isprintable() else " " for ch in text)
    return "".join(" " if unicodedata.category(ch) in _DROP_CATEGORIES else ch for ch in text)


def _transliterate(text: str) -> str:
    """ASCII transliteration; CJK and Hangul characters become separate syllables ('王伟' -> 'Wang Wei').

    Indic and Thai names go through ICU's Any-Latin first (normality.latinize_text, when PyICU is
    installed): it keeps the inherent vowels that anyascii drops ('नरेन्द्र' -> 'narendra', not 'nrendr');
    anyascii then folds the diacritics and covers every other script (Khmer, Arabic, Cyrillic ...)."""
    spaced = "".join(f" {ch} " if "\u2e80" <= ch <= "\ud7af" and not "\u3040" <= ch <= "\u30ff" else ch
                     for ch in text)  # Han and Hangul syllables spaced; Japanese kana words kept whole
    if _latinize is not None and spaced == text and _ICU_SCRIPTS.search(text):
        spaced = _latinize(text)
    return anyascii(spaced)


def _fold_abbreviations(text: str) -> str:
    """Join dotted or slashed abbreviations: 'S.A.' -> 'SA', 'M/V' -> 'MV', 'C.V.' -> 'CV'."""
    text = re.sub(r"\b([A-Za-z])\s*/\s*([A-Za-z])\b", r"\1\2", text)
    return re.sub(r"\b(?:[A-Za-z]\.){2,}", lambda m: m.group(0).replace(".", ""), text)


def _reorder_last_first(text: str, entity_type: str | None) -> str:
    """Turn 'LAST, First' (one comma, person or unknown type) into 'First LAST'."""
    if entity_type not in _NON_PERSON:
        text = re.sub(r",\s*(?:jr|sr|ii|iii|iv)\.?\s*$", "", text, flags=re.IGNORECASE)
    if entity_type in _NON_PERSON or text.count(",") != 1:
        return text
    last, first = (part.strip() for part in text.split(","))
    first_tokens = _plain_tokens(first)
    if not last or not first_tokens or all(t in LEGAL_FORMS for t in first_tokens):
        return text
    return f"{first} {last}"


def _plain_tokens(text: str) -> list[str]:
    """Lower-case ASCII word tokens of text (helper for structure decisions)."""
    return re.sub(r"[^a-z0-9]+", " ", anyascii(text).lower()).split()


def _strip_edges(tokens: list[str], leading: frozenset[str], trailing: frozenset[str],
                 fuzzy: bool = False) -> list[str]:
    """Remove ``leading`` words from the start and ``trailing`` words from the end, keeping one token.

    ``fuzzy``: also remove misspelt long legal forms ('corporition', 'limtied'; see ``_is_legal_typo``).
    """
    start, end = 0, len(tokens)
    while end - start > 1 and (tokens[start] in leading or (fuzzy and _is_legal_typo(tokens[start]))):
        start += 1
    while end - start > 1 and (tokens[end - 1] in trailing or (fuzzy and _is_legal_typo(tokens[end - 1]))):
        end -= 1
    return tokens[start:end]


#: Words of spelled-out legal forms ('Limited Liability Company', 'Open Joint Stock Company').
_FORM_WORDS = frozenset({"limited", "liability", "company", "joint", "stock", "open", "closed", "public",
                         "private", "society", "partnership", "corporation", "incorporated"})


def _strip_legal_phrase(tokens: list[str]) -> list[str]:
    """Drop a leading or trailing spelled-out legal form the phrase table missed because of a typo
    ('limited liabily company avisto' -> 'avisto'): a run of at least two legal-form words (or misspelt
    long forms) at the start or end, keeping one token."""
    def is_form(t: str) -> bool:
        return t in _FORM_WORDS or t in LEGAL_FORMS or _is_legal_typo(t) or _is_form_word_typo(t)

    start = 0
    while start < len(tokens) - 1 and is_form(tokens[start]):
        start += 1
    if start >= 2:
        tokens = tokens[start:]
    end = len(tokens)
    while end > 1 and is_form(tokens[end - 1]):
        end -= 1
    if len(tokens) - end >= 2:
        tokens = tokens[:end]
    return tokens


@lru_cache(maxsize=65_536)
def _is_form_word_typo(token: str) -> bool:
    """A legal-form word of 6+ letters misspelt by one edit, two from 8 letters ('compnay', 'liabily')."""
    if len(token) < 6:
        return False
    for w in _FORM_WORDS:
        k = 2 if len(w) >= 8 else 1
        if len(w) >= 6 and abs(len(w) - len(token)) <= k and OSA.distance(token, w, score_cutoff=k) <= k:
            return True
    return False


#: Long legal-form words whose misspellings are still recognised (one edit, two from 9 characters).
_LONG_LEGAL_FORMS = ("limited", "corporation", "incorporated", "aktiengesellschaft",
                     "gesellschaft", "sociedad", "societe", "limitada")


@lru_cache(maxsize=65_536)
def _is_legal_typo(token: str) -> bool:
    """True for a misspelt long legal form: 'corporition', 'limtied', 'lliimited' (not an exact form)."""
    if len(token) < 6 or token in GENERIC_WORDS:
        return False
    for form in _LONG_LEGAL_FORMS:
        if abs(len(form) - len(token)) <= 2 and OSA.distance(token, form, score_cutoff=2) <= (2 if len(form) >= 9 else 1):
            return True
    return False


def normalize_name(name: str, entity_type: str | None = None) -> str:
    """Canonical comparison form of a party name (see ``_normalize``); never raises on odd text.

    Accepts None, emoji, NUL bytes, mixed scripts and very long names (truncated to MAX_NAME_CHARS).
    """
    text = clean_text(name)
    if entity_type is not None and entity_type not in SCHEMA_TYPES.values():
        entity_type = entity_type_for(entity_type)
    return _normalize(text, entity_type)


@lru_cache(maxsize=65_536)
def _normalize(name: str, entity_type: str | None = None) -> str:
    """Canonical comparison form of a party name.

    NFKC, transliterate to ASCII (anyascii), casefold, drop punctuation and diacritics,
    reorder 'LAST, First' to 'first last', drop leading titles and trailing suffixes (persons), legal forms at
    either end (organizations)
    and vessel prefixes (vessels). ``entity_type`` None applies the person and organization rules.
    """
    abjad = not name.isascii() and _ABJAD.search(name) is not None
    text = name if name.isascii() else _transliterate(unicodedata.normalize("NFKC", name))
    text = _fold_abbreviations(text)
    text = _reorder_last_first(text, entity_type)
    text = text.casefold()
    text = re.sub(r"['`\u2019]", "", text)  # O'Brien -> obrien, Sa'id -> said
    text = re.sub(r"[^a-z0-9]+", " ", text).strip()
    if entity_type in (None, "organization"):
        text = _LEGAL_PHRASES.sub(" ", text).strip() or text
    tokens = text.split()
    if entity_type in (None, "person"):
        tokens = _strip_edges(tokens, TITLES, SUFFIXES)
    if entity_type in (None, "organization"):
        tokens = _strip_legal_phrase(_strip_edges(tokens, LEGAL_FORMS, LEGAL_FORMS, fuzzy=True))
    if entity_type == "vessel" and len(tokens) > 1 and tokens[0] in VESSEL_PREFIXES:
        tokens = tokens[1:]
    if abjad:  # Arabic/Hebrew script writes few vowels: keep the consonant skeleton ('hsyn' -> 'hsn')
        tokens = [_consonants(t) for t in tokens]
    return " ".join(tokens)


#: Scripts where ICU's transliteration beats anyascii: the Indic scripts (inherent vowels: 'narendra', not
#: 'nrendr') and Thai. Not Arabic: on the held-out original-script pairs ICU scored 0.117 against anyascii's
#: 0.124 (Arabic-script names are reduced to consonants anyway, see ``_consonants``).
_ICU_SCRIPTS = re.compile("[\u0900-\u0dff\u0e00-\u0e7f]")
#: Arabic, Hebrew, Syriac and Thaana letters (scripts that do not write short vowels).
_ABJAD = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")


def _consonants(token: str) -> str:
    """The token without vowel letters (a, e, i, o, u, y, w after a consonant), kept when that leaves
    fewer than 3 letters or digits are involved; such tokens then align through consonant keys."""
    if not token.isalpha() or len(token) < 4:
        return token
    out = re.sub(r"[aeiouy]", "", token[1:])
    out = token[0] + out
    return out if len(out) >= 3 else token


def name_tokens(name: str, entity_type: str | None = None) -> list[str]:
    """Tokens of the normalised name, in order."""
    return normalize_name(name, entity_type).split()
