"""The model validation report: the evidence a supervisor expects for every anomaly-model version.

Plain Python, no Dagster. :func:`build_report` renders markdown with: the training data summary, the
parameters, feature contributions, stability against the previous version, alert volume, and the
precision of past alerts against analysts' case decisions (SR 11-7 ongoing monitoring / outcomes
analysis). Metrics are also returned as plain numbers for metadata and checks.

Feature contributions (on the training window, with the model's own alert rule at the threshold policy):
``mean |z|`` of each feature among alerted account-days vs among all, where z is the robust z-score
against the training population, and how often the feature is among the top-3 reasons of an alert.

Stability against the previous version: PSI of every feature between the previous and the current
training windows, PSI of the model part of the risk score of both models on the current training
window, and the agreement (Jaccard) of their alert sets on it.

Precision of past alerts: account cases with anomaly-alert evidence are decided once an analyst
closed them with an outcome (``confirmed``, after the four-eyes approval, or ``false_positive``);
confirmed ones are true positives. Attributed to the model version recorded in the evidence reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kyc_assets.monitoring.model import AnomalyModel, feature_matrix, psi
from kyc_assets.monitoring.scoring import score_with_model

SECTIONS = ("Training data", "Parameters", "Feature contributions", "Stability against the previous version",
            "Alert volume", "Precision of past alerts", "Precision and recall at several budgets",
            "Learning from decisions")
REPORT_BUDGETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05)
NO_DECISIONS = "No decided cases yet"


@dataclass
class ValidationReport:
    markdown: str
    metrics: dict = field(default_factory=dict)


def alert_decisions(engine) -> pd.DataFrame:
    """One row per (case, model version) of account cases with anomaly-alert evidence: status, decided,
    confirmed, the account and when it was decided (the labels a supervised model learns from). Reads the
    case store (SQLAlchemy engine) without changing it."""
    import sqlalchemy as sa

    from kyc_assets.cases.store import case_evidence, cases

    query = (sa.select(cases.c.case_id, cases.c.subject_id, cases.c.status, cases.c.outcome, cases.c.closed_at,
                       cases.c.updated_at, case_evidence.c.reference)
             .join(case_evidence, case_evidence.c.case_id == cases.c.case_id)
             .where(cases.c.subject_type == "account", case_evidence.c.kind == "anomaly_alert"))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    records = {(r.case_id, json.loads(r.reference).get("model_version") or "unknown"):
               (r.status, r.outcome, r.subject_id, r.closed_at or r.updated_at) for r in rows}
    frame = pd.DataFrame([{"case_id": c, "model_version": v, "status": s, "outcome": o, "account_id": a,
                           "decided_at": d} for (c, v), (s, o, a, d) in records.items()],
                         columns=["case_id", "model_version", "status", "outcome", "account_id", "decided_at"])
    # A case is decided once an analyst closed it with an outcome (four-eyes approved for confirmations);
    # an escalated case is still under review.
    frame["decided"] = frame["outcome"].isin(["confirmed", "false_positive"])
    frame["confirmed"] = frame["outcome"] == "confirmed"
    return frame


def precision_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """Per model version and overall: cases, decided, confirmed, precision (confirmed / decided)."""
    decided = decisions[decisions["decided"]]
    if decided.empty:
        return pd.DataFrame(columns=["model_version", "cases", "decided", "confirmed", "precision"])
    rows = []
    for version, group in list(decisions.groupby("model_version", sort=True)) + [("all versions", decisions)]:
        # A case is counted once per version; overall, once whatever the versions that alerted it.
        group = group.drop_duplicates("case_id")
        n_decided = int(group["decided"].sum())
        n_confirmed = int((group["decided"] & group["confirmed"]).sum())
        rows.append({"model_version": version, "cases": len(group), "decided": n_decided,
                     "confirmed": n_confirmed, "precision": n_confirmed / n_decided if n_decided else None})
    return pd.DataFrame(rows)


def feature_contributions(model: AnomalyModel, training: pd.DataFrame, alert_threshold: float) -> pd.DataFrame:
    """Per feature: mean |z| among alerted and among all training rows, their ratio, and top-reason share."""
    scores = score_with_model(training, model, alert_threshold=alert_threshold)
    z = np.abs(model.robust_z(feature_matrix(training, model.feature_columns)))
    alerted = scores["alert"].to_numpy()
    reasons = scores.loc[alerted, "reasons"].fillna("").str.split(";")
    counts = pd.Series([r for rs in reasons for r in rs]).value_counts() if alerted.any() else pd.Series(dtype=int)
    all_mean = z.mean(axis=0) if len(z) else np.zeros(len(model.feature_columns))
    alert_mean = z[alerted].mean(axis=0) if alerted.any() else np.zeros(len(model.feature_columns))
    frame = pd.DataFrame({
        "feature": model.feature_columns, "mean_abs_z_alerted": alert_mean, "mean_abs_z_all": all_mean,
        "lift": alert_mean / np.maximum(all_mean, 1e-9),
        "top_reason_share": [float(counts.get(c, 0)) / max(int(alerted.sum()), 1) for c in model.feature_columns],
    })
    return frame.sort_values(["mean_abs_z_alerted", "feature"], ascending=[False, True]).reset_index(drop=True)


def stability(model: AnomalyModel, previous: AnomalyModel | None, training: pd.DataFrame,
              previous_training: pd.DataFrame | None, alert_threshold: float) -> dict:
    """Feature PSI (previous vs current training window), score PSI and alert agreement of both models."""
    if previous is None:
        return {"previous_version": None}
    out: dict = {"previous_version": previous.version}
    shared = [c for c in model.feature_columns if c in previous.feature_columns]
    if previous_training is not None and len(previous_training):
        out["feature_psi"] = {c: psi(feature_matrix(previous_training, [c])[:, 0],
                                     feature_matrix(training, [c])[:, 0]) for c in shared}
    missing = [c for c in previous.feature_columns if c not in training.columns]
    if missing:
        out["comparable"] = False
        return out
    out["comparable"] = True
    current = score_with_model(training, model, alert_threshold=alert_threshold)
    before = score_with_model(training, previous, alert_threshold=alert_threshold)
    m_now = model.calibrated(current["model_score"].to_numpy(), alert_threshold)
    m_before = previous.calibrated(before["model_score"].to_numpy(), alert_threshold)
    out["score_psi"] = psi(m_before, m_now)
    a, b = set(np.flatnonzero(current["alert"].to_numpy())), set(np.flatnonzero(before["alert"].to_numpy()))
    out["alert_jaccard"] = len(a & b) / len(a | b) if a | b else 1.0
    return out


def _md_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    return frame.to_markdown(index=False, floatfmt=floatfmt) if len(frame) else "_(none)_"


def budget_table(scores: pd.DataFrame, decisions: pd.DataFrame | None,
                 budgets: tuple[float, ...] = REPORT_BUDGETS) -> pd.DataFrame:
    """Per daily alert budget b: the accounts alerted when the top b share of each day's accounts is alerted
    (by ``risk_score``), and the precision / recall of those alerts against analysts' decided cases
    (confirmed = laundering; recall over every confirmed account)."""
    rows = []
    if not len(scores):
        return pd.DataFrame(columns=["budget", "alerted_accounts", "decided", "confirmed", "precision", "recall"])
    day = pd.to_datetime(scores["as_of_date"]).dt.strftime("%Y-%m-%d") if "as_of_date" in scores \
        else pd.Series("all", index=scores.index)
    rank = scores.assign(_day=day.to_numpy()).groupby("_day")["risk_score"].rank(method="first", ascending=False)
    size = day.map(day.value_counts())
    decided = decisions[decisions["decided"]] if decisions is not None and len(decisions) else None
    confirmed = set(decided.loc[decided["confirmed"], "account_id"]) if decided is not None else set()
    cleared = set(decided.loc[~decided["confirmed"], "account_id"]) if decided is not None else set()
    for b in budgets:
        alerted = set(scores.loc[(rank <= np.ceil(b * size)).to_numpy(), "account_id"])
        hits, misses = len(alerted & confirmed), len(alerted & cleared)
        rows.append({"budget": f"{b:.2%}", "alerted_accounts": len(alerted), "decided": hits + misses,
                     "confirmed": hits, "precision": hits / (hits + misses) if hits + misses else None,
                     "recall": hits / len(confirmed) if confirmed else None})
    return pd.DataFrame(rows)


def build_report(model: AnomalyModel, training: pd.DataFrame, *, previous: AnomalyModel | None = None,
                 previous_training: pd.DataFrame | None = None, scores_by_day: pd.DataFrame | None = None,
                 decisions: pd.DataFrame | None = None, alert_threshold: float = 0.7,
                 psi_threshold: float = 0.25, supervised=None) -> ValidationReport:
    """The validation report of ``model`` (markdown + metrics). ``training`` is its training window,
    re-read from the warehouse: the report says whether it still hashes to the recorded version."""
    from kyc_assets.monitoring.model import training_data_version

    reproduced = training_data_version(training, model.feature_columns) == model.training_data_version \
        if set(model.feature_columns) <= set(training.columns) else False
    lines = [f"# Model validation report: anomaly model `{model.version}`", "",
             f"Trained {model.trained_at} by code version {model.code_version}.", ""]

    lines += ["## Training data", "",
              (f"- window: {model.training_window[0]} .. {model.training_window[1]} "
               f"({model.training_rows} account-days, {model.params.get('rows_used')} used for fitting)"),
              (f"- training-data version: `{model.training_data_version}` "
               f"({'reproduced from the warehouse' if reproduced else 'NOT reproduced: features changed since'})"),
              f"- accounts: {training['account_id'].nunique() if 'account_id' in training else 0}", ""]
    summary = pd.DataFrame([{"feature": k, **v} for k, v in model.summary.items()])
    lines += [_md_table(summary), ""]

    lines += ["## Parameters", "", _md_table(pd.DataFrame(
        [{"parameter": k, "value": str(v)} for k, v in sorted(model.params.items())])), "",
              f"Features ({len(model.feature_columns)}): {', '.join(model.feature_columns)}", ""]

    contributions = feature_contributions(model, training, alert_threshold) if len(training) else pd.DataFrame()
    lines += ["## Feature contributions", "",
              ("Mean |robust z| of each feature among the training window's alerts vs all account-days, and "
               "how often it is among an alert's top-3 reasons (top 15)."), "", _md_table(contributions.head(15)), ""]

    stab = stability(model, previous, training, previous_training, alert_threshold)
    lines += ["## Stability against the previous version", ""]
    metrics: dict = {"model_version": model.version, "training_rows": model.training_rows,
                     "training_data_reproduced": bool(reproduced), "previous_version": stab.get("previous_version")}
    if stab.get("previous_version") is None:
        lines += ["First model version: no previous version to compare with.", ""]
    else:
        lines += [f"Previous version: `{stab['previous_version']}`.", ""]
        if "score_psi" in stab:
            lines += [f"- score PSI (both models on the current training window): {stab['score_psi']:.3f}",
                      f"- alert agreement (Jaccard): {stab['alert_jaccard']:.3f}"]
            metrics.update(score_psi=stab["score_psi"], alert_jaccard=stab["alert_jaccard"])
        else:
            lines += ["- the feature set changed: the previous model cannot score the current window"]
        if stab.get("feature_psi"):
            fpsi = pd.Series(stab["feature_psi"]).sort_values(ascending=False)
            drifted = fpsi[fpsi > psi_threshold]
            lines += [f"- features with PSI > {psi_threshold}: {len(drifted)} of {len(fpsi)}", "",
                      _md_table(fpsi.head(10).rename_axis("feature").reset_index(name="psi"))]
            metrics["max_feature_psi"] = float(fpsi.max())
        lines += [""]

    lines += ["## Alert volume", ""]
    train_scores = score_with_model(training, model, alert_threshold=alert_threshold) if len(training) else None
    train_rate = float(train_scores["alert"].mean()) if train_scores is not None and len(train_scores) else 0.0
    lines += [f"- on the training window (threshold policy at {alert_threshold}): {train_rate:.2%} of account-days"]
    metrics["training_alert_rate"] = train_rate
    if scores_by_day is not None and len(scores_by_day):
        rate = scores_by_day["alerts"] / scores_by_day["accounts"].clip(lower=1)
        lines += [(f"- scored with this version: {len(scores_by_day)} days, {int(scores_by_day['accounts'].sum())} "
                   f"account-days, {int(scores_by_day['alerts'].sum())} alerts; daily alert share "
                   f"min {rate.min():.2%}, median {rate.median():.2%}, max {rate.max():.2%}")]
        metrics.update(scored_days=len(scores_by_day), alerts=int(scores_by_day["alerts"].sum()))
    else:
        lines += ["- not used for scoring yet"]
        metrics.update(scored_days=0, alerts=0)
    lines += [""]

    lines += ["## Precision of past alerts", ""]
    table = precision_table(decisions) if decisions is not None and len(decisions) else pd.DataFrame()
    if table.empty:
        open_cases = int(decisions["case_id"].nunique()) if decisions is not None and len(decisions) else 0
        lines += [(f"{NO_DECISIONS}: {open_cases} alert case(s) open. Precision is reported once analysts "
                   f"decide alerted cases (outcome `confirmed` or `false_positive`).")]
        metrics.update(decided_cases=0, precision=None)
    else:
        overall = table[table["model_version"] == "all versions"].iloc[0]
        lines += [_md_table(table)]
        metrics.update(decided_cases=int(overall["decided"]), precision=float(overall["precision"]))
        mine = table[table["model_version"] == model.version]
        metrics["precision_this_version"] = float(mine["precision"].iloc[0]) \
            if len(mine) and mine["precision"].iloc[0] is not None else None
    lines += [""]

    lines += ["## Precision and recall at several budgets", "",
              ("Alerting the top share of each day's accounts on the training window (this model, with the graph "
               "typologies and rules): accounts alerted, and precision / recall against analysts' decided cases. "
               "The budget (`KYC_ALERT_BUDGET`) is the analysts' capacity: choose it with these numbers."), ""]
    budgets = budget_table(train_scores, decisions) if train_scores is not None else pd.DataFrame()
    lines += [_md_table(budgets), ""]
    metrics["budgets"] = budgets.to_dict(orient="records") if len(budgets) else []

    lines += ["## Learning from decisions", ""]
    if supervised is None:
        lines += [("No supervised model: fewer decided cases than `KYC_MODEL_MIN_LABELS`, or only one outcome. "
                  "Scores come from the unsupervised model, the graph typologies and the rules."), ""]
        metrics["supervised_version"] = None
    else:
        v = supervised.validation
        lines += [(f"Supervised model `{supervised.version}` ({supervised.params.get('algorithm')}) trained on "
                  f"{supervised.training_rows} decided cases ({supervised.positives} confirmed); time-based "
                  f"validation on the latest {v.get('validation_rows', 0)} decisions:"), ""]
        if v.get("at_budget"):
            lines += [_md_table(pd.DataFrame([{"top share of cases": k, **val} for k, val in v["at_budget"].items()])), ""]
        lines += [f"- average precision: {v.get('average_precision')}", f"- Brier score: {v.get('brier')}"]
        if v.get("recall_by_typology"):
            lines += [f"- recall by typology (p >= 0.5): {json.dumps(v['recall_by_typology'])}"]
        if v.get("calibration"):
            lines += ["", "Calibration (predicted vs observed rate per decile):", "",
                      _md_table(pd.DataFrame(v["calibration"]))]
        lines += [f"- stability against the previous version: {json.dumps(v.get('stability') or 'first version')}", ""]
        metrics["supervised_version"] = supervised.version
    return ValidationReport(markdown="\n".join(lines), metrics=metrics)
