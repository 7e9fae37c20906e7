"""The executor a deployment runs steps on, chosen once from settings (``KYC_EXECUTOR``) in definitions.py.

- ``default`` (embedded, ``make demo``/``make dev``): onboarding batches run in one process (OCR threads
  use the cores), other jobs with Dagster's multiprocess executor.
- ``celery``: every step is a task on a Celery broker (``KYC_CELERY_BROKER_URL``, Redis or RabbitMQ),
  picked up by ``kyc worker`` processes on any machine that reach the same Dagster instance (PostgreSQL),
  case store and object store. Steps are routed to a queue per capability so each scales on its own:
  ``ocr`` (onboarding), ``screening`` (watchlists, screening), ``monitoring`` (transactions, features,
  scores) and ``dagster`` (the rest: customers' profile, cases). A step whose op carries the
  ``dagster-celery/queue`` tag goes to that queue instead.
- ``k8s``: a Kubernetes Job per step (dagster-k8s ``k8s_job_executor``), for the Helm chart's
  ``K8sRunLauncher`` (deploy/helm/values.yaml).

Dagster pools (``pool=`` on assets; limits set with ``dagster instance concurrency set POOL N`` or the
instance's ``concurrency.pools``) bound the LLM calls and the steps that must stay serial on any executor:
the Celery executor claims a pool slot before it submits the task.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dagster as dg

# The op tag dagster-celery reads a step's queue from (dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG).
QUEUE_TAG = "dagster-celery/queue"
DEFAULT_QUEUE = "dagster"
# Capability (asset group) -> Celery queue.
QUEUE_BY_GROUP = {"onboarding": "ocr", "watchlists": "screening", "screening": "screening",
                  "monitoring": "monitoring"}
QUEUES = (DEFAULT_QUEUE, "ocr", "screening", "monitoring")
# Celery settings shared by the executor and `kyc worker`: a worker holds one step at a time (acknowledged
# when it ends, so an idle worker takes the next step instead of a busy one prefetching it).
CELERY_CONFIG = {"task_default_queue": DEFAULT_QUEUE, "task_acks_late": True, "worker_prefetch_multiplier": 1}


def queue_by_step(assets: Iterable) -> dict[str, str]:
    """The Celery queue of each step (the op's name), from its asset group; a standalone check runs on
    the queue of the asset it checks."""
    assets = [a for a in assets if isinstance(a, dg.AssetsDefinition) and a.is_executable]
    group_of = {key: a.group_names_by_key[key] for a in assets for key in a.keys}
    routes: dict[str, str] = {}
    for asset in assets:
        keys = list(asset.keys) or [check.asset_key for check in asset.check_keys]
        queues = {QUEUE_BY_GROUP.get(group_of.get(key, ""), DEFAULT_QUEUE) for key in keys}
        routes[asset.node_def.name] = queues.pop() if len(queues) == 1 else DEFAULT_QUEUE
    return routes


def route_plan(execution_plan, routes: Mapping[str, str]):
    """The plan with each step tagged with its capability's queue, as if its op carried the
    ``dagster-celery/queue`` tag (an op that does carry it keeps its own)."""
    from dagster._core.execution.plan.step import ExecutionStep

    def routed(step):
        queue = routes.get(step.key.split("[")[0])
        if not isinstance(step, ExecutionStep) or queue is None or QUEUE_TAG in step.tags:
            return step
        return step._replace(tags={**step.tags, QUEUE_TAG: queue})

    return execution_plan._replace(
        step_dict={handle: routed(step) for handle, step in execution_plan.step_dict.items()},
        step_dict_by_key={key: routed(step) for key, step in execution_plan.step_dict_by_key.items()})


def build_celery_executor(routes: Mapping[str, str], backend_set: bool) -> dg.ExecutorDefinition:
    """dagster-celery's executor with each step sent to its capability's queue. The broker and the result
    backend are read from the environment when a run starts (``KYC_CELERY_BROKER_URL``; the backend is
    ``KYC_CELERY_BACKEND_URL`` when set, else the broker), never stored in run config."""
    from dagster_celery.executor import CELERY_CONFIG as CELERY_CONFIG_SCHEMA
    from dagster_celery.executor import CeleryExecutor

    class RoutedCeleryExecutor(CeleryExecutor):
        def execute(self, plan_context, execution_plan):
            return super().execute(plan_context, route_plan(execution_plan, routes))

    @dg.executor(name="kyc_celery", config_schema=CELERY_CONFIG_SCHEMA,
                 requirements=dg.multiple_process_executor_requirements())
    def kyc_celery_executor(init_context):
        from dagster._core.execution.retries import RetryMode

        config = init_context.executor_config
        return RoutedCeleryExecutor(broker=config.get("broker"), backend=config.get("backend"),
                                    config_source={**CELERY_CONFIG, **(config.get("config_source") or {})},
                                    include=config.get("include"), retries=RetryMode.from_config(config["retries"]))

    backend = "KYC_CELERY_BACKEND_URL" if backend_set else "KYC_CELERY_BROKER_URL"
    return kyc_celery_executor.configured(
        {"broker": {"env": "KYC_CELERY_BROKER_URL"}, "backend": {"env": backend}}, name="kyc_celery",
        description=f"Steps as Celery tasks on the broker at KYC_CELERY_BROKER_URL (results at {backend}), "
                    f"routed to the queues {', '.join(QUEUES)}.")


def build_executor(settings, assets: Iterable) -> dg.ExecutorDefinition | None:
    """The executor of every job for this deployment; None keeps Dagster's default (embedded)."""
    if settings.executor == "celery":
        return build_celery_executor(queue_by_step(assets), settings.celery_backend_url_set)
    if settings.executor == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return None
