"""Suppressions: an analyst clears a false positive; no case while the list entry is unchanged, the hit
returns (and the suppression is lifted, audited) when the entry changes. SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa

from kyc_assets.audit import log as audit
from kyc_assets.cases.store import CaseStore
from kyc_assets.screening.suppressions import (
    SuppressionError,
    apply_suppressions,
    create_suppression,
    suppress_hit,
)
from kyc_assets.watchlists.model import WatchlistEntry
from kyc_assets_tests.test_screening_assets import (
    CUSTOMERS,
    PEPS,
    SANCTIONED,
    entries_frame,
    materialize,
    read_table,
    world,  # noqa: F401  (fixture)
    write_tables,
)

H1, H2 = "1" * 64, "2" * 64


def _actions(store: CaseStore) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(audit.audit_log.c.action).order_by(audit.audit_log.c.seq)).scalars())


def _exercise_store(store: CaseStore) -> None:
    first = create_suppression(store, customer_id="C-1", list_entity_id="t:1", entry_hash=H1, analyst="ana",
                               reason="different date of birth", list_source="test_sanctions")
    assert first["changed"] and first["status"] == "active" and first["suppression_id"].startswith("SUP-")
    again = create_suppression(store, customer_id="C-1", list_entity_id="t:1", entry_hash=H1, analyst="bob",
                               reason="dup")
    assert not again["changed"] and again["created_by"] == "ana"  # idempotent, first decision kept
    assert store.active_suppression_keys() == {("C-1", "t:1", H1)}
    # Same entry hash: nothing lifted; entity absent: nothing lifted; changed hash: lifted.
    assert store.lift_changed_suppressions({"t:1": H1}, actor="system") == 0
    assert store.lift_changed_suppressions({}, actor="system") == 0
    assert store.lift_changed_suppressions({"t:1": H2}, actor="system") == 1
    assert store.active_suppression_keys() == set()
    lifted = store.suppressions("lifted")[0]
    assert lifted["lifted_reason"] == "list entry changed" and lifted["lifted_at"]
    # The analyst can clear the same content again (reactivation), and withdraw it.
    assert create_suppression(store, customer_id="C-1", list_entity_id="t:1", entry_hash=H1, analyst="cy",
                              reason="again")["changed"]
    assert store.lift_suppression(first["suppression_id"], analyst="cy", reason="withdrawn")
    assert not store.lift_suppression(first["suppression_id"], analyst="cy", reason="twice")
    assert _actions(store) == ["suppression_created", "suppression_lifted", "suppression_reactivated",
                               "suppression_lifted"]
    assert store.verify_audit().intact


def test_suppressions_are_stored_idempotent_lifted_and_audited_on_sqlite(tmp_path):
    _exercise_store(CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}"))


def test_suppressions_on_postgres(pg_database):
    from kyc_assets_tests.conftest import PG

    store = CaseStore(f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{pg_database}")
    _exercise_store(store)
    store.engine.dispose()


@pytest.mark.parametrize("kwargs, message", [
    ({"customer_id": ""}, "customer id"),
    ({"entry_hash": "abc"}, "64-hex"),
    ({"analyst": " "}, "analyst"),
    ({"reason": ""}, "reason"),
])
def test_a_suppression_needs_its_key_an_analyst_and_a_reason(tmp_path, kwargs, message):
    store = CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    args = {"customer_id": "C-1", "list_entity_id": "t:1", "entry_hash": H1, "analyst": "ana", "reason": "r",
            **kwargs}
    with pytest.raises(SuppressionError, match=message):
        create_suppression(store, **args)
    with pytest.raises(SuppressionError, match="only a match"):
        suppress_hit(store, {"customer_id": "C-1", "decision": "no_match"}, analyst="a", reason="r")
    assert store.suppressions() == []


def test_apply_suppressions_marks_only_matching_hits_and_keeps_the_decision():
    df = pd.DataFrame({"customer_id": ["C-1", "C-1", "C-2"], "list_entity_id": ["t:1", "t:1", None],
                       "entry_hash": [H1, H2, None], "decision": ["match", "match", "no_match"]})
    out = apply_suppressions(df, {("C-1", "t:1", H1), ("C-2", "None", "None")})
    assert out["suppressed"].tolist() == [True, False, False]
    assert out["decision"].tolist() == df["decision"].tolist()


def test_suppress_rematerialize_no_case_then_entry_changes_and_the_hit_is_back(world):  # noqa: F811
    from kyc_assets.definitions import build_resources
    from kyc_assets.settings import Settings

    instance, home = world["instance"], world["home"]
    assert materialize(instance, ["screening_results"]).success
    hits = read_table(home, "screening_results")
    hit = hits[(hits["customer_id"] == "C-2") & (hits["decision"] != "no_match")].iloc[0].to_dict()
    store = build_resources(Settings.from_env())["case_store"].store()
    suppress_hit(store, hit, analyst="analyst:ana", reason="customer born 1990, listed person 1960s")

    result = materialize(instance, ["screening_results", "escalated_cases"])
    assert result.success
    df = read_table(home, "screening_results")
    row = df[(df["customer_id"] == "C-2") & (df["list_entity_id"] == hit["list_entity_id"])].iloc[0]
    assert bool(row["suppressed"]) and row["decision"] == hit["decision"]  # kept, visible, not escalated
    cases = read_table(home, "escalated_cases")
    assert "C-2" not in set(cases["subject_id"]) and "C-1" in set(cases["subject_id"])
    meta = result.asset_materializations_for_node("screening_results")[0].metadata
    assert meta["suppressed_hits"].value == 1

    # The list entry changes (a new alias): new content hash, suppression lifted, the hit is live again.
    changed = [SANCTIONED[0], WatchlistEntry("t:2", "test_sanctions", "person", "Aslan ZAKAYEV",
                                             aliases=[("Aslan Zakaev", "strong_aka"), ("Aslan Z.", "weak_aka")]),
               *SANCTIONED[2:]]
    write_tables(home, entries=pd.concat([entries_frame(changed, "s-v2"), entries_frame(PEPS, "p-v1")]))
    result = materialize(instance, ["screening_results", "escalated_cases"])
    assert result.success
    df = read_table(home, "screening_results")
    row = df[(df["customer_id"] == "C-2") & (df["list_entity_id"] == hit["list_entity_id"])].iloc[0]
    assert not bool(row["suppressed"]) and row["entry_hash"] != hit["entry_hash"]
    cases = read_table(home, "escalated_cases").set_index("subject_id")
    assert "C-2" in cases.index
    assert {e["list_entity_id"] for e in json.loads(cases.loc["C-2", "evidence"])} == {hit["list_entity_id"]}
    assert result.asset_materializations_for_node("screening_results")[0].metadata["suppressions_lifted"].value == 1
    assert [s["status"] for s in store.suppressions()] == ["lifted"]
    assert _actions(store).count("suppression_lifted") == 1 and store.verify_audit().intact
    assert {c[0] for c in CUSTOMERS} == set(df["customer_id"])
