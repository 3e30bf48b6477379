"""What the demo's Airflow is made of: its settings, its components and how each starts, and the environment
they share (`airflow_environment`). Pure: nothing here starts a process or imports the local Batch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from airflow_batch_plus.demo import hostname, sqlite
from airflow_batch_plus.demo.login import USERNAME, passwords_file

if TYPE_CHECKING:
    from airflow_batch_plus.demo.servers import PostgresServer, RedisServer

Profile = Literal["sqlite", "ha"]
PROFILES: tuple[Profile, ...] = ("sqlite", "ha")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HA_TRIGGERERS = ("triggerer", "triggerer-2")
CELERY_WORKERS = ("celery-worker-1", "celery-worker-2")


@dataclass
class DemoSettings:
    state_dir: Path
    dags_folder: Path
    api_port: int = 8080
    batch_port: int = 0
    profile: Profile = "sqlite"
    postgres_port: int = 0  # "ha" only; 0: any free port
    redis_port: int = 0  # "ha" only; 0: any free port
    first_dag: str | None = "example_batch_deferrable"
    startup_timeout: float = 180.0
    # Four task slots and four vCPUs of Batch capacity: a demo on a laptop. Benchmarks raise them.
    parallelism: int = 4
    max_vcpus: int = 4
    extra_env: dict[str, str] = field(default_factory=dict)
    # Triggerers wait on Batch's job state change events, each from a queue of its own, instead of polling.
    job_events: bool = False
    job_events_reconcile_seconds: float = 60.0
    # The interpreter that runs Airflow's components (None: this one). The throughput benchmark runs the
    # amazon provider's Airflow from an environment of its own; this package must be importable there.
    airflow_python: Path | None = None


@dataclass(frozen=True)
class HaBackends:
    """Where the "ha" profile's Airflow keeps its state: SQLAlchemy URLs of the Postgres database (Airflow 3
    opens it twice: a sync engine, and an async one the API server and triggerer use), and Celery's broker
    and result backend."""

    sql_alchemy_conn: str
    sql_alchemy_conn_async: str
    broker_url: str
    result_backend: str

    @classmethod
    def of(cls, postgres: PostgresServer, redis: RedisServer) -> HaBackends:
        return cls(
            sql_alchemy_conn=postgres.url("psycopg2"),
            sql_alchemy_conn_async=postgres.url("asyncpg"),
            broker_url=redis.url(0),
            result_backend="db+" + postgres.url("psycopg2"),
        )


@dataclass(frozen=True)
class ComponentSpec:
    """How to start one component: the arguments after `airflow`, and environment variables of its own."""

    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


JOB_EVENTS_QUEUE_VARIABLE = "AIRFLOW__BATCH_PLUS__JOB_EVENTS_QUEUE_URL"
JOB_EVENTS_RECONCILE_VARIABLE = "AIRFLOW__BATCH_PLUS__JOB_EVENTS_RECONCILE_SECONDS"


def triggerers(specs: Mapping[str, ComponentSpec]) -> list[str]:
    return [name for name, spec in specs.items() if spec.args[0] == "triggerer"]


def with_job_event_queues(specs: dict[str, ComponentSpec], queue_urls: list[str]) -> dict[str, ComponentSpec]:
    """Each triggerer reads a job-event queue of its own: an SQS message goes to one reader, so triggerers
    sharing a queue would take each other's wake-ups (docs/deployment.md)."""
    names = triggerers(specs)
    if len(queue_urls) != len(names):
        raise ValueError(f"{len(names)} triggerers need {len(names)} job event queues, not {len(queue_urls)}")
    for name, url in zip(names, queue_urls, strict=True):
        specs[name] = ComponentSpec(specs[name].args, {**specs[name].env, JOB_EVENTS_QUEUE_VARIABLE: url})
    return specs


def component_specs(settings: DemoSettings) -> dict[str, ComponentSpec]:
    """Every component of the profile, by name, in starting order.

    No component serves logs (`--skip-serve-logs`; the API server and DAG processor serve none): they all
    share one AIRFLOW_HOME, so every task log is a local file the API server reads, and the log servers would
    listen on every interface, each wanting port 8793. Each Celery worker has its own Celery node name and
    reports it as its host name (see `hostname`), and gets half the task slots.
    """
    specs = {
        "api-server": ComponentSpec(("api-server",)),
        "scheduler": ComponentSpec(("scheduler", "--skip-serve-logs")),
        "dag-processor": ComponentSpec(("dag-processor",)),
        "triggerer": ComponentSpec(("triggerer", "--skip-serve-logs")),
    }
    if settings.profile == "sqlite":
        return specs
    for name in HA_TRIGGERERS:
        specs[name] = ComponentSpec(("triggerer", "--skip-serve-logs"))
    concurrency = max(1, -(-settings.parallelism // len(CELERY_WORKERS)))
    for name in CELERY_WORKERS:
        specs[name] = ComponentSpec(
            ("celery", "worker", "--celery-hostname", name, "--concurrency", str(concurrency), "--skip-serve-logs"),
            {
                hostname.VARIABLE: name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{hostname.__name__}.{hostname.from_environment.__name__}",
            },
        )
    return specs


def default_dags_folder() -> Path:
    """The project's example_dags/ (a clean clone), else the current directory's."""
    here = Path(__file__).resolve().parents[2] / "example_dags"
    return here if here.is_dir() else Path.cwd() / "example_dags"


def airflow_environment(
    settings: DemoSettings, batch: Mapping[str, str], jwt_secret: str, backends: HaBackends | None = None
) -> dict[str, str]:
    """The environment every Airflow component of the demo shares; the "ha" profile needs its `backends`.

    `batch` is what a client of the local Batch server needs (`LocalBatchServer.client_environment()`: its
    endpoint and the key pair it accepts); tasks and triggers reach it through boto3's AWS_* variables.
    """
    home = settings.state_dir / "airflow"
    passwords = passwords_file(settings.state_dir)
    api = f"http://127.0.0.1:{settings.api_port}"
    if settings.profile == "ha":
        if backends is None:
            raise ValueError("the ha profile's environment needs its backends (Postgres and Redis URLs)")
        database = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": backends.sql_alchemy_conn,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": backends.sql_alchemy_conn_async,
            "AIRFLOW__CELERY__BROKER_URL": backends.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": backends.result_backend,
        }
    else:
        database = {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": f"{sqlite.__name__}.CONNECT_ARGS",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": f"{sqlite.__name__}.CONNECT_ARGS",
        }
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW__")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **database,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",  # user admin, role admin
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.api_port),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__CORE__PARALLELISM": str(settings.parallelism),
        **batch,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({"conn_type": "aws", "extra": {"region_name": "us-east-1"}}),
        **settings.extra_env,
    }
