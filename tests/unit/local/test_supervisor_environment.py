"""The environment the demo gives its Airflow: what every one of its processes loads at start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from airflow_batch_plus.local.supervisor import DemoSettings, airflow_environment


def test_every_airflow_process_reads_its_sqlite_wait_without_importing_the_local_batch(tmp_path: Path) -> None:
    """Airflow imports `[database] sql_alchemy_connect_args` by path in every process; when that path was
    in the local Batch's package, each api-server, scheduler, dag-processor and triggerer imported moto
    (about 3 s of CPU on 2 cores) only to read `{"timeout": 120}`."""
    env = airflow_environment(DemoSettings(state_dir=tmp_path, dags_folder=tmp_path), "http://127.0.0.1:1", "s")
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
