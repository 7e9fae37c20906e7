"""The risk methodology and the country lists: versioned YAML, validated against a documented schema.

A methodology file (``kyc_assets/data/risk/methodology.yaml`` by default, ``KYC_RISK_METHODOLOGY`` to
use another) holds:

- ``version`` (text), ``effective_from`` (date), ``home_country`` (ISO alpha-2: PEPs of this country are
  domestic), ``description`` and ``owner``;
- ``tiers.cutoffs``: the score at or above which a customer is ``medium``, ``high`` and ``prohibited``
  (ascending; ``prohibited: null`` means only a hard rule prohibits);
- ``review``: ``cadence_years`` per tier, ``lead_days``, ``event_review_days``,
  ``document_expiry_window_days``, ``edd_tiers``, ``edd_items``;
- ``behaviour``: the thresholds that put behaviour in categories (lookback, anomaly bands, dormancy,
  account age);
- ``factors``: per factor of :data:`FACTORS` a ``weight`` (>= 0) and a value in [0, 1] for every
  category of that factor (exactly those categories). ``unknown`` must be valued at least as high as the
  factor's lowest known category, so that a missing input never lowers a rating;
- ``hard_rules``: ``id``, ``description``, ``factors`` (one or more), ``values`` (categories of those
  factors) and ``min_tier``: a customer in one of the values of one of the factors is at least that tier.

Errors are one line naming the file and the field (``methodology.yaml: factors.pep.weight: ...``).
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "risk"
DEFAULT_METHODOLOGY = DATA_DIR / "methodology.yaml"
DEFAULT_COUNTRY_LISTS = DATA_DIR / "country_lists.yaml"

TIERS = ("low", "medium", "high", "prohibited")
TIER_RANK = {t: i for i, t in enumerate(TIERS)}
COUNTRY_LEVELS = ("standard", "eu_high_risk", "increased_monitoring", "call_for_action")
#: Every factor and its categories (the engine puts each customer in exactly one per factor).
FACTORS: dict[str, tuple[str, ...]] = {
    "customer_type": ("person", "company", "trust", "unknown"),
    "nationality": (*COUNTRY_LEVELS, "unknown"),
    "residence": (*COUNTRY_LEVELS, "unknown"),
    "corridors": ("none", *COUNTRY_LEVELS, "unknown"),
    "sanctions": ("none", "suppressed", "potential", "confirmed", "unknown"),
    "pep": ("none", "domestic", "international_organisation", "close_associate", "foreign", "unknown_class",
            "unknown"),
    "adverse_media": ("none", "found", "not_enabled", "unknown"),
    "onboarding_channel": ("in_person", "remote", "unknown"),
    "document_quality": ("ok", "extraction_disagreement", "inconsistent", "expired", "missing", "unknown"),
    "anomaly": ("no_activity", "low", "elevated", "high", "unknown"),
    "typology_alerts": ("none", "one", "several", "unknown"),
    "account_age": ("established", "young", "new", "unknown"),
    "dormancy": ("active", "dormant", "reactivated", "unknown"),
}
EDD_ITEMS = ("source_of_funds", "source_of_wealth", "senior_management_approval")
#: Categories that are not "unknown" but say nothing was found (compared with unknown for the floor rule).
_NOT_KNOWN = {"unknown", "not_enabled"}


class MethodologyError(ValueError):
    """A methodology or country-list file that cannot be used; the message is one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cutoffs(_Strict):
    medium: float = Field(gt=0, le=1)
    high: float = Field(gt=0, le=1)
    prohibited: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _ascending(self):
        if not self.medium < self.high or (self.prohibited is not None and not self.high < self.prohibited):
            raise ValueError("cut-offs must ascend: medium < high < prohibited")
        return self


class Tiers(_Strict):
    cutoffs: Cutoffs


class Review(_Strict):
    cadence_years: dict[str, int]
    lead_days: int = Field(default=30, ge=0, le=365)
    event_review_days: int = Field(default=30, ge=1, le=365)
    document_expiry_window_days: int = Field(default=60, ge=1, le=730)
    edd_tiers: tuple[str, ...] = ("high", "prohibited")
    edd_items: tuple[str, ...] = EDD_ITEMS

    @field_validator("cadence_years")
    @classmethod
    def _every_tier(cls, value: dict[str, int]) -> dict[str, int]:
        if set(value) != set(TIERS):
            raise ValueError(f"needs exactly the tiers {', '.join(TIERS)}")
        if any(not 1 <= v <= 10 for v in value.values()):
            raise ValueError("cadences must be 1 to 10 years")
        return value

    @field_validator("edd_tiers")
    @classmethod
    def _known_tiers(cls, value):
        unknown = sorted(set(value) - set(TIERS))
        if unknown:
            raise ValueError(f"unknown tier(s) {', '.join(unknown)}")
        return value

    @field_validator("edd_items")
    @classmethod
    def _known_items(cls, value):
        unknown = sorted(set(value) - set(EDD_ITEMS))
        if unknown or not value:
            raise ValueError(f"EDD items must be among {', '.join(EDD_ITEMS)}")
        return value


class Behaviour(_Strict):
    lookback_days: int = Field(default=90, ge=1, le=3650)
    anomaly_elevated_from: float = Field(default=0.5, gt=0, le=1)
    anomaly_high_from: float = Field(default=0.8, gt=0, le=1)
    typology_alerts_several_from: int = Field(default=2, ge=2)
    dormant_after_days: int = Field(default=180, ge=1)
    account_new_below_days: int = Field(default=90, ge=1)
    account_young_below_days: int = Field(default=365, ge=1)

    @model_validator(mode="after")
    def _ordered(self):
        if self.anomaly_elevated_from >= self.anomaly_high_from:
            raise ValueError("anomaly_elevated_from must be below anomaly_high_from")
        if self.account_new_below_days >= self.account_young_below_days:
            raise ValueError("account_new_below_days must be below account_young_below_days")
        return self


class Factor(_Strict):
    weight: float = Field(ge=0, le=100)
    values: dict[str, float]

    @field_validator("values")
    @classmethod
    def _in_range(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if not 0 <= v <= 1]
        if bad:
            raise ValueError(f"values must be in [0, 1] ({', '.join(bad)})")
        return value


class HardRule(_Strict):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    description: str = ""
    factors: tuple[str, ...] = Field(min_length=1)
    values: tuple[str, ...] = Field(min_length=1)
    min_tier: str

    @field_validator("min_tier")
    @classmethod
    def _tier(cls, value: str) -> str:
        if value not in TIERS:
            raise ValueError(f"must be one of {', '.join(TIERS)}")
        return value


class RiskMethodology(_Strict):
    schema_version: int = Field(ge=1, le=1)
    version: str = Field(min_length=1, max_length=40)
    effective_from: date
    owner: str = ""
    description: str = ""
    home_country: str = Field(pattern=r"^[A-Z]{2}$")
    tiers: Tiers
    review: Review
    behaviour: Behaviour = Behaviour()
    factors: dict[str, Factor]
    hard_rules: tuple[HardRule, ...] = ()
    # The sha256 of the file's bytes (set by load_methodology, not written in the file).
    content_sha256: str = Field(default="", exclude=True)

    @field_validator("version", mode="before")
    @classmethod
    def _text(cls, value):
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _complete(self):
        missing = sorted(set(FACTORS) - set(self.factors))
        extra = sorted(set(self.factors) - set(FACTORS))
        if missing or extra:
            raise ValueError(f"factors: missing {missing or 'none'}, unknown {extra or 'none'}")
        for name, factor in self.factors.items():
            cats = set(FACTORS[name])
            if set(factor.values) != cats:
                raise ValueError(f"factors.{name}.values must name exactly {', '.join(FACTORS[name])}")
            known = [v for k, v in factor.values.items() if k not in _NOT_KNOWN]
            if factor.values["unknown"] < min(known):
                raise ValueError(f"factors.{name}.values.unknown must be at least the lowest known value "
                                 f"({min(known)}): a missing input never lowers a rating")
        if sum(f.weight for f in self.factors.values()) <= 0:
            raise ValueError("factors: the weights must not all be 0")
        seen = set()
        for rule in self.hard_rules:
            if rule.id in seen:
                raise ValueError(f"hard_rules: duplicate id {rule.id}")
            seen.add(rule.id)
            for f in rule.factors:
                if f not in FACTORS:
                    raise ValueError(f"hard_rules.{rule.id}: unknown factor {f}")
                bad = sorted(set(rule.values) - set(FACTORS[f]))
                if bad and len(rule.factors) == 1:
                    raise ValueError(f"hard_rules.{rule.id}: {', '.join(bad)} not a category of {f}")
            if not any(v in FACTORS[f] for f in rule.factors for v in rule.values):
                raise ValueError(f"hard_rules.{rule.id}: no value is a category of its factors")
        return self

    @property
    def label(self) -> str:
        """What a rating records: the version and the file's content hash (``2026.1+3f2a9c1b``)."""
        return f"{self.version}+{self.content_sha256[:8]}" if self.content_sha256 else self.version

    @property
    def total_weight(self) -> float:
        return float(sum(f.weight for f in self.factors.values()))


def _one_line(path: Path, exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{path.name}: {where}: {msg}{more}"


def _read_yaml(path: Path) -> tuple[dict, bytes]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MethodologyError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        parsed = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise MethodologyError(f"{path.name}:{where} not valid YAML ({getattr(exc, 'problem', None) or exc})") \
            from None
    if not isinstance(parsed, dict):
        raise MethodologyError(f"{path.name}: expected a mapping at the top level")
    return parsed, data


def load_methodology(path: Path | str | None = None) -> RiskMethodology:
    """The methodology in ``path`` (the bundled one by default), validated; MethodologyError in one line."""
    path = Path(path) if path else DEFAULT_METHODOLOGY
    parsed, data = _read_yaml(path)
    try:
        return RiskMethodology.model_validate({**parsed, "content_sha256": hashlib.sha256(data).hexdigest()})
    except ValidationError as exc:
        raise MethodologyError(_one_line(path, exc)) from None


# -- country lists -------------------------------------------------------------------------------

class CountryList(_Strict):
    title: str
    version: str = Field(min_length=1)
    published: date
    source: str = Field(pattern=r"^https://")
    countries: tuple[str, ...] = Field(min_length=1)

    @field_validator("countries")
    @classmethod
    def _codes(cls, value):
        bad = [c for c in value if not (isinstance(c, str) and len(c) == 2 and c.isupper())]
        if bad:
            raise ValueError(f"not ISO alpha-2 codes: {', '.join(map(str, bad))}")
        if len(set(value)) != len(value):
            raise ValueError("duplicate country codes")
        return value


#: The list names and the geography level each one gives (the highest level wins).
LIST_LEVELS = {"fatf_call_for_action": "call_for_action", "fatf_increased_monitoring": "increased_monitoring",
               "eu_high_risk_third_countries": "eu_high_risk"}


class CountryLists(_Strict):
    schema_version: int = Field(ge=1, le=1)
    max_age_days: int = Field(default=135, ge=1)
    lists: dict[str, CountryList]
    content_sha256: str = Field(default="", exclude=True)

    @field_validator("lists")
    @classmethod
    def _names(cls, value):
        if set(value) != set(LIST_LEVELS):
            raise ValueError(f"needs exactly the lists {', '.join(LIST_LEVELS)}")
        return value

    def levels(self) -> dict[str, str]:
        """ISO alpha-2 -> the highest geography level any list gives it."""
        out: dict[str, str] = {}
        for name, lst in self.lists.items():
            level = LIST_LEVELS[name]
            for code in lst.countries:
                if COUNTRY_LEVELS.index(level) > COUNTRY_LEVELS.index(out.get(code, "standard")):
                    out[code] = level
        return out

    @property
    def version(self) -> str:
        """One label for all three lists (their versions and the file's hash)."""
        parts = "+".join(self.lists[n].version for n in LIST_LEVELS)
        return f"{parts}+{self.content_sha256[:8]}" if self.content_sha256 else parts

    def stale(self, today: date) -> dict[str, int]:
        """List name -> age in days, for the lists published more than ``max_age_days`` before ``today``."""
        return {n: (today - lst.published).days for n, lst in self.lists.items()
                if (today - lst.published).days > self.max_age_days}


def load_country_lists(path: Path | str | None = None) -> CountryLists:
    path = Path(path) if path else DEFAULT_COUNTRY_LISTS
    parsed, data = _read_yaml(path)
    try:
        return CountryLists.model_validate({**parsed, "content_sha256": hashlib.sha256(data).hexdigest()})
    except ValidationError as exc:
        raise MethodologyError(_one_line(path, exc)) from None
