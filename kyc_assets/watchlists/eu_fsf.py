"""Reader for the EU Financial Sanctions Files (FSF) XML export (root ``export``, namespace
``http://eu.europa.ec/fpi/fsd/export``).

One ``sanctionEntity`` per listed party, with ``subjectType`` (person / enterprise), the EU
reference number (the entity id, e.g. 'EU.2026.82'; ``logicalId`` when missing), ``nameAlias``
elements (wholeName or first/middle/last; ``strong`` false = weak alias; names in a
non-Latin script are kept as original-script names), ``citizenship``, ``birthdate`` (full,
year-month or year, possibly circa, with place of birth), ``identification`` documents,
``address`` elements, the regulation programme and remarks.
"""

from __future__ import annotations

from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.model import ParsedList, WatchlistEntry, is_latin, merge_duplicates
from kyc_assets.watchlists.xmlutil import add_unique, children, iso_partial_date, local, parse_xml, text

LIST_SOURCE = "eu_fsf"
ROOT = "export"
_TYPES = {"person": "person", "enterprise": "organization", "vessel": "vessel", "aircraft": "aircraft"}


def parse_eu_fsf(data: bytes, origin: str = "eu_fsf.xml") -> ParsedList:
    """Parse an EU FSF XML export into watchlist entries (document order)."""
    root = parse_xml(data, origin)
    if local(root.tag) != ROOT:
        raise WatchlistFormatError(f"{origin}: root element is {local(root.tag)!r}, expected {ROOT!r}")
    entries = []
    for position, node in enumerate(children(root, "sanctionEntity"), start=1):
        entries.append(_entry(node, origin, position))
    return ParsedList(LIST_SOURCE, merge_duplicates(entries), root.get("generationDate", "")[:10])


def _entry(node, origin: str, position: int) -> WatchlistEntry:
    """Build one WatchlistEntry from a ``sanctionEntity`` element."""
    reference = node.get("euReferenceNumber") or node.get("logicalId") or ""
    if not reference.strip():
        raise WatchlistFormatError(f"{origin}: sanctionEntity {position} has no euReferenceNumber or logicalId")
    subject = next(children(node, "subjectType"), None)
    code = (subject.get("code", "") if subject is not None else "").lower()
    if code not in _TYPES:
        raise WatchlistFormatError(f"{origin}: sanctionEntity {reference} has unknown subjectType {code[:30]!r}")
    names: list[tuple[str, bool]] = []
    script_names: list[str] = []
    functions: list[str] = []
    for alias in children(node, "nameAlias"):
        whole = _name(alias)
        if not whole:
            continue
        add_unique(functions, alias.get("function", "").strip())
        if not is_latin(whole):
            add_unique(script_names, whole)
        elif whole not in [n for n, _ in names]:
            names.append((whole, alias.get("strong", "true").lower() != "false"))
    if not names and not script_names:
        raise WatchlistFormatError(f"{origin}: sanctionEntity {reference} has no name")
    primary = next((n for n, strong in names if strong), names[0][0] if names else script_names[0])
    aliases = [(n, "strong_aka" if strong else "weak_aka") for n, strong in names if n != primary]
    nationalities: list[str] = []
    for citizenship in children(node, "citizenship"):
        add_unique(nationalities, _country(citizenship))
    dobs: list[str] = []
    places: list[str] = []
    for birth in children(node, "birthdate"):
        add_unique(dobs, _birthdate(birth))
        add_unique(places, ", ".join(p for p in (birth.get("city", "").strip(), birth.get("place", "").strip(),
                                                 birth.get("region", "").strip(), _country_name(birth)) if p and p != "-"))
    identifiers: list[tuple[str, str]] = []
    for doc in children(node, "identification"):
        number = (doc.get("number") or doc.get("latinNumber") or "").strip()
        kind = (doc.get("identificationTypeDescription") or doc.get("identificationTypeCode") or "id").strip()
        country = _country_name(doc)
        if number:
            add_unique(identifiers, (kind, f"{number} ({country})" if country else number))
    addresses = [", ".join(p for p in (a.get("street", "").strip(), a.get("poBox", "").strip(),
                                        a.get("city", "").strip(), a.get("zipCode", "").strip(),
                                        a.get("region", "").strip(), a.get("place", "").strip(), _country_name(a))
                           if p) for a in children(node, "address")]
    programs: list[str] = []
    for regulation in children(node, "regulation"):
        add_unique(programs, regulation.get("programme", "").strip())
    remarks = [text(r) for r in children(node, "remark")] + [f"Function: {f}" for f in functions]
    return WatchlistEntry(
        entity_id=f"{LIST_SOURCE}:{reference.strip()}",
        list_source=LIST_SOURCE,
        entity_type=_TYPES[code],
        primary_name=primary,
        aliases=aliases,
        dates_of_birth=dobs,
        nationalities=nationalities,
        places_of_birth=places,
        identifiers=identifiers,
        addresses=[a for a in addresses if a],
        programs=programs,
        remarks="; ".join(r for r in remarks if r),
        original_script_names=script_names,
        topics=["sanction"],
        listed_on=node.get("designationDate", "")[:10],
    )


def _name(alias) -> str:
    """wholeName of a nameAlias, else its first/middle/last names joined."""
    whole = " ".join((alias.get("wholeName") or "").split())
    if whole:
        return whole
    parts = [(alias.get(a) or "").strip() for a in ("firstName", "middleName", "lastName")]
    return " ".join(p for p in parts if p)


def _birthdate(birth) -> str:
    """ISO (partial) date of a birthdate element: the full 'birthdate' attribute or year/month/day."""
    full = (birth.get("birthdate") or "").strip()
    if len(full) >= 10:
        return iso_partial_date(full[:4], full[5:7], full[8:10])
    return iso_partial_date((birth.get("year") or "").strip(), (birth.get("monthOfYear") or "").strip(),
                            (birth.get("dayOfMonth") or "").strip())


def _country(element) -> str:
    """ISO alpha-2 code of an element's countryIso2Code ('00' = unknown gives ''), else its description."""
    code = (element.get("countryIso2Code") or "").strip().upper()
    if len(code) == 2 and code.isalpha():
        return code
    return _country_name(element)


def _country_name(element) -> str:
    """The published country description, '' for UNKNOWN."""
    name = (element.get("countryDescription") or "").strip()
    return "" if name.upper() == "UNKNOWN" else name
