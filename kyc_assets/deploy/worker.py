"""``kyc worker``: a Celery worker that executes Dagster steps for ``KYC_EXECUTOR=celery`` deployments.

Start one per machine (or container) with the same environment as the code location (``KYC_*``, the
case store, the object store; the Dagster instance reaches the worker with each task), e.g.::

    KYC_CELERY_BROKER_URL=redis://broker:6379/0 kyc worker --queues ocr --concurrency 2

Each worker process takes one step at a time (prefetch 1) from the queues it listens on: ``ocr``
(onboarding), ``screening``, ``monitoring`` and ``dagster`` (everything else). Scale a capability by
starting more workers on its queue.
"""

from __future__ import annotations

import argparse
import os

from kyc_assets.deploy.executors import CELERY_CONFIG, QUEUES


def make_celery_app(broker: str, backend: str):
    """dagster-celery's app, configured like the executor that submits the steps (same task, same
    default queue), with its ``execute_plan`` task registered."""
    from dagster_celery.config import DEFAULT_CONFIG, dict_wrapper
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    app = make_app({"broker": broker, "backend": backend, "include": [],
                    "config_source": dict_wrapper(dict(DEFAULT_CONFIG, **CELERY_CONFIG))})
    create_task(app)
    return app


def worker_argv(queues: list[str], concurrency: int, name: str, loglevel: str = "INFO") -> list[str]:
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown:
        raise ValueError(f"unknown queue(s) {', '.join(unknown)}; the queues are {', '.join(QUEUES)}")
    if concurrency < 1:
        raise ValueError("--concurrency must be at least 1")
    return ["worker", "-Q", ",".join(queues), "-n", name, "--concurrency", str(concurrency),
            "--prefetch-multiplier", "1", "--pool", "prefork", "--loglevel", loglevel, "--without-gossip",
            "--without-mingle"]


def cmd_worker(args: argparse.Namespace) -> int:
    from kyc_assets.settings import celery_urls

    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    argv = worker_argv(queues, args.concurrency, args.name or f"kyc-{os.getpid()}@%h")
    broker, backend = celery_urls()
    make_celery_app(broker, backend).worker_main(argv)
    return 0


def register(sub) -> None:
    p = sub.add_parser("worker", help="a Celery worker executing Dagster steps (KYC_EXECUTOR=celery)")
    p.add_argument("--queues", default=",".join(QUEUES),
                   help=f"comma-separated queues to take steps from (default: all of {', '.join(QUEUES)})")
    p.add_argument("--concurrency", type=int, default=1, help="steps at once (worker processes; default 1)")
    p.add_argument("--name", help="worker name, unique in the cluster (default kyc-PID@HOSTNAME)")
    p.set_defaults(func=cmd_worker)
