"""Synthetic document holders whose fields stress an MRZ parser.

Names come with their printed (visual-zone) spelling, diacritics included; the MRZ form is derived by
ICAO transliteration. Stress cases, each tagged on the holder: names longer than the MRZ name field
(truncated in the MRZ, printed in full in the visual zone), no given names (filler only), three or more
given names, multi-part surnames, nationality codes ``D``/``UTO``/``XXA``/``XXX``, long TD1 numbers.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

# Reference day of the evaluation set: dates of birth and expiry are drawn around it so that the
# two-digit years of the MRZ resolve to one century (born 1936-2012, expiring 2019-2038).
REFERENCE_DAY = date(2026, 6, 1)

SURNAMES = [
    "Müller", "Schröder", "Øster", "Åberg", "Jäärats", "Nowak", "Wiśniewska", "Kovačević", "Dvořák",
    "Sørensen", "O'Connor", "Mac Giolla Bhríde", "García", "Fernández", "Gonçalves", "Lefèvre", "Dubois",
    "Rossi", "Esposito", "Papadopoulos", "Yılmaz", "Öztürk", "Nguyen", "Tran", "Kim", "Park", "Tanaka",
    "Suzuki", "Okafor", "Adeyemi", "Mensah", "Haddad", "El Amrani", "Ben Youssef", "Kowalczyk", "Horváth",
    "Nagy", "Ionescu", "Popescu", "Petrović", "Ivanova", "Smirnov", "Lindqvist", "Virtanen", "Korhonen",
    "Jónsdóttir", "Guðmundsson", "Murphy", "Walsh", "Smith", "Brown", "Wilson", "Singh", "Kaur", "Patel",
    "Sharma", "Chen", "Wang", "Li", "Zhang", "Silva", "Santos", "Pereira", "Eriksson", "Andersson", "Berg",
    "Janssen", "De Vries", "Van Dijk", "Peeters", "Łukasik", "Żak", "Çelik", "Şahin", "Ng", "Ode",
]
PARTICLES = ["van der", "von", "de la", "de", "da", "del", "van", "dos", "bin", "al", "ter", "zu"]
GIVEN = {
    "F": ["Anna", "Maria", "Élodie", "Zoë", "Søs", "Małgorzata", "Agnieszka", "Chloé", "Inês", "Björk",
          "Aisling", "Siobhán", "Yuki", "Mei", "Thi Lan", "Ngozi", "Amara", "Fatima", "Leila", "Olga",
          "Ewa", "Sofía", "Lucía", "Giulia", "Hanna", "Jóhanna", "Katarzyna", "Priya", "Aiko", "Eszter",
          "Ana", "Marie", "Louise", "Elif", "Ayşe", "Noor", "Sara", "Emma", "Lena", "Mia", "Jo"],
    "M": ["Jan", "Jürgen", "Jörg", "Pål", "Søren", "Łukasz", "Wojciech", "François", "José", "João",
          "Björn", "Seán", "Hiroshi", "Wei", "Minh", "Chinedu", "Kwame", "Omar", "Youssef", "Dmitri",
          "Piotr", "Andrés", "Luca", "Matteo", "Jonas", "Sigurður", "Rajesh", "Kenji", "Bence", "Ion",
          "Peter", "John", "Paul", "Ahmet", "Mehmet", "Ali", "Karl", "Lars", "Ole", "Max", "Al"],
}
LONG_GIVEN = ["Maximilian", "Alexandrina", "Konstantinos", "Bartholomew", "Christopher", "Marie-Antoinette",
              "Wolfgang", "Friedrich", "Guadalupe", "Anastasia", "Evangelina", "Sebastiaan", "Przemysław",
              "Hieronymus", "Aleksandra", "Jean-Baptiste", "Krzysztof", "Giovanni"]
LONG_SURNAMES = ["Wolfeschlegelsteinhausen", "Papadimitriou-Konstantinopoulou", "Hernández de la Fuente y Martínez",
                 "Vasilakopoulou-Charalambidou", "Gudmundsdottir-Thorsteinsson", "Schwarzenegger-Rosenberg",
                 "Kanakaratnam Sivasubramaniam", "Oyelaran-Adebayo-Ogunleye", "Ravikumarasundaram",
                 "Brzęczyszczykiewicz", "Srinivasaraghavan Venkataraman"]

# (code as printed in the MRZ, country name for the header, label languages)
COUNTRIES = [
    ("D", "BUNDESREPUBLIK DEUTSCHLAND", ("de", "en", "fr")),
    ("UTO", "UTOPIA", ("en", "fr")),
    ("XXA", "UTOPIA", ("en", "fr")),  # stateless person (ICAO 9303 part 3, 5)
    ("FRA", "RÉPUBLIQUE FRANÇAISE", ("fr", "en")),
    ("NLD", "KONINKRIJK DER NEDERLANDEN", ("nl", "en", "fr")),
    ("ESP", "REINO DE ESPAÑA", ("es", "en")),
    ("ITA", "REPUBBLICA ITALIANA", ("it", "en", "fr")),
    ("POL", "RZECZPOSPOLITA POLSKA", ("pl", "en", "fr")),
    ("PRT", "REPÚBLICA PORTUGUESA", ("pt", "en", "fr")),
    ("GBR", "UNITED KINGDOM", ("en", "fr")),
    ("IRL", "ÉIRE IRELAND", ("en", "fr")),
    ("SWE", "KONUNGARIKET SVERIGE", ("sv", "en", "fr")),
    ("BEL", "ROYAUME DE BELGIQUE", ("fr", "nl", "de", "en")),
    ("AUT", "REPUBLIK ÖSTERREICH", ("de", "en", "fr")),
    ("NGA", "FEDERAL REPUBLIC OF NIGERIA", ("en", "fr")),
    ("TUR", "TÜRKİYE CUMHURİYETİ", ("tr", "en", "fr")),
    ("VNM", "VIET NAM", ("en", "fr")),
    ("JPN", "JAPAN", ("en", "fr")),
    ("BRA", "REPÚBLICA FEDERATIVA DO BRASIL", ("pt", "en", "es")),
    ("CHE", "SCHWEIZ SUISSE SVIZZERA", ("de", "fr", "it", "en")),
    ("ISL", "ÍSLAND ICELAND", ("en", "fr")),
    ("XXX", "UTOPIA", ("en", "fr")),  # unspecified nationality
]
# Digits and letters that OCR confuses (0/O, 1/I, 5/S, 8/B, 2/Z, 6/G) are frequent on purpose.
NUMBER_ALPHABET = "0123456789OIBSZGCDFHJKLMNPRTUVWXY"
# Issuers that avoid look-alike letters in numbers (e.g. Germany's C01X00T47 style).
SAFE_LETTERS = "CFGHJKLMNPRTVWXYZ"


def _document_number(rng: random.Random) -> str:
    """Numbers in the patterns issuers use: digits only, two letters and digits, a restricted alphabet,
    eight characters (padded with a filler in the MRZ), or any MRZ characters including look-alikes."""
    digits = lambda k: "".join(rng.choice("0123456789") for _ in range(k))
    pattern = rng.choices(range(5), weights=[30, 25, 25, 10, 10])[0]
    if pattern == 0:
        return digits(9)
    if pattern == 1:
        return rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") + rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") + digits(7)
    if pattern == 2:
        return rng.choice(SAFE_LETTERS) + "".join(rng.choice("0123456789" + SAFE_LETTERS) for _ in range(8))
    if pattern == 3:
        return rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") + digits(7)
    return "".join(rng.choice(NUMBER_ALPHABET) for _ in range(9))


def _name_case(rng: random.Random) -> str:
    return rng.choices(["plain", "truncated", "filler_given", "many_given", "multi_surname"],
                       weights=[40, 17, 10, 16, 17])[0]


def _surname(rng: random.Random, case: str) -> str:
    if case == "truncated" and rng.random() < 0.5:
        return rng.choice(LONG_SURNAMES)
    if case == "multi_surname":
        style = rng.randrange(3)
        if style == 0:
            return f"{rng.choice(PARTICLES).title() if rng.random() < .5 else rng.choice(PARTICLES)} " \
                   f"{rng.choice(SURNAMES)}"
        if style == 1:
            return f"{rng.choice(SURNAMES)}-{rng.choice(SURNAMES)}"
        return f"{rng.choice(SURNAMES)} {rng.choice(PARTICLES)} {rng.choice(SURNAMES)}"
    return rng.choice(SURNAMES)


def _given(rng: random.Random, case: str, sex: str) -> str:
    pool = GIVEN["F" if sex == "F" else "M"] if sex in "MF" else GIVEN["F"] + GIVEN["M"]
    if case == "filler_given":
        return ""
    if case == "many_given":
        return " ".join(rng.sample(pool, rng.randint(3, 4)))
    if case == "truncated":
        return " ".join(rng.sample(LONG_GIVEN, rng.randint(2, 4)))
    return " ".join(rng.sample(pool, rng.choice((1, 1, 1, 2))))


def make_holder(rng: random.Random, doc_class: str) -> dict:
    """A holder and document data for one specimen (printed spelling; MRZ form derived later)."""
    code, country_name, languages = rng.choices(COUNTRIES, weights=[6, 6, 3, 3] + [2] * (len(COUNTRIES) - 4))[0]
    issuing = code if code not in ("XXA", "XXX") else "UTO"
    nationality = code
    if rng.random() < 0.12:  # foreign national holding a residence card / visa of another state
        nationality = rng.choice(COUNTRIES)[0]
    sex = rng.choices("MFX", weights=[48, 48, 4])[0]
    case = _name_case(rng)
    surname = _surname(rng, case)
    given = _given(rng, case, sex)
    birth = date(1936, 1, 1) + timedelta(days=rng.randrange(0, 365 * 76))
    expiry = date(2019, 1, 1) + timedelta(days=rng.randrange(0, 365 * 19))
    issue = expiry - timedelta(days=365 * rng.choice((5, 10)) - 1)
    stress = [case]
    number = _document_number(rng)
    if doc_class == "td1" and rng.random() < 0.15 and len(number) == 9:
        number += "".join(rng.choice("0123456789") for _ in range(rng.choice((1, 2, 3))))
        stress.append("long_number")
    optional = ""
    if rng.random() < 0.35 and "long_number" not in stress:
        optional = "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 11)))
    if nationality in ("D", "UTO", "XXA", "XXX"):
        stress.append(f"nationality_{nationality}")
    return {"surname_printed": surname, "given_names_printed": given, "sex": sex, "date_of_birth": birth,
            "expiry_date": expiry, "issue_date": issue, "document_number": number, "nationality": nationality,
            "issuing_country": issuing, "country_name": country_name, "languages": languages,
            "optional": optional, "stress": stress,
            "place_of_birth": rng.choice(["BERLIN", "LYON", "UTOPIA CITY", "LAGOS", "HANOI", "PORTO", "KRAKÓW",
                                          "MALMÖ", "İZMİR", "OSAKA", "CORK", "GENT", "ZÜRICH", "SÃO PAULO"])}
