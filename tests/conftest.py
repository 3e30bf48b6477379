"""Every test session gets a throwaway Airflow home: its own SQLite database, the test DAGs, no examples.

Set before anything imports Airflow (Airflow reads its configuration once, on first import), so no
test touches the developer's own ~/airflow.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-batch-plus-tests-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).parent / "integration" / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.pop("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", None)
