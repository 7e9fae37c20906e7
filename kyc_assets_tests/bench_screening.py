"""Screening figures for `make bench` (called from bench.py by the lead; printed, never asserted).

- ``bench_end_to_end``: the whole ``kyc screen`` command (fresh process, imports included) over 100,000
  held-out names against the OFAC 2021 full set + the full UN list: first run (lists loaded, index built and
  saved), a run reusing the saved index, a run with ``--no-saved-index``, outputs compared byte for byte, and
  the in-process split (list load, index build, prewarm, saved-index load, queries on 2 workers).
- ``bench_throughput``: queries/s over the full 2021 OFAC SDN list with aliases (read from
  /work/shared/data when present, else the bundled subset, and the result says which), index
  build separately, cold (fresh token caches) and warm, single process and forked workers.
- ``bench_evaluation``: pair accuracy, misspelt-name recall and false hits per 1,000 ordinary
  customers at the default threshold.
- ``bench_scale``: a generated list of 1,000,000 entities: build time, index memory, saved-index size and
  load time in a fresh process, queries/s in one process and on 2 forked workers, and the names scored per
  query against a linear scan.
- ``bench_memory``: peak memory of screening 100,000 customers.

Run one figure: ``python -m kyc_assets_tests.bench_screening throughput`` (each in a fresh process
so that peak memory belongs to that figure).
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
from pathlib import Path

FULL_OFAC = Path("/work/shared/data/ofac_sdn_2021-07-07_fullset")
FULL_UN = Path("/work/shared/data/un_sc_consolidated_2026-02-27.xml")
PAIRS = Path(__file__).parent / "fixtures" / "screening_eval" / "name_pairs.csv"


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024)
    return float("nan")


def load_entries():
    """The full 2021 OFAC list when available, else the bundled subset; returns (entries, source)."""
    if (FULL_OFAC / "sdn.csv").is_file():
        from kyc_assets.watchlists.ofac_csv import load_ofac_csv

        return load_ofac_csv(FULL_OFAC), f"full OFAC SDN 2021-07-07 ({FULL_OFAC})"
    from kyc_assets.watchlists.sources import load_watchlist

    return load_watchlist().entries, "bundled OFAC subset (full list not found)"


def query_mix(entries, n: int, seed: int = 3) -> list[str]:
    """Half ordinary customers, a quarter listed names with a typo, a quarter listed aliases reordered."""
    from kyc_assets.screening.evaluation import misspell, ordinary_customers

    rng = random.Random(seed)
    out = ordinary_customers(n // 2, seed)
    for _ in range(n // 4):
        out.append(misspell(rng.choice(entries).primary_name, rng))
    for _ in range(n - len(out)):
        name, _ = rng.choice(rng.choice(entries).names())
        out.append(" ".join(reversed(name.split())))
    rng.shuffle(out)
    return out


def bench_throughput(queries: int = 20_000) -> dict:
    from kyc_assets.screening.matcher import Screener

    entries, source = load_entries()
    started = time.perf_counter()
    Screener(entries, prewarm=False)
    build_index = time.perf_counter() - started
    started = time.perf_counter()
    screener = Screener(entries)
    build = time.perf_counter() - started
    names = query_mix(entries, queries, seed=31)  # names never seen by the build
    rows = [{"name": n} for n in names]
    started = time.perf_counter()
    hits = sum(len(h) for h in screener.screen_batch(rows))
    cold = time.perf_counter() - started
    started = time.perf_counter()
    screener.screen_batch(rows)
    warm = time.perf_counter() - started
    fresh = Screener(entries)
    started = time.perf_counter()
    fresh.screen_batch(rows, workers=2)
    forked_cold = time.perf_counter() - started
    started = time.perf_counter()
    screener.screen_batch(rows, workers=2)  # workers inherit the warm token cache
    forked_warm = time.perf_counter() - started
    return {"figure": f"screening {queries:,} queries vs {len(entries):,} entries / {screener.index.name_count:,} "
                      f"names", "list": source, "index_build_s": round(build_index, 2),
            "index_build_with_prewarm_s": round(build, 2),
            "single_cold_qps": round(queries / cold), "single_warm_qps": round(queries / warm),
            "workers2_cold_qps": round(queries / forked_cold), "workers2_warm_qps": round(queries / forked_warm),
            "hits": hits, "peak_mb": _peak_mb()}


#: Held-out ordinary-customer name pool: ordinary names absent from both the evaluation generator's pools
#: and the matcher's common-names lexicon (so the lexicon cannot help; the pessimistic case).
HELD_OUT_GIVEN = ["Bethany", "Clive", "Dorota", "Eamon", "Fiona", "Gunnar", "Hilde", "Ines", "Jorunn", "Kasimir",
                  "Leontine", "Mireille", "Niamh", "Orla", "Pascale", "Quentin", "Rhiannon", "Solveig", "Tobias",
                  "Ulrike", "Vesna", "Wiebke", "Xavier", "Yvette", "Zofia", "Bogdan", "Cosmin", "Dragan", "Ewa",
                  "Florin", "Goran", "Hamish", "Iker", "Joost", "Kalle", "Lorcan", "Maelle", "Nuno", "Oisin",
                  "Pekka", "Radek", "Sigrid", "Teodor", "Urszula", "Valter", "Wojciech", "Yannick", "Zdenek",
                  "Akosua", "Babajide", "Chiamaka", "Darius", "Efua", "Folake", "Hoang", "Ikaika", "Jun-ho",
                  "Kaveh", "Leilani", "Mahina", "Nilufar", "Oyelaran", "Parisa", "Rustam", "Shirin", "Tariku"]
HELD_OUT_SURNAMES = ["Abernathy", "Blackwood", "Castellanos", "Drummond", "Eklund", "Fairweather", "Gallagher",
                     "Halvorsen", "Iturbide", "Jankowiak", "Kowalczuk", "Lindqvist", "Mcallister", "Nakashima",
                     "Oyelowo", "Pennington", "Quinlan", "Rautenbach", "Sandoval", "Thorsen", "Uchida", "Valdivia",
                     "Whitfield", "Yamaguchi", "Zielonka", "Achterberg", "Bergstrom", "Cavanagh", "Dabrowska",
                     "Esterhuizen", "Fitzgerald", "Grzelak", "Hakimi", "Inoue", "Jovanovic", "Kristiansen",
                     "Lindgren", "Marchetti", "Novotny", "Oduya", "Papadakis", "Radulescu", "Stojanovic",
                     "Takeda", "Urbanek", "Vasquez", "Wierzbicki", "Yoshimura", "Zorrilla", "Brennan", "Okonjo"]


def _listed_token_sets(screener) -> set[tuple[str, ...]]:
    """Sorted token tuples of every indexed list name (to recognise exact name coincidences)."""
    index = screener.index
    return {tuple(sorted(index.name_tokens(nid))) for nid in range(index.name_count)}


def honest_false_hits(screener, names: list[str]) -> dict:
    """False hits per 1,000 ordinary customers, customers whose full name IS a listed name (same tokens, any
    order: a legitimate potential match an analyst must see) counted apart, not as false hits."""
    listed = _listed_token_sets(screener)
    coincidences = false = 0
    examples = []
    for name in names:
        hits = screener.screen(name, entity_type="person", limit=1)
        if not hits:
            continue
        if tuple(sorted(screener.query_tokens(name, "person"))) in listed:
            coincidences += 1
            continue
        false += 1
        if len(examples) < 8:
            examples.append((name, hits[0].matched_name, hits[0].score))
    return {"customers": len(names), "exact_listed_name_coincidences": coincidences, "false_hits": false,
            "per_1000": round(1000 * false / max(len(names), 1), 2), "examples": examples}


def held_out_customers(n: int, seed: int = 21) -> list[str]:
    """Ordinary customers from the held-out pools (given name, optional second given name, surname)."""
    from kyc_assets.screening.evaluation import ordinary_customers

    return ordinary_customers(n, seed, given_names=HELD_OUT_GIVEN, surnames=HELD_OUT_SURNAMES)


def bench_evaluation() -> dict:
    from kyc_assets.screening import evaluation as ev
    from kyc_assets.screening.matcher import DEFAULT_THRESHOLD, Screener

    entries, source = load_entries()
    screener = Screener(entries)
    pairs = ev.pair_metrics(ev.load_pairs(PAIRS))
    recall = ev.misspelt_recall(screener, entries, n=1_000)
    held_recall = ev.misspelt_recall(screener, entries, n=1_000, seed=7)
    false_hits = ev.customer_false_hits(screener, n=10_000)
    honest = honest_false_hits(screener, ev.ordinary_customers(10_000, seed=11))
    held = honest_false_hits(screener, held_out_customers(10_000))
    return {"figure": "screening quality at the default threshold", "list": source, "threshold": DEFAULT_THRESHOLD,
            "pair_accuracy": pairs["accuracy"], "pair_recall": pairs["recall"],
            "pair_false_positive_rate": pairs["false_positive_rate"], "pairs": pairs["pairs"],
            "misspelt_recall": recall["recall"], "misspelt_queries": recall["queries"],
            "misspelt_recall_held_out_seed": held_recall["recall"],
            "false_hits_per_1000_customers_raw": false_hits["per_1000"], "customers": false_hits["customers"],
            "false_hits_per_1000_excluding_exact_coincidences": honest["per_1000"],
            "exact_listed_name_coincidences": honest["exact_listed_name_coincidences"],
            "false_hits_per_1000_held_out_pool": held["per_1000"],
            "held_out_pool_coincidences": held["exact_listed_name_coincidences"],
            "false_hit_examples": honest["examples"] + held["examples"]}


SHARED_DATA = Path("/work/shared/data")


def bench_held_out(per_kind: int = 300, exact_n: int = 1_000, customers: int = 10_000) -> dict:
    """Held-out quality, never tuned on: pairs and perturbed queries built from the held-out fifth of the
    lists' entities (``pairs.split_of``) with ``pairs.REPORT_SEED``; false hits of ordinary customers from
    the held-out name pool above. The screener indexes every list entry (both parts)."""
    from kyc_assets.screening import evaluation as ev
    from kyc_assets.screening import pairs as P
    from kyc_assets.screening.matcher import DEFAULT_THRESHOLD, Screener

    if not (SHARED_DATA / "un_sc_consolidated_2026-02-27.xml").is_file():
        return {"figure": "screening held-out quality", "skipped": f"lists not found under {SHARED_DATA}"}
    entries = P.load_list_entries(SHARED_DATA)
    held = [e for e in entries if P.split_of(e.entity_id) == "held_out"]
    rng = random.Random(P.REPORT_SEED)
    pairs = P.build_pairs(entries, "held_out", P.REPORT_SEED)
    started = time.perf_counter()
    screener = Screener(entries)
    build = time.perf_counter() - started
    queries = P.perturbed_queries(held, rng, per_kind=per_kind)
    started = time.perf_counter()
    recall = ev.perturbed_recall(screener, queries)
    exact = ev.exact_and_typo_recall(screener, held, n=exact_n, seed=P.REPORT_SEED)
    false_hits = honest_false_hits(screener, held_out_customers(customers, seed=P.REPORT_SEED))
    seconds = time.perf_counter() - started
    return {"figure": "screening held-out quality (pairs and queries from held-out list entities)",
            "threshold": DEFAULT_THRESHOLD, "entities": len(entries), "held_out_entities": len(held),
            "pairs": ev.pair_figures(pairs), "perturbed_recall": recall,
            "exact_recall": exact["exact"], "typo_recall": exact["typo"], "exact_typo_queries": exact["queries"],
            "false_hits_per_1000": false_hits["per_1000"], "false_hit_customers": false_hits["customers"],
            "exact_listed_name_coincidences": false_hits["exact_listed_name_coincidences"],
            "false_hit_examples": false_hits["examples"], "missed_examples": exact["missed"][:8],
            "index_build_s": round(build, 1), "screen_seconds": round(seconds, 1)}


_SYLLABLES = ["ka", "ri", "mo", "na", "le", "sa", "to", "vi", "an", "el", "ar", "in", "ba", "de", "go", "hu", "ja", "ko", "lu", "ma", "ne", "or", "pa", "ro", "si", "ta", "ul", "va", "ya", "za", "bor", "dan", "fer", "gal", "hen", "kar", "lin", "mar", "nor", "pol", "ras", "sen", "tor", "val", "wen", "zor"]


def synthetic_entries(n: int, seed: int = 5):
    """``n`` generated list entities (persons and companies) with made-up multi-syllable names and aliases."""
    from kyc_assets.screening.evaluation import GIVEN_NAMES
    from kyc_assets.watchlists.model import WatchlistEntry

    rng = random.Random(seed)

    def word(parts: int) -> str:
        return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()

    surnames = [word(rng.randint(2, 4)) for _ in range(150_000)]
    entries = []
    for i in range(n):
        if rng.random() < 0.7:
            name = f"{rng.choice(GIVEN_NAMES)} {word(2) if rng.random() < 0.3 else ''} {rng.choice(surnames)}"
            aliases = [(f"{rng.choice(surnames)} {rng.choice(GIVEN_NAMES)}", "strong_aka")] if rng.random() < 0.3 \
                else []
            entries.append(WatchlistEntry(f"syn:{i}", "synthetic", "person", " ".join(name.split()), aliases))
        else:
            name = f"{word(3)} {rng.choice(['Trading', 'Shipping', 'Holding', 'Energy', ''])} " \
                   f"{rng.choice(['LLC', 'Ltd', 'GmbH', 'OOO', 'SA'])}"
            entries.append(WatchlistEntry(f"syn:{i}", "synthetic", "organization", " ".join(name.split())))
    return entries


def _load_in_fresh_process(path: Path, key: str) -> dict:
    """Seconds and resident memory of loading a saved index in a new process (what `kyc screen` pays)."""
    import os
    import subprocess

    code = ("import time, resource; from pathlib import Path; from kyc_assets.screening import index_store as s; "
            f"s._CODE_VERSION = {index_store_code()!r}; t = time.perf_counter(); x = s.load(Path({str(path)!r}), "
            f"{key!r}); d = time.perf_counter() - t; rss = [l for l in open('/proc/self/status') "
            "if l.startswith('VmRSS')][0].split()[1]; print(d, int(rss) // 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_THREAD_LIMIT": "1"}).stdout.split()
    return {"load_s": round(float(out[0]), 2), "rss_mb_after_load": int(out[1])}


def index_store_code() -> str:
    from kyc_assets.screening.index_store import code_version

    return code_version()


def bench_scale(entities: int = 1_000_000, queries: int = 5_000, seed: int = 57) -> dict:
    """A generated list of ``entities``: build, saved-index size and load, index memory, and queries/s on held-out
    queries (seed 57; the profiling during development used the default seed 3): one process (
    ``screen`` per name) against both cores (``screen_batch`` with 2 forked workers sharing the index)."""
    import tempfile

    from kyc_assets.screening.index_store import load, save
    from kyc_assets.screening.matcher import DEFAULT_THRESHOLD, Screener

    entries = synthetic_entries(entities)
    base = _rss_mb()
    started = time.perf_counter()
    screener = Screener(entries)
    build = time.perf_counter() - started
    index_mb = _rss_mb() - base
    names = query_mix(entries, queries, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.kycidx"
        started = time.perf_counter()
        size = save(screener, path, "scale")
        save_s = time.perf_counter() - started
        fresh = _load_in_fresh_process(path, "scale")
        loaded = load(path, "scale")
        sample = names[: queries // 5]
        started = time.perf_counter()
        for name in sample:
            loaded.screen(name)
        single = len(sample) / (time.perf_counter() - started)
        rest = [{"name": n} for n in names[queries // 5:]]
        started = time.perf_counter()
        loaded.screen_batch(rest, workers=2)
        workers2 = len(rest) / (time.perf_counter() - started)
    scored = 0
    # Untimed: names scored per query, at the score candidates are retrieved for (the pair model's retrieval
    # floor when the matcher has one, else the default threshold).
    floor = getattr(getattr(screener, "model", None), "retrieval_floor", DEFAULT_THRESHOLD)
    for name in sample:
        tokens = screener.query_tokens(name)
        scored += len(screener.candidates(tokens, floor)) if tokens else 0
    return {"figure": f"screening scale: {entities:,} synthetic entities", "names": screener.index.name_count,
            "index_build_s": round(build, 1), "index_mb": index_mb, "saved_index_mb": round(size / 2**20),
            "saved_index_write_s": round(save_s, 1), "saved_index_load_s_fresh_process": fresh["load_s"],
            "rss_mb_after_load_fresh_process": fresh["rss_mb_after_load"],
            "single_qps": round(single), "workers2_qps": round(workers2),
            "workers2_vs_single_ratio": round(workers2 / single, 2),
            "names_scored_per_query": round(scored / len(sample), 1),
            "linear_scan_names_per_query": screener.index.name_count, "peak_mb": _peak_mb()}


def bench_memory(customers: int = 100_000) -> dict:
    from kyc_assets.screening.evaluation import ordinary_customers
    from kyc_assets.screening.matcher import Screener

    entries, source = load_entries()
    screener = Screener(entries)
    rows = [{"name": n, "row_id": i} for i, n in enumerate(ordinary_customers(customers, seed=9))]
    started = time.perf_counter()
    hits = screener.screen_many(rows)
    seconds = time.perf_counter() - started
    return {"figure": f"screening {customers:,} customers (memory)", "list": source, "seconds": round(seconds, 1),
            "qps": round(customers / seconds), "hits": len(hits), "peak_mb": _peak_mb()}


def list_paths() -> tuple[list[str], str]:
    """The OFAC 2021 full set and the full UN list when available, else the bundled subset."""
    if (FULL_OFAC / "sdn.csv").is_file() and FULL_UN.is_file():
        return [str(FULL_OFAC), str(FULL_UN)], "full OFAC SDN 2021-07-07 + full UN SC 2026-02-27"
    from kyc_assets.watchlists.sources import default_watchlist_path

    return [str(default_watchlist_path())], "bundled OFAC subset (full lists not found)"


def held_out_queries(entries, n: int, seed: int = 41) -> list[str]:
    """Names for the end-to-end figure, from seeds and pools used nowhere else: 70% ordinary customers from
    the held-out pools, 15% listed names with a typo, 15% listed names or aliases in reversed order."""
    from kyc_assets.screening.evaluation import misspell

    rng = random.Random(seed)
    out = held_out_customers(n - 2 * (15 * n // 100), seed=seed)
    for _ in range(15 * n // 100):
        out.append(misspell(rng.choice(entries).primary_name, rng))
    for _ in range(15 * n // 100):
        name, _ = rng.choice(rng.choice(entries).names())
        out.append(" ".join(reversed(name.split())))
    rng.shuffle(out)
    return out


def _run_screen(paths: list[str], names_csv: Path, out: Path, index_dir: Path, *extra: str) -> tuple[float, str]:
    """Wall time of the whole `kyc screen` command in a fresh process (imports included), and its stderr."""
    import os
    import subprocess

    env = {**os.environ, "KYC_SCREENING_INDEX_DIR": str(index_dir), "OMP_THREAD_LIMIT": "1"}
    cmd = [sys.executable, "-m", "kyc_assets.cli", "screen", *(a for p in paths for a in ("--watchlist", p)),
           "--input", str(names_csv), "--output", str(out), "--timings", *extra]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stderr.strip().splitlines()[-2:]


def bench_end_to_end(names: int = 100_000) -> dict:
    """The whole `kyc screen` command over ``names`` held-out names against the OFAC 2021 full set and the full UN
    list: the first run (lists loaded, index built and saved), a run reusing the saved index, and a run with
    ``--no-saved-index``; outputs compared byte for byte. The in-process split (load, index, query) follows."""
    import csv
    import filecmp
    import tempfile

    from kyc_assets.screening.index_store import load, save
    from kyc_assets.screening.matcher import Screener
    from kyc_assets.watchlists.sources import load_watchlist

    paths, source = list_paths()
    started = time.perf_counter()
    lists = [load_watchlist(p) for p in paths]
    load_s = time.perf_counter() - started
    entries = [e for lst in lists for e in lst.entries]
    queries = held_out_queries(entries, names)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        names_csv = tmp / "names.csv"
        with names_csv.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["customer_id", "full_name"])
            writer.writerows((f"C{i}", q) for i, q in enumerate(queries))
        first, first_err = _run_screen(paths, names_csv, tmp / "a.csv", tmp / "idx")
        warm, warm_err = _run_screen(paths, names_csv, tmp / "b.csv", tmp / "idx")
        rebuilt, _ = _run_screen(paths, names_csv, tmp / "c.csv", tmp / "idx", "--no-saved-index")
        identical = filecmp.cmp(tmp / "a.csv", tmp / "b.csv", shallow=False) and \
            filecmp.cmp(tmp / "a.csv", tmp / "c.csv", shallow=False)
        # In-process split of the cold path and of the warm path.
        started = time.perf_counter()
        screener = Screener(entries, prewarm=False)
        index_s = time.perf_counter() - started
        started = time.perf_counter()
        screener.index.prewarm()
        prewarm_s = time.perf_counter() - started
        size = save(screener, tmp / "x.kycidx", "bench")
        started = time.perf_counter()
        load(tmp / "x.kycidx", "bench")
        artefact_load_s = time.perf_counter() - started
    distinct = len(set(queries))
    rows = [{"name": q} for q in dict.fromkeys(queries)]
    started = time.perf_counter()
    screener.screen_batch(rows, workers=2)
    query2_s = time.perf_counter() - started
    return {"figure": f"kyc screen, {names:,} held-out names ({distinct:,} distinct) vs {len(entries):,} entries / "
                      f"{screener.index.name_count:,} names", "lists": source,
            "e2e_first_run_qps": round(names / first), "e2e_saved_index_qps": round(names / warm),
            "e2e_no_saved_index_qps": round(names / rebuilt), "e2e_saved_vs_no_saved_ratio": round(rebuilt / warm, 2),
            "e2e_seconds": {"first": round(first, 2), "saved_index": round(warm, 2), "no_saved_index": round(rebuilt, 2)},
            "outputs_identical": identical, "timings_first_run": first_err, "timings_saved_index": warm_err,
            "split_list_load_s": round(load_s, 2), "split_index_build_s": round(index_s, 2),
            "split_prewarm_s": round(prewarm_s, 2), "split_artefact_load_s": round(artefact_load_s, 3),
            "artefact_mb": round(size / 2**20, 1), "query_distinct_workers2_qps": round(distinct / query2_s),
            "peak_mb": _peak_mb()}


FIGURES = {"end_to_end": bench_end_to_end, "throughput": bench_throughput, "evaluation": bench_evaluation, "held_out": bench_held_out, "scale": bench_scale,
           "memory": bench_memory}


def main() -> None:
    """Run the named figures (default: all), each printed as one JSON line."""
    for name in sys.argv[1:] or list(FIGURES):
        print(json.dumps(FIGURES[name]()), flush=True)


if __name__ == "__main__":
    main()
