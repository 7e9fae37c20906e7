"""Fit the pair model on pairs built from the lists and write it, with its training report, into the package.

    python -m kyc_assets.screening.train_pair_model --data /work/shared/data [--out DIR]

Steps (reproducible: fixed seeds, entity split by hash):
1. load the lists under ``--data`` (``pairs.load_list_entries``) and split entities into train / held-out;
2. token rarity table from the training part's names (``rarity.json``);
3. training pairs (``pairs.build_pairs`` with ``TUNE_SEED``) plus ordinary-customer negatives from the
   tuning name pool (``evaluation.GIVEN_NAMES``/``SURNAMES``) against their nearest training-list names;
4. one logistic regression per family (person, organization, any) on the pairs whose alignment reaches
   the retrieval floor, and one ('skeleton') on the pairs below it whose consonant skeletons pass the
   skeleton gate (names in another script); other pairs score 0 by construction;
5. held-out pairs (``REPORT_SEED``, entities never used above): accuracy by group and kind, Brier score
   and a calibration table; written to ``TRAINING_REPORT.md`` and ``pair_model.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

RETRIEVAL_FLOOR = 0.6
SKELETON_GATE = 0.8  # pairs below the floor are still scored at this consonant-skeleton similarity (scripts)
C_REG = 1.0
PERTURBED_PER_KIND = 1_000  # perturbed positives per kind in training (against the ordinary-customer negatives)


def rarity_table(entries) -> dict:
    """Document frequency of every token over the normalised name forms of ``entries`` (typed and untyped)."""
    from kyc_assets.screening.normalize import normalize_name

    df: Counter = Counter()
    names = 0
    for e in entries:
        seen = set()
        for name, _ in e.names():
            for form in (normalize_name(name, e.entity_type), normalize_name(name)):
                if form and form not in seen:
                    seen.add(form)
                    names += 1
                    df.update(set(form.split()))
    return {"names": names, "df": {t: c for t, c in sorted(df.items()) if c >= 2}}


def recombined_names(entries, n: int, seed: int) -> list[str]:
    """Person names recombined from two different listed people (a given name of one, the surname of
    another): ordinary-looking names that no listed party carries."""
    from kyc_assets.screening.normalize import normalize_name

    rng = random.Random(seed)
    people = [normalize_name(e.primary_name, "person").split() for e in entries if e.entity_type == "person"]
    people = [t for t in people if len(t) >= 2]
    out = []
    for _ in range(n):
        a, b = rng.choice(people), rng.choice(people)
        given = [a[0]] + ([a[1]] if len(a) > 2 and rng.random() < 0.3 else [])
        out.append(" ".join(given + [b[-1]]).title())
    return out


def customer_negatives(entries, model, n: int, seed: int) -> list:
    """Ordinary customers (tuning pool, and names recombined from listed people) paired with their
    best-aligned names of ``entries`` (label 0; a candidate holding exactly the same tokens is skipped:
    that coincidence is a legitimate potential match)."""
    from kyc_assets.screening.evaluation import ordinary_customers
    from kyc_assets.screening.matcher import Screener, raw_context, skeleton_similarity
    from kyc_assets.screening.pairs import Pair

    screener = Screener(entries, prewarm=False, model=model)
    out = []
    for name in ordinary_customers(n, seed) + recombined_names(entries, 2 * n, seed):
        tokens = screener.query_tokens(name, "person")
        if not tokens:
            continue
        ids, qinfo, qweights = screener.index.candidates(tokens, model.retrieval_floor)
        qcommon = screener._qcommon(tokens)
        results = [(screener._score_candidate(tokens, qinfo, qweights, nid, qcommon), nid) for nid in ids.tolist()]
        qctx = raw_context(name, tokens)
        scored = sorted(((r.align, nid) for r, nid in results if not _variant_coincidence(r)
                         and model.gate(r.align, skeleton_similarity(qctx, screener._name_context(nid)[0]))),
                        reverse=True)[:3]
        for align, nid in scored:
            cand, _ = screener.index.name_source(nid)
            etype = screener.entries[int(screener.index.name_entry[nid])].entity_type
            out.append(Pair(name, cand, etype, 0, "ordinary_customer", "person", "customer",
                            screener.entries[int(screener.index.name_entry[nid])].entity_id))
    return out


def _variant_coincidence(ns) -> bool:
    """Every token of both names aligned, each exactly or as a documented variant (nickname group,
    transliteration skeleton, initial): a customer with that name IS a potential match, not a negative."""
    from kyc_assets.screening.matcher import _known_variant

    if ns.joined or ns.acronym or len(ns.idx) != len(ns.qtokens) or len(ns.idx) != len(ns.ctokens):
        return False
    return all(ns.qtokens[i] == ns.ctokens[j] or _known_variant(ns.qtokens[i], ns.ctokens[j]) for i, j, _ in ns.idx)


def featurise(pairs, model):
    """(features, labels, families, kept pairs) for pairs whose alignment reaches the floor."""
    from kyc_assets.screening.matcher import SKELETON_SIM, lexicon_common, pair_features, score_tokens
    from kyc_assets.screening.normalize import clean_text, entity_type_for, normalize_name
    from kyc_assets.screening.pair_model import SKELETON_FAMILY, family_for

    X, y, fam, kept = [], [], [], []
    for p in pairs:
        etype = entity_type_for(p.schema)
        ns = score_tokens(normalize_name(p.query, etype).split(), normalize_name(p.candidate, etype).split(),
                          weight=model.weight, entity_type=etype,
                          common=lambda t: lexicon_common(t) or model.is_common(t))
        x = pair_features(ns, clean_text(p.query), clean_text(p.candidate))
        if not model.gate(ns.align, x[SKELETON_SIM]):
            continue
        X.append(x)
        y.append(p.label)
        fam.append(family_for(etype) if ns.align >= model.retrieval_floor else SKELETON_FAMILY)
        kept.append(p)
    return X, y, fam, kept


def fit(X, y, fam) -> dict:
    """One logistic regression per family: 'any' on every pair above the alignment floor, 'skeleton' on the
    pairs below it let in by the skeleton gate (left out when those pairs hold one class only: no gate)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from kyc_assets.screening.pair_model import FAMILIES, FEATURES, SKELETON_FAMILY

    X, y, fam = np.asarray(X), np.asarray(y), np.asarray(fam)
    out = {}
    for family in FAMILIES:
        mask = fam != SKELETON_FAMILY if family == "any" else fam == family  # 'any': every pair above the floor
        if len(set(y[mask].tolist())) < 2:
            continue
        clf = LogisticRegression(C=C_REG, max_iter=2_000)
        clf.fit(X[mask], y[mask])
        out[family] = {"intercept": round(float(clf.intercept_[0]), 5),
                       "coef": {n: round(float(c), 5) for n, c in zip(FEATURES, clf.coef_[0], strict=True)},
                       "pairs": int(mask.sum()), "positives": int(y[mask].sum())}
    return out


def evaluate(pairs, model, thresholds=(0.5, 0.6, 0.7, 0.75, 0.8, 0.9)) -> dict:
    """Accuracy by group and kind at each threshold, Brier score and calibration table (all pairs; pairs
    below the retrieval floor score 0)."""
    from kyc_assets.screening.matcher import pair_score

    scores = [pair_score(p.query, p.candidate, p.schema, model).score for p in pairs]
    labels = [p.label for p in pairs]
    out: dict = {"pairs": len(pairs), "positives": sum(labels)}
    for t in thresholds:
        by = defaultdict(list)
        for p, s in zip(pairs, scores, strict=True):
            ok = (s >= t) == bool(p.label)
            for k in ("all", "group:" + p.group, "kind:" + p.kind):
                by[k].append(ok)
        tp = sum(1 for p, s in zip(pairs, scores, strict=True) if s >= t and p.label)
        fp = sum(1 for p, s in zip(pairs, scores, strict=True) if s >= t and not p.label)
        out[f"t={t}"] = {"accuracy": {k: round(sum(v) / len(v), 4) for k, v in sorted(by.items())},
                         "recall": round(tp / max(sum(labels), 1), 4),
                         "false_positive_rate": round(fp / max(len(labels) - sum(labels), 1), 4)}
    out["brier"] = round(sum((s - y) ** 2 for s, y in zip(scores, labels, strict=True)) / max(len(pairs), 1), 4)
    bins = defaultdict(lambda: [0, 0, 0.0])
    for s, y in zip(scores, labels, strict=True):
        b = min(int(s * 10), 9)
        bins[b][0] += 1
        bins[b][1] += y
        bins[b][2] += s
    out["calibration"] = [{"bin": f"{b / 10:.1f}-{(b + 1) / 10:.1f}", "pairs": n, "mean_score": round(tot / n, 3),
                           "share_positive": round(pos / n, 3)} for b, (n, pos, tot) in sorted(bins.items())]
    return out


def main(argv: list[str] | None = None) -> int:
    from kyc_assets.screening import pairs as P
    from kyc_assets.screening.pair_model import FEATURES, MODEL_DIR, UNFITTED, Family, PairModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding the list files (see pairs.LIST_FILES)")
    parser.add_argument("--out", default=str(MODEL_DIR))
    parser.add_argument("--customers", type=int, default=6_000, help="ordinary-customer negatives (tuning pool)")
    parser.add_argument("--floor", type=float, default=RETRIEVAL_FLOOR, help="alignment floor (retrieval and gate)")
    parser.add_argument("--skeleton-gate", type=float, default=SKELETON_GATE,
                        help="consonant-skeleton similarity from which pairs below the floor are scored")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = P.load_list_entries(args.data)
    train = [e for e in entries if P.split_of(e.entity_id) == "train"]
    rarity = rarity_table(train)
    base = PairModel("unfitted", dict(UNFITTED), rarity["names"], rarity["df"], args.floor, args.skeleton_gate)
    train_pairs = P.build_pairs(entries, "train", P.TUNE_SEED, per_kind=PERTURBED_PER_KIND)
    train_pairs += customer_negatives(train, base, args.customers, seed=P.TUNE_SEED)
    X, y, fam, kept = featurise(train_pairs, base)
    families = fit(X, y, fam)
    model = PairModel("pending", {k: Family(v["intercept"], [v["coef"][n] for n in FEATURES])
                                  for k, v in families.items()}, rarity["names"], rarity["df"], args.floor,
                      args.skeleton_gate)
    held_pairs = P.build_pairs(entries, "held_out", P.REPORT_SEED)
    held_eval = evaluate(held_pairs, model)
    baseline_eval = evaluate(held_pairs, base, thresholds=(0.8,))
    version = "pair-model-" + dt.date.today().isoformat()
    (out / "rarity.json").write_text(json.dumps(rarity, separators=(",", ":")), encoding="utf-8")
    meta = {"version": version, "features": list(FEATURES), "retrieval_floor": args.floor,
            "skeleton_gate": args.skeleton_gate,
            "rarity_file": "rarity.json", "families": families,
            "training": {"data": str(args.data), "entities": len(entries), "train_entities": len(train),
                         "pairs": len(train_pairs), "pairs_above_floor": len(kept),
                         "kinds": dict(Counter(p.kind for p in train_pairs)), "seed": P.TUNE_SEED,
                         "regularisation_C": C_REG},
            "held_out": held_eval}
    (out / "pair_model.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    (out / "TRAINING_REPORT.md").write_text(report(meta, baseline_eval), encoding="utf-8")
    print(json.dumps({k: held_eval[k]["accuracy"]["all"] for k in held_eval if k.startswith("t=")}))
    print("brier", held_eval["brier"])
    return 0


def report(meta: dict, baseline: dict) -> str:
    """The training report in Markdown."""
    from kyc_assets.screening.pair_model import FEATURES

    held = meta["held_out"]
    lines = [f"# Pair model {meta['version']}", "",
             "Generated by `python -m kyc_assets.screening.train_pair_model --data DIR` (do not edit by hand).", "",
             "## Data", "",
             f"- Lists under `{meta['training']['data']}` (OFAC SDN 2021 with alt.csv, OFAC 2024 remarks aliases, "
             "UN consolidated list with original-script names, EU/UK samples); "
             f"{meta['training']['entities']} entities, {meta['training']['train_entities']} in the training part "
             "(split by a hash of the entity id: one in five held out).",
             f"- Training pairs: {meta['training']['pairs']} (seed {meta['training']['seed']}), of which "
             f"{meta['training']['pairs_above_floor']} reach the retrieval floor {meta['retrieval_floor']} and are fitted.",
             "- Kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(meta["training"]["kinds"].items())), "",
             "## Features (coefficients per family, log-odds per unit)", "",
             "| feature | " + " | ".join(meta["families"]) + " |", "|---|" + "---|" * len(meta["families"])]
    for name in ["(intercept)", *FEATURES]:
        vals = [f["intercept"] if name == "(intercept)" else f["coef"][name] for f in meta["families"].values()]
        lines.append(f"| {name} | " + " | ".join(f"{v:+.3f}" for v in vals) + " |")
    lines += ["", f"## Held-out pairs ({held['pairs']} pairs, {held['positives']} positive; entities never trained on)",
              "", "| threshold | accuracy | recall | false-positive rate | person | company | script | other |",
              "|---|---|---|---|---|---|---|---|"]
    rows = [("baseline (alignment score) 0.8", baseline["t=0.8"])] + [(k[2:], v) for k, v in held.items()
                                                                      if k.startswith("t=")]
    for label, v in rows:
        acc = v["accuracy"]
        lines.append(f"| {label} | {acc['all']} | {v['recall']} | {v['false_positive_rate']} | "
                     f"{acc.get('group:person', '')} | {acc.get('group:company', '')} | {acc.get('group:script', '')} | "
                     f"{acc.get('group:other', '')} |")
    from kyc_assets.screening.matcher import DEFAULT_THRESHOLD

    key = f"t={DEFAULT_THRESHOLD}"
    if key in held:
        lines += ["", f"Accuracy by pair kind at the product threshold {DEFAULT_THRESHOLD}:", ""]
        lines += [f"- {k[5:]}: {v}" for k, v in held[key]["accuracy"].items() if k.startswith("kind:")]
    lines += ["", "## Reading the calibration table", "",
              "- Pairs whose token alignment stays below the retrieval floor score 0 by construction (the index "
              "never retrieves them) unless their consonant skeletons are at least "
              f"{meta.get('skeleton_gate')} similar (the 'skeleton' family: names in another script or "
              "transliteration); on list pairs the rest are mostly translated or unrelated aliases "
              "('NIGHT WOLVES' / 'NOCHNYE VOLKI'), hence the share of positives in the first bin.",
              "- Above the floor the probability is calibrated on the training mix, which holds many "
              "ordinary-customer negatives (the screening situation); on list-alias pairs, where positives "
              "are far more frequent, it is conservative (the share positive exceeds the mean score).",
              "- Product thresholds (matcher.py): potential match from DEFAULT_THRESHOLD, match from "
              "MATCH_THRESHOLD; an exact normalised name scores at least EXACT_NAME_SCORE unless the "
              "legal forms differ in kind.", ""]
    lines += ["", f"## Calibration (held-out; Brier score {held['brier']})", "",
              "| score bin | pairs | mean score | share positive |", "|---|---|---|---|"]
    lines += [f"| {c['bin']} | {c['pairs']} | {c['mean_score']} | {c['share_positive']} |" for c in held["calibration"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
