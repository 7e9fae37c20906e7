"""Reader for the UK HM Treasury (OFSI) Consolidated List in its CSV form (``ConList.csv``).

The file starts with a 'Last Updated,DD/MM/YYYY' line, then a header row (Name 6 is the
surname or the entity name, Name 1..5 the given names). Each row is one name of one party;
rows sharing a ``Group ID`` are the same party. 'Prime Alias' rows hold the main name, 'AKA'
rows aliases ('Alias Quality' Low = weak), and each row may repeat the attributes with one of
several dates of birth ('00' marks an unknown day or month). Text is UTF-8 (a BOM allowed).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

from kyc_assets.watchlists.countries import country_to_iso2
from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.model import ParsedList, WatchlistEntry, is_latin
from kyc_assets.watchlists.xmlutil import add_unique, iso_partial_date

LIST_SOURCE = "gb_hmt"
REQUIRED_COLUMNS = ("Name 6", "Name 1", "Group Type", "Group ID", "Alias Type")
_TYPES = {"individual": "person", "entity": "organization", "ship": "vessel"}
_NUMBERED = re.compile(r"\(\d+\)\s*")


def parse_uk_hmt(data: bytes, origin: str = "ConList.csv") -> ParsedList:
    """Parse an HMT ConList.csv into watchlist entries, one per Group ID (first-seen order)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise WatchlistFormatError(f"{origin} line {line}: not valid UTF-8 (byte {exc.start})") from None
    if "\x00" in text:
        raise WatchlistFormatError(f"{origin}: unexpected NUL byte (UTF-16 or binary file?)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        first = next(reader, [])
        published = ""
        if first and first[0].strip().lower() == "last updated":
            published = _date(first[1] if len(first) > 1 else "")
            header = next(reader, [])
        else:
            header = first
        header = [h.strip() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise WatchlistFormatError(f"{origin}: not an HMT ConList header (missing {', '.join(missing)})")
        groups: dict[str, list[dict[str, str]]] = {}
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header) - 1 or len(row) > len(header) + 1:
                raise WatchlistFormatError(
                    f"{origin} line {reader.line_num}: expected {len(header)} fields, got {len(row)}")
            record = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)}
            group = record["Group ID"]
            if not group:
                raise WatchlistFormatError(f"{origin} line {reader.line_num}: empty Group ID")
            groups.setdefault(group, []).append(record)
    except csv.Error as exc:
        raise WatchlistFormatError(f"{origin} line {reader.line_num}: {exc}") from None
    return ParsedList(LIST_SOURCE, [_entry(group, rows, origin) for group, rows in groups.items()], published)


def _entry(group: str, rows: list[dict[str, str]], origin: str) -> WatchlistEntry:
    """Build one WatchlistEntry from the rows of one Group ID."""
    group_type = rows[0]["Group Type"].lower()
    if group_type not in _TYPES:
        raise WatchlistFormatError(f"{origin}: group {group} has unknown Group Type {group_type[:30]!r}")
    entity_type = _TYPES[group_type]
    prime = next((r for r in rows if r["Alias Type"].lower().startswith(("prime", "primary"))), rows[0])
    primary = _name(prime, entity_type)
    if not primary:
        raise WatchlistFormatError(f"{origin}: group {group} has no name")
    aliases: list[tuple[str, str]] = []
    script_names: list[str] = []
    dobs: list[str] = []
    nationalities: list[str] = []
    places: list[str] = []
    identifiers: list[tuple[str, str]] = []
    addresses: list[str] = []
    programs: list[str] = []
    remarks: list[str] = []
    for row in rows:
        name = _name(row, entity_type)
        if name and name != primary and name not in [n for n, _ in aliases]:
            aliases.append((name, "weak_aka" if row.get("Alias Quality", "").lower() == "low" else "strong_aka"))
        add_unique(script_names, row.get("Name Non-Latin Script", ""))
        add_unique(dobs, _dob(row.get("DOB", "")))
        for country in _split_countries(row.get("Nationality", "")):
            add_unique(nationalities, country_to_iso2(country) or country)
        add_unique(places, ", ".join(p for p in (row.get("Town of Birth", ""), row.get("Country of Birth", "")) if p))
        for column, details in (("Passport Number", "Passport Details"),
                                ("National Identification Number", "NI Details")):
            if row.get(column):
                extra = row.get(details, "")
                add_unique(identifiers, (column, f"{row[column]} ({extra})" if extra else row[column]))
        parts = [row.get(f"Address {i}", "") for i in range(1, 7)] + [row.get("Post/Zip Code", ""),
                                                                     row.get("Country", "")]
        add_unique(addresses, ", ".join(p for p in parts if p))
        add_unique(programs, row.get("Regime", ""))
        add_unique(remarks, row.get("Other Information", ""))
        add_unique(remarks, f"Position: {row['Position']}" if row.get("Position") else "")
    return WatchlistEntry(
        entity_id=f"{LIST_SOURCE}:{group}",
        list_source=LIST_SOURCE,
        entity_type=entity_type,
        primary_name=primary,
        aliases=aliases,
        dates_of_birth=dobs,
        nationalities=nationalities,
        places_of_birth=places,
        identifiers=identifiers,
        addresses=addresses,
        programs=programs,
        remarks="; ".join(remarks),
        original_script_names=[n for n in script_names if not is_latin(n)],
        topics=["sanction"],
        listed_on=_date(prime.get("Listed On", "")),
    )


def _name(row: dict[str, str], entity_type: str) -> str:
    """'Name1 .. Name5 NAME6' for individuals; for entities and ships the parts in the same order."""
    given = [row.get(f"Name {i}", "") for i in range(1, 6)]
    return " ".join(p for p in [*given, row.get("Name 6", "")] if p)


def _dob(value: str) -> str:
    """'DD/MM/YYYY' with '00' for unknown parts -> 'YYYY-MM-DD' / 'YYYY-MM' / 'YYYY'; '' if unreadable."""
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value.strip())
    return iso_partial_date(m.group(3), m.group(2), m.group(1)) if m else ""


def _date(value: str) -> str:
    """'DD/MM/YYYY' -> ISO date, '' when absent or unreadable."""
    try:
        return datetime.strptime(value.strip(), "%d/%m/%Y").date().isoformat()
    except ValueError:
        return ""


def _split_countries(value: str) -> list[str]:
    """Countries of a Nationality cell: '(1) Iran (2) Iraq' or 'Iran, Iraq' -> ['Iran', 'Iraq']."""
    if not value:
        return []
    parts = _NUMBERED.split(value) if _NUMBERED.search(value) else [value]
    return [p.strip(" ,.") for p in parts if p.strip(" ,.")]
