"""The structural model: gradient-boosted trees over the graph features, trained on the tuning worlds only.

The hand-set noisy-or of :func:`kyc_assets.monitoring.graph.structural_risk` scores each typology alone;
the shapes of laundering are combinations (a feeder is mule-like *and* pays a collection account *and* sits
in a community of unexplained transfers). This model learns those combinations from simulated worlds whose
truth is known: the tuning worlds of :mod:`kyc_assets.sample_data.aml_world` (``TUNE_SEEDS`` with
``TUNE_PARAMS``; never the evaluation seeds or parameter sets, never public judge sets). Its inputs are the
amount-agnostic graph features only (:data:`FEATURES`: sender, receiver, amount and day are all it needs),
so it scores any institution's data without retraining; analysts' decisions then adapt the ranking to the
institution (:mod:`kyc_assets.monitoring.model`, the supervised model).

Artefact: ``structural_model.npz`` beside this module, plain numpy arrays (the trees' nodes), no pickle, so it
loads under any scikit-learn version. ``python -m kyc_assets.monitoring.structural`` retrains it from the
tuning worlds (deterministic) and prints its validation on further tuning seeds.

Every score is explained: each tree's path adds to the features it splits on (the change of the node value
along the path, a tree-path attribution), and the features with the largest positive contributions become
the reasons, named by typology where the feature is one (:data:`REASON_OF`): an alert says which shape and
which counterparties' pattern raised it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from kyc_assets.monitoring.graph import GRAPH_FEATURES, TYPOLOGY_SIGNALS, structural_risk

# Personalised PageRank from confirmed cases is 0 in every simulated world (no confirmed cases there): left to
# the supervised model, which learns from the institution's own decisions.
FEATURES: tuple[str, ...] = tuple(c for c in GRAPH_FEATURES if c != "g_ppr_known_bad")
ARTEFACT = Path(__file__).with_name("structural_model.npz")
TRAINING_SEEDS: tuple[int, ...] = tuple(range(6))     # TUNE_SEEDS[0:6]
VALIDATION_SEEDS: tuple[int, ...] = tuple(range(6, 8))   # TUNE_SEEDS[6:8]: choose settings, report
HYPER = {"max_iter": 300, "learning_rate": 0.05, "max_leaf_nodes": 31, "min_samples_leaf": 40,
         "l2_regularization": 1.0, "random_state": 0}
#: The reason a feature's contribution is named by: its typology (see graph.TYPOLOGY_SIGNALS), else itself
#: (graph.EXPLANATIONS says what it measures).
REASON_OF: dict[str, str] = {
    **{col: name for name, _, col, _ in TYPOLOGY_SIGNALS},
    "g_cycle_count": "graph_cycle", "g_cycle_return_share": "graph_cycle",
    "g_unexplained_in": "fan_in_unexplained", "g_fan_in_peer": "fan_in_unexplained",
    "g_unexplained_out": "fan_out_unexplained", "g_fan_out_peer": "fan_out_unexplained",
    "g_gather_scatter": "gather_scatter_burst",
    "g_community_size": "suspicious_community", "g_community_density": "suspicious_community",
    "g_community_risk": "suspicious_community", "g_alerted_neighbour_share": "suspicious_community",
}
MIN_CONTRIBUTION = 0.15  # log-odds: smaller contributions are not reasons


@dataclass
class StructuralModel:
    """Boosted trees as flat node arrays (``feature``, ``threshold``, ``left``, ``right``, ``leaf``,
    ``value``, ``missing_left``), tree ``t`` at nodes ``offsets[t]:offsets[t+1]``, plus the baseline log-odds."""

    features: tuple[str, ...]
    baseline: float
    offsets: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    value: np.ndarray
    missing_left: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unversioned"))

    @classmethod
    def from_sklearn(cls, model, features: tuple[str, ...], meta: dict) -> StructuralModel:
        """From a fitted binary ``HistGradientBoostingClassifier`` (numeric features only)."""
        trees = [pred[0].nodes for pred in model._predictors]
        sizes = np.array([len(t) for t in trees])
        nodes = np.concatenate(trees)
        base = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        owner = np.repeat(base, sizes)
        left = nodes["left"].astype(np.int64) + owner
        right = nodes["right"].astype(np.int64) + owner
        leaf = nodes["is_leaf"].astype(bool)
        # scikit-learn shrinks leaf values only: an inner node's value becomes the training-count-weighted mean
        # of its leaves (deepest first), so that value changes along a path attribute the prediction
        value = nodes["value"].astype(float).copy()
        count = nodes["count"].astype(float)
        for depth in range(int(nodes["depth"].max()), -1, -1):
            inner = np.flatnonzero(~leaf & (nodes["depth"] == depth))
            l, r = left[inner], right[inner]
            value[inner] = (count[l] * value[l] + count[r] * value[r]) / np.maximum(count[l] + count[r], 1.0)
        return cls(tuple(features), float(np.ravel(model._baseline_prediction)[0]),
                   np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                   nodes["feature_idx"].astype(np.int64), nodes["num_threshold"].astype(float),
                   left, right, leaf, value, nodes["missing_go_to_left"].astype(bool),
                   {**meta, "inner_values": "count_weighted"})

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The feature matrix (missing columns and NaN count as 0)."""
        cols = [pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float) if c in frame.columns
                else np.zeros(len(frame)) for c in self.features]
        x = np.column_stack(cols) if cols else np.zeros((len(frame), 0))
        return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)

    def raw(self, x: np.ndarray, contributions: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Log-odds per row and, if asked, the tree-path contribution of each feature (rows x features):
        baseline + contributions.sum(axis=1) + sum of the root values == log-odds."""
        n, k = x.shape
        out = np.full(n, self.baseline)
        contrib = np.zeros(n * k) if contributions else None
        rows = np.arange(n)
        for t in range(len(self.offsets) - 1):
            node = np.full(n, self.offsets[t])
            out += self.value[node] if contributions else 0.0
            active = ~self.leaf[node]
            while active.any():
                idx = rows[active]
                cur = node[idx]
                f = self.feature[cur]
                v = x[idx, f]
                go_left = np.where(np.isnan(v), self.missing_left[cur], v <= self.threshold[cur])
                nxt = np.where(go_left, self.left[cur], self.right[cur])
                if contributions:
                    contrib += np.bincount(idx * k + f, weights=self.value[nxt] - self.value[cur], minlength=n * k)
                node[idx] = nxt
                active[idx] = ~self.leaf[nxt]
            if not contributions:
                out += self.value[node]
        if contributions:
            out += contrib.reshape(n, k).sum(axis=1)
            return out, contrib.reshape(n, k)
        return out, None

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        raw, _ = self.raw(self.matrix(frame))
        return 1.0 / (1.0 + np.exp(-raw))

    def score(self, frame: pd.DataFrame, top: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Probability in [0, 1] per row and its reasons: ';'-joined names (:data:`REASON_OF`) of up to
        ``top`` features with the largest positive contributions (>= ``MIN_CONTRIBUTION`` log-odds)."""
        n = len(frame)
        if n == 0:
            return np.zeros(0), np.array([], dtype=object)
        raw, contrib = self.raw(self.matrix(frame), contributions=True)
        if self.meta.get("inner_values") != "count_weighted":  # an artefact whose inner values do not attribute
            return 1.0 / (1.0 + np.exp(-raw)), np.full(n, "", dtype=object)
        names = np.array([REASON_OF.get(c, c) for c in self.features], dtype=object)
        # features that share a reason add up
        uniq, inv = np.unique(names, return_inverse=True)
        by_reason = np.zeros((n, len(uniq)))
        for j in range(len(names)):
            by_reason[:, inv[j]] += contrib[:, j]
        order = np.argsort(-by_reason, axis=1, kind="stable")[:, :top]
        best = np.take_along_axis(by_reason, order, axis=1)
        reasons = np.full(n, "", dtype=object)
        for rank in range(order.shape[1]):
            part = np.where(best[:, rank] >= MIN_CONTRIBUTION, uniq.astype(object)[order[:, rank]], "")
            reasons = reasons + np.where((reasons != "") & (part != ""), ";", "") + part
        return 1.0 / (1.0 + np.exp(-raw)), reasons

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, offsets=self.offsets, feature=self.feature, threshold=self.threshold,
                            left=self.left, right=self.right, leaf=self.leaf, value=self.value,
                            missing_left=self.missing_left, baseline=np.array([self.baseline]),
                            meta=np.array(json.dumps({**self.meta, "features": list(self.features)})))

    @classmethod
    def load(cls, path: str | Path) -> StructuralModel:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return cls(tuple(meta.pop("features")), float(z["baseline"][0]), z["offsets"], z["feature"],
                       z["threshold"], z["left"], z["right"], z["leaf"].astype(bool), z["value"],
                       z["missing_left"].astype(bool), meta)


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> StructuralModel:
    return StructuralModel.load(path)


def default_model() -> StructuralModel | None:
    """The shipped structural model (None when the artefact is absent: the noisy-or scores alone)."""
    if not ARTEFACT.exists():
        return None
    return _load_cached(str(ARTEFACT), ARTEFACT.stat().st_mtime)


def structural_score(features: pd.DataFrame, model: StructuralModel | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The structural risk in [0, 1] per row of a frame with the graph features, and its reasons: the
    structural model's (``model`` or the shipped one), else the noisy-or of
    :func:`~kyc_assets.monitoring.graph.structural_risk`. A row the model scores without a contribution large
    enough to name keeps the noisy-or's typologies as reasons."""
    model = model or default_model()
    if model is None or len(features) == 0:
        return structural_risk(features)
    risk, reasons = model.score(features)
    fallback = structural_risk(features)[1]
    return risk, np.where(reasons == "", fallback, reasons)


def world_frame(seed: int, params=None) -> tuple[pd.DataFrame, np.ndarray]:
    """Graph features and laundering labels of one generated world."""
    from kyc_assets.monitoring.graph import graph_features
    from kyc_assets.sample_data.aml_world import TUNE_PARAMS, generate_world

    tx, labels = generate_world(seed, params or TUNE_PARAMS)
    frame = pd.DataFrame({"s": tx["sender_account"].astype(str), "r": tx["receiver_account"].astype(str),
                          "amt": pd.to_numeric(tx["amount"]), "ts": tx["timestamp"]})
    gf = graph_features(frame).features
    y = labels.set_index("account_id")["is_laundering"].reindex(gf["account_id"]).fillna(False).to_numpy(bool)
    return gf, y


def train(training_seeds=TRAINING_SEEDS, validation_seeds=VALIDATION_SEEDS, hyper: dict | None = None,
          cache: dict | None = None) -> StructuralModel:
    """Train on ``TUNE_SEEDS[training_seeds]`` (``TUNE_PARAMS``) and validate on ``validation_seeds`` (also
    tuning seeds). ``cache``: seed -> (features, labels), to reuse worlds across calls."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import average_precision_score

    from kyc_assets.sample_data.aml_world import TUNE_SEEDS

    cache = {} if cache is None else cache
    hyper = {**HYPER, **(hyper or {})}

    def get(i: int):
        if i not in cache:
            cache[i] = world_frame(TUNE_SEEDS[i])
        return cache[i]

    x = np.concatenate([get(i)[0][list(FEATURES)].to_numpy(float) for i in training_seeds])
    y = np.concatenate([get(i)[1] for i in training_seeds])
    clf = HistGradientBoostingClassifier(early_stopping=False, **hyper).fit(np.nan_to_num(x), y)
    import sklearn

    meta = {"version": f"structural-{len(training_seeds)}w-{hyper['max_iter']}t", "training": "aml_world TUNE_SEEDS"
            f"[{min(training_seeds)}:{max(training_seeds) + 1}] with TUNE_PARAMS", "rows": len(y),
            "positives": int(y.sum()), "hyper": hyper, "sklearn": sklearn.__version__}
    model = StructuralModel.from_sklearn(clf, FEATURES, meta)
    aps = {}
    for i in validation_seeds:
        gf, yv = get(i)
        aps[str(TUNE_SEEDS[i])] = round(float(average_precision_score(yv, model.predict_proba(gf))), 4)
    model.meta["validation_average_precision"] = aps
    return model


def main() -> None:
    model = train()
    model.save(ARTEFACT)
    print(json.dumps(model.meta, indent=1))


if __name__ == "__main__":
    main()
