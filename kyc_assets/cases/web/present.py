"""How the case page shows things to people: timestamps in the analyst's time zone without microseconds,
dates of birth as "17 October 1954", lists and aliases as text (never raw JSON), and a customer record next
to a list entry field by field with the matched name tokens marked."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup, escape

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def zone(name: str | None) -> ZoneInfo:
    """The time zone ``name`` (IANA, e.g. Europe/Berlin); UTC when empty or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def when(value: object, tz: str | None = None) -> str:
    """An ISO timestamp as ``2026-12-01 23:47 CET`` in the analyst's zone (naive = UTC); a plain date as is."""
    if not value:
        return ""
    text = str(value)
    try:
        moment = datetime.fromisoformat(text)  # Python 3.11 reads a trailing Z
    except ValueError:
        return text
    if len(text) <= 10:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(zone(tz))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def human_date(value: object) -> str:
    """``1954-10-17`` -> ``17 October 1954``; ``1954-10`` -> ``October 1954``; anything else as text."""
    text = str(value or "").strip()
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", text)
    if not m:
        return text
    year, month, day = m.groups()
    try:
        if day:
            d = date(int(year), int(month), int(day))
            return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"
        if month:
            return f"{_MONTHS[int(month) - 1]} {year}"
    except (ValueError, IndexError):
        return text
    return year


def _items(value: object) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{":
            try:
                value = json.loads(text)
            except ValueError:
                return [text]
        else:
            return [text] if text else []
    if isinstance(value, dict):
        return [f"{k}: {v}" for k, v in value.items() if v not in (None, "")]
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            if isinstance(v, (list, tuple)) and len(v) == 2 and str(v[1]).lower().endswith("aka"):
                out.append(f"{v[0]}{' (weak alias)' if 'weak' in str(v[1]).lower() else ''}")  # [name, quality]
            elif isinstance(v, (list, tuple)):
                out.append(" ".join(str(x) for x in v if x not in (None, "")))
            elif isinstance(v, dict) and v.get("name"):  # an alias: its name, a weak one said so
                weak = "weak" in str(v.get("quality") or v.get("type") or "").lower()
                out.append(f"{v['name']}{' (weak alias)' if weak else ''}")
            elif isinstance(v, dict):
                out.append(", ".join(str(x) for x in v.values() if x not in (None, "")))
            elif v not in (None, ""):
                out.append(str(v))
        return out
    return [str(value)]


def human_list(value: object, dates: bool = False) -> str:
    """A list (or its JSON text) as ``a; b; c`` (dates formatted for people when ``dates``)."""
    items = _items(value)
    return "; ".join(human_date(i) if dates else i for i in items)


def _norm(token: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", token.lower()) if c.isalnum())


def _tokens(text: str) -> set[str]:
    return {_norm(t) for t in re.split(r"[\s,;/\-]+", text) if _norm(t)}


def mark(text: str, other_tokens: set[str]) -> Markup:
    """``text`` escaped, with the words also in ``other_tokens`` wrapped in <mark>."""
    parts = re.split(r"(\s+|[,;/\-])", text)
    return Markup("").join(Markup("<mark>{}</mark>").format(p) if _norm(p) and _norm(p) in other_tokens
                           else escape(p) for p in parts)


#: (label, customer record fields, list entry field, dates?)
FIELDS = (("Name", ("full_name",), "primary_name", False), ("Aliases", (), "aliases", False),
          ("Date of birth", ("date_of_birth",), "dates_of_birth", True),
          ("Nationality", ("nationality",), "nationalities", False),
          ("Identifiers", ("document_number", "document_type"), "identifiers", False),
          ("Address", ("address",), "addresses", False), ("Programmes", (), "programs", False),
          ("Listed on", (), "listed_on", True), ("Remarks", (), "remarks", False))


def compare(customer: dict | None, entry: dict | None) -> list[dict]:
    """Rows ``{label, customer, entry, same}`` (Markup), customer record vs list entry; the name, alias
    and identifier words found on both sides marked; ``same`` when a date of birth or identifier agrees."""
    customer, entry = customer or {}, entry or {}
    cust_text = {label: " ".join(str(customer.get(f)) for f in fields if customer.get(f) not in (None, ""))
                 for label, fields, _, _ in FIELDS}
    entry_text = {label: human_list(entry.get(field), dates) for label, _, field, dates in FIELDS}
    names_c = _tokens(cust_text["Name"])
    names_e = _tokens(entry_text["Name"] + " " + " ".join(_items(entry.get("aliases"))))
    rows = []
    for label, fields, field, dates in FIELDS:
        c, e = cust_text[label], entry_text[label]
        if not c and not e:
            continue
        if label in ("Name", "Aliases"):
            c_html, e_html = mark(c, names_e), mark(e, names_c)
            same = False
        elif label == "Identifiers":
            c_html, e_html = mark(c, _tokens(e)), mark(e, _tokens(c))
            same = bool(_tokens(c) & _tokens(e) - {"passport", "id", "card", "personal"})
        else:
            c_show = human_date(c) if dates else c
            raw = _items(entry.get(field))
            # a date agrees when equal or when the list gives only its year (or year and month)
            agree = [i for i in raw if c and (i == c or (dates and len(i) in (4, 7) and c.startswith(i)))]
            same = bool(agree)
            c_html = Markup("<mark>{}</mark>").format(c_show) if same else escape(c_show)
            e_html = Markup("; ").join(Markup("<mark>{}</mark>").format(human_date(i) if dates else i) if i in agree
                                       else escape(human_date(i) if dates else i) for i in raw)
        rows.append({"label": label, "customer": c_html, "entry": e_html, "same": same})
    return rows


def days_left(value: int | None) -> str:
    """Time left against the service level: ``due today``, ``2 days left``, ``overdue by 1 day``."""
    if value is None:
        return ""
    if value == 0:
        return "due today"
    n = abs(int(value))
    unit = "day" if n == 1 else "days"
    return f"{n} {unit} left" if value > 0 else f"overdue by {n} {unit}"
