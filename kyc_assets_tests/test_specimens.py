"""The held-out document specimens (``sample_data.specimens``): seeds, truth, images, scoring."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from kyc_assets.sample_data import specimens
from kyc_assets.sample_data.specimens import (
    DEGRADATIONS,
    DOC_CLASSES,
    EVAL_SEEDS,
    FIELDS,
    TUNE_SEEDS,
    FontMissingError,
    generate_specimens,
    score,
    specimen_truth,
)
from kyc_assets.sample_data.specimens.mrz import build_mrz, check_digits_valid

MRZ_SHAPE = {"td1": (3, 30), "td2": (2, 36), "td3": (2, 44), "mrva": (2, 44), "mrvb": (2, 36)}


def _cd(field: str) -> str:
    """ICAO 9303 check digit, written out again here so the test does not trust the generator's."""
    values = {**{str(d): d for d in range(10)}, **{chr(65 + i): 10 + i for i in range(26)}, "<": 0}
    return str(sum(values[c] * (7, 3, 1)[i % 3] for i, c in enumerate(field)) % 10)


def test_tune_and_eval_seeds_are_disjoint():
    assert len(TUNE_SEEDS) >= 1000 and len(EVAL_SEEDS) >= 1000
    assert not set(TUNE_SEEDS) & set(EVAL_SEEDS)


def test_icao_specimen_mrzs_are_reproduced():
    """The builder reproduces the specimen MRZs printed in ICAO Doc 9303 (parts 4-7)."""
    dob, exp = date(1974, 8, 12), date(2012, 4, 15)
    assert build_mrz("td3", "P", "UTO", "Eriksson", "Anna María", "L898902C3", "UTO", dob, "F", exp,
                     "ZE184226B") == ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                                      "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
    assert build_mrz("td1", "I", "UTO", "Stevenson", "Peter John", "D23145890734", "UTO", date(1934, 7, 12), "M",
                     date(1995, 7, 12)) == ["I<UTOD23145890<7349<<<<<<<<<<<", "3407127M9507122UTO<<<<<<<<<<<2",
                                            "STEVENSON<<PETER<JOHN<<<<<<<<<"]
    assert build_mrz("td2", "I", "UTO", "Eriksson", "Anna Maria", "D23145890", "UTO", dob, "F", exp) == [
        "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"]
    assert build_mrz("mrvb", "V", "UTO", "Eriksson", "Anna Maria", "L8988901C", "XXX", date(1940, 9, 7), "F",
                     date(1996, 12, 10)) == ["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
                                             "L8988901C4XXX4009078F9612109<<<<<<<<"]


def test_truth_mrz_has_valid_check_digits_and_encodes_the_truth():
    for seed in list(TUNE_SEEDS[:250]) + list(EVAL_SEEDS[:250]):
        t = specimen_truth(seed)
        lines, cls = t["mrz_lines"], t["doc_class"]
        assert (len(lines), len(lines[0])) == (MRZ_SHAPE[cls][0], MRZ_SHAPE[cls][1]), seed
        assert all(len(line) == MRZ_SHAPE[cls][1] for line in lines)
        assert all(set(line) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<") for line in lines)
        assert check_digits_valid(cls, lines), (seed, lines)
        dob = date.fromisoformat(t["date_of_birth"]).strftime("%y%m%d")
        exp = date.fromisoformat(t["expiry_date"]).strftime("%y%m%d")
        data = lines[1]
        if cls == "td1":
            assert data[0:6] == dob and data[6] == _cd(dob) and data[8:14] == exp and data[14] == _cd(exp)
            assert data[7] == t["sex"] and data[15:18].rstrip("<") == t["nationality"]
            number = t["document_number"]
            if len(number) <= 9:
                assert lines[0][5:14].rstrip("<") == number and lines[0][14] == _cd(lines[0][5:14])
            else:
                assert lines[0][5:14] + lines[0][15:15 + len(number) - 9] == number
                assert lines[0][15 + len(number) - 9] == _cd(number)
            composite = lines[0][5:30] + data[0:7] + data[8:15] + data[18:29]
            assert data[29] == _cd(composite)
        else:
            assert data[0:9].rstrip("<") == t["document_number"] and data[9] == _cd(data[0:9])
            assert data[10:13].rstrip("<") == t["nationality"]
            assert data[13:19] == dob and data[19] == _cd(dob) and data[21:27] == exp and data[27] == _cd(exp)
            assert data[20] == t["sex"]
            if cls == "td3":
                assert data[43] == _cd(data[0:10] + data[13:20] + data[21:43])
            if cls == "td2":
                assert data[35] == _cd(data[0:10] + data[13:20] + data[21:35])
        assert t["document_type"] == {"td1": "id_card", "td2": "id_card", "td3": "passport"}.get(cls, "visa")


def test_stress_cases_are_present():
    truths = [specimen_truth(seed) for seed in EVAL_SEEDS[:600]]
    stress = Counter(tag for t in truths for tag in t["stress"])
    truncated = [t for t in truths if "truncated_in_mrz" in t["stress"]]
    assert len(truncated) > 30
    # the MRZ keeps a prefix of the full (visual-zone) name
    for t in truncated:
        assert (t["surname_full"] + " " + t["given_names_full"]).startswith(t["surname"])
        assert t["given_names_full"].startswith(t["given_names"].rsplit(" ", 1)[0])
    filler_only = [t for t in truths if t["given_names"] == ""]
    assert len(filler_only) > 20
    for t in filler_only:  # the name field ends in fillers only after the surname
        name = t["mrz_lines"][2] if t["doc_class"] == "td1" else t["mrz_lines"][0][5:]
        assert name.rstrip("<") == t["surname"].replace(" ", "<")
    assert sum(len(t["given_names"].split()) >= 3 for t in truths) > 30
    assert sum(" " in t["surname"] for t in truths) > 30
    nationalities = Counter(t["nationality"] for t in truths)
    assert all(nationalities[code] > 5 for code in ("D", "UTO", "XXA"))
    assert any(t["mrz_lines"][1][10:13] == "D<<" for t in truths if t["doc_class"] != "td1")
    assert stress["long_number"] > 3 and all(t["doc_class"] == "td1" for t in truths if len(t["document_number"]) > 9)


def test_every_class_and_degradation_pair_recurs():
    pairs = {(t["doc_class"], t["degradation"]) for t in map(specimen_truth, EVAL_SEEDS[:50])}
    assert pairs == {(c, d) for c in DOC_CLASSES for d in DEGRADATIONS}
    only = [specimen_truth(s, classes=["td1"], degradations=["glare", "shadow"]) for s in EVAL_SEEDS[:6]]
    assert {t["doc_class"] for t in only} == {"td1"} and {t["degradation"] for t in only} == {"glare", "shadow"}


def test_generated_images_are_deterministic_scans_and_photos(tmp_path):
    seeds = [EVAL_SEEDS[0] + k for k in (0, 1, 2, 3, 4, 25, 41)]  # each class; a photo; clutter
    items = generate_specimens(tmp_path / "a", seeds)
    again = generate_specimens(tmp_path / "b", seeds[:2])
    assert [Path(i["file"]).read_bytes() for i in items[:2]] == [Path(i["file"]).read_bytes() for i in again]
    assert {i["doc_class"] for i in items} == set(DOC_CLASSES)
    assert {"photo_angle", "clutter"} <= {i["degradation"] for i in items}
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert [m["seed"] for m in manifest] == seeds
    for item in items:
        image = Image.open(io.BytesIO(Path(item["file"]).read_bytes()))
        assert image.format == "JPEG" and 600 <= image.width <= 1200
        for key in ("document_type", "surname", "given_names", "document_number", "nationality",
                    "issuing_country", "date_of_birth", "sex", "expiry_date", "mrz_lines", "degradation"):
            assert key in item
        assert item == {**specimen_truth(item["seed"]), **{k: item[k] for k in item if k not in specimen_truth(
            item["seed"])}}
    # different seeds give different pictures
    assert len({Path(i["file"]).read_bytes() for i in items}) == len(items)


def test_unknown_class_or_degradation_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown document class 'td4'"):
        generate_specimens(tmp_path, [1], classes=["td4"])
    with pytest.raises(ValueError, match="unknown degradation"):
        generate_specimens(tmp_path, [1], degradations=["sepia"])


def test_missing_ocrb_font_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(specimens.render, "OCRB_DIR", tmp_path / "no-fonts")
    with pytest.raises(FontMissingError) as info:
        generate_specimens(tmp_path / "out", [EVAL_SEEDS[0]])
    message = str(info.value)
    assert "\n" not in message and "fonts-ocr-b" in message and str(tmp_path / "no-fonts") in message
    assert not list((tmp_path / "out").glob("*.jpg"))


TRUTH = {"surname": "MUELLER SCHMIDT", "given_names": "ANNA MARIA KATHAR", "document_number": "L898902C3",
         "nationality": "D", "date_of_birth": "1974-08-12", "sex": "F", "expiry_date": "2031-04-15",
         "surname_full": "MUELLER SCHMIDT", "given_names_full": "ANNA MARIA KATHARINA"}


def test_score_accepts_normalised_and_full_names():
    exact = {k: TRUTH[k] for k in FIELDS}
    result = score(TRUTH, exact)
    assert result["fully_right"] and result["fields_right"] == 7
    loose = {"surname": "Müller-Schmidt", "given_names": "anna  maria katharina", "document_number": "L898902C3<",
             "nationality": "D<<", "date_of_birth": date(1974, 8, 12), "sex": "f", "expiry_date": "2031-04-15"}
    assert score(TRUTH, loose)["fully_right"]


def test_score_rejects_wrong_fields():
    cases = {
        "given_names": "ANNA MARIA KATHARKKKK",   # fillers read as K
        "surname": "MUELLERSCHMIDT",              # parts joined
        "document_number": "L8989O2C3",
        "nationality": "DEU",
        "date_of_birth": "2074-08-12",            # wrong century
        "sex": "M",
        "expiry_date": None,
    }
    for field, wrong in cases.items():
        predicted = {**{k: TRUTH[k] for k in FIELDS}, field: wrong}
        result = score(TRUTH, predicted)
        assert not result[field] and not result["fully_right"] and result["fields_right"] == 6, field
    assert score(TRUTH, {})["fields_right"] == 0
    assert not score(TRUTH, {**{k: TRUTH[k] for k in FIELDS}, "given_names": "ANNA MARIA"})["given_names"]


def test_score_filler_only_given_names():
    truth = {**TRUTH, "given_names": "", "given_names_full": ""}
    assert score(truth, {**{k: truth[k] for k in FIELDS}, "given_names": None})["fully_right"]
    assert not score(truth, {**{k: truth[k] for k in FIELDS}, "given_names": "KKKK"})["given_names"]
