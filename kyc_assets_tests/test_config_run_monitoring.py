"""Runs that die: the local instance (kyc_assets/deploy/dagster_local.yaml) marks a run whose worker was
killed with SIGKILL as failed (run monitoring with LocalRunLauncher's health check), instead of leaving
it STARTED forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]
SLEEPY = """
import time
import dagster as dg

@dg.asset
def sleepy():
    time.sleep(600)

defs = dg.Definitions(assets=[sleepy])
"""


def _wait(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_the_local_instance_enables_run_monitoring_with_a_launcher_that_checks_workers():
    config = yaml.safe_load((ROOT / "kyc_assets" / "deploy" / "dagster_local.yaml").read_text())
    assert config["run_monitoring"]["enabled"] is True
    assert config["run_launcher"] == {"module": "kyc_assets.deploy.run_launcher", "class": "LocalRunLauncher"}
    assert yaml.safe_load((ROOT / "dagster.yaml").read_text())["run_monitoring"]["enabled"] is True


def test_worker_health_follows_the_process(tmp_path):
    from kyc_assets.deploy.run_launcher import process_started_at

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = _wait(lambda: process_started_at(child.pid), 10, "the child's start time")
        assert abs(started - time.time()) < 30
    finally:
        child.kill()
        child.wait()
    assert process_started_at(child.pid) is None


@pytest.mark.slow
def test_a_run_worker_killed_with_sigkill_is_marked_failed(tmp_path):
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((ROOT / "kyc_assets" / "deploy" / "dagster_local.yaml").read_text())
    config["run_monitoring"]["poll_interval_seconds"] = 2  # the shipped file's settings, polled faster
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "sleepy.py").write_text(SLEEPY)
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
           "PYTHONWARNINGS": "ignore"}
    # The run worker: an in-process run on the instance (as `make demo` runs them), killed mid-step.
    worker = subprocess.Popen([sys.executable, "-c", "import dagster as dg, sleepy; "
                               "dg.materialize([sleepy.sleepy], instance=dg.DagsterInstance.get())"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    instance = dg.DagsterInstance.from_config(str(home))
    daemon = None
    try:
        from kyc_assets.deploy.run_launcher import run_worker_pid

        run = _wait(lambda: next(iter(instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))),
                                 None), 120, "the run to start")
        assert _wait(lambda: run_worker_pid(instance, run.run_id), 60, "the worker's pid")[0] == worker.pid
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        time.sleep(1)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED  # nobody else notices
        daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-m", "sleepy"],
                                  cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE, 240,
              "run monitoring to mark the run failed")
        messages = [r.event_log_entry.message or "" for r in instance.get_records_for_run(run.run_id).records]
        assert any("is gone (killed or crashed)" in m for m in messages)
    finally:
        for proc in (worker, daemon):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        instance.dispose()
