"""The run callback and the sensors stand apart from the operator modules, yet find the submitting tasks."""

from __future__ import annotations

import subprocess
import sys

from airflow.sdk import DAG

from airflow_batch_plus.callbacks import _submitting_tasks
from airflow_batch_plus.operators.batch import BatchSubmitJobOperator
from airflow_batch_plus.sensors.batch import BatchJobSensor


class OwnSubmitOperator(BatchSubmitJobOperator):
    """A DAG author's subclass: its tasks record jobs too."""


def test_the_callback_finds_submit_operators_their_subclasses_and_mapped_ones_and_nothing_else() -> None:
    with DAG("callback_finds", schedule=None):
        plain = BatchSubmitJobOperator(task_id="plain", job_queue="q", job_definition="d")
        own = OwnSubmitOperator(task_id="own", job_queue="q", job_definition="d")
        mapped = BatchSubmitJobOperator.partial(task_id="mapped", job_queue="q").expand(job_definition=["a", "b"])
        sensor = BatchJobSensor(task_id="sensor", job_id="j")
    assert _submitting_tasks([plain, own, mapped, sensor]) == [plain, own, mapped]


def test_the_callback_and_the_sensors_import_no_operator_module() -> None:
    """Layering: what a sensor or a callback needs lives outside the operator modules."""
    probe = (
        "import sys, airflow_batch_plus.callbacks, airflow_batch_plus.sensors.batch; "
        "print(sorted(m for m in sys.modules if m.startswith('airflow_batch_plus.operators')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"
