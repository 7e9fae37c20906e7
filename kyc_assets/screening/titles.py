"""Titles, honorifics and ranks that precede person names, in many languages (compared after
transliteration to ASCII, lower case, punctuation removed: 'Président' -> 'president').

They are dropped from the start of a person's name (several may follow one another: 'H.E. Sheikh
Dr. ...'); a name made only of titles keeps its last word. Public knowledge, grouped by language
or region for review. Words that are also common given names or surnames ('Amir', 'Sultan', 'Hafiz',
'Sharif', 'King', 'Don', 'He') are deliberately left out.
"""

from __future__ import annotations

_TITLES = """
mr mrs ms miss mx dr prof professor sir dame lord lady rev reverend fr father hon honourable honorable
excellency
president presidente praesident prezident prezydent vice vicepresident
senator senador senatore minister ministre ministro secretary governor gobernador
gen general generale generalleutnant col colonel coronel oberst maj major capt captain capitan kapitan
lt lieutenant teniente sgt sergeant brig brigadier admiral adm almirante commander comandante cmdr marshal
eng engineer ing ingeniero lic licenciado arq abogado doctor doktor dott dottore mgr
senor senora senorita sra srta dona herr frau mme mlle monsieur madame mademoiselle signor signora
sheikh shaykh sheik shaikh sheykh shekh cheikh sheikha shaykha
haji hajji hadji hajj alhaj alhaji alhajji hadzhi hacı haci
mullah mulla molla maulana mawlana maulvi mawlawi moulvi mufti qari ustadh ustad ustaz imam
sayyid sayed sayyed seyed syed
pastor bishop archbishop cardinal
"""
#: Single-word titles (ASCII, lower case).
TITLES = frozenset(_TITLES.split())
#: Generational suffixes dropped at the end of person names.
SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})


def is_title(token: str) -> bool:
    """True for a title or honorific token ('president', 'sheikh', 'hajji', 'general')."""
    return token in TITLES
