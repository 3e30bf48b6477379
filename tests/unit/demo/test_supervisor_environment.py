"""The environment the demo gives its Airflow: what every one of its processes loads at start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_batch_plus.demo.settings import DemoSettings, HaBackends, airflow_environment, component_specs

BATCH = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_DEFAULT_REGION": "us-east-1"}


def test_every_airflow_process_reads_its_sqlite_wait_without_importing_the_local_batch(tmp_path: Path) -> None:
    """Airflow imports `[database] sql_alchemy_connect_args` by path in every process; when that path was
    in the local Batch's package, each api-server, scheduler, dag-processor and triggerer imported moto
    (about 3 s of CPU on 2 cores) only to read `{"timeout": 120}`."""
    env = airflow_environment(DemoSettings(state_dir=tmp_path, dags_folder=tmp_path), BATCH, "s")
    paths = {
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"],
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC"],
    }
    assert len(paths) == 1
    module, name = paths.pop().rsplit(".", 1)
    probe = (
        "import importlib, json, sys\n"
        f"value = getattr(importlib.import_module({module!r}), {name!r})\n"
        "print(json.dumps({'value': value, 'moto': 'moto' in sys.modules, 'boto3': 'boto3' in sys.modules}))\n"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(shown.stdout) == {"value": {"timeout": 120}, "moto": False, "boto3": False}


def test_the_ha_profile_runs_celery_on_postgres_and_redis_without_the_sqlite_settings(tmp_path: Path) -> None:
    settings = DemoSettings(state_dir=tmp_path, dags_folder=tmp_path, profile="ha")
    backends = HaBackends(
        "postgresql+psycopg2://a:p@127.0.0.1:1/airflow",
        "postgresql+asyncpg://a:p@127.0.0.1:1/airflow",
        "redis://:p@127.0.0.1:2/0",
        "db+postgresql+psycopg2://a:p@127.0.0.1:1/airflow",
    )
    env = airflow_environment(settings, BATCH, "s", backends)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == backends.sql_alchemy_conn_async
    assert env["AIRFLOW__CELERY__BROKER_URL"] == backends.broker_url
    assert not [key for key in env if "CONNECT_ARGS" in key]
    with pytest.raises(ValueError, match="needs its backends"):
        airflow_environment(settings, BATCH, "s")

    specs = component_specs(settings)
    assert list(specs) == [
        "api-server", "scheduler", "dag-processor", "triggerer", "triggerer-2", "celery-worker-1", "celery-worker-2"
    ]  # fmt: skip
    assert specs["triggerer-2"].args == ("triggerer", "--skip-serve-logs")
    for name in ("celery-worker-1", "celery-worker-2"):
        args = specs[name].args
        assert args[:2] == ("celery", "worker") and "--skip-serve-logs" in args
        assert args[args.index("--celery-hostname") + 1] == name
    assert list(component_specs(DemoSettings(state_dir=tmp_path, dags_folder=tmp_path))) == [
        "api-server", "scheduler", "dag-processor", "triggerer"
    ]  # fmt: skip


def test_each_celery_worker_reports_its_own_host_name_without_importing_the_local_batch(tmp_path: Path) -> None:
    """`[core] hostname_callable` is imported by path in every worker and task process, like the SQLite wait."""
    specs = component_specs(DemoSettings(state_dir=tmp_path, dags_folder=tmp_path, profile="ha"))
    for name in ("celery-worker-1", "celery-worker-2"):
        module, function = specs[name].env["AIRFLOW__CORE__HOSTNAME_CALLABLE"].rsplit(".", 1)
        probe = (
            "import importlib, json, sys\n"
            f"value = getattr(importlib.import_module({module!r}), {function!r})()\n"
            "print(json.dumps({'value': value, 'moto': 'moto' in sys.modules}))\n"
        )
        env = {"PATH": "/usr/bin:/bin", **specs[name].env}
        shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
        assert json.loads(shown.stdout) == {"value": name, "moto": False}
