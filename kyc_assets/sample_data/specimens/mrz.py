"""Machine-readable zones built from ICAO Doc 9303 directly (parts 4-7), independent of the reader.

Nothing here imports ``kyc_assets.onboarding``: the evaluation set must not share code, and so not
share mistakes, with the reader it judges.
"""

from __future__ import annotations

import unicodedata
from datetime import date

# ICAO 9303 part 3, 6.A: transliteration of Latin characters with diacritics (the recommended,
# first column), then any remaining accent is dropped.
_TRANSLIT = {
    "Ä": "AE", "Å": "AA", "Æ": "AE", "Ö": "OE", "Ø": "OE", "Ü": "UE", "ß": "SS", "Œ": "OE", "Þ": "TH",
    "Ð": "D", "Đ": "D", "Ł": "L", "Ħ": "H", "Ŀ": "L", "Ŋ": "N", "Ĳ": "IJ", "ẞ": "SS",
}


def transliterate(text: str) -> str:
    """Upper-case MRZ form of a printed name part: diacritics mapped, hyphens/spaces become ``<``,
    apostrophes and other punctuation dropped."""
    out = []
    for ch in text.upper():
        if ch in _TRANSLIT:
            out.append(_TRANSLIT[ch])
            continue
        base = unicodedata.normalize("NFKD", ch)
        base = "".join(c for c in base if not unicodedata.combining(c))
        if base.isascii() and base.isalpha():
            out.append(base)
        elif ch in " -,":
            out.append("<")
        elif ch.isdigit():
            out.append(ch)
        # apostrophes, dots and anything else: omitted
    text = "".join(out)
    while "<<" in text:
        text = text.replace("<<", "<")
    return text.strip("<")


def check_digit(field: str) -> str:
    """ICAO 9303 part 3, 4.9: weights 7-3-1 over digits (value), letters (A=10..Z=35) and ``<`` (0)."""
    total = 0
    for i, ch in enumerate(field):
        if ch.isdigit():
            value = int(ch)
        elif "A" <= ch <= "Z":
            value = ord(ch) - 55
        elif ch == "<":
            value = 0
        else:
            raise ValueError(f"not an MRZ character: {ch!r}")
        total += value * (7, 3, 1)[i % 3]
    return str(total % 10)


def pad(text: str, width: int) -> str:
    return (text + "<" * width)[:width]


def name_field(surname: str, given_names: str, width: int) -> str:
    """``SURNAME<<GIVEN<NAMES`` padded or truncated to ``width`` (truncation simply cuts, as most
    issuers do; the last character then is a letter)."""
    primary, secondary = transliterate(surname), transliterate(given_names)
    text = primary + ("<<" + secondary if secondary else "")
    return pad(text, width)


def decode_name(field: str) -> tuple[str, str]:
    """(surname, given names) as a reader should return them: fillers become single spaces."""
    text = field.rstrip("<")
    primary, _, secondary = text.partition("<<")
    clean = lambda s: " ".join(p for p in s.split("<") if p)
    return clean(primary), clean(secondary)


def yymmdd(value: date) -> str:
    return value.strftime("%y%m%d")


def _number_parts(number: str) -> tuple[str, str]:
    """(9-character number field, overflow) for numbers longer than 9 characters (part 5, 4.2.4)."""
    if len(number) <= 9:
        return pad(number, 9), ""
    return number[:9], number[9:]


def build_mrz(doc_class: str, doc_code: str, issuing: str, surname: str, given_names: str, number: str,
              nationality: str, birth: date, sex: str, expiry: date, optional: str = "") -> list[str]:
    """The MRZ lines of one document: ``doc_class`` is td1, td2, td3, mrva or mrvb; ``doc_code`` the
    1-2 letter document code (``P``, ``PD``, ``I``, ``ID``, ``AC``, ``V``...); ``sex`` M, F or X; ``optional``
    the optional/personal-number data (MRZ alphabet)."""
    code = pad(doc_code, 2)
    state, nat = pad(issuing, 3), pad(nationality, 3)
    dob, exp = yymmdd(birth), yymmdd(expiry)
    sex_char = sex if sex in "MF" else ("X" if sex == "X" else "<")
    if doc_class == "td1":
        field, overflow = _number_parts(number)
        if overflow:  # number overflows into the optional data, its check digit after it; '<' at 15
            line1 = code + state + field + "<" + pad(overflow + check_digit(field + overflow) + optional, 15)
        else:
            line1 = code + state + field + check_digit(field) + pad(optional, 15)
        line2 = dob + check_digit(dob) + sex_char + exp + check_digit(exp) + nat + "<" * 11
        composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
        line2 += check_digit(composite)
        return [line1, line2, name_field(surname, given_names, 30)]
    if doc_class in ("td2", "mrvb"):
        field, overflow = _number_parts(number)
        line1 = code + state + name_field(surname, given_names, 31)
        head = field + check_digit(field) + nat + dob + check_digit(dob) + sex_char + exp + check_digit(exp)
        if doc_class == "mrvb":
            return [line1, head + pad(optional, 8)]
        opt = pad(optional, 7)
        composite = field + check_digit(field) + dob + check_digit(dob) + exp + check_digit(exp) + opt
        return [line1, head + opt + check_digit(composite)]
    if doc_class in ("td3", "mrva"):
        field, _ = _number_parts(number)
        line1 = code + state + name_field(surname, given_names, 39)
        head = field + check_digit(field) + nat + dob + check_digit(dob) + sex_char + exp + check_digit(exp)
        if doc_class == "mrva":
            return [line1, head + pad(optional, 16)]
        opt = pad(optional, 14)
        opt_cd = check_digit(opt) if optional else "<"
        composite = head[0:10] + head[13:20] + head[21:28] + opt + opt_cd
        return [line1, head + opt + opt_cd + check_digit(composite)]
    raise ValueError(f"unknown document class: {doc_class!r}")


def check_digits_valid(doc_class: str, lines: list[str]) -> bool:
    """Every check digit of ``lines`` (as built by :func:`build_mrz`) holds; used by the tests."""
    def ok(field: str, digit: str) -> bool:
        return check_digit(field) == digit

    if doc_class == "td1":
        l1, l2 = lines[0], lines[1]
        if l1[14] == "<":  # long number: overflow, then its check digit, in the optional data
            rest = l1[15:30].split("<")[0]
            number_ok = ok(l1[5:14] + rest[:-1], rest[-1])
        else:
            number_ok = ok(l1[5:14], l1[14])
        composite = l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
        return number_ok and ok(l2[0:6], l2[6]) and ok(l2[8:14], l2[14]) and ok(composite, l2[29])
    l2 = lines[1]
    base = ok(l2[0:9], l2[9]) and ok(l2[13:19], l2[19]) and ok(l2[21:27], l2[27])
    if doc_class == "td2":
        return base and ok(l2[0:10] + l2[13:20] + l2[21:35], l2[35])
    if doc_class == "td3":
        opt_ok = l2[42] == "<" and set(l2[28:42]) == {"<"} or ok(l2[28:42], l2[42])
        return base and opt_ok and ok(l2[0:10] + l2[13:20] + l2[21:43], l2[43])
    return base
