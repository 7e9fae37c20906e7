"""Machine-readable zone (MRZ) parsing, correction and building (ICAO Doc 9303).

Supported layouts:

* TD1 (ID cards): 3 lines of 30 characters, including the long-document-number rule.
* TD2 (ID cards): 2 lines of 36 characters.
* TD3 (passports): 2 lines of 44 characters.
* MRV-A / MRV-B (visas): 2 lines of 44 / 36 characters with document code ``V``.

OCR output of an MRZ often confuses look-alike characters (``O``/``0``, ``I``/``1``,
``S``/``5``, ``B``/``8``, ``Z``/``2``, ``G``/``6``).  :func:`parse_mrz` corrects them by
field type: numeric fields (dates, check digits) get digits, letter-only fields (codes,
names, sex) get letters, and alphanumeric fields (document number, optional data) are
only changed when the change makes their check digit valid.  Every change is reported
in :attr:`MRZResult.corrections`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache

from anyascii import anyascii

MRZ_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")

# Letter read where a digit belongs -> the digit, and the reverse.
_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5",
             "G": "6", "B": "8"}
_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"}
# Alphanumeric look-alikes tried (only if the check digit then validates).
_ALNUM_SWAP = {"O": "0", "0": "O", "I": "1", "1": "I", "S": "5", "5": "S", "B": "8", "8": "B",
               "Z": "2", "2": "Z", "G": "6", "6": "G"}
_MAX_ALNUM_CHANGES = 3

_LINE_SHAPES = {(3, 30): "TD1", (2, 36): "TD2", (2, 44): "TD3"}


class MRZError(ValueError):
    """The given lines are not a machine-readable zone."""


@dataclass
class MRZResult:
    """Fields decoded from one machine-readable zone."""

    format: str
    document_type: str
    document_code: str
    issuing_country: str
    surname: str
    given_names: str
    document_number: str
    nationality: str
    date_of_birth: date | None
    sex: str
    expiry_date: date | None
    optional_data: str
    valid: bool
    check_digits: dict[str, bool] = field(default_factory=dict)
    corrections: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    raw_lines: list[str] = field(default_factory=list)

    def expired(self, today: date | None = None) -> bool:
        """True when the expiry date is known and lies before ``today``."""
        today = today or date.today()
        return self.expiry_date is not None and self.expiry_date < today


# --------------------------------------------------------------------------- check digits


def _char_value(ch: str) -> int:
    if ch == "<":
        return 0
    if ch.isdigit():
        return int(ch)
    if "A" <= ch <= "Z":
        return ord(ch) - ord("A") + 10
    raise ValueError(f"invalid MRZ character {ch!r}")


def check_digit(field_value: str) -> str:
    """ICAO 9303 check digit of a field: weights 7-3-1, ``<`` = 0, ``A`` = 10 .. ``Z`` = 35."""
    weights = (7, 3, 1)
    total = sum(_char_value(ch) * weights[i % 3] for i, ch in enumerate(field_value.upper()))
    return str(total % 10)


# --------------------------------------------------------------------------- layouts


@dataclass
class _Field:
    """A field of the MRZ as a list of (line, column) positions and a character class."""

    name: str
    positions: list[tuple[int, int]]
    kind: str  # 'alpha' (letters and <), 'num' (digits and <), 'alnum', 'sex'


@dataclass
class _Check:
    name: str
    data: list[tuple[int, int]]
    digit: tuple[int, int]
    fixable: list[str]  # alphanumeric fields that may be corrected to satisfy this check
    filler_ok: bool = False  # '<' accepted as check digit when the data is all fillers


def _span(line: int, start: int, end: int) -> list[tuple[int, int]]:
    return [(line, c) for c in range(start, end)]


def _two_line_layout(fmt: str, width: int) -> tuple[list[_Field], list[_Check]]:
    name_field = _Field("name", _span(0, 5, width), "alpha")
    fields = [
        _Field("document_code", _span(0, 0, 2), "alpha"),
        _Field("issuing_country", _span(0, 2, 5), "alpha"),
        name_field,
        _Field("document_number", _span(1, 0, 9), "alnum"),
        _Field("document_number_check", [(1, 9)], "num"),
        _Field("nationality", _span(1, 10, 13), "alpha"),
        _Field("date_of_birth", _span(1, 13, 19), "num"),
        _Field("date_of_birth_check", [(1, 19)], "num"),
        _Field("sex", [(1, 20)], "sex"),
        _Field("expiry_date", _span(1, 21, 27), "num"),
        _Field("expiry_date_check", [(1, 27)], "num"),
    ]
    checks = [
        _Check("document_number", _span(1, 0, 9), (1, 9), ["document_number"]),
        _Check("date_of_birth", _span(1, 13, 19), (1, 19), []),
        _Check("expiry_date", _span(1, 21, 27), (1, 27), []),
    ]
    if fmt == "TD3":
        fields += [
            _Field("optional_data", _span(1, 28, 42), "alnum"),
            _Field("optional_data_check", [(1, 42)], "num"),
            _Field("composite_check", [(1, 43)], "num"),
        ]
        checks.append(_Check("optional_data", _span(1, 28, 42), (1, 42), ["optional_data"], True))
        composite = _span(1, 0, 10) + _span(1, 13, 20) + _span(1, 21, 43)
        checks.append(_Check("composite", composite, (1, 43), []))
    elif fmt == "TD2":
        fields += [
            _Field("optional_data", _span(1, 28, 35), "alnum"),
            _Field("composite_check", [(1, 35)], "num"),
        ]
        composite = _span(1, 0, 10) + _span(1, 13, 20) + _span(1, 21, 35)
        checks.append(_Check("composite", composite, (1, 35), ["optional_data"]))
    else:  # MRVA / MRVB: optional data to the end, no composite check digit
        fields.append(_Field("optional_data", _span(1, 28, width), "alnum"))
    return fields, checks


def _td1_layout(grid: list[list[str]]) -> tuple[list[_Field], list[_Check]]:
    """TD1 layout; handles document numbers longer than 9 characters (line 1, column 15 = '<')."""
    docnum = _span(0, 5, 14)
    docnum_check = (0, 14)
    optional1 = _span(0, 15, 30)
    if grid[0][14] == "<" and grid[0][15] != "<":
        tail = "".join(grid[0][15:30])
        end = tail.find("<")
        end = 15 if end < 0 else end
        if end >= 2:  # at least one extra number character plus its check digit
            docnum = docnum + _span(0, 15, 15 + end - 1)
            docnum_check = (0, 15 + end - 1)
            optional1 = _span(0, 15 + end, 30)
    fields = [
        _Field("document_code", _span(0, 0, 2), "alpha"),
        _Field("issuing_country", _span(0, 2, 5), "alpha"),
        _Field("document_number", docnum, "alnum"),
        _Field("document_number_check", [docnum_check], "num"),
        _Field("optional_data", optional1, "alnum"),
        _Field("date_of_birth", _span(1, 0, 6), "num"),
        _Field("date_of_birth_check", [(1, 6)], "num"),
        _Field("sex", [(1, 7)], "sex"),
        _Field("expiry_date", _span(1, 8, 14), "num"),
        _Field("expiry_date_check", [(1, 14)], "num"),
        _Field("nationality", _span(1, 15, 18), "alpha"),
        _Field("optional_data_2", _span(1, 18, 29), "alnum"),
        _Field("composite_check", [(1, 29)], "num"),
        _Field("name", _span(2, 0, 30), "alpha"),
    ]
    composite = _span(0, 5, 30) + _span(1, 0, 7) + _span(1, 8, 15) + _span(1, 18, 29)
    checks = [
        _Check("document_number", docnum, docnum_check, ["document_number"]),
        _Check("date_of_birth", _span(1, 0, 6), (1, 6), []),
        _Check("expiry_date", _span(1, 8, 14), (1, 14), []),
        _Check("composite", composite, (1, 29), ["optional_data", "optional_data_2"]),
    ]
    return fields, checks


# --------------------------------------------------------------------------- parsing helpers


def _normalise_line(line: str) -> str:
    return re.sub(r"\s+", "", line).upper()


def _detect_format(lines: list[str]) -> str:
    shape = (len(lines), len(lines[0]) if lines else 0)
    if len({len(x) for x in lines}) != 1 or shape not in _LINE_SHAPES:
        lengths = [len(x) for x in lines]
        raise MRZError(f"not an MRZ: expected 3x30, 2x36 or 2x44 characters, got line lengths {lengths}")
    fmt = _LINE_SHAPES[shape]
    if fmt in ("TD2", "TD3") and lines[0][0] == "V":
        fmt = "MRVB" if fmt == "TD2" else "MRVA"
    return fmt


def _document_type(code: str) -> str:
    if code.startswith("P"):
        return "passport"
    if code.startswith("V"):
        return "visa"
    return "id_card"


class _Grid:
    """Mutable MRZ character grid that records corrections per field."""

    def __init__(self, lines: list[str]):
        self.rows = [list(line) for line in lines]
        self.corrections: list[str] = []

    def text(self, positions: list[tuple[int, int]]) -> str:
        return "".join(self.rows[r][c] for r, c in positions)

    def set(self, fld: _Field, index: int, new: str) -> None:
        r, c = fld.positions[index]
        old = self.rows[r][c]
        if old != new:
            self.rows[r][c] = new
            self.corrections.append(f"{fld.name}[{index}]: {old}->{new}")

    def lines(self) -> list[str]:
        return ["".join(row) for row in self.rows]


def _fix_by_kind(grid: _Grid, fields: list[_Field], warnings: list[str]) -> None:
    """Apply the unambiguous look-alike corrections for numeric and letter-only fields."""
    for fld in fields:
        for i, (r, c) in enumerate(fld.positions):
            ch = grid.rows[r][c]
            if fld.kind == "num" and ch in _TO_DIGIT:
                grid.set(fld, i, _TO_DIGIT[ch])
            elif fld.kind in ("alpha", "sex") and ch in _TO_LETTER:
                grid.set(fld, i, _TO_LETTER[ch])
        if fld.kind == "num":
            bad = [ch for ch in grid.text(fld.positions) if not (ch.isdigit() or ch == "<")]
            if bad:
                warnings.append(f"{fld.name}: unexpected characters in numeric field")


def _check_ok(grid: _Grid, chk: _Check) -> bool:
    data = grid.text(chk.data)
    digit = grid.text([chk.digit])
    if chk.name == "document_number" and re.search(r"<[A-Z0-9]", data):
        return False  # a filler inside the number (a character OCR dropped) counts as 0 and can pass by chance
    if chk.filler_ok and digit == "<" and set(data) <= {"<"}:
        return True
    return check_digit(data) == digit


def _try_alnum_fix(grid: _Grid, chk: _Check, by_name: dict[str, _Field], warnings: list[str],
                   viz: str | None = None, use_context: bool = True) -> None:
    """Swap look-alike characters in the check's alphanumeric fields if that validates the check.

    When several swaps fit (the check digit cannot tell ``I`` at one place from ``B`` at another),
    the one whose field value is printed in the visual zone (``viz``: OCR text of the page, spaces
    removed, upper case) is taken if it is the only one.
    """
    candidates = [(by_name[name], i) for name in chk.fixable for i, (r, c) in
                  enumerate(by_name[name].positions) if grid.rows[r][c] in _ALNUM_SWAP]
    for n_changes in range(1, min(_MAX_ALNUM_CHANGES, len(candidates)) + 1):
        solutions = []
        for combo in itertools.combinations(candidates, n_changes):
            saved = [(fld, i, grid.text([fld.positions[i]])) for fld, i in combo]
            for fld, i, old in saved:
                r, c = fld.positions[i]
                grid.rows[r][c] = _ALNUM_SWAP[old]
            if _check_ok(grid, chk):
                solutions.append(saved)
            for fld, i, old in saved:
                r, c = fld.positions[i]
                grid.rows[r][c] = old
        if len(solutions) > 1 and viz:
            solutions = [sol for sol in solutions if _printed(grid, sol, viz)] or solutions
        if len(solutions) > 1 and not use_context:
            return  # the caller tries other evidence first, then calls again with use_context
        if len(solutions) > 1 and n_changes == 1:  # one slip only: more changes fit a wrong digit too easily
            scores = [_context_score(grid, sol) for sol in solutions]
            if max(scores) > 0 and scores.count(max(scores)) == 1:
                solutions = [solutions[scores.index(max(scores))]]
                warnings.append(f"{chk.name}: several look-alike corrections fit the check digit; the one "
                                "matching its neighbours (letters among letters, digits among digits) was taken")
        if len(solutions) == 1:
            for fld, i, old in solutions[0]:
                grid.set(fld, i, _ALNUM_SWAP[old])
            return
        if len(solutions) > 1:
            warnings.append(f"{chk.name}: several look-alike corrections fit the check digit; none applied")
            return


def _viz_rescue(grid: _Grid, chk: _Check, field: _Field, viz: str) -> bool:
    """Take a check-failing document number from the visual zone: a printed string at most two
    characters away from the MRZ reading that makes the check digit valid (and only one such)."""
    value = grid.text(field.positions)
    core = value.rstrip("<")
    if len(core) < 5 or field.name != "document_number":
        return False
    windows = {viz[start:start + len(core)] for start in range(len(viz) - len(core) + 1)}
    windows = {w for w in windows if w != core and sum(a != b for a, b in zip(w, core)) <= 2}
    fitting = _fitting(grid, chk, field, value, windows)
    if not fitting:  # the visual zone's own OCR may share one look-alike slip (O read as 0 in both zones)
        swapped = {w[:i] + _ALNUM_SWAP[ch] + w[i + 1:] for w in windows for i, ch in enumerate(w) if ch in _ALNUM_SWAP}
        fitting = _fitting(grid, chk, field, value, swapped)
    if len(fitting) != 1:
        return False
    for index, ch in enumerate(fitting[0].ljust(len(value), "<")):
        grid.set(field, index, ch)
    return True


def _fitting(grid: _Grid, chk: _Check, field: _Field, value: str, found: set[str]) -> list[str]:
    """The candidate field values (padded to the field) that make ``chk`` valid."""
    fitting = []
    for candidate in sorted(found):
        saved = [grid.rows[r][c] for r, c in field.positions]
        for (r, c), ch in zip(field.positions, candidate.ljust(len(value), "<")):
            grid.rows[r][c] = ch
        if _check_ok(grid, chk):
            fitting.append(candidate)
        for (r, c), ch in zip(field.positions, saved):
            grid.rows[r][c] = ch
    return fitting


def _context_score(grid: _Grid, solution: list[tuple[_Field, int, str]]) -> int:
    """How much ``solution`` makes each changed character agree in kind (letter/digit) with its
    neighbours in the field: ``L89B902`` -> ``L898902`` gains, ``L898902`` -> ``LB98902`` loses."""
    score = 0
    for fld, i, old in solution:
        text = grid.text(fld.positions)
        neighbours = [text[j] for j in (i - 1, i + 1) if 0 <= j < len(text) and text[j] != "<"]
        new = _ALNUM_SWAP[old]
        score += sum(n.isdigit() == new.isdigit() for n in neighbours)
        score -= sum(n.isdigit() == old.isdigit() for n in neighbours)
    return score


def _printed(grid: _Grid, solution: list[tuple[_Field, int, str]], viz: str) -> bool:
    """Whether every field changed by ``solution`` reads, once changed, as text printed in ``viz``."""
    for fld, i, old in solution:
        r, c = fld.positions[i]
        grid.rows[r][c] = _ALNUM_SWAP[old]
    values = {grid.text(fld.positions).strip("<") for fld, _, _ in solution}
    for fld, i, old in solution:
        r, c = fld.positions[i]
        grid.rows[r][c] = old
    return all(len(v) >= 4 and v in viz for v in values)


def _viz_key(text: str | None) -> str | None:
    """Visual-zone OCR text reduced for look-ups: upper case A-Z0-9 only (spaces and punctuation removed)."""
    return re.sub(r"[^A-Z0-9]", "", anyascii(text).upper()) if text else None


def _repair_doubled_name_glyph(grid: _Grid, name_field: _Field, viz: str | None) -> None:
    """Undo an OCR-doubled glyph in the name (``<<O0MAR`` read for ``<<OMAR``) when the visual zone confirms it.

    A digit beside its letter look-alike inside the name is either a misread letter (``BO0TH`` for
    ``BOOTH``) or a doubled glyph; the version whose name words are all printed in the visual zone wins.
    """
    if not viz:
        return
    raw = grid.text(name_field.positions)
    match = _DOUBLED.search(raw)
    if match is None:
        return
    dropped = (raw[:match.start()] + raw[match.end():]).ljust(len(raw), "<")

    def words(value: str) -> list[str]:
        return [w for w in "".join(_TO_LETTER.get(ch, ch) for ch in value).split("<") if w]

    def printed(value: str) -> bool:
        return bool(words(value)) and all(w in viz for w in words(value))

    if printed(dropped) and not printed(raw):
        for index, ch in enumerate(dropped):
            r, c = name_field.positions[index]
            grid.rows[r][c] = ch
        grid.corrections.append(f"name: doubled OCR glyph {match.group()!r} removed (visual zone agrees)")


def _one_edit_apart(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` with exactly one character substituted, inserted or deleted."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def _transliteration_slip(mrz_word: str, shown: str) -> bool:
    """The MRZ spelling is the ICAO transliteration of what OCR read without its diacritic (MUELLER/MULLER)."""
    return len(mrz_word) == len(shown) + 1 and any(
        mrz_word[:i] + mrz_word[i + 1:] == shown and mrz_word[i] in "EH" and i > 0 for i in range(len(mrz_word)))


# Visual-zone label words: never taken for a name.
_LABEL_WORDS = frozenset([
    "SURNAME", "SURNAMES", "GIVEN", "NAME", "NAMES", "DATE", "BIRTH", "EXPIRY", "SEX", "NATIONALITY", "DOCUMENT",
    "PASSPORT", "CARD", "IDENTITY", "ISSUING", "ISSUED", "STATE", "VALID", "UNTIL", "NUMBER", "VISA", "AUTHORITY",
    "PLACE", "TYPE", "CODE", "HEIGHT", "SIGNATURE", "HOLDER", "PERSONAL",
])


def _repair_name_words(grid: _Grid, name_field: _Field, viz_words: set[str]) -> None:
    """Replace a name word that the visual zone does not show by the one printed word a single OCR slip
    away from it (``SIOQBHAN`` -> ``SIOBHAN``), shifting the rest of the name field."""
    raw = grid.text(name_field.positions)
    width = len(raw)
    parts = re.split(r"(<+)", raw)
    changed = []
    for index, word in enumerate(parts):
        if not word or word.startswith("<") or len(word) < 3 or word in viz_words:
            continue
        near = [w for w in viz_words - _LABEL_WORDS
                if len(w) >= 3 and _one_edit_apart(word, w) and not _transliteration_slip(word, w)]
        if len(near) == 1:
            parts[index] = near[0]
            changed.append(f"name: {word} -> {near[0]} (visual zone)")
    if not changed:
        return
    fixed = "".join(parts)
    if len(fixed) > width:  # a longer word: take the room from the trailing filler only
        if not fixed.endswith("<" * (len(fixed) - width)):
            return
        fixed = fixed[:width]
    fixed = fixed.ljust(width, "<")
    for index, ch in enumerate(fixed):
        r, c = name_field.positions[index]
        grid.rows[r][c] = ch
    grid.corrections.extend(changed)


# Letters OCR reads for the filler '<' (Tesseract mostly K; also S, E, G, C, X, Z and L).
FILLER_LOOKALIKES = frozenset("KSEGCXZL")


def clean_name_fillers(name: str, viz_words: set[str] | frozenset[str] = frozenset()) -> tuple[str, list[str]]:
    """Undo filler ``<`` misread as letters in an MRZ name field of fixed length; returns (field, notes).

    * Trailing artefacts: after the last real word (one with a letter that is not a filler look-alike,
      or printed in the visual zone), every word made only of look-alikes (``JOHN<PAUL<KKKKKKKK``) is
      filler.  The surname (first word) is never removed.
    * Joins: a word the visual zone does not show, that splits at one or two look-alike letters into
      words it does show (``ANNAKMARIA`` -> ``ANNA<MARIA``, ``SEANK`` -> ``SEAN<``, ``ERIKSSONKKANNA``),
      is split there.
    The field keeps its length; a name never ends up containing filler-run artefacts.
    """
    width = len(name)
    notes: list[str] = []
    viz_words = {w for w in viz_words if len(w) >= 2} - _LABEL_WORDS
    words = name.split("<")
    # Joins settled by the visual zone.
    if viz_words:
        for index, word in enumerate(words):
            if len(word) < 3 or word in viz_words:
                continue
            split = _split_at_fillers(word, viz_words)
            if split is not None and split != word:
                words[index] = split
                notes.append(f"name: {word} -> {split} (filler read as a letter; visual zone)")
    fixed = _drop_trailing_artefacts("<".join(words), viz_words, notes)
    return fixed[:width].ljust(width, "<"), notes


def _drop_trailing_artefacts(name: str, viz_words: set[str], notes: list[str]) -> str:
    """Turn the look-alike-only words after the last real word back into filler (see :func:`clean_name_fillers`).

    A real word has a letter that is not a filler look-alike, or is printed in the visual zone.  After it,
    a look-alike-only word is filler when it has a doubled letter (``KK``), or follows a run of two or more
    ``<`` without being the first given name (a middle initial follows a single ``<``).  The first given
    name (right after exactly ``<<``) is filler only with a doubled letter and three or more letters (a given
    name ``C`` stays).
    """
    tokens = re.split(r"(<+)", name)  # words and filler runs, alternating
    words = [(i, t) for i, t in enumerate(tokens) if t and not t.startswith("<")]
    if not words:
        return name
    real = [k for k, (_, w) in enumerate(words) if set(w) - FILLER_LOOKALIKES or w in viz_words]
    last_real = max(real) if real else 0
    separator = next((i for i, t in enumerate(tokens) if t.startswith("<<")), None)
    in_filler = False  # once a word was filler, the look-alike-only words after it are too
    for k in range(last_real + 1, len(words)):
        i, word = words[k]
        doubled = re.search(r"(.)\1", word) is not None
        before = tokens[i - 1] if i > 0 else ""
        first_given = separator is not None and i == separator + 1 and tokens[separator] == "<<"
        if first_given:
            artefact = doubled and len(word) >= 3
        else:
            artefact = doubled or len(before) >= 2 or in_filler
        in_filler = in_filler or artefact
        if artefact:
            notes.append(f"name: trailing {word!r} is filler read as letters")
            tokens[i] = "<" * len(word)
    return "".join(tokens)


def _split_at_fillers(word: str, viz_words: set[str]) -> str | None:
    """``word`` with one run of 1-2 filler look-alikes turned into '<' so that every part is a printed
    word (an empty part is allowed at either end), or None when no single such split exists."""
    found = []
    for start in range(len(word)):
        for size in (1, 2):
            run = word[start:start + size]
            if len(run) != size or set(run) - FILLER_LOOKALIKES:
                continue
            left, right = word[:start], word[start + size:]
            if not (left or right):
                continue
            if all(part in viz_words for part in (left, right) if part):
                found.append(left + "<" * size + right)
    return found[0] if len(set(found)) == 1 else None


def _clean_name_field(grid: _Grid, name_field: _Field, viz_words: set[str]) -> None:
    raw = grid.text(name_field.positions)
    fixed, notes = clean_name_fillers(raw, viz_words)
    if fixed != raw:
        for index, ch in enumerate(fixed):
            r, c = name_field.positions[index]
            grid.rows[r][c] = ch
        grid.corrections.extend(notes)


_LOST_LETTER = re.compile(r"^<|<<<+[A-Z0-9]")


def _flag_lost_name_letters(name: str, warnings: list[str]) -> None:
    """A name field that starts with a filler, or has three fillers before a letter, lost a letter to OCR (a
    name word is never empty and name parts are separated by ``<`` or one ``<<``): no check digit covers
    the name, so the reading is reported rather than passed as valid."""
    if _LOST_LETTER.search(name):
        warnings.append("name: a letter was read as a filler '<' (the name may be incomplete)")


def name_truncated(lines: list[str]) -> bool:
    """Whether the MRZ name field is full to its last character (a long name cut short, which only then may
    be a prefix of the printed name)."""
    try:
        fields, _ = _layout_for(lines)
    except (MRZError, IndexError, ValueError):
        return False
    name = next(f for f in fields if f.name == "name")
    r, c = name.positions[-1]
    return lines[r][c] != "<"


# ICAO 9303 part 3 codes beside ISO 3166-1 alpha-3: Germany's D, British nationals' GBD/GBN/GBO/GBP/GBS,
# international organisations, refugees and stateless persons, and the specimen state Utopia.
_ICAO_CODES = frozenset({"D", "GBD", "GBN", "GBO", "GBP", "GBS", "EUE", "UNA", "UNK", "UNO", "XBA", "XIM", "XCC",
                         "XCE", "XCO", "XDC", "XEC", "XES", "XMP", "XOM", "XPO", "XSC", "XXA", "XXB", "XXC", "XXX",
                         "RKS", "UTO", "ZZZ"})


@cache
def state_codes() -> frozenset[str]:
    """Issuing-state and nationality codes an MRZ may carry: ISO 3166-1 alpha-3 (from rigour's territory
    table, historical ones included) and the ICAO-only codes."""
    from rigour.territories import get_territories

    iso = {t.alpha3.upper() for t in get_territories() if getattr(t, "alpha3", None)}
    return frozenset(iso) | _ICAO_CODES


def _fix_state_codes(grid: _Grid, by_name: dict[str, _Field], warnings: list[str]) -> None:
    """Issuing state and nationality that are no known code (no check digit covers them): a filler read as
    a letter (``DKK`` for ``D<<``) is undone, and a code one letter away from the other field's known code
    takes it (they are usually the same state); what stays unknown is reported."""
    known = state_codes()
    values = {name: grid.text(by_name[name].positions) for name in ("issuing_country", "nationality")
              if name in by_name}
    for name, value in values.items():
        if value.strip("<") in known:
            continue
        fixed = None
        for cut in range(1, len(value)):
            tail = value[cut:]
            if all(ch in FILLER_LOOKALIKES or ch == "<" for ch in tail) and value[:cut].rstrip("<") in known \
                    and "<" not in value[:cut]:
                fixed = value[:cut] + "<" * len(tail)
                break
        if fixed is None:
            others = [v for n, v in values.items() if n != name and v.strip("<") in known]
            near = [v for v in others if sum(a != b for a, b in zip(v, value)) == 1]
            fixed = near[0] if near else None
        if fixed is not None:
            for (r, c), ch in zip(by_name[name].positions, fixed):
                grid.rows[r][c] = ch
            grid.corrections.append(f"{name}: unknown code corrected to a known one")
            values[name] = fixed
        else:
            warnings.append(f"{name}: not a known state code")


def _parse_date(text: str, kind: str, today: date, warnings: list[str]) -> date | None:
    """YYMMDD -> date; birth dates lie in the past, expiry dates at most ~20 years ahead."""
    if not re.fullmatch(r"\d{6}", text):
        warnings.append(f"{kind}: not a complete date")
        return None
    yy, mm, dd = int(text[:2]), int(text[2:4]), int(text[4:])
    century = today.year // 100 * 100
    year = century + yy
    if kind == "date_of_birth":
        if (year, mm, dd) > (today.year, today.month, today.day):
            year -= 100
    elif year > today.year + 20:
        year -= 100
    try:
        return date(year, mm, dd)
    except ValueError:
        warnings.append(f"{kind}: invalid calendar date")
        return None


def _split_name(name_field: str) -> tuple[str, str]:
    """Primary identifier (surname) and secondary identifier (given names) from the name field."""
    primary, _, secondary = name_field.partition("<<")
    surname = " ".join(p for p in primary.split("<") if p)
    given = " ".join(p for p in secondary.split("<") if p)
    return surname, given


# --------------------------------------------------------------------------- public parsing


def parse_mrz(lines: list[str], today: date | None = None, viz_text: str | None = None,
              ocr: bool = False) -> MRZResult:
    """Decode an MRZ (TD1, TD2, TD3, MRV-A, MRV-B), correcting OCR look-alike characters.

    ``today`` decides the century of two-digit years (defaults to the current date).
    ``viz_text`` (optional OCR text of the whole page) settles corrections the check digits cannot:
    several look-alike swaps fitting a check digit, and a glyph doubled by OCR inside the name.
    ``ocr=True`` says the lines come from OCR: a filler ``<`` misread as a letter is then undone in the
    name (:func:`clean_name_fillers`); without it the name is taken exactly as written.
    Raises :class:`MRZError` when the lines do not have an MRZ shape or contain characters
    outside ``A-Z0-9<``.
    """
    today = today or date.today()
    if not isinstance(lines, (list, tuple)) or not lines:
        raise MRZError("not an MRZ: no lines given")
    norm = [_normalise_line(str(line)) for line in lines]
    fmt = _detect_format(norm)
    for line in norm:
        if not set(line) <= MRZ_CHARS:
            raise MRZError("not an MRZ: characters outside A-Z, 0-9 and '<'")
    grid = _Grid(norm)
    warnings: list[str] = []
    if fmt == "TD1":
        fields, checks = _td1_layout(grid.rows)
    else:
        fields, checks = _two_line_layout(fmt, len(norm[0]))
    by_name = {f.name: f for f in fields}
    viz = _viz_key(viz_text)
    _repair_doubled_name_glyph(grid, by_name["name"], viz)
    _fix_by_kind(grid, fields, warnings)
    viz_words = set(re.findall(r"[A-Z]+", _mrz_text(viz_text).replace("<", " "))) if viz_text else set()
    if ocr:
        _clean_name_field(grid, by_name["name"], viz_words)
        _fix_state_codes(grid, by_name, warnings)
    if viz_text:
        _repair_name_words(grid, by_name["name"], viz_words)
    if ocr:
        _flag_lost_name_letters(grid.text(by_name["name"].positions), warnings)
    check_results: dict[str, bool] = {}
    for chk in checks:
        if not _check_ok(grid, chk) and chk.fixable:
            # Evidence in order: look-alike swaps the check digit settles alone, the printed visual zone,
            # then (one slip only) the kind of the neighbouring characters.
            _try_alnum_fix(grid, chk, by_name, warnings, viz, use_context=False)
            if not _check_ok(grid, chk) and viz:
                _viz_rescue(grid, chk, by_name[chk.fixable[0]], viz)
            if not _check_ok(grid, chk):
                _try_alnum_fix(grid, chk, by_name, warnings, viz)
        check_results[chk.name] = _check_ok(grid, chk)
        if not check_results[chk.name]:
            warnings.append(f"check digit mismatch: {chk.name}")

    def val(name: str) -> str:
        return grid.text(by_name[name].positions)

    sex_raw = val("sex")
    sex = {"M": "M", "F": "F", "<": "X", "X": "X"}.get(sex_raw)
    if sex is None:
        warnings.append("sex: unexpected character")
        sex = "X"
    surname, given = _split_name(val("name"))
    optional = val("optional_data").strip("<")
    if fmt == "TD1":
        optional_2 = val("optional_data_2").strip("<")
        optional = " ".join(p for p in (optional, optional_2) if p)
    code = val("document_code")
    return MRZResult(
        format=fmt,
        document_type=_document_type(code),
        document_code=code.strip("<"),
        issuing_country=val("issuing_country").strip("<"),
        surname=surname,
        given_names=given,
        document_number=val("document_number").strip("<"),
        nationality=val("nationality").strip("<"),
        date_of_birth=_parse_date(val("date_of_birth"), "date_of_birth", today, warnings),
        sex=sex,
        expiry_date=_parse_date(val("expiry_date"), "expiry_date", today, warnings),
        optional_data=optional,
        valid=all(check_results.values()),
        check_digits=check_results,
        corrections=grid.corrections,
        warnings=warnings,
        raw_lines=grid.lines(),
    )


# --------------------------------------------------------------------------- fusing several readings


def _layout_for(lines: list[str]) -> tuple[list[_Field], list[_Check]]:
    fmt = _detect_format(lines)
    return _td1_layout([list(x) for x in lines]) if fmt == "TD1" else _two_line_layout(fmt, len(lines[0]))


def fuse_mrz_readings(readings: list[list[str]], today: date | None = None,
                      viz_text: str | None = None) -> list[str] | None:
    """Combine several OCR readings of the same MRZ into one, field by field.

    Each check-digit-protected field (with its check digit) is taken from a reading in which that
    check passes; the name is voted character by character when three or more readings agree in
    shape. Readings of another shape than the most check-valid one are ignored. Returns the fused
    (corrected) lines, or None without readings.
    """
    parsed = []
    for lines in readings:
        try:
            parsed.append(parse_mrz(lines, today=today, viz_text=viz_text, ocr=True))
        except MRZError:
            continue
    if not parsed:
        return None
    parsed.sort(key=lambda r: sum(r.check_digits.values()), reverse=True)
    best = parsed[0]
    same = [r for r in parsed if [len(x) for x in r.raw_lines] == [len(x) for x in best.raw_lines]
            and r.format == best.format]
    rows = [list(line) for line in best.raw_lines]
    fields, checks = _layout_for(best.raw_lines)
    for chk in checks:
        if best.check_digits.get(chk.name) or chk.name == "composite":
            continue
        donor = next((r for r in same if r.check_digits.get(chk.name)), None)
        if donor is not None:
            for r, c in [*chk.data, chk.digit]:
                rows[r][c] = donor.raw_lines[r][c]
    name = next(f for f in fields if f.name == "name")
    if len(same) >= 3:
        for r, c in name.positions:
            votes: dict[str, int] = {}
            for reading in same:
                votes[reading.raw_lines[r][c]] = votes.get(reading.raw_lines[r][c], 0) + 1
            top = max(votes.values())
            if votes.get(rows[r][c], 0) < top:
                rows[r][c] = max(votes, key=votes.get)
    return ["".join(row) for row in rows]


# --------------------------------------------------------------------------- finding in OCR text

_K_RUN = re.compile(r"(?<=<)K{2,}(?=<)")
_K_SINGLE = re.compile(r"(?<=<<)K(?=<<)")


def _clean_ocr_line(line: str) -> str:
    """Normalise one OCR text line towards MRZ characters (spaces, guillemets, K-for-< noise)."""
    line = line.upper().replace("«", "<<").replace("‹", "<").replace("＜", "<")
    line = re.sub(r"\s+", "", line)
    line = "".join(ch for ch in line if ch in MRZ_CHARS)
    for _ in range(3):  # overlapping K runs need repeated passes
        line = _K_RUN.sub(lambda m: "<" * len(m.group()), line)
        line = _K_SINGLE.sub("<", line)
    return line


_DOUBLED = re.compile(r"(?<=O)0|0(?=O)|(?<=I)1|1(?=I)|(?<=S)5|5(?=S)|(?<=B)8|8(?=B)|(?<=Z)2|2(?=Z)|(?<=G)6|6(?=G)")


def _drop_doubled_glyphs(line: str, alpha_from: int, extra: int) -> str:
    """Remove up to ``extra`` digits that OCR inserted beside their letter look-alike (``O0MAR``) in a
    letters-only region (the name line): a digit cannot occur there, a doubled glyph is a known OCR slip."""
    head, tail = line[:alpha_from], line[alpha_from:]
    for _ in range(extra):
        match = _DOUBLED.search(tail)
        if match is None:
            break
        tail = tail[:match.start()] + tail[match.end():]
    return head + tail


def _fit_length(line: str, width: int, alpha_from: int | None = None) -> str | None:
    """Repair a line to ``width`` characters by growing/shrinking its filler, or None if implausible.

    OCR mostly drops or duplicates ``<`` inside long filler runs, so the missing or extra
    characters are put into (or taken from) the trailing filler when the line ends in ``<``,
    else the longest ``<`` run.  Lines more than 2 characters off need such a run.  In a
    letters-only line (``alpha_from``: first column of its letters-only part) a digit doubled
    beside its look-alike letter is removed first.
    """
    if alpha_from is not None and len(line) > width:
        line = _drop_doubled_glyphs(line, alpha_from, len(line) - width)
    diff = width - len(line)
    if diff == 0:
        return line
    if len(line) < width * 0.6 or diff < -3:
        return None
    runs = [(m.end() - m.start(), m.start(), m.end()) for m in re.finditer(r"<+", line)]
    if line.endswith("<") or not runs:
        if abs(diff) > 2 and not line.endswith("<"):
            return None
        return line + "<" * diff if diff > 0 else line[:width]
    length, start, end = max(runs)
    if abs(diff) > 2 and length < 3:
        return None
    if diff > 0:
        return line[:end] + "<" * diff + line[end:]
    if length + diff < 1:
        return line[:width]
    return line[:start] + "<" * (length + diff) + line[end:]


def _mrz_score(lines: list[str]) -> float:
    """How MRZ-like a candidate block is (filler density, document code, digits, check digits)."""
    text = "".join(lines)
    score = text.count("<") / len(text) + sum(ch.isdigit() for ch in text) / len(text)
    code = lines[0][:1]
    if code in ("P", "I", "A", "C", "V"):
        score += 1.0
    if (code == "P" and len(lines[0]) == 44) or (code in "IAC" and len(lines[0]) in (30, 36)):
        score += 0.5
    try:
        result = parse_mrz(lines)
        score += 1.0 + sum(result.check_digits.values()) + (3 if result.valid else 0)
    except MRZError:
        pass
    return score


def find_mrz_lines(text: str) -> list[str] | None:
    """Pick the MRZ lines (3x30, 2x36 or 2x44) out of noisy OCR text, or None if absent.

    Spaces are removed, ``«`` becomes ``<<`` and ``K`` runs inside filler become ``<``.
    Lines near an MRZ width are repaired to it (``<`` added to or removed from the filler,
    +-2 characters anywhere, more inside long filler runs).  Among consecutive candidate
    blocks the most MRZ-like one wins (the later block on ties, as the MRZ sits at the
    bottom of the document).
    """
    cleaned = [c for c in (_clean_ocr_line(raw) for raw in text.splitlines()) if c]
    best: tuple[float, list[str]] | None = None
    for i in range(len(cleaned)):
        for count, width in ((3, 30), (2, 36), (2, 44)):
            block = cleaned[i:i + count]
            if len(block) != count:
                continue
            name_line = 2 if count == 3 else 0  # the letters-only line: names (and codes for 2-line formats)
            fitted = [_fit_length(line, width, (0 if count == 3 else 5) if k == name_line else None)
                      for k, line in enumerate(block)]
            if any(line is None for line in fitted):
                continue
            lines = [line for line in fitted if line is not None]
            # Prefer the layout that needed the least repair (a 2x36 TD2 also fits 2x44 with filler added).
            score = _mrz_score(lines) - 0.05 * sum(abs(len(a) - len(b)) for a, b in zip(block, lines))
            if best is None or score >= best[0]:
                best = (score, lines)
    return best[1] if best else None


# --------------------------------------------------------------------------- building

_SPECIAL_TRANSLIT = {"Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "SS", "Å": "AA", "Æ": "AE", "Ø": "OE",
                     "Þ": "TH", "Ĳ": "IJ", "Œ": "OE"}


def _mrz_text(value: str) -> str:
    """Transliterate to MRZ characters: A-Z and 0-9 kept, separators become '<', apostrophes dropped."""
    value = "".join(_SPECIAL_TRANSLIT.get(ch, ch) for ch in value.upper())
    value = anyascii(value).upper().replace("'", "").replace("`", "")
    value = re.sub(r"[^A-Z0-9]+", "<", value)
    return value.strip("<")


def _name_field(surname: str, given_names: str, width: int) -> str:
    primary = re.sub(r"\d", "", _mrz_text(surname))
    secondary = re.sub(r"\d", "", _mrz_text(given_names))
    if not primary:
        raise ValueError("surname must contain at least one letter")
    name = primary + ("<<" + secondary if secondary else "")
    return name[:width].ljust(width, "<")


def _pad(value: str, width: int, what: str) -> str:
    value = _mrz_text(value)
    if len(value) > width:
        raise ValueError(f"{what} longer than {width} characters")
    return value.ljust(width, "<")


def _code(value: str, width: int, what: str) -> str:
    value = value.upper()
    if not re.fullmatch(rf"[A-Z<]{{1,{width}}}", value):
        raise ValueError(f"{what} must be 1-{width} letters")
    return value.ljust(width, "<")


def _yymmdd(value: date) -> str:
    return value.strftime("%y%m%d")


def _sex_char(sex: str) -> str:
    sex = sex.upper()
    if sex not in ("M", "F", "X", "<"):
        raise ValueError("sex must be M, F or X")
    return "<" if sex in ("X", "<") else sex


def build_td3(document_code: str, issuing_country: str, surname: str, given_names: str,
              document_number: str, nationality: str, date_of_birth: date, sex: str,
              expiry_date: date, optional_data: str = "") -> list[str]:
    """Build a TD3 (passport) MRZ: 2 lines of 44 characters with valid check digits."""
    line1 = _code(document_code, 2, "document_code") + _code(issuing_country, 3, "issuing_country")
    line1 += _name_field(surname, given_names, 39)
    number = _pad(document_number, 9, "document_number")
    optional = _pad(optional_data, 14, "optional_data")
    optional_check = "<" if set(optional) == {"<"} else check_digit(optional)
    line2 = (number + check_digit(number) + _code(nationality, 3, "nationality")
             + _yymmdd(date_of_birth) + check_digit(_yymmdd(date_of_birth)) + _sex_char(sex)
             + _yymmdd(expiry_date) + check_digit(_yymmdd(expiry_date)) + optional + optional_check)
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    return [line1, line2 + check_digit(composite)]


def build_td1(document_code: str, issuing_country: str, surname: str, given_names: str,
              document_number: str, nationality: str, date_of_birth: date, sex: str,
              expiry_date: date, optional_data: str = "", optional_data_2: str = "") -> list[str]:
    """Build a TD1 (ID card) MRZ: 3 lines of 30 characters with valid check digits.

    Document numbers longer than 9 characters use the ICAO extended layout: a ``<`` in the
    check-digit position and the remaining characters plus check digit in the optional field.
    """
    number = _mrz_text(document_number)
    if not number:
        raise ValueError("document_number must not be empty")
    if len(number) <= 9:
        number_part = number.ljust(9, "<") + check_digit(number.ljust(9, "<"))
    else:
        number_part = number[:9] + "<" + number[9:] + check_digit(number)
        if len(number_part) > 25:
            raise ValueError("document_number too long for TD1")
    head = _code(document_code, 2, "document_code") + _code(issuing_country, 3, "issuing_country")
    rest = number_part + _mrz_text(optional_data)
    if len(rest) > 25:
        raise ValueError("optional_data too long for TD1")
    line1 = head + rest.ljust(25, "<")
    dob, exp = _yymmdd(date_of_birth), _yymmdd(expiry_date)
    line2 = (dob + check_digit(dob) + _sex_char(sex) + exp + check_digit(exp)
             + _code(nationality, 3, "nationality") + _pad(optional_data_2, 11, "optional_data_2"))
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    line2 += check_digit(composite)
    line3 = _name_field(surname, given_names, 30)
    return [line1, line2, line3]


def build_td2(document_code: str, issuing_country: str, surname: str, given_names: str,
              document_number: str, nationality: str, date_of_birth: date, sex: str,
              expiry_date: date, optional_data: str = "") -> list[str]:
    """Build a TD2 (ID card) MRZ: 2 lines of 36 characters with valid check digits."""
    line1 = _code(document_code, 2, "document_code") + _code(issuing_country, 3, "issuing_country")
    line1 += _name_field(surname, given_names, 31)
    number = _pad(document_number, 9, "document_number")
    dob, exp = _yymmdd(date_of_birth), _yymmdd(expiry_date)
    line2 = (number + check_digit(number) + _code(nationality, 3, "nationality") + dob + check_digit(dob)
             + _sex_char(sex) + exp + check_digit(exp) + _pad(optional_data, 7, "optional_data"))
    composite = line2[0:10] + line2[13:20] + line2[21:35]
    return [line1, line2 + check_digit(composite)]


def build_mrv(visa_format: str, issuing_country: str, surname: str, given_names: str,
              document_number: str, nationality: str, date_of_birth: date, sex: str,
              expiry_date: date, optional_data: str = "", document_code: str = "V") -> list[str]:
    """Build a machine-readable visa MRZ: ``'A'`` (MRV-A, 2x44) or ``'B'`` (MRV-B, 2x36); no composite digit."""
    if visa_format not in ("A", "B"):
        raise ValueError("visa_format must be 'A' or 'B'")
    if not document_code.upper().startswith("V"):
        raise ValueError("a visa document code starts with V")
    width = 44 if visa_format == "A" else 36
    line1 = _code(document_code, 2, "document_code") + _code(issuing_country, 3, "issuing_country")
    line1 += _name_field(surname, given_names, width - 5)
    number = _pad(document_number, 9, "document_number")
    dob, exp = _yymmdd(date_of_birth), _yymmdd(expiry_date)
    line2 = (number + check_digit(number) + _code(nationality, 3, "nationality") + dob + check_digit(dob)
             + _sex_char(sex) + exp + check_digit(exp) + _pad(optional_data, width - 28, "optional_data"))
    return [line1, line2]
