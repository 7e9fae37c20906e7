"""`kyc screen` / `kyc match-names`: CSV-injection-safe output, quarantined rows, odd names."""

import csv

from kyc_assets.cli import csv_safe, main
from kyc_assets.watchlists.sources import default_watchlist_path


def _screen(tmp_path, text, *extra):
    names = tmp_path / "names.csv"
    names.write_text(text, encoding="utf-8")
    out = tmp_path / "hits.csv"
    code = main(["screen", "--watchlist", str(default_watchlist_path()), "--input", str(names),
                 "--output", str(out), *extra])
    return code, list(csv.DictReader(out.open(encoding="utf-8")))


def test_csv_safe_prefixes_formula_cells():
    assert [csv_safe(v) for v in ["=1+1", "+A", "-2", "@SUM(A1)", "\tx", "Ann", "", 3]] == \
        ["'=1+1", "'+A", "'-2", "'@SUM(A1)", "'\tx", "Ann", "", 3]


def test_formula_in_name_and_id_is_never_echoed_unescaped(tmp_path):
    code, hits = _screen(tmp_path, 'customer_id,full_name\n=HYPERLINK("x"),=Ayman al Zawahri\n@id,+Saddam Husain al Tikriti\n')
    assert code == 0 and hits
    for hit in hits:
        for value in hit.values():
            assert not value.startswith(("=", "+", "-", "@")), value
    assert {h["customer_id"] for h in hits} == {"'=HYPERLINK(\"x\")", "'@id"}


def test_empty_name_rows_are_quarantined_with_a_reason_not_dropped(tmp_path, capsys):
    code, hits = _screen(tmp_path, "customer_id,full_name\nC1,\nC2,   \nC3,Ayman al Zawahri\n")
    err = capsys.readouterr().err
    assert code == 0
    assert "row 1 (customer_id C1): quarantined: empty full_name" in err
    assert "row 2 (customer_id C2): quarantined" in err and "2 rows quarantined" in err
    assert {h["customer_id"] for h in hits} == {"C3"}


def test_odd_names_never_crash_the_run(tmp_path, capsys):
    long_name = "Zawahiri " * 1200  # about 10,000 characters
    rows = ["customer_id,full_name", "E1,😀😀", "E2,Ayman\x00 al Zawahri", f"E3,{long_name}",
            "E4,Владимир Zawahri 王伟", "E5,!!!"]
    code, hits = _screen(tmp_path, "\n".join(rows) + "\n")
    assert code == 0
    assert "E2" in {h["customer_id"] for h in hits}
    assert "5 names screened" in capsys.readouterr().err


def test_match_names_escapes_cells_and_maps_schemas(tmp_path):
    src = tmp_path / "pairs.csv"
    src.write_text("query,candidate,schema\n=George Bush,George Habbash,Person\nBill Clinton,William Clinton,Person\n"
                   "EMMA LLC,ACME LLC,Company\n")
    out = tmp_path / "scored.csv"
    assert main(["match-names", "--input", str(src), "--output", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["query"] == "'=George Bush" and rows[0]["match"] == "false"
    assert rows[1]["match"] == "true" and rows[2]["match"] == "false"
