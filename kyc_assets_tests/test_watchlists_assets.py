"""Watchlist assets: one asset per configured list, the union, content-hash versions and the checks."""

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from kyc_assets.watchlists.config import SourceSpec, configured_sources, parse_sources

FIXTURES = Path(__file__).parent / "fixtures" / "watchlists"


def build(monkeypatch, **env):
    from kyc_assets.definitions import build_assets, build_resources
    from kyc_assets.settings import Settings

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env()
    return settings, build_assets(settings), build_resources(settings)


def run(assets, resources, instance, selection, **kwargs):
    return dg.materialize(assets, selection=selection, resources=resources, instance=instance,
                          raise_on_error=False, **kwargs)


def checks(result):
    return {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}


def table(settings, sql):
    from kyc_assets.settings import warehouse

    with warehouse(settings).connect() as con:
        return con.execute(sql).fetchall()


def test_sources_setting_parses_names_urls_and_legacy_paths():
    specs = parse_sources("ofac=https://example.org/sdn.xml?x=1, un = /data/un.xml")
    assert specs == (SourceSpec("ofac", "https://example.org/sdn.xml?x=1"), SourceSpec("un", "/data/un.xml"))
    assert specs[0].is_url and specs[0].display_location() == "https://example.org/sdn.xml"
    assert [s.name for s in configured_sources(specs, ("/x/ofac", "/y/ConList.csv"))] == \
        ["ofac", "un", "ofac_2", "conlist"]
    assert configured_sources((), ())[0].is_bundled
    for bad in ("Ofac-List=x", "ofac=", "a=1,a=2", "justtext"):
        with pytest.raises(ValueError, match="KYC_WATCHLIST_SOURCES"):
            parse_sources(bad)


def test_bundled_list_asset_and_union(kyc_env, monkeypatch):
    settings, assets, resources = build(monkeypatch)
    instance = dg.DagsterInstance.ephemeral()
    result = run(assets, resources, instance, ["watchlist_us_ofac_sdn", "watchlist_entries"])
    assert result.success
    assert all(checks(result).values()) and ("watchlist_us_ofac_sdn", "list_fresh") in checks(result)
    version = table(settings, "select distinct list_version from kyc.watchlist_us_ofac_sdn")[0][0]
    record = instance.get_latest_materialization_event(dg.AssetKey("watchlist_us_ofac_sdn"))
    assert len(version) == 64 and record.asset_materialization.tags["dagster/data_version"] == version
    columns = [c for (c,) in table(settings, "select column_name from information_schema.columns "
                                             "where table_name = 'watchlist_entries'")]
    for column in ("entity_id", "list_source", "list_version", "entity_type", "primary_name", "aliases",
                   "entry_hash", "original_script_names", "topics"):
        assert column in columns
    assert table(settings, "select count(*) from kyc.watchlist_entries")[0][0] > 2000


def test_two_url_sources_are_downloaded_unioned_and_judged_fresh(kyc_env, monkeypatch):
    from kyc_assets_tests.test_watchlists_download import ListServer

    server = ListServer()
    try:
        server.script = [{"body": (FIXTURES / "un_consolidated_sample.xml").read_bytes(), "etag": '"u1"'}]
        base = server.url.split("?")[0]
        settings, assets, resources = build(
            monkeypatch, KYC_WATCHLIST_SOURCES=f"un={base},hmt={FIXTURES / 'uk_hmt_conlist_sample.csv'}")
        instance = dg.DagsterInstance.ephemeral()
        result = run(assets, resources, instance, ["watchlist_un", "watchlist_hmt", "watchlist_entries"])
        assert result.success and all(checks(result).values())
        assert dict(table(settings, "select list_source, count(*) from kyc.watchlist_entries group by 1")) == \
            {"un_sc": 7, "gb_hmt": 6}
        # the server stops confirming the list: 30 hours later the freshness check fails
        state_file = settings.watchlist_cache_dir / "un" / "state.json"
        state = json.loads(state_file.read_text())
        state["verified_at"] = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
        state_file.write_text(json.dumps(state))
        stale = dg.materialize(assets, selection=dg.AssetSelection.checks(
            dg.AssetCheckKey(dg.AssetKey("watchlist_un"), "list_fresh")),
                               resources=resources, instance=instance, raise_on_error=False)
        assert checks(stale)[("watchlist_un", "list_fresh")] is False
        evaluation = stale.get_asset_check_evaluations()[0]
        assert evaluation.metadata["age_hours"].value > 29
    finally:
        server.close()


def test_a_collapsed_list_fails_the_blocking_check_and_stops_the_union(kyc_env, monkeypatch, tmp_path):
    path = tmp_path / "hmt.csv"
    shutil.copy(FIXTURES / "uk_hmt_conlist_sample.csv", path)
    settings, assets, resources = build(monkeypatch, KYC_WATCHLIST_SOURCES=f"hmt={path}")
    instance = dg.DagsterInstance.ephemeral()
    assert run(assets, resources, instance, ["watchlist_hmt", "watchlist_entries"]).success
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:3]) + b"\n")  # 6 parties -> 1
    result = run(assets, resources, instance, ["watchlist_hmt", "watchlist_entries"])
    assert checks(result)[("watchlist_hmt", "list_not_collapsed")] is False
    assert not result.success
    assert table(settings, "select count(*) from kyc.watchlist_entries")[0][0] == 6  # union kept the last good


def test_a_malformed_list_fails_with_a_one_line_message(kyc_env, monkeypatch, tmp_path):
    path = tmp_path / "broken.xml"
    path.write_bytes((FIXTURES / "eu_fsf_sample.xml").read_bytes()[:2000])
    _, assets, resources = build(monkeypatch, KYC_WATCHLIST_SOURCES=f"eu={path}")
    result = run(assets, resources, dg.DagsterInstance.ephemeral(), ["watchlist_eu"])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("eu: broken.xml: malformed XML at line") and "\n" not in message


def test_url_sources_get_retries_and_a_refresh_schedule_local_ones_do_not(kyc_env, monkeypatch):
    from kyc_assets.watchlists.assets import DOWNLOAD_RETRY

    _, assets, _ = build(monkeypatch, KYC_WATCHLIST_SOURCES="web=https://example.org/list.xml,local=/tmp/x.xml")
    by_name = {a.key.to_user_string(): a for a in assets if isinstance(a, dg.AssetsDefinition) and a.keys
               and len(a.keys) == 1 and a.check_specs_by_output_name != {}}
    web, local = by_name["watchlist_web"], by_name["watchlist_local"]
    assert web.op.retry_policy == DOWNLOAD_RETRY and local.op.retry_policy is None
    assert web.automation_conditions_by_key[web.key] is not None
    assert local.automation_conditions_by_key.get(local.key) is None


def test_readme_documents_the_watchlist_settings():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for var in ("KYC_WATCHLIST_SOURCES", "KYC_WATCHLIST_CACHE_DIR", "KYC_WATCHLIST_MAX_AGE_HOURS",
                "KYC_WATCHLIST_LOCAL_MAX_AGE_HOURS", "KYC_WATCHLIST_TIMEOUT_SECONDS", "KYC_WATCHLIST_MAX_MB",
                "KYC_WATCHLIST_DOWNLOAD_ATTEMPTS"):
        assert f"`{var}`" in readme, var
