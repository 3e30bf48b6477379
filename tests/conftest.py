"""Every test session gets a throwaway Airflow home: its own SQLite database, the test DAGs, no examples.

Two local DAG bundles: `dags-folder` (the test DAGs) and `example-dags` (the project's example_dags/,
which tests/integration/test_example_dags.py runs). `dag.test()` writes a DAG to the database from the
bundle that holds it, so each DAG must sit in a configured bundle.

Set before anything imports Airflow (Airflow reads its configuration once, on first import), so no
test touches the developer's own ~/airflow.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-batch-plus-tests-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).parent / "integration" / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
        {
            "name": "example-dags",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(Path(__file__).parents[1] / "example_dags")},
        },
    ]
)
os.environ.pop("AIRFLOW__BATCH_PLUS__DEFAULT_DEFERRABLE", None)
