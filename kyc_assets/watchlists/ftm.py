"""Reader for OpenSanctions FollowTheMoney (FtM) entities as JSON lines (sanctions and PEP datasets).

Each line is one entity ``{"id", "schema", "properties": {prop: [values]}, "target", ...}``.
Listed parties are the *target* entities of the schemata Person, Company, Organization,
LegalEntity, PublicBody, Vessel and Airplane (when a file has no ``target`` flags, every entity
of those schemata counts). Other entities are joined onto them: ``Sanction`` (via its
``entity`` property) gives programmes and the listing date, ``Address`` (via the party's
``addressEntity``) gives addresses, ``Passport``/``Identification`` (via ``holder``) give
document numbers; relationship entities (Ownership, Family, Directorship, ...) are skipped.
The 'nested' export, where adjacent entities are embedded as dicts, is read the same way.
``topics`` are kept, so PEPs are recognisable by ``role.pep``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from kyc_assets.watchlists.errors import WatchlistFormatError
from kyc_assets.watchlists.model import ParsedList, WatchlistEntry, split_by_script
from kyc_assets.watchlists.xmlutil import add_unique

LIST_SOURCE = "opensanctions"
TARGET_SCHEMATA = {"Person": "person", "Company": "organization", "Organization": "organization",
                   "LegalEntity": "organization", "PublicBody": "organization", "Vessel": "vessel",
                   "Airplane": "aircraft"}
_ID_PROPS = ("idNumber", "passportNumber", "registrationNumber", "innCode", "ogrnCode", "taxNumber", "vatCode",
             "leiCode", "swiftBic", "imoNumber", "mmsi", "callSign", "icaoCode", "okpoCode",
             "uniqueEntityId", "dunsCode", "bikCode")
_DOCUMENT_SCHEMATA = ("Passport", "Identification")


def parse_ftm(data: bytes, origin: str = "entities.ftm.json", list_source: str = LIST_SOURCE) -> ParsedList:
    """Parse FtM JSON lines held in memory (see ``parse_ftm_lines``)."""
    return parse_ftm_lines(data.splitlines(), origin, list_source)


def parse_ftm_lines(lines: Iterable[bytes], origin: str = "entities.ftm.json",
                    list_source: str = LIST_SOURCE) -> ParsedList:
    """Parse FtM JSON lines into watchlist entries, one per target party (first-seen order).

    Only the few fields needed from non-target entities are kept in memory, so a large
    dataset is read in one streaming pass.
    """
    targets: dict[str, dict[str, Any]] = {}
    addresses: dict[str, str] = {}
    attached: dict[str, list[dict[str, Any]]] = {}
    last_change = ""
    for line_no, record in _records(lines, origin):
        for entity, parent in _flatten(record, None):
            schema, entity_id = entity["schema"], entity["id"]
            if parent is not None:
                attached.setdefault(parent, []).append(entity)
            if schema in TARGET_SCHEMATA and entity.get("target", parent is None):
                if entity_id not in targets:
                    targets[entity_id] = entity
                else:
                    _merge_props(targets[entity_id], entity)
                last_change = max(last_change, str(entity.get("last_change") or "")[:10])
            elif schema == "Address":
                full = _first(entity, "full") or ", ".join(
                    v for p in ("street", "city", "postalCode", "country") for v in _props(entity, p)[:1])
                if full:
                    addresses[entity_id] = full
            elif schema == "Sanction" and parent is None:
                for owner in _props(entity, "entity"):
                    attached.setdefault(owner, []).append(_slim(entity, ("program", "programId", "listingDate",
                                                                         "startDate", "authority")))
            elif schema in _DOCUMENT_SCHEMATA and parent is None:
                for holder in _props(entity, "holder"):
                    attached.setdefault(holder, []).append(_slim(entity, ("number", "country", "type")))
    entries = [_entry(e, attached.get(i, []), addresses, list_source) for i, e in targets.items()]
    return ParsedList(list_source, [e for e in entries if e is not None], last_change)


def _records(lines: Iterable[bytes], origin: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, entity)`` for each non-blank line, checking JSON, encoding and shape."""
    for line_no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8-sig" if line_no == 1 else "utf-8"))
        except UnicodeDecodeError:
            raise WatchlistFormatError(f"{origin} line {line_no}: not valid UTF-8") from None
        except json.JSONDecodeError as exc:
            raise WatchlistFormatError(f"{origin} line {line_no}: invalid JSON ({exc.msg})") from None
        if (not isinstance(record, dict) or not isinstance(record.get("id"), str)
                or not isinstance(record.get("schema"), str) or not isinstance(record.get("properties", {}), dict)):
            raise WatchlistFormatError(f"{origin} line {line_no}: not an FtM entity (needs id, schema, properties)")
        yield line_no, record


def _flatten(entity: dict[str, Any], parent: str | None) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Yield the entity and every entity embedded in its properties (nested export), with the parent id;
    embedded dicts are replaced by their ids in the parent's properties."""
    props = entity.get("properties") or {}
    flat: dict[str, list] = {}
    nested: list[dict[str, Any]] = []
    for prop, values in props.items():
        values = values if isinstance(values, list) else [values]
        flat[prop] = []
        for value in values:
            if isinstance(value, dict) and isinstance(value.get("schema"), str):
                value.setdefault("id", f"{entity['id']}-{prop}-{len(nested)}")
                nested.append(value)
                flat[prop].append(value["id"])
            elif isinstance(value, (str, int, float)):
                flat[prop].append(str(value))
    entity = {**entity, "properties": flat}
    yield entity, parent
    for child in nested:
        yield from _flatten(child, entity["id"])


def _props(entity: dict[str, Any], prop: str) -> list[str]:
    """Values of one property (cleaned of surrounding white space, empties dropped)."""
    return [" ".join(v.split()) for v in (entity.get("properties") or {}).get(prop, []) if v and v.strip()]


def _first(entity: dict[str, Any], prop: str) -> str:
    values = _props(entity, prop)
    return values[0] if values else ""


def _slim(entity: dict[str, Any], props: tuple[str, ...]) -> dict[str, Any]:
    """A copy of an entity holding only its schema and the given properties."""
    return {"schema": entity["schema"], "properties": {p: _props(entity, p) for p in props}}


def _merge_props(into: dict[str, Any], other: dict[str, Any]) -> None:
    """Unite the property values of a repeated target entity into the first one."""
    for prop, values in (other.get("properties") or {}).items():
        target = into["properties"].setdefault(prop, [])
        target.extend(v for v in values if v not in target)


def _entry(entity: dict[str, Any], adjacent: list[dict[str, Any]], addresses: dict[str, str],
           list_source: str) -> WatchlistEntry | None:
    """Build one WatchlistEntry from a target entity and the entities joined to it; None without a name."""
    entity_type = TARGET_SCHEMATA[entity["schema"]]
    latin, script = split_by_script(_unique(_props(entity, "name")))
    caption = " ".join(str(entity.get("caption") or "").split())
    if not latin and not script:
        if not caption:
            return None
        latin, script = split_by_script([caption])
    primary = caption if caption in latin else (latin[0] if latin else script[0])
    aliases = [(n, "strong_aka") for n in latin if n != primary]
    for prop, kind in (("alias", "strong_aka"), ("weakAlias", "weak_aka"), ("previousName", "fka")):
        names_latin, names_script = split_by_script(_props(entity, prop))
        for name in names_latin:
            if name != primary and name not in [n for n, _ in aliases]:
                aliases.append((name, kind))
        script += [n for n in names_script if n not in script]
    script = [n for n in script if n != primary]
    nationalities: list[str] = []
    countries = _props(entity, "nationality") + _props(entity, "citizenship")
    if entity_type == "person" and not countries:
        countries = _props(entity, "country")
    if entity_type != "person":
        countries = _props(entity, "jurisdiction") + _props(entity, "country") + _props(entity, "flag")
    for country in countries:
        add_unique(nationalities, country.upper() if len(country) == 2 else country)
    identifiers: list[tuple[str, str]] = []
    seen_values: set[str] = set()
    for prop in _ID_PROPS:
        for value in _props(entity, prop):
            if value not in seen_values:
                seen_values.add(value)
                identifiers.append((prop, value))
    entity_addresses = _unique(_props(entity, "address") + [addresses[a] for a in _props(entity, "addressEntity")
                                                            if a in addresses])
    programs = _props(entity, "programId")
    listed: list[str] = []
    for other in adjacent:
        if other["schema"] == "Sanction":
            for program in _props(other, "programId") or _props(other, "program"):
                add_unique(programs, program)
            listed += _props(other, "listingDate") or _props(other, "startDate")
        elif other["schema"] in _DOCUMENT_SCHEMATA:
            for number in _props(other, "number"):
                if number not in seen_values:
                    seen_values.add(number)
                    country = _first(other, "country").upper()
                    identifiers.append(("passportNumber" if other["schema"] == "Passport" else "idNumber",
                                        f"{number} ({country})" if country else number))
        elif other["schema"] == "Address":
            add_unique(entity_addresses, _first(other, "full"))
    return WatchlistEntry(
        entity_id=f"{list_source}:{entity['id']}",
        list_source=list_source,
        entity_type=entity_type,
        primary_name=primary,
        aliases=aliases,
        dates_of_birth=_unique([d[:10] for d in _props(entity, "birthDate")]),
        nationalities=nationalities,
        places_of_birth=_props(entity, "birthPlace"),
        identifiers=identifiers,
        addresses=entity_addresses,
        programs=_unique(programs),
        remarks="; ".join(_unique(_props(entity, "notes") + _props(entity, "position"))),
        original_script_names=script,
        topics=_props(entity, "topics"),
        listed_on=min(listed)[:10] if listed else "",
    )


def _unique(items: list) -> list:
    out: list = []
    for item in items:
        add_unique(out, item)
    return out
