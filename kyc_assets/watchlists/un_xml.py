"""Reader for the UN Security Council Consolidated List XML (root ``CONSOLIDATED_LIST``).

``INDIVIDUALS/INDIVIDUAL`` and ``ENTITIES/ENTITY`` records: the name in up to four parts
(``FIRST_NAME`` .. ``FOURTH_NAME``), ``NAME_ORIGINAL_SCRIPT``, the UN reference number (the
entity id, e.g. 'QDi.237'), aliases with a quality ('Good' = strong, 'Low' = weak; a note
'previously listed as' = formerly known as), dates of birth typed EXACT / APPROXIMATELY /
BETWEEN, places of birth, nationalities, documents, addresses and comments.
"""

from __future__ import annotations

from kyc_assets.watchlists.countries import country_to_iso2
from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.model import ParsedList, WatchlistEntry, merge_duplicates, split_by_script
from kyc_assets.watchlists.xmlutil import (
    add_unique,
    child,
    children,
    iso_partial_date,
    local,
    parse_xml,
    path_text,
    text,
    year_range,
)

LIST_SOURCE = "un_sc"
ROOT = "CONSOLIDATED_LIST"
_NAME_PARTS = ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")


def parse_un_xml(data: bytes, origin: str = "consolidated.xml") -> ParsedList:
    """Parse a UN Security Council consolidated list into watchlist entries (individuals, then entities)."""
    root = parse_xml(data, origin)
    if local(root.tag) != ROOT:
        raise WatchlistFormatError(f"{origin}: root element is {local(root.tag)!r}, expected {ROOT!r}")
    entries = []
    records = [(n, "person") for n in children(child(root, "INDIVIDUALS"), "INDIVIDUAL")]
    records += [(n, "organization") for n in children(child(root, "ENTITIES"), "ENTITY")]
    for position, (node, entity_type) in enumerate(records, start=1):
        entries.append(_entry(node, entity_type, origin, position))
    return ParsedList(LIST_SOURCE, merge_duplicates(entries), root.get("dateGenerated", "")[:10])


def _entry(node, entity_type: str, origin: str, position: int) -> WatchlistEntry:
    """Build one WatchlistEntry from an INDIVIDUAL or ENTITY element."""
    reference = text(node, "REFERENCE_NUMBER") or text(node, "DATAID")
    if not reference:
        raise WatchlistFormatError(f"{origin}: record {position} has neither REFERENCE_NUMBER nor DATAID")
    name = " ".join(p for p in (text(node, part) for part in _NAME_PARTS) if p)
    if not name:
        raise WatchlistFormatError(f"{origin}: record {reference} has no name")
    prefix = "INDIVIDUAL" if entity_type == "person" else "ENTITY"
    aliases: list[tuple[str, str]] = []
    script_names: list[str] = []
    for alias in children(node, f"{prefix}_ALIAS"):
        alias_name = text(alias, "ALIAS_NAME")
        if not alias_name:
            continue
        _, other = split_by_script([alias_name])
        if other:
            add_unique(script_names, alias_name)
            continue
        if "previously" in text(alias, "NOTE").lower():
            kind = "fka"
        else:
            kind = "weak_aka" if text(alias, "QUALITY").lower() in ("low", "a.k.a. (low)") else "strong_aka"
        add_unique(aliases, (alias_name, kind))
    for original in [text(node, "NAME_ORIGINAL_SCRIPT")]:
        add_unique(script_names, original)
    nationalities: list[str] = []
    for country in path_text(node, "NATIONALITY", "VALUE"):
        add_unique(nationalities, country_to_iso2(country) or country)
    dobs: list[str] = []
    for item in children(node, "INDIVIDUAL_DATE_OF_BIRTH"):
        for dob in _dates(item):
            add_unique(dobs, dob)
    identifiers: list[tuple[str, str]] = []
    for doc in children(node, "INDIVIDUAL_DOCUMENT"):
        number, country = text(doc, "NUMBER"), text(doc, "ISSUING_COUNTRY") or text(doc, "COUNTRY_OF_ISSUE")
        if number:
            add_unique(identifiers, (text(doc, "TYPE_OF_DOCUMENT") or "document",
                                     f"{number} ({country})" if country else number))
    places = [p for p in (_place(n, ("CITY", "STATE_PROVINCE", "COUNTRY"))
                          for n in children(node, "INDIVIDUAL_PLACE_OF_BIRTH")) if p]
    addresses = [a for a in (_place(n, ("STREET", "CITY", "STATE_PROVINCE", "ZIP_CODE", "COUNTRY"))
                             for n in children(node, f"{prefix}_ADDRESS")) if a]
    remarks = [text(node, "COMMENTS1"), *(f"Designation: {d}" for d in path_text(node, "DESIGNATION", "VALUE")),
               *(f"Title: {t}" for t in path_text(node, "TITLE", "VALUE"))]
    return WatchlistEntry(
        entity_id=f"{LIST_SOURCE}:{reference}",
        list_source=LIST_SOURCE,
        entity_type=entity_type,
        primary_name=name,
        aliases=aliases,
        dates_of_birth=dobs,
        nationalities=nationalities,
        places_of_birth=places,
        identifiers=identifiers,
        addresses=addresses,
        programs=[p for p in [text(node, "UN_LIST_TYPE")] if p],
        remarks="; ".join(r for r in remarks if r),
        original_script_names=script_names,
        topics=["sanction"],
        listed_on=text(node, "LISTED_ON")[:10],
    )


def _dates(item) -> list[str]:
    """Dates of birth of one INDIVIDUAL_DATE_OF_BIRTH element (a range becomes its years)."""
    date = text(item, "DATE")
    if date:
        year, _, rest = date.partition("-")
        month, _, day = rest.partition("-")
        return [d for d in [iso_partial_date(year, month, day[:2])] if d]
    year = text(item, "YEAR")
    if year:
        return [d for d in [iso_partial_date(year)] if d]
    start, end = text(item, "FROM_YEAR"), text(item, "TO_YEAR")
    if start.isdigit() and end.isdigit():
        return year_range(int(start), int(end))
    return []


def _place(node, fields: tuple[str, ...]) -> str:
    """One-line place or address from the given child fields, empty parts skipped."""
    return ", ".join(p for p in (text(node, f) for f in fields) if p)
