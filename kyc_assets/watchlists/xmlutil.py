"""Shared helpers for the XML list formats: safe parsing, namespace-free access, partial dates.

List files come from the internet, so parsing refuses DTDs and entity declarations (no entity
expansion, no external entities) and turns every parser failure into a one-line
``WatchlistFormatError`` naming the file, line and column.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from kyc_assets.watchlists.errors import WatchlistFormatError

_DOCTYPE = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_YEAR = re.compile(r"\d{4}")
_LOCAL: dict[str, str] = {}  # tag -> local name (a list file has a few dozen distinct tags)


def parse_xml(data: bytes, origin: str) -> ET.Element:
    """Parse an XML list document and return its root; malformed or unsafe XML raises WatchlistFormatError."""
    if _DOCTYPE.search(data[:65536]):
        raise WatchlistFormatError(f"{origin}: XML with a DTD or entity declarations is refused")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":")[0]
        raise WatchlistFormatError(f"{origin}: malformed XML at line {line}, column {column} ({reason})") from None


def local(tag: str) -> str:
    """Element tag without its '{namespace}' prefix."""
    name = _LOCAL.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1] if isinstance(tag, str) else str(tag)
        if len(_LOCAL) < 10_000:
            _LOCAL[tag] = name
    return name


def children(element: ET.Element | None, name: str) -> Iterator[ET.Element]:
    """Direct children of ``element`` with local name ``name`` (any namespace)."""
    if element is None:
        return iter(())
    get = _LOCAL.get
    return iter([c for c in element if (get(c.tag) or local(c.tag)) == name])


def child(element: ET.Element | None, name: str) -> ET.Element | None:
    """First direct child with local name ``name``, or None."""
    if element is None:
        return None
    get = _LOCAL.get
    for c in element:
        if (get(c.tag) or local(c.tag)) == name:
            return c
    return None


def text(element: ET.Element | None, name: str | None = None) -> str:
    """Stripped text of ``element`` (or of its first child ``name``); '' when absent."""
    node = element if name is None else child(element, name)
    if node is None or node.text is None:
        return ""
    return " ".join(node.text.split())


def path_text(element: ET.Element | None, *names: str) -> list[str]:
    """Non-empty texts of the elements reached by following ``names`` (each step may fan out)."""
    nodes = [element] if element is not None else []
    for name in names:
        nodes = [c for n in nodes for c in children(n, name)]
    return [t for t in (text(n) for n in nodes) if t]


def add_unique(items: list, value) -> None:
    """Append ``value`` when it is truthy and not already present (first-seen order)."""
    if value and value not in items:
        items.append(value)


def year_range(start: int, end: int, max_years: int = 15) -> list[str]:
    """Years from ``start`` to ``end`` inclusive as text; [] for a reversed or implausibly long range."""
    if start > end or end - start > max_years:
        return []
    return [str(y) for y in range(start, end + 1)]


def iso_partial_date(year: str, month: str = "", day: str = "") -> str:
    """'YYYY', 'YYYY-MM' or 'YYYY-MM-DD' from parts (month/day '' or '0' mean unknown); '' if no valid year."""
    if not _YEAR.fullmatch(year or "") or year == "0000":
        return ""
    m = int(month) if (month or "").isdigit() else 0
    d = int(day) if (day or "").isdigit() else 0
    if not 1 <= m <= 12:
        return year
    if not 1 <= d <= 31:
        return f"{year}-{m:02d}"
    return f"{year}-{m:02d}-{d:02d}"
