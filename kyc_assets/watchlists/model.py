"""Domain model for watchlist (sanctions list) entries.

A ``WatchlistEntry`` is one designated party as published by a list owner, normalised
into a source-independent shape so that screening does not need to know the list format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENTITY_TYPES: tuple[str, ...] = ("person", "organization", "vessel", "aircraft")
ALIAS_KINDS: tuple[str, ...] = ("strong_aka", "weak_aka", "fka", "nka")


@dataclass
class WatchlistEntry:
    """One listed party (person, organization, vessel or aircraft) with its names and attributes.

    ``primary_name`` is the display form ('Anna Maria ERIKSSON' for an individual published as
    'ERIKSSON, Anna Maria'); aliases are ``(name, kind)`` pairs with kind in ``ALIAS_KINDS``;
    dates of birth are 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD'; nationalities are ISO 3166 alpha-2 codes
    where the country could be mapped, else the published country name.
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

    def __post_init__(self) -> None:
        if self.entity_type not in ENTITY_TYPES:
            raise ValueError(f"entity_type must be one of {ENTITY_TYPES}, got {self.entity_type!r}")
        for _, kind in self.aliases:
            if kind not in ALIAS_KINDS:
                raise ValueError(f"alias kind must be one of {ALIAS_KINDS}, got {kind!r}")

    def names(self) -> list[tuple[str, str]]:
        """All names of the party as ``(name, kind)``, the primary name first with kind 'primary'."""
        return [(self.primary_name, "primary"), *self.aliases]

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
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WatchlistEntry:
        """Rebuild an entry from ``to_record()`` output (pairs as lists, or as dicts name/kind, kind/value)."""
        def pairs(items, first: str, second: str) -> list[tuple[str, str]]:
            return [(i[first], i[second]) if isinstance(i, dict) else (i[0], i[1]) for i in items or []]

        return cls(
            entity_id=record["entity_id"],
            list_source=record["list_source"],
            entity_type=record["entity_type"],
            primary_name=record["primary_name"],
            aliases=pairs(record.get("aliases"), "name", "kind"),
            dates_of_birth=list(record.get("dates_of_birth") or []),
            nationalities=list(record.get("nationalities") or []),
            places_of_birth=list(record.get("places_of_birth") or []),
            identifiers=pairs(record.get("identifiers"), "kind", "value"),
            addresses=list(record.get("addresses") or []),
            programs=list(record.get("programs") or []),
            remarks=record.get("remarks") or "",
        )
