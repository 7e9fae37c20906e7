"""Domain model for watchlist (sanctions list) entries.

A ``WatchlistEntry`` is one designated party as published by a list owner, normalised
into a source-independent shape so that screening does not need to know the list format.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

ENTITY_TYPES: tuple[str, ...] = ("person", "organization", "vessel", "aircraft")
ALIAS_KINDS: tuple[str, ...] = ("strong_aka", "weak_aka", "fka", "nka")
#: Kind reported by ``names()`` for a name published in its original (non-Latin) script.
ORIGINAL_SCRIPT = "original_script"
#: Topic marking a politically exposed person (OpenSanctions vocabulary).
PEP_TOPIC = "role.pep"


@dataclass
class WatchlistEntry:
    """One listed party (person, organization, vessel or aircraft) with its names and attributes.

    ``primary_name`` is the display form ('Anna Maria ERIKSSON' for an individual published as
    'ERIKSSON, Anna Maria'); aliases are ``(name, kind)`` pairs with kind in ``ALIAS_KINDS``;
    dates of birth are 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD'; nationalities are ISO 3166 alpha-2 codes
    where the country could be mapped, else the published country name.
    ``original_script_names`` are names as published in a non-Latin script (Arabic, Cyrillic, ...);
    ``topics`` classify the party (OpenSanctions vocabulary: 'sanction', 'role.pep', 'crime', ...);
    ``listed_on`` is the designation date ('YYYY-MM-DD' or partial) when the list publishes one.
    """

    entity_id: str
    list_source: str
    entity_type: str
    primary_name: str
    aliases: list[tuple[str, str]] = field(default_factory=list)
    dates_of_birth: list[str] = field(default_factory=list)
    nationalities: list[str] = field(default_factory=list)
    places_of_birth: list[str] = field(default_factory=list)
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)
    remarks: str = ""
    original_script_names: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    listed_on: str = ""

    def __post_init__(self) -> None:
        if self.entity_type not in ENTITY_TYPES:
            raise ValueError(f"entity_type must be one of {ENTITY_TYPES}, got {self.entity_type!r}")
        for _, kind in self.aliases:
            if kind not in ALIAS_KINDS:
                raise ValueError(f"alias kind must be one of {ALIAS_KINDS}, got {kind!r}")

    @property
    def is_pep(self) -> bool:
        """True when the list flags the party as a politically exposed person."""
        return any(t == PEP_TOPIC or t.startswith(PEP_TOPIC + ".") for t in self.topics)

    def names(self) -> list[tuple[str, str]]:
        """All names of the party as ``(name, kind)``: the primary name first with kind 'primary',
        then the aliases, then names in original script with kind ``ORIGINAL_SCRIPT``."""
        return [(self.primary_name, "primary"), *self.aliases,
                *((n, ORIGINAL_SCRIPT) for n in self.original_script_names)]

    def to_record(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict; ``(a, b)`` pairs become two-item lists ``[a, b]``."""
        return {
            "entity_id": self.entity_id,
            "list_source": self.list_source,
            "entity_type": self.entity_type,
            "primary_name": self.primary_name,
            "aliases": [[n, k] for n, k in self.aliases],
            "dates_of_birth": list(self.dates_of_birth),
            "nationalities": list(self.nationalities),
            "places_of_birth": list(self.places_of_birth),
            "identifiers": [[k, v] for k, v in self.identifiers],
            "addresses": list(self.addresses),
            "programs": list(self.programs),
            "remarks": self.remarks,
            "original_script_names": list(self.original_script_names),
            "topics": list(self.topics),
            "listed_on": self.listed_on,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WatchlistEntry:
        """Rebuild an entry from ``to_record()`` output (pairs as lists, or as dicts name/kind, kind/value).

        List fields may also arrive as JSON text (as stored in the ``watchlist_entries`` table);
        fields added after a record was written (names in original script, topics, listing date)
        default to empty, so older records still load.
        """
        def items(value) -> list:
            if isinstance(value, str):
                value = json.loads(value) if value.strip() else []
            return list(value) if value is not None and not _is_missing(value) else []

        def pairs(value, first: str, second: str) -> list[tuple[str, str]]:
            return [(i[first], i[second]) if isinstance(i, dict) else (i[0], i[1]) for i in items(value)]

        def text(value) -> str:
            return "" if value is None or _is_missing(value) else str(value)

        return cls(
            entity_id=record["entity_id"],
            list_source=record["list_source"],
            entity_type=record["entity_type"],
            primary_name=record["primary_name"],
            aliases=pairs(record.get("aliases"), "name", "kind"),
            dates_of_birth=items(record.get("dates_of_birth")),
            nationalities=items(record.get("nationalities")),
            places_of_birth=items(record.get("places_of_birth")),
            identifiers=pairs(record.get("identifiers"), "kind", "value"),
            addresses=items(record.get("addresses")),
            programs=items(record.get("programs")),
            remarks=text(record.get("remarks")),
            original_script_names=items(record.get("original_script_names")),
            topics=items(record.get("topics")),
            listed_on=text(record.get("listed_on")),
        )


def _is_missing(value) -> bool:
    """True for a scalar NaN/NA (how pandas fills a column absent from some rows)."""
    try:
        import math

        return isinstance(value, float) and math.isnan(value) or str(value) in ("<NA>", "NaT")
    except (TypeError, ValueError):
        return False


def is_latin(text: str) -> bool:
    """True when every letter of ``text`` is Latin script (punctuation, digits and spaces ignored)."""
    if text.isascii():
        return True
    return all(not ch.isalpha() or unicodedata.name(ch, "").startswith("LATIN") for ch in text)


def split_by_script(names: list[str]) -> tuple[list[str], list[str]]:
    """Split names into (Latin-script names, names in another script), keeping order."""
    latin = [n for n in names if is_latin(n)]
    return latin, [n for n in names if not is_latin(n)]


@dataclass
class ParsedList:
    """What a format loader returns: the list's entries and, when the file says, its publication date."""

    list_source: str
    entries: list[WatchlistEntry]
    published: str = ""


def merge_duplicates(entries: list[WatchlistEntry]) -> list[WatchlistEntry]:
    """Merge entries that share an entity id (lists do repeat a record), keeping first-seen order.

    The first record's type, primary name, remarks and listing date win; every other name
    becomes an alias and list-valued attributes are united.
    """
    merged: dict[str, WatchlistEntry] = {}
    for entry in entries:
        first = merged.get(entry.entity_id)
        if first is None:
            merged[entry.entity_id] = entry
            continue
        names = {n for n, _ in first.names()}
        for name, kind in entry.names():
            if name not in names:
                names.add(name)
                if kind == ORIGINAL_SCRIPT:
                    first.original_script_names.append(name)
                else:
                    first.aliases.append((name, "strong_aka" if kind == "primary" else kind))
        for attr in ("dates_of_birth", "nationalities", "places_of_birth", "identifiers", "addresses",
                     "programs", "topics"):
            target = getattr(first, attr)
            target.extend(v for v in getattr(entry, attr) if v not in target)
        if entry.remarks and entry.remarks not in first.remarks:
            first.remarks = "; ".join(r for r in (first.remarks, entry.remarks) if r)
    return list(merged.values())
