"""The DAG tests/e2e/test_run_callback.py runs: a run-level `dagrun_timeout` with
`on_failure_callback=stop_batch_jobs`, whose tasks keep their jobs and write their queue as a template,
as every example DAG does (`{{ var.value.get(...) }}`), so the queue cannot be read from the DAG file.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_batch_plus.callbacks import stop_batch_jobs
from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

TASKS = 2
RUN_TIMEOUT = timedelta(seconds=30)

with DAG(
    "batch_run_timeout_templated_queue",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["e2e"],
    dagrun_timeout=RUN_TIMEOUT,
    on_failure_callback=stop_batch_jobs,
) as run_timeout_dag:
    BatchSubmitJobOperator.partial(
        task_id="job",
        job_queue="{{ var.value.get('batch_job_queue', 'local-queue') }}",
        job_definition="{{ var.value.get('batch_job_definition', 'local-job') }}",
        region_name="us-east-1",
        poll_interval=1,
        deferrable=True,
        stop_policy="keep",  # the task leaves its job when the run times out: only the callback stops it
    ).expand(container_overrides=[{"command": ["sh", "-c", f"echo job {index}; sleep 600"]} for index in range(TASKS)])
