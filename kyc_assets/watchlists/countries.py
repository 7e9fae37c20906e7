"""Compact country-name -> ISO 3166-1 alpha-2 table for names that occur in sanctions lists.

pycountry is not a dependency; this table covers the country and demonym spellings used in the
OFAC SDN list (nationality, citizenship, vessel flag) plus common alternatives.
"""

from __future__ import annotations

import re
from functools import lru_cache

_COUNTRIES: dict[str, str] = {
    "afghanistan": "AF", "albania": "AL", "algeria": "DZ", "angola": "AO", "argentina": "AR",
    "armenia": "AM", "australia": "AU", "austria": "AT", "azerbaijan": "AZ", "bahamas": "BS",
    "bahrain": "BH", "bangladesh": "BD", "barbados": "BB", "belarus": "BY", "belgium": "BE",
    "belize": "BZ", "benin": "BJ", "bolivia": "BO", "bosnia and herzegovina": "BA", "botswana": "BW",
    "brazil": "BR", "british virgin islands": "VG", "bulgaria": "BG", "burkina faso": "BF",
    "burma": "MM", "myanmar": "MM", "burundi": "BI", "cabo verde": "CV", "cape verde": "CV",
    "cambodia": "KH", "cameroon": "CM", "canada": "CA", "central african republic": "CF",
    "chad": "TD", "chile": "CL", "china": "CN", "colombia": "CO", "comoros": "KM",
    "congo, democratic republic of the": "CD", "democratic republic of the congo": "CD",
    "congo, republic of the": "CG", "costa rica": "CR", "cote d'ivoire": "CI", "croatia": "HR",
    "cuba": "CU", "cyprus": "CY", "czech republic": "CZ", "czechia": "CZ", "denmark": "DK",
    "djibouti": "DJ", "dominica": "DM", "dominican republic": "DO", "ecuador": "EC", "egypt": "EG",
    "el salvador": "SV", "equatorial guinea": "GQ", "eritrea": "ER", "estonia": "EE",
    "ethiopia": "ET", "finland": "FI", "france": "FR", "gabon": "GA", "the gambia": "GM",
    "gambia": "GM", "georgia": "GE", "germany": "DE", "ghana": "GH", "greece": "GR",
    "guatemala": "GT", "guinea": "GN", "guinea-bissau": "GW", "guyana": "GY", "haiti": "HT",
    "honduras": "HN", "hong kong": "HK", "hungary": "HU", "iceland": "IS", "india": "IN",
    "indonesia": "ID", "iran": "IR", "iraq": "IQ", "ireland": "IE", "israel": "IL", "italy": "IT",
    "jamaica": "JM", "japan": "JP", "jordan": "JO", "kazakhstan": "KZ", "kenya": "KE",
    "korea, north": "KP", "north korea": "KP", "democratic people's republic of korea": "KP",
    "korea, south": "KR", "south korea": "KR", "kosovo": "XK", "kuwait": "KW", "kyrgyzstan": "KG",
    "laos": "LA", "latvia": "LV", "lebanon": "LB", "liberia": "LR", "libya": "LY",
    "liechtenstein": "LI", "lithuania": "LT", "luxembourg": "LU", "macau": "MO", "macao": "MO",
    "macedonia, the former yugoslav republic of": "MK", "north macedonia": "MK", "malaysia": "MY",
    "maldives": "MV", "mali": "ML", "malta": "MT", "marshall islands": "MH", "mauritania": "MR",
    "mauritius": "MU", "mexico": "MX", "moldova": "MD", "monaco": "MC", "mongolia": "MN",
    "montenegro": "ME", "morocco": "MA", "mozambique": "MZ", "namibia": "NA", "nepal": "NP",
    "netherlands": "NL", "new zealand": "NZ", "nicaragua": "NI", "niger": "NE", "nigeria": "NG",
    "norway": "NO", "oman": "OM", "pakistan": "PK", "palau": "PW", "palestinian": "PS",
    "palestine": "PS", "west bank": "PS", "gaza": "PS", "panama": "PA", "paraguay": "PY",
    "peru": "PE", "philippines": "PH", "poland": "PL", "portugal": "PT", "qatar": "QA",
    "romania": "RO", "russia": "RU", "russian federation": "RU", "rwanda": "RW",
    "saint kitts and nevis": "KN", "st. kitts & nevis": "KN", "saint lucia": "LC",
    "st. vincent and the grenadines": "VC", "saint vincent and the grenadines": "VC",
    "samoa": "WS", "saudi arabia": "SA", "senegal": "SN", "serbia": "RS", "seychelles": "SC",
    "sierra leone": "SL", "singapore": "SG", "slovakia": "SK", "slovenia": "SI", "somalia": "SO",
    "south africa": "ZA", "south sudan": "SS", "spain": "ES", "sri lanka": "LK", "sudan": "SD",
    "sweden": "SE", "switzerland": "CH", "syria": "SY", "taiwan": "TW", "tajikistan": "TJ",
    "tanzania": "TZ", "thailand": "TH", "togo": "TG", "trinidad and tobago": "TT", "tunisia": "TN",
    "turkey": "TR", "turkmenistan": "TM", "uganda": "UG", "ukraine": "UA",
    "united arab emirates": "AE", "united kingdom": "GB", "united states": "US", "uruguay": "UY",
    "uzbekistan": "UZ", "vanuatu": "VU", "venezuela": "VE", "vietnam": "VN", "yemen": "YE",
    "zambia": "ZM", "zimbabwe": "ZW",
    # demonyms seen in remarks
    "eritrean": "ER", "iranian": "IR", "iraqi": "IQ", "syrian": "SY", "russian": "RU",
    "pakistani": "PK", "afghan": "AF", "yemeni": "YE", "saudi": "SA", "libyan": "LY", "sudanese": "SD",
    "somali": "SO", "lebanese": "LB", "belarusian": "BY", "ukrainian": "UA", "chinese": "CN",
    "north korean": "KP", "venezuelan": "VE", "kuwaiti": "KW", "egyptian": "EG", "jordanian": "JO",
    "tunisian": "TN", "algerian": "DZ", "moroccan": "MA", "british": "GB", "american": "US",
    "iran (islamic republic of)": "IR", "syrian arab republic": "SY", "viet nam": "VN",
}

_ISO2 = frozenset(_COUNTRIES.values())


_SPACES = re.compile(r"\s+")
_HEDGE = re.compile(r"^(possibly|probably|reportedly)\s+")


@lru_cache(maxsize=4096)
def country_to_iso2(name: str) -> str | None:
    """Map a published country name or demonym (or an ISO alpha-2 code) to ISO alpha-2, else None."""
    text = _SPACES.sub(" ", name.strip().strip(".")).lower()
    text = _HEDGE.sub("", text)
    if len(text) == 2 and text.upper() in _ISO2:
        return text.upper()
    return _COUNTRIES.get(text)
