"""DAGs the sensor tests run with `dag.test()` against the local AWS Batch.

The job sensors wait on the job whose id the test passes in `dag_run.conf['job_id']`, templated the
way a DAG author would take it from an upstream task or a run's configuration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG

from airflow_batch_plus.sensors.batch import BatchJobQueueSensor, BatchJobSensor

CONNECTION: dict[str, Any] = {"aws_conn_id": None, "region_name": "us-east-1"}


def job_sensor_dag(dag_id: str, **sensor_kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["test"]) as dag:
        BatchJobSensor(task_id="wait", job_id="{{ dag_run.conf['job_id'] }}", **CONNECTION, **sensor_kwargs)
    return dag


def queue_sensor_dag(dag_id: str, **sensor_kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["test"]) as dag:
        BatchJobQueueSensor(task_id="wait", job_queue="local-queue", poke_interval=0.2, **CONNECTION, **sensor_kwargs)
    return dag


poke = job_sensor_dag("batch_sensor_poke", deferrable=False, poke_interval=0.2, timeout=20)
deferred = job_sensor_dag("batch_sensor_deferred", deferrable=True, poll_interval=0.2, timeout=20)
deferred_timeout = job_sensor_dag("batch_sensor_deferred_timeout", deferrable=True, poll_interval=0.2, timeout=3)
queue_ready = queue_sensor_dag("batch_queue_ready", wait_for="ready", timeout=10)
queue_drained = queue_sensor_dag("batch_queue_drained", wait_for="drained", timeout=20)
queue_drained_timeout = queue_sensor_dag("batch_queue_drained_timeout", wait_for="drained", timeout=3)
