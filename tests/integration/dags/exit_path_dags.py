"""DAGs of the exit-path tests (docs/operators.md, "The stop policy, on every way a task can end") that
`dag.test()` can drive: an array job over its tolerated failures waited on in a worker, and a job sensor
in reschedule mode.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator
from airflow_batch_plus.sensors.batch import BatchJobSensor

# The deferred twin is batch_test_dags.py's `batch_deferred_array` (the same array size and tolerance).
with DAG("batch_in_worker_array", schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["test"]) as a:
    BatchSubmitJobOperator(
        task_id="job",
        job_queue="local-queue",
        job_definition="local-job",
        container_overrides={"command": ["sh", "-c", "{{ dag_run.conf['script'] }}"]},
        array_properties={"size": 3},
        tolerated_failures=1,
        aws_conn_id=None,
        region_name="us-east-1",
        poll_interval=0.2,
        deferrable=False,
    )


def job_sensor_dag(dag_id: str, timeout: float, mode: str = "reschedule") -> DAG:
    """A `BatchJobSensor` poking from a worker on the job `dag_run.conf['job_id']`; in reschedule mode the
    worker slot is given back between pokes (the task instance is UP_FOR_RESCHEDULE)."""
    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["test"]) as dag:
        BatchJobSensor(
            task_id="wait",
            job_id="{{ dag_run.conf['job_id'] }}",
            mode=mode,
            deferrable=False,
            poke_interval=1,
            timeout=timeout,
            aws_conn_id=None,
            region_name="us-east-1",
        )
    return dag


sensor_reschedule = job_sensor_dag("batch_sensor_reschedule", timeout=90)
sensor_reschedule_timeout = job_sensor_dag("batch_sensor_reschedule_timeout", timeout=4)
sensor_poke_timeout = job_sensor_dag("batch_sensor_poke_timeout", timeout=4, mode="poke")
