"""The risk methodology and the country lists: bundled files valid, bad files refused in one line."""

from datetime import date
from pathlib import Path

import pytest
import yaml

from kyc_assets.risk.methodology import (
    DEFAULT_COUNTRY_LISTS,
    DEFAULT_METHODOLOGY,
    FACTORS,
    MethodologyError,
    load_country_lists,
    load_methodology,
)


def _write(tmp_path: Path, data: dict, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _base() -> dict:
    return yaml.safe_load(DEFAULT_METHODOLOGY.read_text())


def test_bundled_methodology_is_valid_and_labelled_by_version_and_content():
    m = load_methodology()
    assert set(m.factors) == set(FACTORS)
    assert m.label.startswith(f"{m.version}+") and len(m.label.split("+")[1]) == 8
    assert m.review.cadence_years == {"low": 5, "medium": 3, "high": 1, "prohibited": 1}
    rules = {r.id: r for r in m.hard_rules}
    assert rules["confirmed_sanctions"].min_tier == "prohibited" and rules["foreign_pep"].min_tier == "high"


def test_a_changed_file_gets_a_new_label_even_with_the_same_version(tmp_path):
    data = _base()
    data["factors"]["anomaly"]["weight"] = 3.0
    assert load_methodology(_write(tmp_path, data)).label != load_methodology().label
    assert load_methodology(_write(tmp_path, data)).version == load_methodology().version


@pytest.mark.parametrize("change, message", [
    (lambda d: d["factors"].pop("pep"), "factors: missing ['pep']"),
    (lambda d: d["factors"]["customer_type"]["values"].update(unknown=0.05), "never lowers a rating"),
    (lambda d: d["factors"]["pep"].update(weight=-1), "factors.pep.weight"),
    (lambda d: d["factors"]["anomaly"]["values"].update(high=1.5), "values must be in [0, 1]"),
    (lambda d: d["tiers"]["cutoffs"].update(medium=0.5, high=0.4), "cut-offs must ascend"),
    (lambda d: d["review"]["cadence_years"].pop("low"), "review.cadence_years"),
    (lambda d: d["hard_rules"][0].update(min_tier="severe"), "min_tier"),
    (lambda d: d["hard_rules"][0].update(values=["maybe"]), "not a category of sanctions"),
    (lambda d: d.update(surprise=1), "surprise"),
])
def test_a_bad_methodology_is_refused_in_one_line_naming_the_field(tmp_path, change, message):
    data = _base()
    change(data)
    with pytest.raises(MethodologyError) as err:
        load_methodology(_write(tmp_path, data))
    text = str(err.value)
    assert message in text and "\n" not in text and text.startswith("m.yaml:")


def test_unreadable_and_malformed_files_are_one_line_errors(tmp_path):
    with pytest.raises(MethodologyError, match="cannot read"):
        load_methodology(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("factors: [unclosed\n")
    with pytest.raises(MethodologyError, match="not valid YAML"):
        load_methodology(bad)


def test_country_lists_are_dated_sourced_and_give_each_country_its_highest_level():
    lists = load_country_lists()
    assert set(lists.lists) == {"fatf_call_for_action", "fatf_increased_monitoring", "eu_high_risk_third_countries"}
    for lst in lists.lists.values():
        assert lst.source.startswith("https://") and lst.published.year >= 2025 and lst.version
    levels = lists.levels()
    assert levels["KP"] == "call_for_action" and levels["IR"] == "call_for_action"  # on all lists
    assert levels["BG"] == "increased_monitoring" and levels["AF"] == "eu_high_risk"
    assert "DE" not in levels and "GB" not in levels
    assert "fatf-cfa" in lists.version


def test_country_list_freshness_depends_on_the_day(tmp_path):
    lists = load_country_lists()
    published = min(lst.published for lst in lists.lists.values())
    assert lists.stale(published) == {}
    later = date.fromordinal(max(lst.published for lst in lists.lists.values()).toordinal() + lists.max_age_days + 1)
    assert set(lists.stale(later)) == set(lists.lists)


def test_a_bad_country_list_is_refused(tmp_path):
    data = yaml.safe_load(DEFAULT_COUNTRY_LISTS.read_text())
    data["lists"]["fatf_call_for_action"]["countries"].append("Iran")
    with pytest.raises(MethodologyError, match="not ISO alpha-2 codes: Iran"):
        load_country_lists(_write(tmp_path, data, "lists.yaml"))
    data = yaml.safe_load(DEFAULT_COUNTRY_LISTS.read_text())
    data["lists"]["fatf_call_for_action"]["source"] = "http://example.org"
    with pytest.raises(MethodologyError, match="source"):
        load_country_lists(_write(tmp_path, data, "lists.yaml"))
