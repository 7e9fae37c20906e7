"""A loopback cluster for the cluster test and benchmarks: real services, real processes, 127.0.0.1 only.

- Dagster instance: dagster-postgres run, event and schedule storage in a fresh PostgreSQL database, from
  the production ``dagster.yaml`` (queued runs, run retries), in a temporary DAGSTER_HOME;
- case store: another fresh PostgreSQL database (``KYC_DATABASE_URL``);
- object store: moto's S3-compatible server on a free port (``KYC_STORAGE_ENDPOINT_URL``);
- broker: the Redis server on 127.0.0.1:6379, one database of it per cluster, flushed before and after;
- ``dagster-daemon run`` with the code location (sensors, run queue, run retries; runs start as
  subprocesses of the code server and submit every step to Celery);
- ``kyc worker`` processes, each with its own working folder and its own ``KYC_HOME``: they share only
  the services above.

Every process starts in its own session (``setsid``) and its whole group is stopped at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REDIS = ("127.0.0.1", 6379)
BUCKET = "kyc-cluster"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_client(db: int):
    import redis

    return redis.Redis(host=REDIS[0], port=REDIS[1], db=db, socket_timeout=5)


def pick_redis_db() -> int:
    """A Redis database no other cluster is using (a lock key with a lease in db 0 guards it)."""
    control = redis_client(0)
    for db in range(15, 0, -1):
        if control.set(f"kyc-cluster-lock:{db}", os.getpid(), nx=True, ex=3600):
            return db
    raise RuntimeError("no free Redis database for the loopback cluster (1-15 all taken)")


def stop_group(process: subprocess.Popen, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class LoopbackCluster:
    root: Path
    dagster_db: str
    cases_db: str
    workers: int = 2
    worker_concurrency: int = 1
    max_concurrent_runs: int = 4
    run_batch_size: int = 10
    pg: dict = field(default_factory=lambda: {"host": "127.0.0.1", "port": 5432, "user": "postgres"})
    processes: dict = field(default_factory=dict)
    redis_db: int = 0
    s3_port: int = 0
    # production refuses to run without an analysts directory and the case store's PII keys
    # (kyc_assets/deployment_checks.py): the cluster has both, like a real deployment's mounted secrets
    case_keys: str = ""

    OPERATOR = "operator"
    OPERATOR_PASSWORD = "loopback-cluster-operator"

    def security_env(self) -> dict:
        import json

        from cryptography.fernet import Fernet

        from kyc_assets.cases.analysts import hash_password

        if not self.case_keys:
            self.case_keys = Fernet.generate_key().decode()
        analysts = self.root / "analysts.json"
        if not analysts.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            analysts.write_text(json.dumps({"analysts": [
                {"username": self.OPERATOR, "password_hash": hash_password(self.OPERATOR_PASSWORD),
                 "roles": ["analyst", "approver", "admin"]}]}))
        return {"KYC_CASE_KEYS": self.case_keys, "KYC_ANALYSTS_FILE": str(analysts),
                "KYC_ANALYST_PASSWORD": self.OPERATOR_PASSWORD}

    # ------------------------------------------------------------------ configuration
    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def pg_url(self, database: str) -> str:
        return f"postgresql+psycopg2://{self.pg['user']}@{self.pg['host']}:{self.pg['port']}/{database}"

    def common_env(self) -> dict:
        """What every process of the cluster shares: service addresses, credentials, deployment choice."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "DAGSTER_", "OPENAI_"))}
        broker = f"redis://{REDIS[0]}:{REDIS[1]}/{self.redis_db}"
        return {
            **keep,
            "PYTHONPATH": str(REPO),  # the worktree's code, as the code server imports it
            "OMP_THREAD_LIMIT": "1",
            # a loaded 2-core CI machine answers code-server calls slowly (launches time out at 60 s)
            "DAGSTER_GRPC_TIMEOUT_SECONDS": "300",
            "DAGSTER_HOME": str(self.dagster_home),
            "DAGSTER_PG_HOST": self.pg["host"], "DAGSTER_PG_PORT": str(self.pg["port"]),
            "DAGSTER_PG_USER": self.pg["user"], "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": self.dagster_db,
            "KYC_DEPLOYMENT": "production",
            "KYC_DATABASE_URL": self.pg_url(self.cases_db),
            "KYC_EXECUTOR": "celery",
            "KYC_CELERY_BROKER_URL": broker,
            "KYC_SENSOR_SETTLE_SECONDS": "1",
            "KYC_SENSOR_RUN_BATCH_SIZE": str(self.run_batch_size),
            # S3-compatible object store (moto): credentials are the server's test keys
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            **self.storage_env(),
            **self.security_env(),
        }

    def storage_env(self) -> dict:
        """Documents, inbox, quarantine and asset tables under one object-store prefix (kyc_assets/storage:
        ``<KYC_STORAGE_URL>/inbox``, ``/documents``, ``/warehouse``...), on the loopback S3 server."""
        return {"KYC_STORAGE_URL": f"s3://{BUCKET}/kyc", "KYC_STORAGE_ENDPOINT_URL": self.s3_endpoint,
                "KYC_STORAGE_REGION": "us-east-1", "KYC_STORAGE_ALLOW_HTTP": "true"}

    def process_env(self, name: str) -> dict:
        home = self.root / name / "kyc_home"
        home.mkdir(parents=True, exist_ok=True)
        return {**self.common_env(), "KYC_HOME": str(home)}

    def write_instance_config(self) -> None:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        config = yaml.safe_load((REPO / "dagster.yaml").read_text())
        config["run_coordinator"]["config"]["max_concurrent_runs"] = self.max_concurrent_runs
        config["run_coordinator"]["config"]["dequeue_interval_seconds"] = 1
        # the daemon's code server takes minutes to (re)start on a loaded 2-core CI machine
        config["code_servers"] = {"local_startup_timeout": 900, "reload_timeout": 900}
        (self.dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))

    # ------------------------------------------------------------------ processes
    def spawn(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        log = (folder / "log.txt").open("ab")
        process = subprocess.Popen(argv, cwd=folder, env=env or self.process_env(name), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.root / name / "log.txt"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_s3(self) -> None:
        import botocore.exceptions

        self.s3_port = free_port()
        self.spawn("s3", [str(BIN / "python"), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.s3_port)],
                   env={k: v for k, v in os.environ.items() if not k.startswith("KYC_")})
        deadline = time.monotonic() + 60
        while True:
            try:
                self.s3().create_bucket(Bucket=BUCKET)
                break
            except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError):
                if time.monotonic() > deadline or self.processes["s3"].poll() is not None:
                    raise RuntimeError(f"moto server did not start: {self.log('s3')[-500:]}") from None
                time.sleep(0.5)

    def s3(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.s3_endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")

    def start_daemon(self) -> None:
        self.spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")])

    def start_worker(self, index: int, queues: str = "dagster,ocr,screening,monitoring") -> subprocess.Popen:
        name = f"worker{index}"
        return self.spawn(name, [str(BIN / "kyc"), "worker", "--queues", queues, "--name", f"{name}@%h",
                                 "--concurrency", str(self.worker_concurrency)])

    def instance(self):
        import dagster as dg

        os.environ.update({k: v for k, v in self.common_env().items() if k.startswith("DAGSTER_PG_")})
        return dg.DagsterInstance.from_config(str(self.dagster_home))

    def wait_for_daemon(self, timeout: float = 240) -> None:
        instance = self.instance()
        started = time.monotonic()
        while "SENSOR" not in instance.get_daemon_heartbeats() or "QUEUED_RUN_COORDINATOR" not in \
                instance.get_daemon_heartbeats():
            if time.monotonic() - started > timeout or self.processes["daemon"].poll() is not None:
                raise RuntimeError(f"dagster-daemon did not start: {self.log('daemon')[-1500:]}")
            time.sleep(1)

    def wait_for_workers(self, timeout: float = 120) -> list[str]:
        from kyc_assets.deploy.worker import make_celery_app

        broker = self.common_env()["KYC_CELERY_BROKER_URL"]
        app = make_celery_app(broker, broker)
        started = time.monotonic()
        while True:
            replies = app.control.ping(timeout=2) or []
            names = sorted(name for reply in replies for name in reply)
            if len(names) >= self.workers:
                return names
            for i in range(self.workers):
                if self.processes[f"worker{i}"].poll() is not None:
                    raise RuntimeError(f"worker{i} exited: {self.log(f'worker{i}')[-1500:]}")
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"workers did not answer: {names}; {self.log('worker0')[-1000:]}")

    def start(self) -> LoopbackCluster:
        self.redis_db = pick_redis_db()
        redis_client(self.redis_db).flushdb()
        self.write_instance_config()
        self.start_s3()
        for i in range(self.workers):
            self.start_worker(i)
        self.start_daemon()
        self.wait_for_workers()
        self.wait_for_daemon()
        return self

    def stop(self) -> None:
        for name in sorted(self.processes, key=lambda n: n == "s3"):  # the object store last
            stop_group(self.processes[name])
        if self.redis_db:
            with contextlib.suppress(Exception):
                redis_client(self.redis_db).flushdb()
                redis_client(0).delete(f"kyc-cluster-lock:{self.redis_db}")

    def pool_pids(self, index: int) -> list[int]:
        """The worker's pool processes (children of the worker's main process): the ones running steps."""
        main = self.processes[f"worker{index}"].pid
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(main)], capture_output=True, text=True, check=False)
        return [int(p) for p in out.stdout.split()]


def new_database(admin_conn, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin_conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')  # generated name, never input
    return name


def drop_database(admin_conn, name: str) -> None:
    with admin_conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
