"""Airflow finds this provider by itself, and what it finds validates (a bad entry breaks every component)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import jsonschema

import airflow_batch_plus
from airflow_batch_plus import get_provider_info


def test_entry_point_points_at_get_provider_info() -> None:
    (entry,) = [
        item for item in entry_points(group="apache_airflow_provider") if item.dist.name == "airflow-batch-plus"
    ]
    assert entry.load() is get_provider_info


def test_provider_info_validates_against_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-batch-plus"
    assert info["versions"] == [airflow_batch_plus.__version__]


def test_airflow_providers_list_shows_it(tmp_path: Path) -> None:
    environment = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=True,
    )
    providers = {item["package_name"]: item for item in json.loads(result.stdout[result.stdout.index("[") :])}
    assert providers["airflow-batch-plus"]["version"] == airflow_batch_plus.__version__
    assert "Coherence check failed" not in result.stderr
