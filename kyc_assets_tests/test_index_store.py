"""The saved screening index: same results as a fresh build, corrupted or stale files rebuilt, atomic writes,
the folder setting, and `kyc screen` giving identical output with and without it."""

import csv
import os
import random
from pathlib import Path

import pytest

from kyc_assets.cli import main
from kyc_assets.screening import index_store
from kyc_assets.screening.evaluation import misspell, ordinary_customers
from kyc_assets.screening.matcher import Screener
from kyc_assets.settings import Settings, screening_index_dir
from kyc_assets.watchlists.sources import default_watchlist_path, list_version, load_watchlist

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def entries():
    return [*load_watchlist(default_watchlist_path()).entries,
            *load_watchlist(FIXTURES / "watchlists" / "un_consolidated_sample.xml").entries]


@pytest.fixture(scope="module")
def screener(entries):
    return Screener(entries)


def _queries(entries, n=300, seed=12):
    rng = random.Random(seed)
    out = ordinary_customers(n // 3, seed)
    out += [misspell(rng.choice(entries).primary_name, rng) for _ in range(n // 3)]
    out += [" ".join(reversed(rng.choice(rng.choice(entries).names())[0].split())) for _ in range(n // 3)]
    return out + ["Ayman al Zawahri", "M. Khan", "", "王伟", "Zzyzx Qwerty"]


def _screen_all(s, names):
    return [[h.__dict__ for h in s.screen(n, date_of_birth="1951-06-19" if i % 7 == 0 else None,
                                          entity_type="person" if i % 5 == 0 else None)]
            for i, n in enumerate(names)]


def test_loaded_index_screens_exactly_like_a_fresh_build(screener, entries, tmp_path):
    path = tmp_path / "a.kycidx"
    assert index_store.save(screener, path, "k1") > 0
    loaded = index_store.load(path, "k1")
    names = _queries(entries)
    expected = _screen_all(screener, names)
    assert sum(map(len, expected)) > 50  # the queries do find listed parties
    assert _screen_all(loaded, names) == expected
    assert len(loaded.entries) == len(entries)
    assert list(loaded.entries) == entries  # every field survives the packed storage
    # Tokens the build never looked up are computed on demand, as in a fresh build.
    assert _screen_all(loaded, ["Qwxyzt Brrkov", "Zawahirri Aymen"]) == \
        _screen_all(screener, ["Qwxyzt Brrkov", "Zawahirri Aymen"])


@pytest.mark.parametrize("damage", ["flip", "truncate", "magic", "empty"])
def test_corrupted_artefact_is_detected_and_rebuilt(screener, tmp_path, damage):
    key = index_store.artefact_key(["damaged"])
    path = tmp_path / f"{key}{index_store.SUFFIX}"
    index_store.save(screener, path, key)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) - 100]
    elif damage == "magic":
        data[:4] = b"XXXX"
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.raises(index_store.IndexStoreError):
        index_store.load(path, key)
    builds = []

    def build():
        builds.append(1)
        return screener

    _, report = index_store.cached_screener(["damaged"], build, tmp_path)
    assert builds == [1] and report.rejected and report.status == "built (saved)"
    again, report = index_store.cached_screener(["damaged"], build, tmp_path)
    assert builds == [1] and report.status == "loaded" and not report.rejected
    assert len(again.entries) == len(screener.entries)


def test_stale_artefact_other_key_or_code_version_is_not_trusted(screener, tmp_path, monkeypatch):
    path = tmp_path / "x.kycidx"
    index_store.save(screener, path, "list-v1")
    with pytest.raises(index_store.IndexStoreError, match="stale"):
        index_store.load(path, "list-v2")
    index_store.load(path, "list-v1")
    monkeypatch.setattr(index_store, "_CODE_VERSION", "another-matcher")
    with pytest.raises(index_store.IndexStoreError, match="stale"):
        index_store.load(path, "list-v1")


def test_key_follows_list_bytes_and_code(tmp_path, monkeypatch):
    a = index_store.artefact_key(["v1"])
    assert a == index_store.artefact_key(["v1"]) != index_store.artefact_key(["v2"])
    monkeypatch.setattr(index_store, "_CODE_VERSION", "another-matcher")
    assert index_store.artefact_key(["v1"]) != a


def test_a_failed_write_leaves_the_previous_file_and_no_temp_file(screener, tmp_path, monkeypatch):
    path = tmp_path / "k.kycidx"
    index_store.save(screener, path, "k")
    before = path.read_bytes()

    def boom(*_):
        raise OSError("disk full")

    monkeypatch.setattr(index_store.os, "replace", boom)
    with pytest.raises(OSError):
        index_store.save(screener, path, "k")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["k.kycidx"]


def test_list_version_matches_the_loaded_version_without_parsing():
    for path in [default_watchlist_path(), FIXTURES / "ofac_small", FIXTURES / "ofac_small" / "sdn.csv",
                 *sorted((FIXTURES / "watchlists").glob("*.xml")), FIXTURES / "watchlists" / "synthetic_ftm.jsonl",
                 FIXTURES / "watchlists" / "uk_hmt_conlist_sample.csv"]:
        assert list_version(path) == load_watchlist(path).version, path


def test_index_folder_setting(tmp_path):
    home = tmp_path / "home"
    assert screening_index_dir({"KYC_HOME": str(home)}) == home.resolve() / "screening_index"
    assert screening_index_dir({"KYC_HOME": str(home), "KYC_SCREENING_INDEX_DIR": str(tmp_path / "i")}) == \
        (tmp_path / "i").resolve()
    assert screening_index_dir({"KYC_SCREENING_INDEX_DIR": "off"}) is None
    assert Settings.from_env({"KYC_HOME": str(home)}).screening_index_dir == home.resolve() / "screening_index"


def _run_screen(tmp_path, out_name, *extra):
    names = tmp_path / "names.csv"
    if not names.exists():
        rng = random.Random(4)
        entries = load_watchlist(default_watchlist_path()).entries
        rows = [misspell(rng.choice(entries).primary_name, rng) for _ in range(40)] + ordinary_customers(40, 3)
        with names.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["customer_id", "full_name", "date_of_birth"])
            writer.writerows((f"C{i}", n, "1960" if i % 3 == 0 else "") for i, n in enumerate(rows + rows[:10]))
    out = tmp_path / out_name
    assert main(["screen", "--watchlist", str(default_watchlist_path()), "--input", str(names), "--output", str(out),
                 "--timings", *extra]) == 0
    return out.read_bytes()


def test_kyc_screen_output_is_identical_with_and_without_the_saved_index(kyc_env, tmp_path, capsys):
    first = _run_screen(tmp_path, "first.csv")  # builds and saves under $KYC_HOME/screening_index
    assert "built (saved)" in capsys.readouterr().err
    saved = list((kyc_env / "screening_index").glob("*.kycidx"))
    assert len(saved) == 1
    second = _run_screen(tmp_path, "second.csv")
    assert "(loaded)" in capsys.readouterr().err
    fresh = _run_screen(tmp_path, "fresh.csv", "--no-saved-index")
    assert "(disabled)" in capsys.readouterr().err
    assert first == second == fresh
    assert first.count(b"\n") > 10  # hits were written


def test_kyc_screen_index_folder_setting(kyc_env, tmp_path, monkeypatch):
    monkeypatch.setenv("KYC_SCREENING_INDEX_DIR", str(tmp_path / "elsewhere"))
    _run_screen(tmp_path, "a.csv")
    assert len(list((tmp_path / "elsewhere").glob("*.kycidx"))) == 1
    assert not (kyc_env / "screening_index").exists()


def test_kyc_screen_rebuilds_a_corrupted_saved_index(kyc_env, tmp_path, capsys):
    first = _run_screen(tmp_path, "first.csv")
    (path,) = (kyc_env / "screening_index").glob("*.kycidx")
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    capsys.readouterr()
    assert _run_screen(tmp_path, "second.csv") == first
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and "built (saved)" in err
    index_store.load(path, path.stem)  # rewritten whole


def test_prune_keeps_the_most_recent(tmp_path):
    for i in range(index_store.KEEP + 2):
        p = tmp_path / f"{i}.kycidx"
        p.write_bytes(b"x")
        os.utime(p, (1000 + i, 1000 + i))
    dead, live = tmp_path / ".0.kycidx.abc.tmp", tmp_path / ".1.kycidx.def.tmp"
    dead.write_bytes(b"x")
    live.write_bytes(b"x")
    os.utime(dead, (1000, 1000))
    index_store._prune(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        [live.name, *(f"{i}.kycidx" for i in range(2, index_store.KEEP + 2))]


def test_screening_asset_domain_code_reuses_the_saved_index(tmp_path):
    from kyc_assets.screening.delta import screen_customer_base, with_entry_hashes
    from kyc_assets_tests.test_screening_assets import (
        CUSTOMERS,
        PEPS,
        SANCTIONED,
        customers_frame,
        entries_frame,
    )

    entries = with_entry_hashes(entries_frame(SANCTIONED + PEPS, "v1"))
    customers = customers_frame()
    built, stats = screen_customer_base(customers, entries, "run-1", index_dir=tmp_path)
    assert stats.index == "built (saved)" and len(list(tmp_path.glob("*.kycidx"))) == 1
    loaded, stats = screen_customer_base(customers, entries, "run-1", index_dir=tmp_path)
    assert stats.index == "loaded"
    pd_equal = built.reset_index(drop=True).equals(loaded.reset_index(drop=True))
    assert pd_equal and (built["decision"] != "no_match").sum() >= 3
    # Changed entry content is another key: the index is rebuilt, never reused for other entries.
    changed = with_entry_hashes(entries_frame([*SANCTIONED[:3], PEPS[0]], "v2"))
    _, stats = screen_customer_base(customers, changed, "run-2", index_dir=tmp_path)
    assert stats.index == "built (saved)" and len(CUSTOMERS) == 5
