"""Training and evaluation material for the name matcher, built from the sanctions lists themselves.

- **Alias pairs** (positives): two names of one listed entity (primary name, strong and weak
  aliases, former names, names in original script).
- **Hard negatives**: names of two different entities that share a token, a surname, a legal form
  with a token, or a phonetic key: the pairs a string matcher gets wrong.
- **Perturbed queries**: a listed name rewritten by code with its own seed (initials, joined or split
  parts, reordering, typos, dropped parts, titles, transliteration variants, legal-form rewrites).

Everything is split **by entity** (``split_of``: a hash of the entity id), so an entity's names are
either all in the training part or all in the held-out part, and negatives pair entities of one part
only. Tuning uses ``TUNE_SEED`` on the training part; reported figures use ``REPORT_SEED`` on the
held-out part. Plain Python, no Dagster; the bench and the training entry point call it.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from kyc_assets.watchlists.model import ORIGINAL_SCRIPT, WatchlistEntry, is_latin

TUNE_SEED = 1001  # perturbations and negatives of the training part
REPORT_SEED = 2002  # perturbations and negatives of the held-out part (reported figures only)
HELD_OUT_SHARE = 5  # one entity in five is held out

#: The list files under a data folder such as /work/shared/data (all optional; missing ones are skipped).
LIST_FILES = ("ofac_sdn_2021-07-07_fullset", "ofac_sdn_2024-05-03/sdn.csv", "un_sc_consolidated_2026-02-27.xml",
              "sanctions_format_samples/deriv_sample_eu.xml", "sanctions_format_samples/deriv_sample_hmt.csv",
              "sanctions_format_samples/deriv_sample_unsc.xml", "sanctions_format_samples/deriv_sdn.xml")

PERTURBATION_KINDS = ("initials", "joined_split", "reorder", "typo", "dropped_part", "honorific",
                      "transliteration")


@dataclass
class Pair:
    """One labelled name pair: ``label`` 1 when both names belong to one listed entity."""

    query: str
    candidate: str
    schema: str  # entity type of the listed entity: person, organization, vessel, aircraft
    label: int
    kind: str  # alias, weak_alias, original_script, hard_neg_token, hard_neg_surname, ... or a perturbation
    group: str  # person, company, script, other (for figures by group)
    query_entity: str = ""
    candidate_entity: str = ""

    def as_row(self) -> dict:
        """Dict of the pair (for CSV files and pandas)."""
        return asdict(self)


def split_of(entity_id: str) -> str:
    """'held_out' for one entity in HELD_OUT_SHARE (stable hash of the id), else 'train'."""
    digest = hashlib.sha256(entity_id.encode("utf-8")).digest()
    return "held_out" if int.from_bytes(digest[:4], "big") % HELD_OUT_SHARE == 0 else "train"


def load_list_entries(data_dir: str | Path, files: Sequence[str] = LIST_FILES) -> list[WatchlistEntry]:
    """Entries of the lists found under ``data_dir``; records sharing an entity id (the OFAC 2021 and
    2024 files) are merged, so the 2024 remarks aliases join the 2021 entity."""
    from kyc_assets.watchlists.model import merge_duplicates
    from kyc_assets.watchlists.sources import load_watchlist

    entries: list[WatchlistEntry] = []
    for rel in files:
        path = Path(data_dir) / rel
        if path.exists():
            entries.extend(load_watchlist(path).entries)
    return merge_duplicates(entries)


def group_of(a: str, b: str, entity_type: str) -> str:
    """Figure group of a pair: 'script' when either name is not in Latin script, else by entity type."""
    if not is_latin(a) or not is_latin(b):
        return "script"
    if entity_type == "person":
        return "person"
    return "company" if entity_type == "organization" else "other"


def _key(name: str) -> str:
    """Loose comparison key (letters and digits of the lower-cased name, in order)."""
    return re.sub(r"[\W_]+", " ", name.casefold()).strip()


def _tokens(name: str) -> list[str]:
    from kyc_assets.screening.normalize import normalize_name

    return normalize_name(name).split()


# ---- alias pairs ---------------------------------------------------------------------------------
def alias_pairs(entries: Iterable[WatchlistEntry], rng: random.Random, per_entity: int = 6) -> list[Pair]:
    """Positive pairs: two different names of one entity (at most ``per_entity`` per entity, sampled).

    The kind says what the second name is: 'alias', 'weak_alias' (a low-quality a.k.a.),
    'former_name' (f.k.a./n.k.a.) or 'original_script'.
    """
    out: list[Pair] = []
    for entry in entries:
        names = [(n, k) for n, k in entry.names() if n.strip()]
        combos = []
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                (a, ka), (b, kb) = names[i], names[j]
                if _key(a) == _key(b):
                    continue
                kind = ("original_script" if ORIGINAL_SCRIPT in (ka, kb) else
                        "weak_alias" if "weak_aka" in (ka, kb) else
                        "former_name" if {"fka", "nka"} & {ka, kb} else "alias")
                combos.append((a, b, kind))
        rng.shuffle(combos)
        for a, b, kind in combos[:per_entity]:
            if rng.random() < 0.5:
                a, b = b, a
            out.append(Pair(a, b, entry.entity_type, 1, kind, group_of(a, b, entry.entity_type),
                            entry.entity_id, entry.entity_id))
    return out


# ---- hard negatives ------------------------------------------------------------------------------
def hard_negatives(entries: Sequence[WatchlistEntry], rng: random.Random, per_entity: int = 4) -> list[Pair]:
    """Negative pairs: names of two different entities of one type that share something a string
    matcher notices: a token ('hard_neg_token'), the surname ('hard_neg_surname'), a legal form and a
    token ('hard_neg_legal_form'), or a token's phonetic key without the token ('hard_neg_phonetic')."""
    from kyc_assets.screening.normalize import LEGAL_FORMS
    from kyc_assets.screening.similarity import metaphone

    by_token: dict[tuple[str, str], list[int]] = defaultdict(list)
    by_surname: dict[tuple[str, str], list[int]] = defaultdict(list)
    by_meta: dict[tuple[str, str], list[int]] = defaultdict(list)
    names: list[tuple[int, str, list[str]]] = []
    for e_idx, entry in enumerate(entries):
        for name, _kind in entry.names():
            if not is_latin(name):
                continue
            toks = _tokens(name)
            if not toks:
                continue
            nid = len(names)
            names.append((e_idx, name, toks))
            for t in set(toks):
                if len(t) >= 3:
                    by_token[(entry.entity_type, t)].append(nid)
                    by_meta[(entry.entity_type, metaphone(t))].append(nid)
            if entry.entity_type == "person" and len(toks) >= 2:
                by_surname[(entry.entity_type, toks[-1])].append(nid)
    out: list[Pair] = []
    raw_forms = {n: {t for t in _key(n).split() if t in LEGAL_FORMS} for _, n, _ in names}

    def pick(pool: list[int], e_idx: int) -> int | None:
        for _ in range(6):
            nid = rng.choice(pool)
            if names[nid][0] != e_idx:
                return nid
        return None

    for nid, (e_idx, name, toks) in enumerate(names):
        if rng.random() > per_entity / max(1, 2 * len(entries[e_idx].names())):
            continue
        etype = entries[e_idx].entity_type
        options: list[tuple[str, list[int]]] = []
        for t in toks:
            pool = by_token.get((etype, t), [])
            if 1 < len(pool) < 2_000:
                options.append(("hard_neg_token", pool))
            mpool = [m for m in by_meta.get((etype, metaphone(t)), []) if t not in names[m][2]]
            if len(t) >= 4 and mpool:
                options.append(("hard_neg_phonetic", mpool))
        if etype == "person" and len(toks) >= 2 and len(by_surname.get((etype, toks[-1]), [])) > 1:
            options.append(("hard_neg_surname", by_surname[(etype, toks[-1])]))
        if etype == "organization" and raw_forms[name]:
            shared = [m for t in toks for m in by_token.get((etype, t), []) if raw_forms[names[m][1]]]
            if shared:
                options.append(("hard_neg_legal_form", shared))
        if not options:
            continue
        kind, pool = rng.choice(options)
        other = pick(pool, e_idx)
        if other is None:
            continue
        o_idx, oname, _ = names[other]
        if _key(oname) == _key(name):
            continue  # two entities published under one name: not a negative a name can decide
        out.append(Pair(name, oname, etype, 0, kind, group_of(name, oname, etype),
                        entries[e_idx].entity_id, entries[o_idx].entity_id))
    return out


def script_negatives(entries: Sequence[WatchlistEntry], rng: random.Random, per_entity: int = 2) -> list[Pair]:
    """Negative pairs across scripts ('hard_neg_script'): a name in original script paired with a Latin-script
    name of another entity of one type sharing a token's consonant key (else any such name), so that a
    model cannot learn that a pair in two scripts is a match."""
    from kyc_assets.screening.similarity import consonant_key

    by_key: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    by_type: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for e_idx, entry in enumerate(entries):
        for name, _kind in entry.names():
            if is_latin(name) and name.strip():
                by_type[entry.entity_type].append((e_idx, name))
                for t in set(_tokens(name)):
                    if (k := consonant_key(t)):
                        by_key[(entry.entity_type, k)].append((e_idx, name))
    out: list[Pair] = []
    for e_idx, entry in enumerate(entries):
        script = [n for n, k in entry.names() if k == ORIGINAL_SCRIPT and n.strip() and not is_latin(n)]
        rng.shuffle(script)
        for name in script[:per_entity]:
            pool = [x for t in _tokens(name) if (k := consonant_key(t)) for x in by_key.get((entry.entity_type, k), ())]
            pool = [x for x in pool if x[0] != e_idx] or [x for x in by_type.get(entry.entity_type, []) if x[0] != e_idx]
            if not pool:
                continue
            o_idx, other = rng.choice(pool)
            mine_, theirs = (name, entry.entity_id), (other, entries[o_idx].entity_id)
            (a, ida), (b, idb) = (mine_, theirs) if rng.random() < 0.5 else (theirs, mine_)
            out.append(Pair(a, b, entry.entity_type, 0, "hard_neg_script", "script", ida, idb))
    return out


# ---- perturbations -------------------------------------------------------------------------------
#: Titles and honorifics the generator adds (its own list, many languages; not the normaliser's).
GENERATOR_TITLES = ("Mr", "Mrs", "Dr.", "Prof.", "Sheikh", "Shaykh", "Haji", "Hajji", "Al-Haj", "Mullah",
                    "Maulvi", "Sayyid", "General", "Gen.", "Colonel", "Col.", "Major", "Captain", "Président",
                    "Presidente", "President", "Senator", "Señor", "Sr.", "Herr", "Monsieur", "M.", "Madame",
                    "Ustadh", "Imam", "Amir", "Emir", "Prince", "Admiral", "Brigadier", "Minister", "Ministre",
                    "Doktor", "Ing.", "Lic.", "Don", "Dona", "Sheik", "Commander")
_PREFIXES = ("abdul", "abdel", "abd", "abu", "al", "el", "bin", "ben", "ibn", "nur", "ul", "ud", "ur", "mac",
             "mc", "van", "von", "de", "della")
#: Transliteration rewrites (pattern, replacement) a clerk or another romanisation standard makes.
_TRANSLIT = ((r"ou", "u"), (r"oo", "u"), (r"u", "ou"), (r"ee", "i"), (r"i", "ee"), (r"y", "i"), (r"i", "y"),
             (r"kh", "h"), (r"h", "kh"), (r"j", "dj"), (r"j", "zh"), (r"dzh", "j"), (r"q", "k"), (r"k", "q"),
             (r"ph", "f"), (r"f", "ph"), (r"sh", "ch"), (r"ch", "sh"), (r"w", "v"), (r"v", "w"), (r"e", "a"),
             (r"a", "e"), (r"o", "u"), (r"u", "o"), (r"ss", "s"), (r"s", "ss"), (r"mm", "m"), (r"m", "mm"),
             (r"ei", "ai"), (r"ay", "ai"), (r"c", "k"), (r"x", "ks"), (r"th", "t"), (r"dh", "d"),
             (r"gh", "g"), (r"ie", "i"))
_TYPO_LETTERS = "abcdefghijklmnoprstuvwyz"


def _display_parts(entry: WatchlistEntry, name: str) -> list[str]:
    """Name parts of a listed name in reading order (OFAC 'LAST, First' turned round), punctuation kept."""
    if entry.entity_type == "person" and name.count(",") == 1:
        last, first = (p.strip() for p in name.split(","))
        name = f"{first} {last}"
    return name.split()


def _initials(parts: list[str], rng: random.Random) -> list[str]:
    if len(parts) < 2:
        return parts
    given = list(range(len(parts) - 1))
    keep_first = len(given) >= 2 and rng.random() < 0.3
    dotted = rng.random() < 0.6
    out = []
    for i, p in enumerate(parts):
        if i in given and not (keep_first and i == 0) and p[:1].isalpha():
            if rng.random() < 0.2 and len(given) >= 2 and i > 0:
                continue  # 'M Khan' for 'Mohammad Ali Khan'
            out.append(p[0].upper() + ("." if dotted else ""))
        else:
            out.append(p)
    return out


def _joined_split(parts: list[str], rng: random.Random) -> list[str] | None:
    for i, p in enumerate(parts):  # split a joined prefix: 'Abdulrahman' -> 'Abdul Rahman'
        low = p.lower()
        for pre in _PREFIXES:
            if low.startswith(pre) and len(low) >= len(pre) + 3 and rng.random() < 0.7:
                return parts[:i] + [p[:len(pre)], p[len(pre):].capitalize()] + parts[i + 1:]
    if len(parts) >= 2:  # join two adjacent parts: 'Abdul Rahman' -> 'Abdulrahman', 'Al Jamal' -> 'Aljamal'
        i = rng.randrange(len(parts) - 1)
        joiner = rng.choice(["", "", "-"])
        return parts[:i] + [parts[i] + joiner + parts[i + 1].lower()] + parts[i + 2:]
    p = parts[0]
    if len(p) >= 8:
        k = rng.randrange(3, len(p) - 3)
        return [p[:k], p[k:]]
    return None


def _reorder(parts: list[str], rng: random.Random) -> list[str] | None:
    if len(parts) < 2:
        return None
    choice = rng.randrange(3)
    if choice == 0:
        return parts[-1:] + parts[:-1]
    if choice == 1:
        return list(reversed(parts))
    shuffled = parts[:]
    while shuffled == parts:
        rng.shuffle(shuffled)
    return shuffled


def _typo(parts: list[str], rng: random.Random) -> list[str] | None:
    idx = [i for i, p in enumerate(parts) if len(p) >= 5 and p.isalpha()]
    if not idx:
        return None
    i = rng.choice(idx)
    word = parts[i]
    for _ in range(1 + (rng.random() < 0.25)):
        k = rng.randrange(1, len(word) - 1)
        op = rng.randrange(4)
        ch = rng.choice(_TYPO_LETTERS)
        ch = ch.upper() if word.isupper() else ch
        if op == 0:
            word = word[:k] + word[k + 1:]
        elif op == 1:
            word = word[:k] + ch + word[k + 1:]
        elif op == 2:
            word = word[:k - 1] + word[k] + word[k - 1] + word[k + 1:]
        else:
            word = word[:k] + ch + word[k:]
    return parts[:i] + [word] + parts[i + 1:]


def _dropped(parts: list[str], rng: random.Random) -> list[str] | None:
    if len(parts) < 3:
        return None
    i = rng.randrange(1, len(parts) - 1) if rng.random() < 0.7 else rng.choice([0, len(parts) - 1])
    return parts[:i] + parts[i + 1:]


def _honorific(parts: list[str], rng: random.Random) -> list[str]:
    return [rng.choice(GENERATOR_TITLES)] + parts


def _transliteration(parts: list[str], rng: random.Random) -> list[str] | None:
    idx = [i for i, p in enumerate(parts) if len(p) >= 4 and p.isalpha()]
    rng.shuffle(idx)
    for i in idx:
        word = parts[i].lower()
        rules = list(_TRANSLIT)
        rng.shuffle(rules)
        for pat, rep in rules:
            spots = [m.start() for m in re.finditer(pat, word[1:])]
            if spots:
                k = rng.choice(spots) + 1
                new = word[:k] + rep + word[k + len(pat):]
                new = new.upper() if parts[i].isupper() else new.capitalize()
                return parts[:i] + [new] + parts[i + 1:]
    return None


_PERTURB = {"initials": _initials, "joined_split": _joined_split, "reorder": _reorder, "typo": _typo,
            "dropped_part": _dropped, "honorific": _honorific, "transliteration": _transliteration}


def perturb(entry: WatchlistEntry, name: str, kind: str, rng: random.Random) -> str | None:
    """``name`` (a name of ``entry``) rewritten by one perturbation ``kind``; None when it does not apply."""
    parts = _display_parts(entry, name)
    if not parts:
        return None
    out = _PERTURB[kind](parts, rng)
    if not out:
        return None
    text = " ".join(out)
    return text if _key(text) != _key(" ".join(parts)) or kind == "honorific" else None


def perturbed_queries(entries: Sequence[WatchlistEntry], rng: random.Random, per_kind: int = 300,
                      kinds: Sequence[str] = PERTURBATION_KINDS, entity_types: Sequence[str] = ("person",)
                      ) -> list[dict]:
    """Per kind, up to ``per_kind`` queries ``{query, entity_id, kind, source_name}``: a Latin-script name
    of a random entry (of ``entity_types``) perturbed once."""
    pool = [e for e in entries if e.entity_type in entity_types]
    out = []
    for kind in kinds:
        made = attempts = 0
        while made < per_kind and attempts < per_kind * 20 and pool:
            attempts += 1
            entry = rng.choice(pool)
            latin = [n for n, k in entry.names() if is_latin(n) and k != "weak_aka"]
            if not latin:
                continue
            name = rng.choice(latin)
            if kind == "initials" and len(_display_parts(entry, name)) < 2:
                continue
            query = perturb(entry, name, kind, rng)
            if query:
                out.append({"query": query, "entity_id": entry.entity_id, "kind": kind, "source_name": name,
                            "entity_type": entry.entity_type})
                made += 1
    return out


#: Equivalent legal-form rewrites for company perturbations ('OAO' <-> 'Joint Stock Company' ...).
LEGAL_FORM_VARIANTS = (("LLC", "Limited Liability Company"), ("OOO", "LLC"), ("OAO", "Joint Stock Company"),
                       ("JSC", "Joint Stock Company"), ("CJSC", "ZAO"), ("Ltd", "Limited"), ("Co.", "Company"),
                       ("Corp", "Corporation"), ("Inc", "Incorporated"), ("AG", "Aktiengesellschaft"),
                       ("PJSC", "Public Joint Stock Company"), ("S.A.", "Sociedad Anonima"))
#: Legal forms of a different kind of company ('EMMA LLC' is not 'EMMA CORP').
DIFFERENT_FORMS = (("LLC", "CORP"), ("LTD", "INC"), ("GMBH", "AG"), ("LLC", "JSC"), ("LIMITED", "CORPORATION"),
                   ("SA", "SRL"), ("FZE", "LLC"), ("CO", "LLP"))


def company_pairs(entries: Sequence[WatchlistEntry], rng: random.Random, n: int = 400) -> list[Pair]:
    """Generated company pairs: a legal form rewritten equivalently (positive, 'legal_form_variant'), a
    legal form swapped for a different kind (negative, 'hard_neg_other_form'), an acronym of a long
    name (positive, 'acronym'), and one word of the name replaced (negative, 'hard_neg_sibling')."""
    orgs = [e for e in entries if e.entity_type == "organization" and is_latin(e.primary_name)]
    vocab = sorted({t for e in orgs for t in _key(e.primary_name).split() if len(t) >= 5 and t.isalpha()})
    out: list[Pair] = []
    for _ in range(n):
        e = rng.choice(orgs)
        name = e.primary_name
        words = name.split()
        low = [w.strip(".,").lower() for w in words]
        kind = rng.choice(["legal_form_variant", "hard_neg_other_form", "acronym", "hard_neg_sibling"])
        if kind == "legal_form_variant":
            forms = [(a, b) for a, b in LEGAL_FORM_VARIANTS if a.lower().strip(".") in low]
            if forms:
                a, b = rng.choice(forms)
                i = low.index(a.lower().strip("."))
                new = words[:i] + words[i + 1:]
                new = [b] + new if rng.random() < 0.5 else new + [b]
                out.append(Pair(" ".join(new), name, "organization", 1, kind, "company", e.entity_id, e.entity_id))
        elif kind == "hard_neg_other_form":
            core = [w for w, lw in zip(words, low, strict=True) if lw not in {x.lower() for p in DIFFERENT_FORMS for x in p}]
            if core and len(core) <= 2:
                a, b = rng.choice(DIFFERENT_FORMS)
                out.append(Pair(" ".join(core + [a]), " ".join(core + [b]), "organization", 0, kind, "company",
                                e.entity_id, e.entity_id + ":other"))
        elif kind == "acronym":
            from kyc_assets.screening.normalize import normalize_name

            toks = normalize_name(name, "organization").split()
            if 3 <= len(toks) <= 7:
                acro = "".join(t[0] for t in toks if t not in ("of", "and", "the", "for")).upper()
                if len(acro) >= 3:
                    out.append(Pair(acro, name, "organization", 1, kind, "company", e.entity_id, e.entity_id))
        else:
            idx = [i for i, lw in enumerate(low) if len(lw) >= 4 and lw.isalpha()]
            if len(idx) >= 2:
                i = rng.choice(idx)
                new = words[:]
                new[i] = rng.choice(vocab).upper()
                out.append(Pair(" ".join(new), name, "organization", 0, kind, "company", e.entity_id,
                                e.entity_id + ":sibling"))
    return out


def build_pairs(entries: Sequence[WatchlistEntry], part: str, seed: int, per_kind: int = 250) -> list[Pair]:
    """All labelled pairs of one part ('train' or 'held_out') of the lists, from one seed (``per_kind``
    perturbed names per perturbation kind)."""
    rng = random.Random(seed)
    mine = [e for e in entries if split_of(e.entity_id) == part]
    pairs = alias_pairs(mine, rng) + hard_negatives(mine, rng) + company_pairs(mine, rng)
    pairs += script_negatives(mine, random.Random(seed + 7))  # own generator: the other pairs stay as they were
    for q in perturbed_queries(mine, rng, per_kind=per_kind):
        entry_name = q["source_name"]
        pairs.append(Pair(q["query"], entry_name, q["entity_type"], 1, "perturbed_" + q["kind"], "person",
                          q["entity_id"], q["entity_id"]))
    return pairs
