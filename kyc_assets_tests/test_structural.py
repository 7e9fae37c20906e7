"""The structural model: boosted trees over the graph features, stored as plain arrays, explained per row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from kyc_assets.monitoring import structural
from kyc_assets.monitoring.graph import explain_reasons, structural_risk
from kyc_assets.monitoring.structural import FEATURES, StructuralModel, default_model, structural_score


def _toy(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.exponential(2.0, size=(2000, 3))
    y = (x[:, 0] * (x[:, 1] > 1.5) + rng.normal(0, 0.5, len(x))) > 2.0
    clf = HistGradientBoostingClassifier(max_iter=40, early_stopping=False, random_state=0).fit(x, y)
    frame = pd.DataFrame(x, columns=["g_fan_in_burst", "g_relay", "g_unexplained_in"])
    return clf, frame, x


def test_trees_as_arrays_reproduce_sklearn_and_survive_a_round_trip(tmp_path):
    clf, frame, x = _toy()
    model = StructuralModel.from_sklearn(clf, tuple(frame.columns), {"version": "toy"})
    raw, _ = model.raw(model.matrix(frame))
    assert np.allclose(raw, clf.decision_function(x), atol=1e-9)
    model.save(tmp_path / "m.npz")
    again = StructuralModel.load(tmp_path / "m.npz")
    assert again.version == "toy" and again.features == model.features
    assert np.allclose(again.predict_proba(frame), clf.predict_proba(x)[:, 1], atol=1e-12)


def test_contributions_add_up_and_name_the_reasons():
    clf, frame, x = _toy()
    model = StructuralModel.from_sklearn(clf, tuple(frame.columns), {})
    raw, contrib = model.raw(model.matrix(frame), contributions=True)
    assert np.allclose(raw, clf.decision_function(x), atol=1e-9)
    roots = model.value[model.offsets[:-1]].sum()
    assert np.allclose(model.baseline + roots + contrib.sum(axis=1), raw, atol=1e-9)
    # the label depends on features 0 and 1 only: the unused third feature never leads the reasons
    assert np.abs(contrib[:, 2]).mean() < 0.2 * np.abs(contrib[:, 0]).mean()
    p, reasons = model.score(frame)
    top = np.argsort(-p)[:50]
    assert all(r for r in reasons[top])
    assert all(r.split(";")[0] in {"fan_in_burst", "value_relay"} for r in reasons[top])
    # missing columns count as 0 instead of failing
    assert len(model.predict_proba(frame[["g_relay"]])) == len(frame)


def test_shipped_model_is_trained_on_tuning_worlds_only_and_ranks_laundering_first():
    model = default_model()
    assert model is not None, "kyc_assets/monitoring/structural_model.npz is missing"
    assert model.features == FEATURES and "g_ppr_known_bad" not in model.features
    assert "TUNE_SEEDS" in model.meta["training"] and "EVAL" not in model.meta["training"]
    from kyc_assets.sample_data.aml_world import TUNE_SEEDS, WorldParams

    gf, y = structural.world_frame(TUNE_SEEDS[50], WorldParams(n_accounts=3000, target_transfers=18_000,
                                                                n_days=90))
    risk, reasons = structural_score(gf)
    from sklearn.metrics import average_precision_score

    noisy_or = structural_risk(gf)[0]
    assert average_precision_score(y, risk) > 3 * y.mean()
    assert average_precision_score(y, risk) >= average_precision_score(y, noisy_or) - 0.02
    top = np.argsort(-risk)[: max(5, int(0.01 * len(risk)))]
    assert all(reasons[top]), "every top-ranked account has reasons"
    assert all("no explanation" not in t for r in reasons[top] for t in explain_reasons(r))


def test_without_the_artefact_the_noisy_or_scores(monkeypatch, tmp_path):
    _clf, frame, _ = _toy()
    frame = frame.assign(**{c: 0.0 for c in FEATURES if c not in frame.columns})
    monkeypatch.setattr(structural, "ARTEFACT", tmp_path / "absent.npz")
    assert default_model() is None
    risk, reasons = structural_score(frame)
    expected, expected_reasons = structural_risk(frame)
    assert np.allclose(risk, expected) and list(reasons) == list(expected_reasons)


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_frames(n):
    frame = pd.DataFrame({"account_id": [f"A{i}" for i in range(n)], **{c: [1.0] * n for c in FEATURES}})
    risk, reasons = structural_score(frame)
    assert len(risk) == n == len(reasons)
