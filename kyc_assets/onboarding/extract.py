"""Field extraction from onboarding documents (identity documents and proof of address).

Identity documents are read from their MRZ (method ``'mrz'``) and cross-checked against
the labelled visual zone in the OCR text.  Utility bills and bank statements are
classified by keywords and read with layout rules (method ``'rules'``): issuer from the
letterhead, issue date from a labelled date, addressee name and address from the
address block (a name line followed by a line with a house number).
"""

from __future__ import annotations

import re
from datetime import date

from anyascii import anyascii
from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from kyc_assets.onboarding.mrz import (
    MRZError,
    MRZResult,
    _transliteration_slip,
    find_mrz_lines,
    name_truncated,
    parse_mrz,
)
from kyc_assets.onboarding.mrz_vote import DISAGREE
from kyc_assets.onboarding.ocr import document_pages, mrz_reading_from_pages

EXTRACT_FIELDS = (
    "document_type", "surname", "given_names", "document_number", "nationality", "issuing_country",
    "date_of_birth", "sex", "expiry_date", "address", "mrz_valid", "method", "confidence", "warnings",
)
EXTRA_FIELDS = ("issuer", "issue_date")
# Per-field confidence of the layout rules, so that a stronger reading (e.g. the LLM's) can replace
# only the weak heuristics: a labelled value beats an unlabelled guess.
RULE_CONFIDENCE = {"labelled": 0.8, "address_block": 0.6, "visual_zone": 0.5, "first_line": 0.5,
                   "keywords": 0.6, "any_date": 0.4}
DOCUMENT_TYPES = ("passport", "id_card", "visa", "utility_bill", "bank_statement", "unknown")

_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_MONTH_RE = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE_PATTERNS = (
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), ("y", "m", "d")),
    (re.compile(r"\b(\d{1,2})[./-](\d{1,2})[./-](\d{4})\b"), ("d", "m", "y")),
    (re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH_RE + r",?\s+(\d{4})\b", re.IGNORECASE), ("d", "mon", "y")),
    (re.compile(r"\b" + _MONTH_RE + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.IGNORECASE), ("mon", "d", "y")),
)

_UTILITY_WORDS = ("electricity", "water", "gas", "utility", "utilities", "energy", "meter reading",
                  "kwh", "broadband", "sewerage")
_BANK_WORDS = ("account statement", "bank statement", "statement of account", "sort code", "iban",
               "opening balance", "closing balance", "balance brought forward")
_NOT_NAME_WORDS = {"bill", "energy", "account", "ltd", "limited", "plc", "bank", "water", "gas",
                   "electricity", "statement", "customer", "service", "period", "amount", "page",
                   "total", "balance", "invoice", "payment", "date", "number", "united", "kingdom",
                   "street", "road", "avenue", "lane", "passport", "identity", "card", "utilities"}
_TITLES = re.compile(r"^(?:mr|mrs|ms|miss|mx|dr|prof)\.?\s+", re.IGNORECASE)

# Visual-zone field labels, in the languages identity documents print them (compared without accents).
_VIZ_LABELS = {
    "surname": ("surname", "surnames", "last name", "family name", "nom", "nom de famille", "apellidos", "apellido",
                "nachname", "familienname", "name", "cognome", "achternaam", "nazwisko", "sobrenome", "efternamn",
                "etternavn", "sukunimi", "prijmeni", "vezeteknev", "primary identifier"),
    "given_names": ("given names", "given name", "first names", "first name", "forenames", "forename", "prenoms",
                    "prenom", "nombres", "nombre", "vornamen", "vorname", "nome", "nomi", "voornamen", "imiona",
                    "imie", "fornamn", "fornavn", "etunimet", "jmena", "utonev", "secondary identifier"),
    "date_of_birth": ("date of birth", "birth date", "dob", "date de naissance", "fecha de nacimiento",
                      "geburtsdatum", "data di nascita", "geboortedatum", "data urodzenia", "data de nascimento",
                      "fodelsedatum", "syntymaaika"),
    "document_number": ("passport no", "passport number", "document no", "document number", "card no",
                        "card number", "no du document", "no du passeport", "numero du document",
                        "numero de documento", "numero", "n du document", "passnummer", "ausweisnummer",
                        "documentnummer", "paspoortnummer", "numer dokumentu", "nr dokumentu", "doc no"),
    "nationality": ("nationality", "nationalite", "nacionalidad", "staatsangehorigkeit", "nazionalita",
                    "nationaliteit", "obywatelstwo", "nacionalidade", "nationalitet"),
    "expiry_date": ("date of expiry", "expiry date", "valid until", "date d expiration", "date dexpiration",
                    "fecha de caducidad", "fecha de expiracion", "gultig bis", "data di scadenza", "geldig tot",
                    "data waznosci", "date of expiration", "expires"),
    "sex": ("sex", "sexe", "sexo", "geschlecht", "sesso", "geslacht", "plec", "kon", "sukupuoli"),
}
# Other labels printed on identity documents: never a value either.
_OTHER_LABELS = ("type", "code", "issuing state", "issuing country", "country code", "code du pays", "place of birth",
                 "lieu de naissance", "date of issue", "date de delivrance", "authority", "autorite", "issuing authority",
                 "signature", "holder s signature", "height", "taille", "personal no", "personal number", "passport",
                 "passeport", "pasaporte", "reisepass", "identity card", "carte d identite", "nationality code", "sexe sex")
_LABEL_PHRASES = frozenset(label for labels in _VIZ_LABELS.values() for label in labels) | frozenset(_OTHER_LABELS)
_LABEL_SPLIT = re.compile(r"\s*[/|:;,()]\s*|\s+-\s+|\s*\d+\.\s*")


# --------------------------------------------------------------------------- small parsers


def parse_date_text(text: str) -> date | None:
    """First calendar date in free text (ISO, day-first numeric, '12 AUG 1974', 'March 1, 2025')."""
    found: list[tuple[int, date]] = []
    for pattern, order in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            parts = dict(zip(order, match.groups()))
            month = _MONTHS[parts["mon"][:3].lower()] if "mon" in parts else int(parts["m"])
            try:
                found.append((match.start(), date(int(parts["y"]), month, int(parts["d"]))))
            except ValueError:
                continue
    return min(found)[1] if found else None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def _fold(text: str) -> str:
    """Lower case, accents removed, apostrophes and dots as spaces: how labels are compared."""
    return re.sub(r"\s+", " ", re.sub(r"[.'`’]", " ", anyascii(text).lower())).strip()


def is_label(text: str) -> bool:
    """True when ``text`` is only field labels (``PRÉNOMS``, ``Surname / Nom``, ``2. Given names``), in any of
    the languages above, allowing one OCR slip per label of five letters or more: a label is never a value."""
    parts = [re.sub(r"[^a-z0-9 ]+", " ", p).strip() for p in _LABEL_SPLIT.split(_fold(text))]
    parts = [re.sub(r"\s+", " ", p) for p in parts if p]
    if not parts:
        return bool(text.strip()) and not re.search(r"[A-Za-z0-9]", text)
    for part in parts:
        if part in _LABEL_PHRASES or _fuzzy_label(part):
            continue
        words = part.split()  # "Vornamen Giyen names": every run of words a label
        if len(words) > 1 and _labels_only(words):
            continue
        return False
    return True


def _fuzzy_label(part: str) -> bool:
    return len(part) >= 5 and any(abs(len(part) - len(label)) <= 2 and fuzz.ratio(part, label) >= 75
                                  for label in _LABEL_PHRASES)


def _holds_label(value: str) -> bool:
    """A value line that holds a long label word (``VL AOE + Nationality Geschlecnt``): OCR ran a label
    into it, so it is not a clean value."""
    return any(len(w) >= 6 and (w in _LABEL_PHRASES or _fuzzy_label(w))
               for w in re.sub(r"[^a-z ]+", " ", _fold(value)).split())


def _labels_only(words: list[str]) -> bool:
    """Whether ``words`` split into consecutive label phrases (exact, or fuzzy for five letters or more)."""
    if not words:
        return True
    for size in range(min(4, len(words)), 0, -1):
        head = " ".join(words[:size])
        if (head in _LABEL_PHRASES or _fuzzy_label(head)) and _labels_only(words[size:]):
            return True
    return False


def _label_match(line: str, labels: tuple[str, ...]) -> str | None:
    """If ``line`` starts with one of ``labels`` (fuzzy for OCR slips), return the rest of the line
    (empty when the rest is only more labels, e.g. the translation in ``Surname / Nom``)."""
    low = _fold(line)
    for label in sorted(labels, key=len, reverse=True):
        if low.startswith(label) and (len(low) == len(label) or not low[len(label)].isalpha()):
            rest = _rest_after(line, len(label))
            return "" if is_label(rest) else rest
        head = _LABEL_SPLIT.split(low)[0].strip()
        if len(label) >= 5 and abs(len(head) - len(label)) <= 2 and fuzz.ratio(head, label) >= 75 and is_label(line):
            return ""
    return None


def _rest_after(line: str, folded_length: int) -> str:
    """The part of ``line`` after its first ``folded_length`` folded characters, without separators."""
    for cut in range(len(line) + 1):
        if len(_fold(line[:cut])) >= folded_length:
            return line[cut:].strip(" :./-|")
    return ""


def _viz_fields(text: str) -> dict[str, str]:
    """Labelled visual-zone values: value after the label on the same line or on the next line that is
    not itself a label (a field label is never a value)."""
    lines = [x for x in _lines(text) if x]
    values: dict[str, str] = {}
    for i, line in enumerate(lines):
        for key, labels in _VIZ_LABELS.items():
            if key in values:
                continue
            rest = _label_match(line, labels)
            if rest is None:
                continue
            if rest and not _holds_label(rest):
                values[key] = rest
            elif not rest and i + 1 < len(lines) and not is_label(lines[i + 1]) and not _holds_label(lines[i + 1]):
                values[key] = lines[i + 1]
            break
    return values


def _name_key(value: str) -> str:
    """Name reduced to A-Z for comparisons (transliterated, no spaces or punctuation)."""
    return re.sub(r"[^A-Z]", "", anyascii(value).upper())


# --------------------------------------------------------------------------- identity documents


def _empty_result() -> dict:
    result: dict = {key: None for key in (*EXTRACT_FIELDS, *EXTRA_FIELDS)}
    result.update(document_type="unknown", warnings=[], confidence=0.0, field_sources={})
    return result


def _sources(result: dict, method: str, confidences: dict[str, float], locked: set[str] = frozenset()) -> dict:
    """``field_sources`` of a result: method, confidence and lock (check-digit protected) per found field."""
    return {name: {"method": method, "confidence": confidence, "locked": name in locked}
            for name, confidence in confidences.items() if result.get(name) not in (None, "")}


def _names_differ(shown: str, encoded: str, truncated: bool = True) -> bool:
    """Whether a printed name visibly differs from its MRZ form.

    Word by word: every MRZ word must be printed (exactly, as a prefix when the MRZ truncates, or one OCR
    slip per six letters away, which also lets ICAO transliteration such as MUELLER for MÜLLER pass); the
    last word may be a prefix only when the MRZ name field is ``truncated`` (full to its end).
    A disagreement only counts when the two share something (a word, or most letters): a printed value
    with nothing in common is more likely another line read by OCR than another name.
    """
    shown_words = [w for w in re.split(r"[^A-Z]+", anyascii(shown).upper()) if w]
    encoded_words = [w for w in re.split(r"[^A-Z]+", encoded.upper()) if w]
    if not shown_words or not encoded_words:
        return False

    def printed(word: str) -> bool:
        return any(w == word or (truncated and w.startswith(word) and word is encoded_words[-1])
                   or _transliteration_slip(word, w)
                   or (len(word) >= 7 and Levenshtein.distance(w, word) <= 1) for w in shown_words)

    found = [printed(w) for w in encoded_words]
    if all(found):
        return False
    shown_key, encoded_key = "".join(shown_words), "".join(encoded_words)
    return any(found) or Levenshtein.normalized_distance(shown_key, encoded_key) <= 0.4 \
        or fuzz.partial_ratio(shown_key, encoded_key) >= 75


# The visual zone's own OCR confuses these (a rendered TD1 card printed "T48794285", read as "748794285").
_LOOKALIKE_CLASS = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6",
                                  "B": "8", "T": "7"})


def _printed_number_differs(mrz_number: str, viz: dict[str, str], text: str) -> bool:
    """Whether the visual zone prints a document number that differs from the MRZ's.

    Two OCR errors in the MRZ can still pass its check digit; the printed number catches them.  Look-alike
    pairs (O/0, I/1, S/5, B/8, Z/2, G/6) are not counted as differences (the visual zone's own OCR
    confuses them).  The labelled value is compared when there is one; otherwise a printed token of the
    same length one or two characters away from the MRZ number, when the MRZ number is printed nowhere.
    """
    number = re.sub(r"[^A-Z0-9]", "", mrz_number.upper())
    if len(number) < 6:
        return False
    key = number.translate(_LOOKALIKE_CLASS)
    tokens = {re.sub(r"[^A-Z0-9]", "", t.upper()) for t in re.split(r"[\s/|:]+", anyascii(text))}
    # numbers printed with spaces ("L89 8902 C3"): join neighbouring short tokens too
    squashed = re.sub(r"[^A-Z0-9]", "", anyascii(text).upper())
    if number in tokens or key in {t.translate(_LOOKALIKE_CLASS) for t in tokens} or number in squashed:
        return False
    labelled = re.sub(r"[^A-Z0-9]", "", anyascii(viz.get("document_number", "")).upper())
    if len(labelled) >= 6:
        return labelled.translate(_LOOKALIKE_CLASS) != key
    near = [t for t in tokens if len(t) == len(number) and any(ch.isdigit() for ch in t)
            and 0 < sum(a != b for a, b in zip(t.translate(_LOOKALIKE_CLASS), key)) <= 2]
    return bool(near)


def _viz_warnings(mrz: MRZResult, viz: dict[str, str], text: str = "") -> list[str]:
    """Warnings where the visual zone visibly disagrees with the MRZ: surname, given names, date of birth,
    document number."""
    warnings = []
    truncated = name_truncated(mrz.raw_lines) if mrz.raw_lines else True
    if "surname" in viz and mrz.surname and _names_differ(viz["surname"], mrz.surname,
                                                          truncated and not mrz.given_names):
        warnings.append("visual zone surname does not match the MRZ")
    if "given_names" in viz and mrz.given_names and _names_differ(viz["given_names"], mrz.given_names, truncated):
        warnings.append("visual zone given names does not match the MRZ")
    if "date_of_birth" in viz and mrz.date_of_birth:
        shown_dob = parse_date_text(viz["date_of_birth"])
        if shown_dob and shown_dob != mrz.date_of_birth:
            warnings.append("visual zone date of birth does not match the MRZ")
    if mrz.document_number and _printed_number_differs(mrz.document_number, viz, text):
        warnings.append("visual zone document number does not match the MRZ")
    return warnings


def _settled_by_printed_number(mrz: MRZResult, text: str, today: date) -> MRZResult:
    """The printed document number in place of a check-digit-valid MRZ number it contradicts, when the MRZ
    then passes every check digit, the composite included (two independent readings agreeing through two
    check digits); the swap is reported as a correction. Otherwise the MRZ is returned unchanged (and the
    dispute stays a warning)."""
    number = mrz.document_number
    if not (mrz.valid and number and len(number) >= 6 and mrz.raw_lines):
        return mrz
    viz = _viz_fields(text)
    if not _printed_number_differs(number, viz, text):
        return mrz
    printed = re.sub(r"[^A-Z0-9]", "", anyascii(viz.get("document_number", "")).upper())
    joined = "\n".join(mrz.raw_lines)
    if len(printed) != len(number) or joined.count(number) != 1:
        return mrz
    try:
        swapped = parse_mrz(joined.replace(number, printed).split("\n"), today=today, viz_text=text, ocr=True)
    except MRZError:
        return mrz
    if not (swapped.valid and swapped.document_number == printed):
        return mrz
    swapped.corrections.append("document number taken from the visual zone (the MRZ reading passed its "
                               "check digit but contradicted the printed number; the printed one passes every check)")
    return swapped


def _from_mrz(mrz: MRZResult, text: str, today: date, engine_warnings: list[str] = ()) -> dict:
    result = _empty_result()
    warnings = list(mrz.warnings) + list(engine_warnings)
    if mrz.expired(today):
        warnings.append("document expired")
    viz_warnings = _viz_warnings(mrz, _viz_fields(text), text)
    warnings += viz_warnings
    # The printed number contradicting a check-digit-valid MRZ number: two OCR errors cancelled out in the
    # check digit (or the engines read two different valid numbers), so the MRZ cannot be trusted as read.
    disputes = viz_warnings + [w for w in engine_warnings if w.startswith(DISAGREE)]
    number_disputed = any("document number" in w for w in disputes)
    valid = mrz.valid and not number_disputed
    if valid:
        confidence = round(max(0.8, 1.0 - 0.02 * len(mrz.corrections)), 2)
    else:
        confidence = round(0.2 + 0.5 * sum(mrz.check_digits.values()) / max(1, len(mrz.check_digits)), 2)
    disputed = {name for name in ("surname", "given_names") if any(
        name.replace("_", " ") in w or "the name" in w for w in disputes)}
    if disputed or number_disputed or disputes:  # a reading nothing settles is not vouched for
        confidence = min(confidence, 0.6)
    result.update(
        document_type=mrz.document_type, surname=mrz.surname or None, given_names=mrz.given_names or None,
        document_number=mrz.document_number or None, nationality=mrz.nationality or None,
        issuing_country=mrz.issuing_country or None, date_of_birth=_iso(mrz.date_of_birth), sex=mrz.sex,
        expiry_date=_iso(mrz.expiry_date), mrz_valid=valid, method="mrz", confidence=confidence,
        warnings=warnings,
    )
    mrz_fields = ("document_type", "surname", "given_names", "document_number", "nationality", "issuing_country",
                  "date_of_birth", "sex", "expiry_date")
    # A valid MRZ vouches for every field; otherwise only fields whose own check digit passed are locked.
    locked = set(mrz_fields) if valid else {k for k, ok in mrz.check_digits.items() if ok}
    locked -= disputed | ({"document_number"} if number_disputed else set())
    result["field_sources"] = _sources(result, "mrz", dict.fromkeys(mrz_fields, confidence), locked)
    return result



def _identity_without_mrz(document_type: str, text: str) -> dict:
    """Identity document whose MRZ could not be read: labelled visual-zone fields only."""
    viz = _viz_fields(text)
    result = _empty_result()
    dob, expiry = parse_date_text(viz.get("date_of_birth", "")), parse_date_text(viz.get("expiry_date", ""))
    sex = viz.get("sex", "").strip().upper()[:1]
    result.update(
        document_type=document_type, surname=viz.get("surname"), given_names=viz.get("given_names"),
        document_number=viz.get("document_number"), nationality=viz.get("nationality"),
        date_of_birth=_iso(dob), expiry_date=_iso(expiry), sex=sex if sex in ("M", "F", "X") else None,
        mrz_valid=False, method="rules", warnings=["no readable machine-readable zone"],
    )
    found = sum(result[k] is not None for k in ("surname", "date_of_birth", "document_number"))
    result["confidence"] = round(0.5 * found / 3, 2)
    result["field_sources"] = _sources(result, "rules", {
        "document_type": RULE_CONFIDENCE["keywords"],
        **dict.fromkeys(("surname", "given_names", "document_number", "nationality", "date_of_birth",
                         "expiry_date", "sex"), RULE_CONFIDENCE["visual_zone"])})
    return result


# --------------------------------------------------------------------------- proof of address


def _keyword_score(low: str, words: tuple[str, ...]) -> int:
    return sum(1 for word in words if re.search(r"\b" + re.escape(word) + r"\b", low))


def classify_text(text: str) -> str:
    """Document type from keywords: utility_bill, bank_statement, passport, id_card, visa or unknown."""
    low = text.lower()
    utility, bank = _keyword_score(low, _UTILITY_WORDS), _keyword_score(low, _BANK_WORDS)
    if bank and bank >= utility:
        return "bank_statement"
    if utility:
        return "utility_bill"
    if re.search(r"\b(passport|passeport|reisepass|pasaporte|paspoort|paszport|passaporto)\b", low):
        return "passport"
    if re.search(r"\b(identity card|id card|national id|carte d.identite|personalausweis|documento nacional de "
                 r"identidad|dowod osobisty|identiteitskaart|carta d.identita)\b", anyascii(low)):
        return "id_card"
    if re.search(r"\bvisa\b", low):
        return "visa"
    return "unknown"


def _is_name_line(line: str) -> bool:
    line = _TITLES.sub("", line)
    words = line.split()
    if not 2 <= len(words) <= 5 or any(ch.isdigit() for ch in line) or ":" in line:
        return False
    if any(w.lower().strip(",.") in _NOT_NAME_WORDS for w in words):
        return False
    return all(re.fullmatch(r"[A-ZÀ-Þ][A-Za-zÀ-ÿ'\-.]*", w) for w in words)


def _is_address_line(line: str) -> bool:
    return (bool(re.search(r"\d", line)) and bool(re.search(r"[A-Za-z]{2,}", line)) and ":" not in line
            and parse_date_text(line) is None)


def _address_block(lines: list[str]) -> tuple[str | None, list[str]]:
    """Addressee name and address lines: a name line directly followed by a street line."""
    for i in range(1, len(lines)):
        if _is_address_line(lines[i]) and _is_name_line(lines[i - 1]):
            address = []
            for line in lines[i:i + 6]:
                if not line or ":" in line:
                    break
                address.append(line)
            return _TITLES.sub("", lines[i - 1]).strip(), address
    return None, []


def _labelled_value(lines: list[str], labels: tuple[str, ...]) -> str | None:
    for i, line in enumerate(lines):
        rest = _label_match(line, labels)
        if rest is not None:
            return rest or (lines[i + 1] if i + 1 < len(lines) else None)
    return None


def _issue_date(lines: list[str]) -> tuple[date | None, bool]:
    """Issue date and whether it was labelled (else the first date anywhere in the text)."""
    label = re.compile(r"(bill|issue|statement|invoice|document|print)\w*\s+date|date\s+(of\s+)?issue"
                       r"|date\s+issued|^date\b", re.IGNORECASE)
    for i, line in enumerate(lines):
        if label.search(line):
            found = parse_date_text(line) or (parse_date_text(lines[i + 1]) if i + 1 < len(lines) else None)
            if found:
                return found, True
    return parse_date_text("\n".join(lines)), False


def _issuer(lines: list[str]) -> str | None:
    for line in lines:
        if len(re.findall(r"[A-Za-z]", line)) >= 3 and parse_date_text(line) is None and ":" not in line:
            return line
    return None


def _from_rules(document_type: str, text: str) -> dict:
    lines = _lines(text)
    name = _labelled_value(lines, ("account holder", "customer name", "bill to", "name"))
    address_value = _labelled_value(lines, ("address", "supply address"))
    address = [address_value] if address_value else []
    block_name, block_address = _address_block(lines)
    name_confidence = RULE_CONFIDENCE["labelled" if name else "address_block"]
    address_confidence = RULE_CONFIDENCE["labelled" if address else "address_block"]
    name = name or block_name
    address = address or block_address
    result = _empty_result()
    warnings = []
    if name:
        parts = name.split()
        surname, given = (parts[-1], " ".join(parts[:-1]) or None) if len(parts) > 1 else (parts[0], None)
    else:
        surname = given = None
        warnings.append("addressee name not found")
    if not address:
        warnings.append("address not found")
    issue, issue_labelled = _issue_date(lines)
    issuer = _issuer(lines)
    found = sum(x is not None and x != [] for x in (name, address or None, issue, issuer))
    result.update(
        document_type=document_type, surname=surname, given_names=given,
        address="\n".join(address) if address else None, method="rules",
        confidence=round(0.8 * found / 4, 2), warnings=warnings, issuer=issuer, issue_date=_iso(issue),
    )
    result["field_sources"] = _sources(result, "rules", {
        "document_type": RULE_CONFIDENCE["keywords"], "surname": name_confidence, "given_names": name_confidence,
        "address": address_confidence, "issuer": RULE_CONFIDENCE["first_line"],
        "issue_date": RULE_CONFIDENCE["labelled" if issue_labelled else "any_date"]})
    return result


# --------------------------------------------------------------------------- public API


def extract_fields(text: str, mrz_lines: list[str] | None, today: date | None = None,
                   mrz_warnings: list[str] | None = None) -> dict:
    """Structured fields of one document from its OCR/PDF text and (optionally) its MRZ lines.

    Returns a dict with the keys of :data:`EXTRACT_FIELDS` plus ``issuer`` and ``issue_date``
    (proof-of-address documents).  Dates are ``YYYY-MM-DD`` strings; unknown values are None.
    ``field_sources`` maps each found field to its method, confidence and ``locked`` (an MRZ field
    vouched for by check digits, which no other reading may replace; see ``llm.merge_llm``).
    When ``mrz_lines`` is None an MRZ is still looked for in ``text``.  ``mrz_warnings`` are the OCR
    engines' unsettled disagreements on the MRZ (see :mod:`~kyc_assets.onboarding.mrz_vote`).
    """
    today = today or date.today()
    text = text or ""
    warnings: list[str] = []
    lines = mrz_lines if mrz_lines is not None else find_mrz_lines(text)
    if lines is not None:
        try:
            mrz = _settled_by_printed_number(parse_mrz(lines, today=today, viz_text=text, ocr=True), text, today)
            return _from_mrz(mrz, text, today, mrz_warnings or [])
        except MRZError:
            warnings.append("MRZ lines could not be parsed")
    document_type = classify_text(text)
    if document_type in ("utility_bill", "bank_statement"):
        result = _from_rules(document_type, text)
    elif document_type in ("passport", "id_card", "visa"):
        result = _identity_without_mrz(document_type, text)
    else:
        result = _empty_result()
        warnings.append("document type not recognised" if text.strip() else "no text found")
    result["warnings"] = warnings + result["warnings"]
    return result


def extract_document(data: bytes, today: date | None = None) -> dict:
    """Validate, OCR and extract one uploaded document (image or PDF).

    Images and scanned PDF pages are OCRed page by page and searched for an MRZ (first page
    with one wins); PDF pages with a text layer use it.  Adds ``pages`` (page count) and
    ``ocr_confidence`` (mean OCR word confidence 0..1, None without OCR) to the
    :func:`extract_fields` result.
    Raises :class:`~kyc_assets.onboarding.ocr.DocumentError` for unreadable input.
    """
    info, pages = document_pages(data)
    texts = [p.text for p in pages]
    confidences = [p.confidence for p in pages if p.confidence is not None]
    ocr_confidence = round(sum(confidences) / len(confidences), 4) if confidences else None
    voted = mrz_reading_from_pages(pages)
    result = extract_fields("\n\n".join(texts), voted.lines if voted else None, today,
                            voted.warnings if voted else None)
    result["pages"] = info["page_count"]
    result["ocr_confidence"] = ocr_confidence
    return result
