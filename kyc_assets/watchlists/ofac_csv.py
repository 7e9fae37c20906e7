"""Reader for the US Treasury OFAC SDN list in its legacy CSV dialect.

The dialect: no header row; ``-0-`` (usually followed by a space) marks an empty field; lines
end in CRLF; the file may end with a 0x1A (SUB) byte; text is Latin-1. ``sdn.csv`` holds one
row per designated party, ``alt.csv`` its aliases, ``add.csv`` its addresses and
``sdn_comments.csv`` the continuation of Remarks that were cut in ``sdn.csv``.
Weak aliases are the ones quoted in Remarks ("a.k.a. 'X'"), per OFAC FAQ 123.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

from kyc_assets.watchlists.countries import country_to_iso2
from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.model import WatchlistEntry

LIST_SOURCE = "us_ofac_sdn"
#: Files of an OFAC CSV set, in the stable order used for reading and for version hashing.
OFAC_FILES: tuple[str, ...] = ("sdn.csv", "alt.csv", "add.csv", "sdn_comments.csv")
_FIELD_COUNTS = {"sdn.csv": 12, "alt.csv": 5, "add.csv": 6, "sdn_comments.csv": 2}
_SDN_TYPES = {"individual": "person", "": "organization", "vessel": "vessel", "aircraft": "aircraft"}
_ALT_TYPES = {"aka": "strong_aka", "fka": "fka", "nka": "nka"}
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_NAME_SUFFIXES = {"jr.", "jr", "sr.", "sr", "ii", "iii", "iv"}
_MAX_DOB_RANGE_YEARS = 15

# Remark segments that carry an identifier: "<kind> <value>", longest kinds first.
_ID_KIND = re.compile(
    r"^(?P<kind>Passport|National ID No\.|Cedula No\.|R\.F\.C\.|RFC|C\.U\.R\.P\.|Tax ID No\.|SSN|"
    r"Identification Number|D\.N\.I\.|NIT #|RUC #|Registration ID|Registration Number|"
    r"Vessel Registration Identification|MMSI|Aircraft Manufacturer's Serial Number \(MSN\)|"
    r"Aircraft Construction Number \(also called L/N or S/N or F/N\)|Aircraft Tail Number|"
    r"Aircraft Model|Aircraft Manufacture Date|Aircraft Operator|Email Address|Website|"
    r"Phone Number|Telephone|Fax|SWIFT/BIC|Digital Currency Address - [A-Z]+|"
    r"Business Registration Document #|Business Registration Number|Company Number|"
    r"Commercial Registry Number|Trade License No\.|V\.A\.T\. Number|D-U-N-S Number|"
    r"Legal Entity Number|Driver's License No\.|Residency Number|Personal ID Card|"
    r"Birth Certificate Number|Electoral Registry No\.|Credencial electoral|Matricula Mercantil No|"
    r"Folio Mercantil No\.|Public Security and Immigration No\.|Other Vessel Call Sign|"
    r"Other Vessel Flag|Vessel Year of Build|Chinese Commercial Code|Citizen's Card Number|"
    r"Kenyan ID No\.|Turkish Identification Number|UK Company Number|US FEIN|"
    r"[A-Z][A-Za-z.'\-]*(?: [A-Za-z.'\-]+){0,3} (?:No\.|Number|ID|#))"
    r"\s+(?P<value>.+)$"
)
_QUOTED_ALIAS = re.compile(r"^(?P<kind>a\.k\.a\.|f\.k\.a\.|n\.k\.a\.)\s*'(?P<name>.*)'$")
_ALT_PREFIX = re.compile(r"^alt\.\s+", re.IGNORECASE)
_NATIONALITY = re.compile(r"^(?:nationality|citizen)\s*:?\s+(.+)$")
_CIRCA = re.compile(r"^circa\s+", re.IGNORECASE)
_DOB_RANGE = re.compile(r"\s+to\s+|(?<=\d{4})-(?=\d{4})")
_ONE_DOB = re.compile(r"(?:(\d{1,2})\s+)?(?:([A-Za-z]{3})[a-z]*\s+)?(\d{4})")
_ALIAS_KINDS = {"a.k.a.": "weak_aka", "f.k.a.": "fka", "n.k.a.": "nka"}


def read_ofac_files(path: str | Path) -> dict[str, bytes]:
    """Read the raw bytes of an OFAC CSV set from a folder (sdn.csv required) or a single sdn.csv.

    Returns ``{file name: bytes}`` in ``OFAC_FILES`` order, holding only the files present.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / "sdn.csv").is_file():
            raise WatchlistFormatError(f"{path}: folder has no sdn.csv")
        return {name: (path / name).read_bytes() for name in OFAC_FILES if (path / name).is_file()}
    if path.is_file():
        return {"sdn.csv": path.read_bytes()}
    raise FileNotFoundError(f"watchlist path not found: {path}")


def load_ofac_csv(path: str | Path) -> list[WatchlistEntry]:
    """Load an OFAC SDN CSV set (folder or single sdn.csv) into watchlist entries, in file order."""
    return parse_ofac_files(read_ofac_files(path), origin=str(path))


def parse_ofac_files(files: dict[str, bytes], origin: str = "") -> list[WatchlistEntry]:
    """Parse raw OFAC CSV files (as returned by ``read_ofac_files``) into watchlist entries."""
    if "sdn.csv" not in files:
        raise WatchlistFormatError(f"{origin or 'OFAC set'}: sdn.csv missing")
    sdn_rows = list(_rows(files["sdn.csv"], "sdn.csv"))
    by_num: dict[str, list[str]] = {}
    order: list[str] = []
    for line_no, row in sdn_rows:
        ent_num = _ent_num(row[0], "sdn.csv", line_no)
        if ent_num in by_num:
            raise WatchlistFormatError(f"sdn.csv line {line_no}: duplicate ent_num {ent_num}")
        if _empty(row[1]):
            raise WatchlistFormatError(f"sdn.csv line {line_no}: empty SDN_Name")
        if _val(row[2]).lower() not in _SDN_TYPES:
            raise WatchlistFormatError(f"sdn.csv line {line_no}: unknown SDN_Type {row[2]!r}")
        by_num[ent_num] = row
        order.append(ent_num)
    overflow = _joined_rows(files, "sdn_comments.csv", by_num)
    alts = _joined_rows(files, "alt.csv", by_num)
    adds = _joined_rows(files, "add.csv", by_num)
    has_alt_file = "alt.csv" in files
    return [
        _entry(by_num[n], overflow.get(n, []), alts.get(n, []), adds.get(n, []), has_alt_file)
        for n in order
    ]


def _rows(data: bytes, name: str) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, fields)`` for each record of one OFAC CSV file, checking its shape."""
    text = data.decode("latin-1")
    text = text.removesuffix("\x1a")
    if "\x00" in text or "\x1a" in text:
        bad = "NUL" if "\x00" in text else "SUB"
        line_no = text.count("\n", 0, text.find("\x00" if bad == "NUL" else "\x1a")) + 1
        raise WatchlistFormatError(f"{name} line {line_no}: unexpected {bad} byte")
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    expected = _FIELD_COUNTS[name]
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != expected:
                raise WatchlistFormatError(
                    f"{name} line {reader.line_num}: expected {expected} fields, got {len(row)}")
            yield reader.line_num, row
    except csv.Error as exc:
        raise WatchlistFormatError(f"{name} line {reader.line_num}: {exc}") from None


def _joined_rows(files: dict[str, bytes], name: str, by_num: dict[str, list[str]]) -> dict[str, list[list[str]]]:
    """Group the rows of a side file (alt/add/comments) by ent_num, checking each joins to sdn.csv."""
    grouped: dict[str, list[list[str]]] = {}
    if name not in files:
        return grouped
    for line_no, row in _rows(files[name], name):
        ent_num = _ent_num(row[0], name, line_no)
        if ent_num not in by_num:
            raise WatchlistFormatError(f"{name} line {line_no}: ent_num {ent_num} not in sdn.csv")
        grouped.setdefault(ent_num, []).append(row)
    return grouped


def _ent_num(value: str, name: str, line_no: int) -> str:
    """Validate an ent_num field (a positive integer) and return it as text."""
    value = value.strip()
    if not value.isdigit():
        raise WatchlistFormatError(f"{name} line {line_no}: ent_num {value[:20]!r} is not an integer")
    return str(int(value))


def _empty(value: str) -> bool:
    """True for the OFAC empty marker ``-0-`` or blank text."""
    return value.strip() in ("", "-0-")


def _val(value: str) -> str:
    """Field value with the OFAC empty marker turned into ''."""
    value = value.strip()
    return "" if value == "-0-" else value


def display_name(name: str, entity_type: str) -> str:
    """Turn an individual's 'LAST, First[, Jr.]' into 'First LAST [Jr.]'; other names unchanged."""
    if entity_type != "person" or "," not in name:
        return name.strip()
    last, _, rest = name.partition(",")
    parts = [p.strip() for p in rest.split(",")]
    suffix = [p for p in parts[1:] if p.lower() in _NAME_SUFFIXES]
    if len(parts) - 1 != len(suffix):
        return name.strip()
    return " ".join(p for p in [parts[0], last.strip(), *suffix] if p)


def _entry(row: list[str], overflow: list[list[str]], alts: list[list[str]], adds: list[list[str]],
           has_alt_file: bool) -> WatchlistEntry:
    """Build a WatchlistEntry from an sdn.csv row and its joined side-file rows."""
    entity_type = _SDN_TYPES[_val(row[2]).lower()]
    remarks = _val(row[11]) + "".join(r[1] for r in overflow)
    parsed = parse_remarks(remarks)
    weak = {n for n, k in parsed["aliases"] if k == "weak_aka"}
    aliases: list[tuple[str, str]] = []
    if has_alt_file:
        for alt in alts:
            alt_name = _val(alt[3])
            kind = _ALT_TYPES.get(_val(alt[2]).lower(), "strong_aka")
            if kind == "strong_aka" and alt_name in weak:
                kind = "weak_aka"
            if alt_name:
                aliases.append((alt_name, kind))
    known = {n for n, _ in aliases}
    aliases += [(n, k) for n, k in parsed["aliases"] if n not in known]
    identifiers = list(parsed["identifiers"])
    nationalities = list(parsed["nationalities"])
    if entity_type == "vessel":
        identifiers += _vessel_identifiers(row)
        flag = _val(row[9])
        if flag and flag != "None Identified":
            _add_unique(nationalities, country_to_iso2(flag) or flag)
    programs = [p.strip() for p in _val(row[3]).strip("[]").split("] [") if p.strip()]
    return WatchlistEntry(
        entity_id=f"{LIST_SOURCE}:{int(row[0])}",
        list_source=LIST_SOURCE,
        entity_type=entity_type,
        primary_name=display_name(_val(row[1]), entity_type),
        aliases=_unique([(display_name(n, entity_type), k) for n, k in aliases]),
        dates_of_birth=parsed["dates_of_birth"],
        nationalities=nationalities,
        places_of_birth=parsed["places_of_birth"],
        identifiers=identifiers,
        addresses=[a for a in (_address(r) for r in adds) if a],
        programs=programs,
        remarks=remarks,
        topics=["sanction"],
    )


def _vessel_identifiers(row: list[str]) -> list[tuple[str, str]]:
    """Identifiers held in the vessel columns of sdn.csv (call sign, type, tonnage, owner)."""
    columns = [("call_sign", 5), ("vessel_type", 6), ("tonnage", 7), ("grt", 8), ("vessel_owner", 10)]
    return [(kind, _val(row[i])) for kind, i in columns if _val(row[i])]


def _address(row: list[str]) -> str:
    """One-line address from an add.csv row (street, city/state/postal, country)."""
    return ", ".join(v for v in (_val(row[2]), _val(row[3]), _val(row[4])) if v)


def parse_remarks(remarks: str) -> dict[str, list]:
    """Extract aliases, dates/places of birth, nationalities and identifiers from OFAC Remarks."""
    out: dict[str, list] = {"aliases": [], "dates_of_birth": [], "places_of_birth": [],
                            "nationalities": [], "identifiers": []}
    for segment in _segments(remarks):
        seg = _ALT_PREFIX.sub("", segment) if segment[:4].lower() == "alt." else segment
        alias = _QUOTED_ALIAS.match(seg) if "'" in seg else None
        if alias:
            kind = _ALIAS_KINDS[alias["kind"]]
            out["aliases"].append((alias["name"].strip(), kind))
        elif seg.startswith("DOB "):
            for dob in parse_dob(seg[4:]):
                _add_unique(out["dates_of_birth"], dob)
        elif seg.startswith("POB "):
            _add_unique(out["places_of_birth"], seg[4:].strip())
        elif m := _NATIONALITY.match(seg):
            country = m.group(1).strip()
            _add_unique(out["nationalities"], country_to_iso2(country) or country)
        elif m := _ID_KIND.match(seg):
            out["identifiers"].append((m["kind"], m["value"].strip()))
    return out


def _segments(remarks: str) -> list[str]:
    """Split Remarks into '; '-separated segments and drop the final full stop."""
    text = remarks.strip()
    text = text.removesuffix(".")
    return [p.strip() for p in text.split(";") if p.strip()]


def parse_dob(text: str) -> list[str]:
    """Parse an OFAC DOB value ('01 Jan 1960', 'Jan 1960', '1960', 'circa 1960', 'X to Y').

    Returns ISO-style partial dates; a range becomes its years (at most 15). Unparseable text
    returns [] because a DOB remark never decides whether an entry exists.
    """
    text = _CIRCA.sub("", text.strip())
    rng = _DOB_RANGE.split(text)
    if len(rng) == 2:
        start, end = _one_dob(rng[0]), _one_dob(rng[1])
        if start and end and int(start[:4]) <= int(end[:4]) <= int(start[:4]) + _MAX_DOB_RANGE_YEARS:
            if start == end:
                return [start]
            return [str(y) for y in range(int(start[:4]), int(end[:4]) + 1)]
        return []
    one = _one_dob(text)
    return [one] if one else []


def _one_dob(text: str) -> str | None:
    """Parse one 'DD Mon YYYY' / 'Mon YYYY' / 'YYYY' date into 'YYYY-MM-DD' / 'YYYY-MM' / 'YYYY'."""
    m = _ONE_DOB.fullmatch(text.strip())
    if not m:
        return None
    day, month, year = m.groups()
    if month is None:
        return year if day is None else None
    mon = _MONTHS.get(month.lower())
    if mon is None:
        return None
    if day is None:
        return f"{year}-{mon:02d}"
    return f"{year}-{mon:02d}-{int(day):02d}"


def _add_unique(items: list, value) -> None:
    """Append value unless already present (keeps first-seen order)."""
    if value not in items:
        items.append(value)


def _unique(items: list) -> list:
    """Items (hashable) without duplicates, first-seen order."""
    return list(dict.fromkeys(items))
