"""The anomaly model as a versioned, traceable artefact (plain Python, no Dagster).

An :class:`AnomalyModel` is an IsolationForest fitted on log1p-transformed, robust-scaled account
features, together with everything model risk management asks for: the parameters, the feature list,
the training-data version (a hash of the training frame), the code version, the training window and
summary statistics of every feature. Its ``version`` is a hash of (code version, parameters, feature
list, training-data version): retraining on the same data with the same settings gives the same
version, anything else a new one.

:class:`ModelRegistry` keeps every version as ``<models_dir>/<version>.joblib`` plus a readable
``<version>.json`` model card, and an append-only ``history.jsonl`` of trainings, so a score that
carries a ``model_version`` can always be traced back to (and re-run with) the model that made it.
The artefacts are pickles: load only from a models folder the platform itself writes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from kyc_assets.monitoring.features import GLOBAL_FEATURES, WINDOW_FEATURES
from kyc_assets.monitoring.graph import GRAPH_FEATURES

# Bump when fitting or scoring changes meaning: it is part of every model version.
MODEL_CODE_VERSION = "3"
ID_COLUMNS = ("account_id", "as_of_date")
PSI_EPSILON = 1e-4
# Window features that need an optional input column (see scoring.OPTIONAL_INPUTS): left out of the
# models when the data lacks it, rather than scored as a constant zero.
OPTIONAL_FEATURES: dict[str, str] = {"high_risk_share": "country", "cash_share": "channel"}


def model_feature_columns(features: pd.DataFrame, available: set[str] | None = None,
                          graph: bool = False) -> list[str]:
    """The numeric feature columns a model uses: every known window and global feature present in the frame,
    without those whose optional input is not ``available`` (None: all available); with ``graph``, also the
    graph features (``g_*``). The unsupervised forest leaves the graph features to the structural risk."""
    known = set(GLOBAL_FEATURES) | (set(GRAPH_FEATURES) if graph else set())
    cols = []
    for col in features.columns:
        if col in ID_COLUMNS:
            continue
        base = col.rsplit("_", 1)[0] if col.endswith("d") and "_" in col else col
        if available is not None and base in OPTIONAL_FEATURES and OPTIONAL_FEATURES[base] not in available:
            continue
        if col in known or base in WINDOW_FEATURES:
            cols.append(col)
    return cols


def feature_matrix(features: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The features as a float matrix: NaN and infinities count as 0 (an absent behaviour)."""
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"features lack model column(s): {', '.join(missing[:5])}"
                         f"{' ...' if len(missing) > 5 else ''} (windows changed since training?)")
    x = features[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    return np.where(np.isfinite(x), x, 0.0)


def robust_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column medians and robust scales (1.4826 * MAD, then IQR / 1.349, then std, then 1)."""
    if x.shape[0] == 0:
        return np.zeros(x.shape[1]), np.ones(x.shape[1])
    median = np.median(x, axis=0)
    scale = 1.4826 * np.median(np.abs(x - median), axis=0)
    q75, q25 = np.percentile(x, [75, 25], axis=0)
    scale = np.where(scale > 0, scale, (q75 - q25) / 1.349)
    scale = np.where(scale > 0, scale, x.std(axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    return median, scale


def _log_transform(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def training_data_version(features: pd.DataFrame, columns: list[str]) -> str:
    """A content hash of the training frame (ids and model columns, row order independent)."""
    ids = [c for c in ID_COLUMNS if c in features.columns]
    frame = features[ids + columns].copy()
    if "as_of_date" in frame:
        frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).dt.strftime("%Y-%m-%d")
    frame = frame.sort_values(ids, kind="stable") if ids else frame
    digest = hashlib.sha256(",".join(frame.columns).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def feature_summary(features: pd.DataFrame, columns: list[str]) -> dict[str, dict[str, float]]:
    """Per feature: null rate (before NaN -> 0), zero rate, mean, std, median, p99, max."""
    out: dict[str, dict[str, float]] = {}
    for col in columns:
        raw = pd.to_numeric(features[col], errors="coerce")
        values = raw.fillna(0.0).to_numpy(dtype=float)
        values = np.where(np.isfinite(values), values, 0.0)
        n = len(values)
        out[col] = {
            "null_rate": float(raw.isna().mean()) if n else 0.0,
            "zero_rate": float((values == 0).mean()) if n else 0.0,
            "mean": float(values.mean()) if n else 0.0,
            "std": float(values.std()) if n else 0.0,
            "median": float(np.median(values)) if n else 0.0,
            "p99": float(np.percentile(values, 99)) if n else 0.0,
            "max": float(values.max()) if n else 0.0,
        }
    return out


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` over quantile bins of ``expected``.

    PSI = sum((a - e) * ln(a / e)) over bins, proportions floored at 1e-4. Rule of thumb: < 0.1 stable,
    0.1-0.25 moderate shift, > 0.25 significant shift. Zero-inflated features get one bin per distinct
    quantile edge, so a feature that is mostly 0 is compared on "0 vs the rest" rather than noise.
    Either side empty gives 0.0 (nothing to compare).
    """
    expected = np.asarray(expected, dtype=float)
    actual = np.asarray(actual, dtype=float)
    expected, actual = expected[np.isfinite(expected)], actual[np.isfinite(actual)]
    if len(expected) == 0 or len(actual) == 0:
        return 0.0
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))
    e = np.bincount(np.searchsorted(edges, expected, side="right"), minlength=len(edges) + 1) / len(expected)
    a = np.bincount(np.searchsorted(edges, actual, side="right"), minlength=len(edges) + 1) / len(actual)
    e, a = np.maximum(e, PSI_EPSILON), np.maximum(a, PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass
class AnomalyModel:
    """A fitted anomaly detector and its model card. ``forest`` is None when trained on < 2 rows."""

    version: str
    feature_columns: list[str]
    params: dict
    code_version: str
    training_data_version: str
    training_rows: int
    training_window: tuple[str | None, str | None]
    trained_at: str
    transform_median: np.ndarray
    transform_scale: np.ndarray
    explain_median: np.ndarray
    explain_scale: np.ndarray
    cut: float
    forest: IsolationForest | None
    summary: dict = field(default_factory=dict)
    training_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def raw_scores(self, x: np.ndarray) -> np.ndarray:
        """IsolationForest anomaly score s in [0, 1] per row (``-score_samples``); 0 without a forest."""
        if self.forest is None or x.shape[0] == 0:
            return np.zeros(x.shape[0])
        scaled = np.clip((_log_transform(x) - self.transform_median) / self.transform_scale, -50, 50)
        return np.clip(-self.forest.score_samples(scaled), 0.0, 1.0)

    def calibrated(self, s: np.ndarray, threshold: float) -> np.ndarray:
        """The model part m in [0, 1]: the forest's own outlier cut s* lands on ``threshold``."""
        if self.forest is None:
            return np.zeros_like(s)
        cut = self.cut
        m = np.where(s < cut, threshold * s / cut, threshold + (1 - threshold) * (s - cut) / (1 - cut))
        return np.clip(m, 0.0, 1.0)

    def robust_z(self, x: np.ndarray) -> np.ndarray:
        """Robust z-scores of the raw features against the training population (for explanations)."""
        return (x - self.explain_median) / self.explain_scale

    def card(self) -> dict:
        """The model card: everything but the fitted arrays, JSON-serialisable."""
        return {
            "version": self.version, "feature_columns": self.feature_columns, "params": self.params,
            "code_version": self.code_version, "training_data_version": self.training_data_version,
            "training_rows": self.training_rows, "training_window": list(self.training_window),
            "trained_at": self.trained_at, "cut": self.cut, "summary": self.summary,
        }


def fit_model(
    features: pd.DataFrame,
    *,
    contamination: float = 0.02,
    seed: int = 0,
    n_estimators: int = 200,
    max_samples: int = 256,
    max_training_rows: int | None = None,
    trained_at: datetime | None = None,
    available: set[str] | None = None,
) -> AnomalyModel:
    """Fit the anomaly model on a feature frame (one row per account and as-of date).

    More than ``max_training_rows`` rows are subsampled (seeded, recorded in ``params``). Fewer than 2
    rows give a model without a forest: it scores every row 0, so only the typology rules decide.
    """
    if not 0 < contamination <= 0.5:
        raise ValueError("contamination must be in (0, 0.5]")
    columns = model_feature_columns(features, available)
    data_version = training_data_version(features, columns)
    sampled = features
    if max_training_rows is not None and len(features) > max_training_rows:
        sampled = features.sample(n=max_training_rows, random_state=seed).sort_index()
    x = feature_matrix(sampled, columns)
    n = x.shape[0]
    params = {"algorithm": "IsolationForest", "contamination": float(contamination), "seed": int(seed),
              "n_estimators": int(n_estimators), "max_samples": int(min(max_samples, max(n, 1))),
              "transform": "sign*log1p, robust z (MAD), clip +-50", "max_training_rows": max_training_rows,
              "rows_used": int(n)}
    t_median, t_scale = robust_scale(_log_transform(x))
    e_median, e_scale = robust_scale(x)
    forest, cut = None, 1.0
    if n >= 2:
        forest = IsolationForest(n_estimators=n_estimators, contamination=contamination, random_state=seed,
                                 max_samples=min(max_samples, n))
        forest.fit(np.clip((_log_transform(x) - t_median) / t_scale, -50, 50))
        cut = float(np.clip(-forest.offset_, 1e-9, 1 - 1e-9))
    dates = pd.to_datetime(features["as_of_date"]) if "as_of_date" in features and len(features) else None
    window = (dates.min().strftime("%Y-%m-%d"), dates.max().strftime("%Y-%m-%d")) if dates is not None \
        else (None, None)
    version = hashlib.sha256(json.dumps([MODEL_CODE_VERSION, params, columns, data_version],
                                        sort_keys=True, default=str).encode()).hexdigest()[:12]
    model = AnomalyModel(
        version=version, feature_columns=columns, params=params, code_version=MODEL_CODE_VERSION,
        training_data_version=data_version, training_rows=len(features), training_window=window,
        trained_at=(trained_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        transform_median=t_median, transform_scale=t_scale, explain_median=e_median, explain_scale=e_scale,
        cut=cut, forest=forest, summary=feature_summary(features, columns))
    model.training_scores = model.raw_scores(x)  # of the rows used for fitting
    return model


# --- learning from analysts' decisions ----------------------------------------------------------------

SUPERVISED_CODE_VERSION = "1"
VALIDATION_BUDGETS: tuple[float, ...] = (0.1, 0.2, 0.3)


@dataclass
class SupervisedModel:
    """A gradient-boosting classifier trained on analysts' decisions (confirmed = 1, false positive = 0) over
    the same explainable features as the rules and the anomaly model, with its validation report."""

    version: str
    feature_columns: list[str]
    params: dict
    code_version: str
    training_rows: int
    positives: int
    trained_at: str
    classifier: object
    validation: dict = field(default_factory=dict)
    previous_version: str | None = None
    # share of the supervised probability in the combined risk (chosen on the held-out decisions)
    weight: float = 0.5

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """P(confirmed) per feature row (missing columns count as 0, like the anomaly model's NaN)."""
        if len(features) == 0:
            return np.zeros(0)
        frame = features.reindex(columns=self.feature_columns)
        x = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        x = np.where(np.isfinite(x), x, 0.0)
        return self.classifier.predict_proba(x)[:, 1]

    def card(self) -> dict:
        return {"version": self.version, "kind": "supervised", "feature_columns": self.feature_columns,
                "params": self.params, "code_version": self.code_version, "training_rows": self.training_rows,
                "positives": self.positives, "trained_at": self.trained_at, "validation": self.validation,
                "previous_version": self.previous_version, "weight": self.weight}


def _classifier(seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                          min_samples_leaf=10, l2_regularization=1.0, random_state=seed)


def _precision_at(y: np.ndarray, p: np.ndarray, share: float) -> float:
    k = max(1, int(np.ceil(share * len(y))))
    top = np.argsort(-p, kind="stable")[:k]
    return float(y[top].mean()) if len(y) else 0.0


def validation_report(y: np.ndarray, p: np.ndarray, typology: np.ndarray | None = None,
                      budgets: tuple[float, ...] = VALIDATION_BUDGETS, previous_p: np.ndarray | None = None) -> dict:
    """Held-out figures: average precision, precision/recall at the top share of the decided cases per budget,
    recall by typology at p >= 0.5, calibration (Brier score and observed rate per predicted decile), and
    stability against the previous version's predictions on the same cases (PSI, rank correlation)."""
    from sklearn.metrics import average_precision_score, brier_score_loss

    out: dict = {"rows": len(y), "positives": int(y.sum())}
    if len(y) == 0:
        return out
    out["average_precision"] = float(average_precision_score(y, p)) if 0 < y.sum() < len(y) else None
    out["at_budget"] = {}
    for b in budgets:
        k = max(1, int(np.ceil(b * len(y))))
        top = np.argsort(-p, kind="stable")[:k]
        out["at_budget"][f"{b:.0%}"] = {"cases": k, "precision": float(y[top].mean()),
                                        "recall": float(y[top].sum() / max(y.sum(), 1))}
    if typology is not None:
        rec = {}
        for t in sorted({str(v) for v in typology[y.astype(bool)] if v is not None and str(v) != "nan"}):
            rows = y.astype(bool) & (typology.astype(str) == t)
            rec[t] = {"cases": int(rows.sum()), "recall": float((p[rows] >= 0.5).mean())}
        out["recall_by_typology"] = rec
    out["brier"] = float(brier_score_loss(y, p))
    bins = np.clip((p * 10).astype(int), 0, 9)
    out["calibration"] = [{"predicted": round(float(p[bins == b].mean()), 3), "observed": round(float(y[bins == b].mean()), 3),
                           "cases": int((bins == b).sum())} for b in range(10) if (bins == b).any()]
    if previous_p is not None and len(previous_p) == len(p):
        out["stability"] = {"psi": psi(previous_p, p),
                            "rank_correlation": float(pd.Series(p).corr(pd.Series(previous_p), method="spearman"))}
    return out


def fit_supervised(features: pd.DataFrame, decisions: pd.DataFrame, *, min_labels: int = 50, seed: int = 0,
                   validation_share: float = 0.25, previous: SupervisedModel | None = None,
                   available: set[str] | None = None, trained_at: datetime | None = None) -> SupervisedModel | None:
    """Train on analysts' decisions, or None while fewer than ``min_labels`` decided cases (or one class only).

    ``features``: one row per account (``account_id`` + feature columns, the graph features included), and
    optionally ``unsupervised_risk`` (the risk without this model): then the share of the supervised
    probability in the combined risk, ``weight`` in {0, 0.25, 0.5, 0.75, 1}, is the one with the best average
    precision on the held-out decisions (0 when learning does not help yet); else 0.5.
    ``decisions``: ``account_id``, ``confirmed`` (bool), ``decided_at`` (time-based split: the latest
    ``validation_share`` of the decisions is held out for the validation report, then the model is refitted on
    all of them), optional ``typology`` (recall by typology).
    """
    labelled = decisions.drop_duplicates("account_id", keep="last").merge(
        features.drop_duplicates("account_id", keep="last"), on="account_id", how="inner")
    if len(labelled) < min_labels or labelled["confirmed"].nunique() < 2:
        return None
    labelled = labelled.sort_values("decided_at", kind="stable").reset_index(drop=True)
    columns = model_feature_columns(features, available, graph=True)
    x = feature_matrix(labelled, columns)
    y = labelled["confirmed"].to_numpy(dtype=int)
    cut = round(len(labelled) * (1 - validation_share))
    validation: dict = {"split": "time", "train_rows": cut, "validation_rows": len(labelled) - cut}
    weight = 0.5
    if 0 < cut < len(labelled) and len(np.unique(y[:cut])) == 2:
        held = _classifier(seed).fit(x[:cut], y[:cut])
        p_val = held.predict_proba(x[cut:])[:, 1]
        prev_p = previous.predict_proba(labelled.iloc[cut:]) if previous is not None else None
        typ = labelled["typology"].to_numpy(dtype=object)[cut:] if "typology" in labelled else None
        validation.update(validation_report(y[cut:], p_val, typ, previous_p=prev_p))
        if "unsupervised_risk" in labelled and 0 < y[cut:].sum() < len(y) - cut:
            from sklearn.metrics import average_precision_score

            u = labelled["unsupervised_risk"].to_numpy(dtype=float)[cut:]
            ap = {w: average_precision_score(y[cut:], (1 - w) * u + w * p_val) for w in (0.0, 0.25, 0.5, 0.75, 1.0)}
            weight = max(ap, key=lambda w: (round(ap[w], 6), -w))
            validation.update(ap_unsupervised=float(ap[0.0]), ap_combined=float(ap[weight]),
                              combination_weight=weight)
    clf = _classifier(seed).fit(x, y)
    params = {"algorithm": "HistGradientBoostingClassifier", "max_iter": 200, "learning_rate": 0.05,
              "max_leaf_nodes": 15, "min_samples_leaf": 10, "l2_regularization": 1.0, "seed": int(seed),
              "min_labels": int(min_labels), "validation_share": float(validation_share)}
    digest = hashlib.sha256(json.dumps([SUPERVISED_CODE_VERSION, params, columns],
                                       sort_keys=True, default=str).encode())
    digest.update(pd.util.hash_pandas_object(labelled[["account_id", "confirmed"]], index=False).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(x).tobytes())
    return SupervisedModel(
        version=digest.hexdigest()[:12], feature_columns=columns, params=params,
        code_version=SUPERVISED_CODE_VERSION, training_rows=len(labelled), positives=int(y.sum()),
        trained_at=(trained_at or datetime.now(UTC)).isoformat(timespec="seconds"), classifier=clf,
        validation=validation, previous_version=previous.version if previous is not None else None,
        weight=float(weight))


class ModelRegistry:
    """Versioned model artefacts in a folder: ``<version>.joblib``, ``<version>.json``, ``history.jsonl``."""

    def __init__(self, models_dir: str | Path):
        self.root = Path(models_dir)

    def path(self, version: str) -> Path:
        if not version or not all(c in "0123456789abcdef" for c in version):
            raise ValueError("model version must be a hex digest")
        return self.root / f"{version}.joblib"

    def save(self, model: AnomalyModel | SupervisedModel) -> Path:
        """Write the artefact and its card atomically and record the training in the history."""
        import joblib

        self.root.mkdir(parents=True, exist_ok=True)
        target = self.path(model.version)
        tmp = target.with_suffix(".joblib.tmp")
        joblib.dump(model, tmp)
        os.replace(tmp, target)
        card = target.with_suffix(".json")
        card.with_suffix(".json.tmp").write_text(json.dumps(model.card(), indent=1, sort_keys=True, default=str))
        os.replace(card.with_suffix(".json.tmp"), card)
        with open(self.root / "history.jsonl", "a", encoding="utf-8") as fh:
            kind = "supervised" if isinstance(model, SupervisedModel) else "anomaly"
            fh.write(json.dumps({"version": model.version, "trained_at": model.trained_at, "kind": kind}) + "\n")
        return target

    def load(self, version: str) -> AnomalyModel | SupervisedModel:
        """The model of ``version``; FileNotFoundError names the missing artefact."""
        import joblib

        target = self.path(version)
        if not target.exists():
            raise FileNotFoundError(f"model artefact {target.name} not found in {self.root}")
        model = joblib.load(target)
        if not isinstance(model, (AnomalyModel, SupervisedModel)) or model.version != version:
            raise ValueError(f"{target.name} does not hold anomaly model {version}")
        return model

    def history(self) -> list[dict]:
        """Every training recorded, oldest first."""
        log = self.root / "history.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]

    def latest(self, kind: str = "anomaly") -> str | None:
        """The version of ``kind`` (``anomaly`` or ``supervised``) trained last whose artefact exists."""
        for entry in reversed(self.history()):
            if entry.get("kind", "anomaly") == kind and self.path(entry["version"]).exists():
                return entry["version"]
        return None

    def previous_version(self, version: str, kind: str = "anomaly") -> str | None:
        """The version trained last before ``version`` was last trained (None for the first model)."""
        versions = [h["version"] for h in self.history() if h.get("kind", "anomaly") == kind]
        if version in versions:
            versions = versions[: len(versions) - 1 - versions[::-1].index(version)]
        earlier = [v for v in versions if v != version and self.path(v).exists()]
        return earlier[-1] if earlier else None



# --- the feature warehouse (Delta tables written by the io_manager, read through kyc_assets.storage) -----


def _qualified(schema: str, table: str) -> str:
    """A quoted DuckDB identifier from constants (never from data)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in (schema, table))


def table_exists(database, table: str, schema: str = "kyc") -> bool:
    """True when the warehouse (a :class:`~kyc_assets.storage.Warehouse`, or its folder/URL) holds ``table``."""
    from kyc_assets.storage import as_warehouse

    return as_warehouse(database).exists(table)


def read_feature_window(database, *, last_days: int | None = None, start: str | None = None,
                        end: str | None = None, table: str = "transaction_features",
                        schema: str = "kyc") -> pd.DataFrame:
    """Feature rows of the last ``last_days`` materialized as-of dates, or of ``start``..``end`` inclusive.

    Raises LookupError when the feature table has not been materialized yet.
    """
    from kyc_assets.storage import as_warehouse

    warehouse = as_warehouse(database)
    if not warehouse.exists(table):
        raise LookupError(f"{table} has not been materialized yet: nothing to train on")
    name = _qualified(warehouse.schema, table)
    with warehouse.connect([table]) as con:
        if last_days is not None:
            sql = (f"SELECT * FROM {name} WHERE as_of_date IN (SELECT DISTINCT as_of_date FROM {name} "
                   f"ORDER BY as_of_date DESC LIMIT ?) ORDER BY as_of_date, account_id")
            frame = con.execute(sql, [int(last_days)]).df()
        else:
            sql = (f"SELECT * FROM {name} WHERE CAST(as_of_date AS DATE) BETWEEN CAST(? AS DATE) AND "
                   f"CAST(? AS DATE) ORDER BY as_of_date, account_id")
            frame = con.execute(sql, [start, end]).df()
    return frame


def read_scores_by_day(database, model_version: str, *, table: str = "anomaly_scores",
                       schema: str = "kyc") -> pd.DataFrame:
    """Per as-of date scored with ``model_version``: accounts, alerts (empty when never used)."""
    from kyc_assets.storage import as_warehouse

    empty = pd.DataFrame({"as_of_date": pd.Series(dtype="datetime64[ns]"), "accounts": pd.Series(dtype=int),
                          "alerts": pd.Series(dtype=int)})
    warehouse = as_warehouse(database)
    if not warehouse.exists(table):
        return empty
    with warehouse.connect([table]) as con:
        columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE "
                                             "table_schema = ? AND table_name = ?",
                                             [warehouse.schema, table]).fetchall()}
        if "model_version" not in columns:
            return empty
        return con.execute(f"SELECT as_of_date, count(*) AS accounts, count(*) FILTER (WHERE alert) AS alerts "
                           f"FROM {_qualified(warehouse.schema, table)} WHERE model_version = ? GROUP BY as_of_date "
                           f"ORDER BY as_of_date", [model_version]).df()
