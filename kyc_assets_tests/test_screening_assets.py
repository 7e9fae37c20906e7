"""screening_results and adverse_media_results materialized on a small world written straight into
the warehouse: coverage of every current list version, delta re-screening, PEP hits, the REST
provider and adverse media through local servers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pandas as pd
import pytest

from kyc_assets.screening.delta import (
    PreviousScreening,
    coverage_gaps,
    entry_content_hash,
    entry_hit_type,
    load_previous,
    screen_customer_base,
    with_entry_hashes,
)
from kyc_assets.storage import Warehouse
from kyc_assets.watchlists.model import WatchlistEntry

SANCTIONED = [
    WatchlistEntry("t:1", "test_sanctions", "person", "Viktor Petrovich BOUTKEVITCH", dates_of_birth=["1967-01-13"]),
    WatchlistEntry("t:2", "test_sanctions", "person", "Aslan ZAKAYEV", aliases=[("Aslan Zakaev", "strong_aka")]),
    WatchlistEntry("t:3", "test_sanctions", "organization", "GOLDEN CRESCENT TRADING LLC"),
    WatchlistEntry("t:4", "test_sanctions", "person", "Marisol QUINTERO VALDEZ"),
]
PEPS = [WatchlistEntry("p:1", "test_peps", "person", "Henrietta LOCKWOOD-BRANDT", topics=["role.pep"])]
CUSTOMERS = [
    ("C-1", "Viktor Boutkevitch", "1967-01-13", "RU"),
    ("C-2", "Aslan Zakayev", None, None),
    ("C-3", "Anna Lindqvist", "1990-04-02", "SE"),
    ("C-4", "Henrietta Lockwood-Brandt", None, "GB"),
    ("C-5", None, None, None),
]


def entries_frame(entries: list[WatchlistEntry], version: str) -> pd.DataFrame:
    """Rows as the watchlist_entries table stores them (list fields as JSON text)."""
    rows = []
    for e in entries:
        record = {k: json.dumps(v) if isinstance(v, list | tuple | dict) else v for k, v in e.to_record().items()}
        rows.append({**record, "list_version": version})
    return pd.DataFrame(rows)


def customers_frame(rows=CUSTOMERS) -> pd.DataFrame:
    return pd.DataFrame([{"customer_id": cid, "full_name": name, "date_of_birth": dob, "nationality": nat,
                          "document_sha256s": json.dumps(["a" * 64])} for cid, name, dob, nat in rows])


def write_tables(home, customers: pd.DataFrame | None = None, entries: pd.DataFrame | None = None) -> None:
    """Write upstream tables into the warehouse as the IO manager would (schema kyc)."""
    home.mkdir(parents=True, exist_ok=True)
    warehouse = Warehouse(home / "warehouse")
    for name, frame in (("customers", customers), ("watchlist_entries", entries)):
        if frame is not None:
            warehouse.write(name, frame)
    if not warehouse.exists("anomaly_scores"):
        warehouse.write("anomaly_scores", pd.DataFrame({
            "account_id": pd.Series(dtype="string"), "as_of_date": pd.Series(dtype="datetime64[us]"),
            "risk_score": pd.Series(dtype="float64"), "alert": pd.Series(dtype="bool"),
            "triggered_rules": pd.Series(dtype="string"), "reasons": pd.Series(dtype="string"),
            "run_id": pd.Series(dtype="string")}))


def read_table(home, name: str) -> pd.DataFrame:
    return Warehouse(home / "warehouse").read(name)


def materialize(instance, selection, resources: dict | None = None, **kwargs) -> dg.ExecuteInProcessResult:
    from kyc_assets.definitions import build_assets, build_resources
    from kyc_assets.settings import Settings

    settings = Settings.from_env()
    return dg.materialize(build_assets(settings), selection=selection, instance=instance,
                          resources={**build_resources(settings), **(resources or {})}, **kwargs)


def meta(result, asset="screening_results") -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


def checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


@pytest.fixture
def world(kyc_env):
    write_tables(kyc_env, customers_frame(),
                 pd.concat([entries_frame(SANCTIONED, "s-v1"), entries_frame(PEPS, "p-v1")], ignore_index=True))
    return {"home": kyc_env, "instance": dg.DagsterInstance.ephemeral()}


def _key_columns(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["customer_id", "list_entity_id", "list_version", "entry_hash", "hit_type", "decision"]
    return df[cols].fillna("").sort_values(cols).reset_index(drop=True)


def test_every_customer_has_a_row_for_every_current_list_version(world):
    result = materialize(world["instance"], ["screening_results"])
    assert result.success and all(checks(result).values()), checks(result)
    df = read_table(world["home"], "screening_results")
    pairs = set(zip(df["customer_id"], df["list_version"], strict=True))
    assert pairs == {(c[0], v) for c in CUSTOMERS for v in ("s-v1", "p-v1")}
    hits = df[df["decision"] != "no_match"].set_index("customer_id")
    assert hits.loc["C-1", "list_entity_id"] == "t:1" and hits.loc["C-1", "hit_type"] == "sanctions"
    assert hits.loc["C-4", "list_entity_id"] == "p:1" and hits.loc["C-4", "hit_type"] == "pep"
    assert "C-3" not in hits.index and "C-5" not in hits.index
    assert (hits["entry_hash"].str.len() == 64).all() and not hits["suppressed"].any()
    m = meta(result)
    assert m["screening_mode"] == "full" and m["pep_hits"] == 1 and m["customers_screened"] == 5


def test_coverage_check_ignores_rows_from_an_older_list_version():
    customers = customers_frame(CUSTOMERS[:2])
    rows = pd.DataFrame({"customer_id": ["C-1", "C-2"], "list_version": ["v2", "v1"]})
    assert coverage_gaps(rows, customers, ["v2"]) == {"unscreened_customers": 1, "stale_rows": 1,
                                                      "current_versions": 1}
    rows = pd.DataFrame({"customer_id": ["C-1", "C-2", "C-2"], "list_version": ["v2", "v2", "provider:x"]})
    assert coverage_gaps(rows, customers, ["v2"])["unscreened_customers"] == 0
    assert coverage_gaps(rows, customers, ["v2", "v3"])["unscreened_customers"] == 2
    assert coverage_gaps(rows.iloc[:0], customers, [])["unscreened_customers"] == 2  # no list: nobody screened


def test_blocking_check_fails_when_a_customer_was_never_screened(world, monkeypatch):
    import kyc_assets.screening.assets as screening_assets

    real = screening_assets.screen_customer_base

    def drop_one(*args, **kwargs):
        df, stats = real(*args, **kwargs)
        return df[df["customer_id"] != "C-3"], stats

    monkeypatch.setattr(screening_assets, "screen_customer_base", drop_one)
    result = materialize(world["instance"], ["screening_results"], raise_on_error=False)
    evaluation = {e.check_name: e for e in result.get_asset_check_evaluations()}["every_customer_screened"]
    assert not evaluation.passed and evaluation.metadata["unscreened_customers"].value == 1


def test_new_list_version_scores_only_the_delta_and_agrees_with_a_full_screen(world):
    instance, home = world["instance"], world["home"]
    assert materialize(instance, ["screening_results"]).success
    # Same list content republished under a new version: nothing to score, everything carried over.
    write_tables(home, entries=pd.concat([entries_frame(SANCTIONED, "s-v2"), entries_frame(PEPS, "p-v1")]))
    result = materialize(instance, ["screening_results"])
    m = meta(result)
    assert m["screening_mode"] == "delta" and m["delta_entries"] == 0 and m["customers_carried"] == 4
    assert all(checks(result).values())
    df = read_table(home, "screening_results")
    assert set(df.loc[df["list_source"] == "test_sanctions", "list_version"]) == {"s-v2"}

    # v3: t:2 changed (no longer matches C-2), a new entry matching C-3, t:4 removed.
    changed = [SANCTIONED[0], WatchlistEntry("t:2", "test_sanctions", "person", "Ruslan MAGOMEDOV"),
               SANCTIONED[2], WatchlistEntry("t:5", "test_sanctions", "person", "Anna LINDQVIST",
                                             nationalities=["SE"])]
    entries = pd.concat([entries_frame(changed, "s-v3"), entries_frame(PEPS, "p-v1")], ignore_index=True)
    write_tables(home, entries=entries)
    result = materialize(instance, ["screening_results"])
    m = meta(result)
    assert m["screening_mode"] == "delta" and m["delta_entries"] == 2, m
    assert m["customers_carried"] >= 1 and m["customers_rescreened"] >= 1 and m["customers_full"] == 0
    assert all(checks(result).values())
    df = read_table(home, "screening_results")
    hits = df[df["decision"] != "no_match"]
    assert set(zip(hits["customer_id"], hits["list_entity_id"], strict=True)) == {
        ("C-1", "t:1"), ("C-3", "t:5"), ("C-4", "p:1")}
    full, _ = screen_customer_base(customers_frame(), with_entry_hashes(entries), "full-run")
    pd.testing.assert_frame_equal(_key_columns(df), _key_columns(full))


def test_changed_customer_and_changed_matcher_mean_a_full_screen(world):
    instance, home = world["instance"], world["home"]
    assert materialize(instance, ["screening_results"]).success
    renamed = [*CUSTOMERS[:2], ("C-3", "Marisol Quintero Valdez", None, None), *CUSTOMERS[3:]]
    write_tables(home, customers=customers_frame(renamed))
    result = materialize(instance, ["screening_results"])
    m = meta(result)
    assert m["screening_mode"] == "delta" and m["customers_full"] == 1 and m["customers_carried"] == 3
    df = read_table(home, "screening_results")
    assert ("C-3", "t:4") in set(zip(df["customer_id"], df["list_entity_id"], strict=True))

    event = instance.get_latest_materialization_event(dg.AssetKey("screening_results"))
    md = event.asset_materialization.metadata
    args = (str(home / "warehouse"), "kyc", md["entry_state_hash"].value, md["dagster/row_count"].value)
    previous, why = load_previous(*args, md["matching_logic"].value)
    assert isinstance(previous, PreviousScreening) and why == "ok"
    assert load_previous(*args, "another-matcher")[0] is None  # a new matcher invalidates the state
    assert load_previous(args[0], "kyc", args[2], args[3] + 1, md["matching_logic"].value)[0] is None


def test_entry_hash_ignores_list_version_and_formatting_but_not_content():
    a = entries_frame(SANCTIONED[:1], "v1").iloc[0].to_dict()
    b = {**a, "list_version": "v2", "aliases": "[]", "last_seen": "2026-01-01"}
    assert entry_content_hash(a) == entry_content_hash(b)
    assert entry_content_hash(a) != entry_content_hash({**a, "dates_of_birth": '["1967"]'})
    assert entry_hit_type({"topics": '["role.pep"]'}) == "pep"
    assert entry_hit_type({"topics": ["role.pep.national", "sanction"]}) == "sanctions"
    assert entry_hit_type({"is_pep": True}) == "pep" and entry_hit_type({}) == "sanctions"


def test_pep_hits_open_lower_priority_cases_than_sanctions_hits(world):
    result = materialize(world["instance"], ["screening_results", "escalated_cases"])
    assert result.success
    cases = read_table(world["home"], "escalated_cases").set_index("subject_id")
    assert cases.loc["C-4", "priority"] == 3 and "PEP" in cases.loc["C-4", "reasons"]
    assert cases.loc["C-1", "priority"] <= 2 and "sanctions" in cases.loc["C-1", "reasons"]


def test_no_customer_pii_in_materialization_metadata(world):
    result = materialize(world["instance"], ["screening_results", "adverse_media_results"])
    text = " ".join(str(e.event_specific_data.materialization.metadata)
                    for e in result.get_asset_materialization_events())
    assert "screening_mode" in text and "articles" in text
    for _, name, dob, _ in CUSTOMERS:
        for secret in (name, dob, name and name.upper()):
            assert not secret or secret not in text


# --- the REST provider and adverse media through local servers ------------------------------------

class _Server:
    def __init__(self, handler):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_rest_provider_hits_join_screening_results(world, monkeypatch):
    seen = []

    class Provider(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.headers.get("Authorization"), body["reference"]))
            results = [{"id": "WC-77", "name": "LINDQVIST, Anna", "score": 93, "category": "PEP", "list": "wc"}] \
                if body["name"] == "Anna Lindqvist" else []
            payload = json.dumps({"results": results}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    monkeypatch.setenv("KYC_SCREENING_PROVIDER_TOKEN", "tok-123")
    with _Server(Provider) as url:
        monkeypatch.setenv("KYC_SCREENING_PROVIDER_URL", url)
        monkeypatch.setenv("KYC_SCREENING_PROVIDER_NAME", "worldcheck")
        monkeypatch.setenv("KYC_SCREENING_PROVIDER_SCORE_SCALE", "100")
        result = materialize(world["instance"], ["screening_results"])
        assert result.success and all(checks(result).values())
        assert meta(result)["provider_calls"] == 4  # the customer without a name is not sent
        # An unchanged customer base is not sent again.
        assert meta(materialize(world["instance"], ["screening_results"]))["provider_calls"] == 0
    assert {auth for auth, _ in seen} == {"Bearer tok-123"}
    df = read_table(world["home"], "screening_results")
    provider = df[df["list_source"] == "worldcheck"]
    assert set(provider["customer_id"]) == {c[0] for c in CUSTOMERS}
    hit = provider[provider["decision"] != "no_match"].iloc[0]
    assert hit["customer_id"] == "C-3" and hit["list_entity_id"] == "worldcheck:WC-77"
    assert hit["hit_type"] == "pep" and hit["score"] == pytest.approx(0.93) and hit["decision"] == "match"


def test_rest_provider_url_without_token_fails_at_load():
    from kyc_assets.settings import Settings

    with pytest.raises(ValueError, match="KYC_SCREENING_PROVIDER_TOKEN"):
        Settings.from_env({"KYC_SCREENING_PROVIDER_URL": "http://127.0.0.1:9"})
    with pytest.raises(ValueError, match="http"):
        Settings.from_env({"KYC_ADVERSE_MEDIA_URL": "ftp://x"})


def test_adverse_media_is_off_by_default_and_reads_a_gdelt_like_server(world, monkeypatch):
    result = materialize(world["instance"], ["adverse_media_results"])
    assert result.success and all(checks(result).values())
    df = read_table(world["home"], "adverse_media_results")
    assert set(df["status"]) == {"disabled"} and len(df) == len(CUSTOMERS)

    queries = []

    class Gdelt(BaseHTTPRequestHandler):
        def do_GET(self):
            from urllib.parse import parse_qs, urlparse

            q = parse_qs(urlparse(self.path).query)
            queries.append(q)
            body = {}
            if "Zakayev" in q["query"][0]:
                body = {"articles": [{"url": "https://news.example/a", "url_mobile": "", "title": "Raid",
                                      "seendate": "20240102T030405Z", "socialimage": "", "domain": "news.example",
                                      "language": "English", "sourcecountry": "United Kingdom"}]}
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    with _Server(Gdelt) as url:
        monkeypatch.setenv("KYC_ADVERSE_MEDIA_URL", url + "/api/v2/doc/doc")
        monkeypatch.setenv("KYC_ADVERSE_MEDIA_RPS", "100")
        result = materialize(world["instance"], ["adverse_media_results"])
    assert result.success and all(checks(result).values())
    df = read_table(world["home"], "adverse_media_results").set_index("customer_id")
    assert df.loc["C-2", "status"] == "article" and df.loc["C-2", "seen_at"] == "2024-01-02T03:04:05Z"
    assert df.loc["C-3", "status"] == "no_articles" and df.loc["C-5", "status"] == "no_name"
    assert len(queries) == 4 and all(q["mode"] == ["artlist"] and q["format"] == ["json"] for q in queries)
    assert meta(result, "adverse_media_results")["articles"] == 1


def test_screening_settings_are_read_and_documented(tmp_path):
    from pathlib import Path

    from kyc_assets.definitions import build_resources
    from kyc_assets.settings import Settings

    off = Settings.from_env({"KYC_HOME": str(tmp_path)})
    resources = build_resources(off)
    assert not resources["screening_provider"].enabled and not resources["adverse_media"].enabled
    assert resources["screening_provider"].client() is None and resources["screening_state"].delta
    on = Settings.from_env({"KYC_HOME": str(tmp_path), "KYC_SCREENING_PROVIDER_URL": "https://p.example",
                            "KYC_SCREENING_PROVIDER_TOKEN": "x", "KYC_SCREENING_PROVIDER_RPS": "2",
                            "KYC_ADVERSE_MEDIA_URL": "https://g.example/doc", "KYC_SCREENING_DELTA": "false"})
    assert on.screening_provider_rps == 2.0 and not on.screening_delta
    token = build_resources(on)["screening_provider"].token
    assert isinstance(token, dg.EnvVar) and token.env_var_name == "KYC_SCREENING_PROVIDER_TOKEN"
    with pytest.raises(ValueError, match="KYC_SCREENING_PROVIDER_RPS"):
        Settings.from_env({"KYC_SCREENING_PROVIDER_RPS": "0"})
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for var in ("KYC_SCREENING_DELTA", "KYC_SCREENING_PROVIDER_URL", "KYC_SCREENING_PROVIDER_TOKEN",
                "KYC_SCREENING_PROVIDER_NAME", "KYC_SCREENING_PROVIDER_PATH", "KYC_SCREENING_PROVIDER_RPS",
                "KYC_SCREENING_PROVIDER_TIMEOUT_SECONDS", "KYC_SCREENING_PROVIDER_SCORE_SCALE",
                "KYC_ADVERSE_MEDIA_URL", "KYC_ADVERSE_MEDIA_RPS", "KYC_ADVERSE_MEDIA_TIMESPAN"):
        assert f"`{var}`" in readme, var
