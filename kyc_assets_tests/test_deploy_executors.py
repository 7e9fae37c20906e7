"""The executor is chosen by deployment in definitions.py: embedded by default, Celery with queues per
capability, Kubernetes Jobs; the broker URL reaches Dagster only as an environment variable."""

from __future__ import annotations

import pytest

from kyc_assets.settings import Settings

CELERY_ENV = {"KYC_EXECUTOR": "celery", "KYC_CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}


def test_embedded_default_keeps_onboarding_in_one_process():
    from kyc_assets.definitions import build_definitions

    defs = build_definitions(Settings.from_env({}))
    assert defs.resolve_job_def("onboarding_job").executor_def.name == "in_process"
    assert defs.resolve_job_def("monitoring_job").executor_def.name == "multi_or_in_process_executor"


def test_celery_deployment_puts_every_job_on_the_routed_celery_executor(monkeypatch):
    from kyc_assets.definitions import build_definitions

    monkeypatch.setenv("KYC_CELERY_BROKER_URL", CELERY_ENV["KYC_CELERY_BROKER_URL"])
    defs = build_definitions(Settings.from_env(CELERY_ENV))
    for job in ("onboarding_job", "monitoring_job"):
        assert defs.resolve_job_def(job).executor_def.name == "kyc_celery"


def test_steps_are_routed_to_their_capability_queue():
    from kyc_assets.definitions import build_assets
    from kyc_assets.deploy.executors import queue_by_step

    routes = queue_by_step(build_assets(Settings.from_env({})))
    assert routes["raw_documents"] == routes["document_text"] == routes["extracted_entities"] == "ocr"
    assert routes["screening_results"] == "screening"
    assert {routes[k] for k in routes if k.startswith("watchlist")} == {"screening"}
    assert routes["anomaly_scores"] == routes["transaction_features"] == "monitoring"
    assert routes["escalated_cases"] == "dagster"


def test_the_execution_plan_carries_each_steps_queue_tag_and_an_explicit_tag_wins():
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableJob  # noqa: F401 (plan building)
    from dagster._core.execution.api import create_execution_plan

    from kyc_assets.deploy.executors import QUEUE_TAG, route_plan

    @dg.asset
    def a():
        return 1

    @dg.asset(op_tags={QUEUE_TAG: "gpu"})
    def b(a):
        return a

    job = dg.Definitions(assets=[a, b], jobs=[dg.define_asset_job("j")]).resolve_job_def("j")
    plan = route_plan(create_execution_plan(job), {"a": "ocr", "b": "ocr"})
    assert plan.get_step_by_key("a").tags[QUEUE_TAG] == "ocr"
    assert plan.get_step_by_key("b").tags[QUEUE_TAG] == "gpu"


def test_k8s_deployment_uses_the_k8s_job_executor():
    from kyc_assets.definitions import build_definitions

    defs = build_definitions(Settings.from_env({"KYC_EXECUTOR": "k8s"}))
    assert defs.resolve_job_def("onboarding_job").executor_def.name == "k8s"


@pytest.mark.parametrize("env, message", [
    ({"KYC_EXECUTOR": "celery"}, "needs KYC_CELERY_BROKER_URL"),
    ({"KYC_EXECUTOR": "spark"}, "KYC_EXECUTOR must be one of"),
    ({"KYC_SENSOR_RUN_BATCH_SIZE": "0"}, "at least 1"),
])
def test_bad_scale_settings_fail_at_load_with_one_clear_line(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_run_batch_size_setting_reaches_the_sensor(tmp_path, png_bytes):
    """KYC_SENSOR_RUN_BATCH_SIZE changes how many runs a tick requests for the same documents."""
    import dagster as dg

    from kyc_assets.definitions import build_definitions
    from kyc_assets.onboarding.sensors import tick_inbox_sensor
    from kyc_assets.resources import DocumentStoreResource

    runs = []
    for size in ("2", "50"):
        inbox = tmp_path / size / "inbox"
        inbox.mkdir(parents=True)
        for i in range(5):
            (inbox / f"d{i}.png").write_bytes(png_bytes + bytes([i]))
        settings = Settings.from_env({"KYC_HOME": str(tmp_path / size), "KYC_SENSOR_RUN_BATCH_SIZE": size,
                                      "KYC_SENSOR_SETTLE_SECONDS": "0"})
        sensor = build_definitions(settings).get_sensor_def("inbox_sensor")
        documents = DocumentStoreResource(store_dir=str(tmp_path / size / "store"), inbox_dir=str(inbox),
                                          quarantine_dir=str(tmp_path / size / "q"))
        (tmp_path / size / "dh").mkdir()
        instance = dg.DagsterInstance.local_temp(str(tmp_path / size / "dh"))
        cursor = tick_inbox_sensor(sensor, instance, documents, None).cursor
        runs.append(len(tick_inbox_sensor(sensor, instance, documents, cursor).run_requests))
    assert runs == [3, 1]


def test_kyc_worker_command_refuses_unknown_queues_and_needs_a_broker(capsys, monkeypatch):
    from kyc_assets.cli import main

    monkeypatch.delenv("KYC_CELERY_BROKER_URL", raising=False)
    assert main(["worker", "--queues", "ocr,gpu"]) == 2
    assert "unknown queue(s) gpu" in capsys.readouterr().err
    assert main(["worker", "--queues", "ocr"]) == 2
    assert "KYC_CELERY_BROKER_URL is not set" in capsys.readouterr().err
