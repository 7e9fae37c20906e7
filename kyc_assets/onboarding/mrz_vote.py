"""Combine the MRZ readings of several OCR engines into one, settled by check digits.

Each engine reads the same MRZ band (see :mod:`kyc_assets.onboarding.mrz_band`).  Their readings are
parsed (look-alike corrections, filler-aware names) and combined field by field:

* a field protected by a check digit (document number, dates, optional data) is taken from a reading in
  which its check passes; when two readings both pass with different values (two OCR errors can cancel
  out in a check digit), the one printed in the visual zone wins, otherwise the engines disagree;
* the composite check digit then has to pass on the combined lines;
* the name (no check digit) is taken where the engines agree; where they differ only by a filler ``<``
  read as a letter, the filler wins; otherwise the reading whose words the visual zone shows wins, and
  when nothing settles it the disagreement is reported;
* the other letter fields (codes, nationality, sex) follow the majority, then engine order.

Returns the combined lines and the warnings for the disagreements nothing settled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz.distance import Levenshtein

from kyc_assets.onboarding.mrz import (
    FILLER_LOOKALIKES,
    MRZError,
    MRZResult,
    _layout_for,
    _mrz_text,
    _transliteration_slip,
    _viz_key,
    name_truncated,
    parse_mrz,
    state_codes,
)

ENGINE_ORDER = ("rapid", "tesseract_mrz", "tesseract_page", "tesseract")  # priority on ties (measured: most reliable first)
DISAGREE = "MRZ engines disagree on"


@dataclass
class VotedMRZ:
    lines: list[str]
    warnings: list[str] = field(default_factory=list)
    engines: list[str] = field(default_factory=list)  # engines whose reading had the combined shape
    uncertain: bool = False  # the document number only passes after look-alike swaps no second engine confirms


def confirmed(lines: list[str], viz_text: str | None) -> list[str] | None:
    """The corrected lines of one reading that needs no second engine (every check digit passes and every
    name word is printed in the visual zone; the last one may be truncated in the MRZ), else None."""
    try:
        result = parse_mrz(lines, viz_text=viz_text, ocr=True)
    except MRZError:
        return None
    if not result.valid or not viz_text or "<" in result.document_number:
        return None  # a filler inside the number counts as 0 in its check digit: a dropped character
    viz_words = set(re.findall(r"[A-Z]+", _mrz_text(viz_text).replace("<", " ")))
    if any(w.startswith("name:") for w in result.warnings):
        return None  # a letter lost to a filler: the other engines must read it
    words = (result.surname + " " + result.given_names).split()
    cut = name_truncated(result.raw_lines)  # only a name cut short at the field's end may be a prefix
    if words and all(w in viz_words or (cut and i == len(words) - 1 and any(v.startswith(w) for v in viz_words))
                     for i, w in enumerate(words)):
        return result.raw_lines
    return None


def _priority(engine: str) -> int:
    return ENGINE_ORDER.index(engine) if engine in ENGINE_ORDER else len(ENGINE_ORDER)


def vote_mrz(readings: dict[str, list[str]], viz_text: str | None = None) -> VotedMRZ | None:
    """Combine per-engine MRZ readings (engine name -> lines); None when no reading parses."""
    parsed: list[tuple[str, MRZResult]] = []
    for engine, lines in sorted(readings.items(), key=lambda kv: _priority(kv[0])):
        try:
            parsed.append((engine, parse_mrz(lines, viz_text=viz_text, ocr=True)))
        except MRZError:
            continue
    if not parsed:
        return None
    # The shape (format and line widths) of the best-checked reading; others of that shape vote.
    # (a reading with every check passing beats one with as many passing checks of another layout)
    base_engine, base = max(parsed, key=lambda er: (er[1].valid, sum(er[1].check_digits.values()),
                                                    er[1].raw_lines[0][:1] in "PIACV", -_priority(er[0])))
    shape = (base.format, tuple(len(x) for x in base.raw_lines))
    same = [(e, r) for e, r in parsed if (r.format, tuple(len(x) for x in r.raw_lines)) == shape]
    if len(same) == 1:
        return VotedMRZ(base.raw_lines, [], [base_engine], _corrected(base, ["document_number"]))
    rows = [list(line) for line in base.raw_lines]
    fields, checks = _layout_for(base.raw_lines)
    viz = _viz_key(viz_text) or ""
    warnings: list[str] = []
    uncertain = False

    def text(positions) -> str:
        return "".join(rows[r][c] for r, c in positions)

    # Check-digit-protected fields.
    for chk in checks:
        if chk.name == "composite":
            continue
        span = [*chk.data, chk.digit]
        passing: dict[str, str] = {}
        for engine, result in same:
            if result.check_digits.get(chk.name):
                value = "".join(result.raw_lines[r][c] for r, c in span)
                passing.setdefault(value, engine)
        if len(passing) > 1:  # a reading that passed without look-alike corrections there is stronger
            clean = {v: e for v, e in passing.items() if not _corrected(dict(same)[e], chk.fixable)}
            passing = clean or passing
        if len(passing) > 1:  # a filler inside the data counts as 0 in the check digit: a dropped digit
            solid = {v: e for v, e in passing.items() if not re.search(r"<[^<]", v[:-1])}
            passing = solid or passing
        if not passing:
            continue
        if len(passing) > 1:
            printed = [v for v in passing if len(v[:-1].strip("<")) >= 4 and v[:-1].strip("<") in viz]
            if len(printed) == 1:
                choice = printed[0]
            else:
                choice = min(passing, key=lambda v: _priority(passing[v]))
                warnings.append(f"{DISAGREE} the {chk.name.replace('_', ' ')} (both pass the check digit)")
        else:
            choice = next(iter(passing))
        if chk.name == "document_number":
            agreeing = [e for e, res in same if "".join(res.raw_lines[r][c] for r, c in span) == choice]
            uncertain = len(agreeing) < 2 and _corrected(dict(same)[passing[choice]], chk.fixable)
        for (r, c), ch in zip(span, choice):
            rows[r][c] = ch

    # Name: agreement, fillers, visual zone.
    name_field = next(f for f in fields if f.name == "name")
    names = {e: "".join(res.raw_lines[r][c] for r, c in name_field.positions) for e, res in same}
    chosen, note = _vote_name(names, viz_text)
    if note:
        warnings.append(note)
    for (r, c), ch in zip(name_field.positions, chosen):
        rows[r][c] = ch

    # Other letter fields: majority, then engine order.
    nationality = {}
    for fld in sorted(fields, key=lambda f: f.name != "nationality"):
        if fld.kind not in ("alpha", "sex") or fld.name == "name":
            continue
        votes: dict[str, list[int]] = {}
        for engine, result in same:
            value = "".join(result.raw_lines[r][c] for r, c in fld.positions)
            votes.setdefault(value, []).append(_priority(engine))
        if fld.kind == "sex" and not any(v in ("M", "F", "<", "X") for v in votes):
            # no reading of the combined shape has a sex there: a reading that did not parse as a whole (another
            # line garbled) may still hold it on a line of the same width
            for engine, other in readings.items():
                cells = [other[r][c] for r, c in fld.positions
                         if r < len(other) and len(other[r]) == len(base.raw_lines[r])]
                value = "".join(cells)
                if len(cells) == len(fld.positions) and value in ("M", "F", "<", "X"):
                    votes.setdefault(value, []).append(_priority(engine))
        # a known state code first (no check digit covers it); ties: the issuing state is usually the holder's
        # nationality
        known = state_codes() if fld.name in ("nationality", "issuing_country") else None

        def possible(v: str, known=known, kind=fld.kind) -> bool:
            return v.strip("<") in known if known is not None else (kind != "sex" or v in ("M", "F", "<", "X"))

        value = max(votes, key=lambda v: (possible(v), len(votes[v]), not v.startswith("<"),
                                          v == nationality.get("value"), -min(votes[v])))
        if fld.name == "nationality":
            nationality["value"] = value
        for (r, c), ch in zip(fld.positions, value):
            rows[r][c] = ch
    lines = ["".join(row) for row in rows]
    composite = next((c for c in checks if c.name == "composite"), None)
    if composite is not None:  # the composite digit of the reading the combined fields came from
        r0, c0 = composite.digit
        for _, result in same:
            trial = [list(x) for x in lines]
            trial[r0][c0] = result.raw_lines[r0][c0]
            try:
                if parse_mrz(["".join(x) for x in trial], viz_text=viz_text, ocr=True).check_digits.get("composite"):
                    lines = ["".join(x) for x in trial]
                    break
            except MRZError:
                continue
    try:
        combined = parse_mrz(lines, viz_text=viz_text, ocr=True)
    except MRZError:
        return VotedMRZ(base.raw_lines, warnings, [e for e, _ in same], uncertain)
    if sum(combined.check_digits.values()) < sum(base.check_digits.values()):
        # the combination broke a check (e.g. the composite): keep the best reading, with the voted name
        # (no check digit covers the name, so it cannot break one)
        rows = [list(line) for line in base.raw_lines]
        for (r, c), ch in zip(name_field.positions, chosen):
            rows[r][c] = ch
        lines = ["".join(row) for row in rows]
    return VotedMRZ(lines, warnings, [e for e, _ in same], uncertain)


def _corrected(result: MRZResult, field_names: list[str]) -> bool:
    """Whether parsing changed look-alike characters in any of ``field_names`` of this reading."""
    return any(c.split("[", 1)[0] in field_names for c in result.corrections)


def _words(name: str) -> list[str]:
    return [w for w in name.split("<") if w]


def _only_fillers_differ(a: str, b: str) -> bool:
    """True when ``a`` has '<' wherever it differs from ``b``, and ``b`` a filler look-alike letter there
    (``SEAN<<<`` against ``SEANK<K``): a real letter is not read as '<', a filler often is read as K."""
    return len(a) == len(b) and a != b and all(x == y or (x == "<" and y in FILLER_LOOKALIKES) for x, y in zip(a, b))


def _vote_name(names: dict[str, str], viz_text: str | None) -> tuple[str, str | None]:
    """The name field the engines' readings support, and a warning when nothing settles a disagreement."""
    ordered = [n for _, n in sorted(names.items(), key=lambda kv: _priority(kv[0]))]
    distinct = list(dict.fromkeys(ordered))
    if len(distinct) == 1:
        return distinct[0], None
    viz_words = set(re.findall(r"[A-Z]+", _mrz_text(viz_text).replace("<", " "))) if viz_text else set()
    if viz_words:  # the printed name settles it first
        shown = [n for n in distinct if _words(n) and all(_shown(w, viz_words) for w in _words(n))]
        if len(shown) == 1:
            return shown[0], None
    # Drop a reading that only has letters where another has fillers.
    kept = [n for n in distinct if not any(_only_fillers_differ(o, n) for o in distinct)]
    if len(kept) == 1:
        return kept[0], None
    counts = {n: sum(_same_name(o, n) for o in ordered) for n in kept}
    top = sorted(counts.values(), reverse=True)
    if top[0] >= 2 and (len(top) == 1 or top[0] > top[1]):
        return max(kept, key=lambda n: counts[n]), None
    # Nothing settles it: the reading most printed in the visual zone and closest to the others is kept,
    # and the disagreement is reported.
    def rank(name: str) -> tuple[int, float, int]:
        printed = sum(w in viz_words for w in _words(name))
        support = sum(1 - Levenshtein.normalized_distance(name, other) for other in ordered)
        return printed, round(support, 1), -kept.index(name)

    return max(kept, key=rank), f"{DISAGREE} the name and the visual zone does not settle it"


def _shown(word: str, viz_words: set[str]) -> bool:
    """A name word printed in the visual zone, exactly or as OCR read it without its diacritic (MUELLER: MULLER)."""
    return word in viz_words or any(_transliteration_slip(word, v) for v in viz_words if len(v) == len(word) - 1)


def _same_name(reading: str, name: str) -> bool:
    return reading == name or _only_fillers_differ(name, reading)
