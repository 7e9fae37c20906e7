"""A run launcher for the local instance whose run workers can be health-checked by run monitoring.

Dagster's ``DefaultRunLauncher`` does not support ``check_run_worker_health``, so the daemon's run
monitoring cannot tell that a run worker died: a run whose process was killed (``kill -9``, an
out-of-memory kill, a reboot) while its code server was gone too, or an in-process run (``make demo``,
``dg.materialize`` on the instance) whose process died, stayed STARTED forever, and the sensors and
automation waiting on it never continued.

``LocalRunLauncher`` launches exactly like the default launcher and adds the health check: every run
worker records its process id in an engine event ("Started process for run (pid: N)", or "Executing
steps in process (pid: N)" for in-process runs); on this host the worker is alive while a process with
that id exists and started no later than that event (a recycled id started afterwards is not it). A
dead worker makes run monitoring (``run_monitoring`` in ``kyc_assets/deploy/dagster_local.yaml``) mark
the run failed. For a single host only: the production instance (``dagster.yaml``) runs workers in
other containers and needs a launcher that checks them (Docker, Kubernetes).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from dagster import DagsterEventType, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun

_SLACK_SECONDS = 2.0  # clock granularity between the event's timestamp and the process's start time


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def process_started_at(pid: int) -> float | None:
    """The start time (epoch seconds) of process ``pid`` on Linux; None when there is no such process
    (or no /proc). Elsewhere: ``time.time()`` for a live process (no recycling check)."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.joinpath("stat").exists():
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        if fields[0] == "Z":  # a zombie: dead, waiting for its parent
            return None
        boot = _boot_time()
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK") if boot is not None else time.time()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return time.time()


def run_worker_pid(instance, run_id: str) -> tuple[int, float] | None:
    """(pid, timestamp) of the first engine event of ``run_id`` that names a process: the run worker's
    (later ones may name step subprocesses of the multiprocess executor, which end normally)."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=50).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = getattr(event, "engine_event_data", None) if event else None
        pid = (data.metadata or {}).get("pid") if data else None
        if pid is not None:
            try:
                return int(getattr(pid, "value", pid)), record.event_log_entry.timestamp
            except (TypeError, ValueError):
                continue
    return None


class LocalRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` plus a process-id health check for run monitoring (see the module doc)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        found = run_worker_pid(self._instance, run.run_id)
        if found is None:  # the worker has not recorded itself yet: give it the start timeout
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker not yet identified")
        pid, recorded_at = found
        started = process_started_at(pid)
        if started is None:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} is gone (killed or crashed)")
        if started > recorded_at + _SLACK_SECONDS:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} is gone (its id was reused)")
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker process {pid} is alive")
