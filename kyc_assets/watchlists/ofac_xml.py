"""Reader for the US Treasury OFAC SDN list in its XML format (``sdn.xml``, root ``sdnList``).

One ``sdnEntry`` per designated party: ``uid`` (the same number as ``ent_num`` in the CSV
set, so both formats give the same entity ids), ``firstName``/``lastName``, ``sdnType``
(Individual, Entity, Vessel, Aircraft), programmes, identity documents, a.k.a. names with
their category (strong/weak), addresses, nationalities and citizenships, dates and places of
birth, vessel details and remarks. The namespace differs between OFAC publications, so
elements are matched by local name.
"""

from __future__ import annotations

from datetime import datetime

from kyc_assets.watchlists.countries import country_to_iso2
from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.model import ParsedList, WatchlistEntry, merge_duplicates
from kyc_assets.watchlists.ofac_csv import LIST_SOURCE, display_name, parse_dob, parse_remarks
from kyc_assets.watchlists.xmlutil import add_unique, child, children, local, parse_xml, path_text, text

ROOT = "sdnList"
_TYPES = {"individual": "person", "entity": "organization", "vessel": "vessel", "aircraft": "aircraft"}
_AKA_TYPES = {"a.k.a.": "strong_aka", "f.k.a.": "fka", "n.k.a.": "nka"}
_VESSEL_FIELDS = [("call_sign", "callSign"), ("vessel_type", "vesselType"), ("tonnage", "tonnage"),
                  ("grt", "grossRegisteredTonnage"), ("vessel_owner", "vesselOwner")]


def parse_ofac_xml(data: bytes, origin: str = "sdn.xml") -> ParsedList:
    """Parse an OFAC SDN XML document into watchlist entries (document order)."""
    root = parse_xml(data, origin)
    if local(root.tag) != ROOT:
        raise WatchlistFormatError(f"{origin}: root element is {local(root.tag)!r}, expected {ROOT!r}")
    entries = []
    for position, node in enumerate(children(root, "sdnEntry"), start=1):
        entries.append(_entry(node, origin, position))
    return ParsedList(LIST_SOURCE, merge_duplicates(entries), _published(root))


def _published(root) -> str:
    """Publish_Date (MM/DD/YYYY) as an ISO date, '' when absent or unreadable."""
    value = text(child(root, "publshInformation"), "Publish_Date")
    try:
        return datetime.strptime(value, "%m/%d/%Y").date().isoformat()
    except ValueError:
        return ""


def _entry(node, origin: str, position: int) -> WatchlistEntry:
    """Build one WatchlistEntry from an ``sdnEntry`` element."""
    uid = text(node, "uid")
    if not uid.isdigit():
        raise WatchlistFormatError(f"{origin}: sdnEntry {position} has no numeric uid")
    sdn_type = text(node, "sdnType").lower()
    if sdn_type not in _TYPES:
        raise WatchlistFormatError(f"{origin}: sdnEntry {uid} has unknown sdnType {sdn_type[:30]!r}")
    entity_type = _TYPES[sdn_type]
    name = _name(node, entity_type)
    if not name:
        raise WatchlistFormatError(f"{origin}: sdnEntry {uid} has no name")
    remarks = text(node, "remarks")
    parsed = parse_remarks(remarks)  # the XML also hides weak aliases and ids in remarks sometimes
    aliases: list[tuple[str, str]] = []
    for aka in children(child(node, "akaList"), "aka"):
        kind = _AKA_TYPES.get(text(aka, "type").lower(), "strong_aka")
        if kind == "strong_aka" and text(aka, "category").lower() == "weak":
            kind = "weak_aka"
        add_unique(aliases, (_name(aka, entity_type), kind) if _name(aka, entity_type) else None)
    known = {n for n, _ in aliases}
    aliases += [(n, k) for n, k in parsed["aliases"] if n not in known]
    nationalities: list[str] = []
    for country in (path_text(node, "nationalityList", "nationality", "country")
                    + path_text(node, "citizenshipList", "citizenship", "country") + parsed["nationalities"]):
        add_unique(nationalities, country_to_iso2(country) or country)
    dobs: list[str] = []
    for value in path_text(node, "dateOfBirthList", "dateOfBirthItem", "dateOfBirth"):
        for dob in parse_dob(value):
            add_unique(dobs, dob)
    identifiers: list[tuple[str, str]] = []
    for doc in children(child(node, "idList"), "id"):
        number, country = text(doc, "idNumber"), text(doc, "idCountry")
        if number:
            add_unique(identifiers, (text(doc, "idType") or "id", f"{number} ({country})" if country else number))
    vessel = child(node, "vesselInfo")
    for kind, field_name in _VESSEL_FIELDS:
        add_unique(identifiers, (kind, text(vessel, field_name)) if text(vessel, field_name) else None)
    flag = text(vessel, "vesselFlag")
    if flag and flag != "None Identified":
        add_unique(nationalities, country_to_iso2(flag) or flag)
    title = text(node, "title")
    return WatchlistEntry(
        entity_id=f"{LIST_SOURCE}:{int(uid)}",
        list_source=LIST_SOURCE,
        entity_type=entity_type,
        primary_name=name,
        aliases=aliases,
        dates_of_birth=dobs,
        nationalities=nationalities,
        places_of_birth=path_text(node, "placeOfBirthList", "placeOfBirthItem", "placeOfBirth"),
        identifiers=identifiers,
        addresses=[a for a in (_address(n) for n in children(child(node, "addressList"), "address")) if a],
        programs=path_text(node, "programList", "program"),
        remarks="; ".join(p for p in (f"Title: {title}" if title else "", remarks) if p),
        topics=["sanction"],
    )


def _name(node, entity_type: str) -> str:
    """Display name from firstName/lastName: 'First LAST' for people, lastName alone otherwise."""
    first, last = text(node, "firstName"), text(node, "lastName")
    if entity_type == "person" and first:
        return display_name(f"{last}, {first}", entity_type) if last else first
    return " ".join(p for p in (first, last) if p)


def _address(node) -> str:
    """One-line address from an ``address`` element."""
    parts = [text(node, f) for f in ("address1", "address2", "address3", "city", "stateOrProvince",
                                       "postalCode", "country")]
    return ", ".join(p for p in parts if p)
