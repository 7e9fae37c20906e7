"""The Kubernetes deployment files, checked offline (CI has neither helm nor an API server):

- the Helm values against the official Dagster chart's own values.schema.json (vendored, Apache-2.0), the
  schema Helm enforces at install, with its Kubernetes ``$ref``s resolved against the OpenAPI schemas
  kubernetes-validate ships;
- the raw manifests with kubernetes-validate (strict: unknown fields are errors);
- the compose file's services and their wiring.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "kyc_assets" / "deploy"
SCHEMA = Path(__file__).parent / "fixtures" / "helm" / "dagster-values.schema.json"
K8S_VERSION = "1.29.0"


def chart_validator():
    import jsonschema
    import kubernetes_validate
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    k8s_dir = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{K8S_VERSION}-local"
    # kubernetes-validate keeps the definitions under "$defs" (2020-12); the chart points into
    # "#/definitions/..." (draft 7, as kubernetesjsonschema.dev served them): the same types, renamed.
    text = (k8s_dir / "_definitions.json").read_text().replace('"#/$defs/', '"#/definitions/')
    loaded = json.loads(text)
    definitions = {"definitions": loaded["$defs"]}

    def retrieve(uri: str):
        # the chart pins kubernetesjsonschema.dev/v1.18.0; pod-level types are served from a shipped version
        if uri.startswith("https://kubernetesjsonschema.dev/") and uri.endswith("/_definitions.json"):
            return Resource.from_contents(definitions, default_specification=DRAFT7)
        raise LookupError(f"no offline copy of {uri}")

    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft7Validator(schema, registry=Registry(retrieve=retrieve))


def values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def errors(validator, document) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document))


def test_helm_values_validate_against_the_charts_own_schema():
    assert errors(chart_validator(), values()) == []


@pytest.mark.parametrize("mutate, expected", [
    (lambda v: v["dagsterWebserver"].update(replicas=2), "Additional properties are not allowed"),
    (lambda v: v["runLauncher"].update(type="LocalRunLauncher"), "is not one of"),
    (lambda v: v.pop("dagsterDaemon"), "'dagsterDaemon' is a required property"),
    (lambda v: v["dagster-user-deployments"]["deployments"][0].pop("port"), "'port' is a required property"),
    (lambda v: v["dagsterWebserver"]["resources"].update(requests=[1]), "is not of type 'object'"),
])
def test_the_schema_check_catches_what_helm_would_refuse(mutate, expected):
    """The validation is real: typical mistakes in the values (a misspelt key, an unknown launcher, a
    missing section, a malformed Kubernetes resources block) fail it with Helm's own message."""
    broken = copy.deepcopy(values())
    mutate(broken)
    assert any(expected in e for e in errors(chart_validator(), broken))


def test_helm_values_wire_the_platform_as_the_readme_says():
    v = values()
    (code,) = v["dagster-user-deployments"]["deployments"]
    assert code["codeServerArgs"] == ["-m", "kyc_assets.definitions"] and code["port"] == 4000
    assert code["env"]["KYC_EXECUTOR"] == "k8s" and code["env"]["KYC_DEPLOYMENT"] == "production"
    assert v["runLauncher"]["type"] == "K8sRunLauncher"
    assert not v["postgresql"]["enabled"] and not v["generatePostgresqlPasswordSecret"]
    secrets = {s["name"] for s in code["envSecrets"]}
    assert {"kyc-object-store", "kyc-case-store"} <= secrets
    assert secrets <= {s["name"] for s in v["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]}, \
        "run and step Jobs get the same secrets as the code server"
    text = (DEPLOY / "helm" / "values.yaml").read_text()
    assert "AWS_SECRET_ACCESS_KEY:" not in text and "password: CHANGE" not in text, "no secret in the values"
    # every secret the values name is defined by the example manifests
    defined = {d["metadata"]["name"] for d in yaml.safe_load_all((DEPLOY / "k8s" / "secrets.example.yaml").read_text())}
    assert secrets | {v["global"]["postgresqlSecretName"]} <= defined


def test_raw_kubernetes_manifests_validate_offline():
    import kubernetes_validate

    manifests = sorted((DEPLOY / "k8s").glob("*.yaml"))
    assert manifests
    for path in manifests:
        for document in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(document, K8S_VERSION, strict=True)


def test_kubernetes_validate_refuses_a_broken_manifest():
    import kubernetes_validate

    (deployment, _) = yaml.safe_load_all((DEPLOY / "k8s" / "dashboard.yaml").read_text())
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "eight thousand"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_compose_stack_has_every_service_and_workers_cover_every_queue():
    from kyc_assets.deploy.executors import QUEUES
    from kyc_assets.deploy.worker import worker_argv

    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "minio", "webserver", "daemon", "code"} <= set(services)
    workers = {name: s for name, s in services.items() if s.get("command", [])[:2] == ["kyc", "worker"]}
    assert len(workers) >= 2
    covered = set()
    for service in workers.values():
        command = service["command"]
        queues = command[command.index("--queues") + 1].split(",")
        worker_argv(queues, int(command[command.index("--concurrency") + 1]), "w@h")  # valid as given
        covered |= set(queues)
    assert covered == set(QUEUES), "every queue has a worker"
    for name in ("webserver", "daemon", "code", *workers):
        env = services[name]["environment"]
        assert env["KYC_EXECUTOR"] == "celery" and env["KYC_DEPLOYMENT"] == "production"
        assert env["KYC_STORAGE_URL"].startswith("s3://"), "documents, inbox and tables on the object store"
        # secrets only from the operator's environment / .env, never literal in the file
        for key in ("DAGSTER_PG_PASSWORD", "AWS_SECRET_ACCESS_KEY"):
            assert env[key].startswith("${"), key
    workspace = yaml.safe_load((DEPLOY / "compose" / "workspace.yaml").read_text())
    (server,) = workspace["load_from"]
    assert server["grpc_server"]["host"] == "code" and server["grpc_server"]["port"] == 4000
