"""The list loaders' output is pinned: every fixture (and the bundled OFAC subset) loads into exactly the
entries recorded in fixtures/watchlists_golden/entries.json, written by the loaders before they were made
faster. A loader change that alters any WatchlistEntry value fails here, naming the entries that differ.

Regenerate (only for an intended change of output): ``python -m kyc_assets_tests.test_watchlists_golden``.
"""

import hashlib
import json
import sys
from pathlib import Path

import pytest

from kyc_assets.watchlists.sources import default_watchlist_path, load_watchlist

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "watchlists_golden" / "entries.json"


def sources() -> dict[str, Path]:
    out = {"bundled_ofac": default_watchlist_path(), "ofac_small": FIXTURES / "ofac_small",
           "ofac_small_sdn_only": FIXTURES / "ofac_small" / "sdn.csv"}
    for path in sorted((FIXTURES / "watchlists").iterdir()):
        if path.suffix in (".xml", ".csv", ".jsonl"):
            out[path.name] = path
    return out


def entry_digest(entry) -> str:
    return hashlib.sha256(json.dumps(entry.to_record(), ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:20]


def snapshot(path: Path) -> dict:
    loaded = load_watchlist(path)
    return {"list_source": loaded.list_source, "format": loaded.format, "published": loaded.published,
            "version": loaded.version, "entries": [[e.entity_id, entry_digest(e)] for e in loaded.entries]}


@pytest.mark.parametrize("name", sorted(sources()))
def test_loader_output_is_unchanged(name):
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[name]
    got = snapshot(sources()[name])
    assert {k: got[k] for k in ("list_source", "format", "published", "version")} == \
        {k: expected[k] for k in ("list_source", "format", "published", "version")}
    assert [e[0] for e in got["entries"]] == [e[0] for e in expected["entries"]]  # same entries, same order
    differ = [eid for (eid, a), (_, b) in zip(got["entries"], expected["entries"], strict=True) if a != b]
    assert not differ, f"{len(differ)} entries changed, e.g. {differ[:5]}"


def test_golden_covers_every_fixture_and_detects_a_change():
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert set(golden) == set(sources())
    entry = load_watchlist(FIXTURES / "ofac_small").entries[0]
    before = entry_digest(entry)
    entry.aliases.append(("X", "weak_aka"))
    assert entry_digest(entry) != before


if __name__ == "__main__":
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps({k: snapshot(p) for k, p in sources().items()}, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}", file=sys.stderr)
