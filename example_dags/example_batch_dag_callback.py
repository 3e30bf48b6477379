"""A run-level safety net: `dagrun_timeout` plus `on_failure_callback=stop_batch_jobs`.

Task-level endings (mark failed, clear, `execution_timeout`, worker death) are handled by each
task's own stop policy. What this adds is a backstop for the *run*: when the run fails, whatever
failed it (a `dagrun_timeout`, a failed task, a task that let its job go), `stop_batch_jobs` finds
the jobs this run's `BatchSubmitJobOperator` tasks submitted from what each task instance recorded
(its `batch_job_id` XCom, every map index), keeps the live ones whose tags name this DAG and run, and
terminates them, recording `Stopped by Airflow: dag ..., run ... failed`. The queue may be a template,
as here: the callback does not need to read it from the DAG file.
Use `functools.partial(stop_batch_jobs, stop_policy="cancel")` to let started jobs finish.

To show it within seconds, the task here lets its job go on purpose: `stop_policy="keep"` (for a job
that must survive its task, e.g. so a later try can reattach to it) and a short `execution_timeout`
(`job_seconds` outlives it). The task times out, the run fails, and the callback terminates the job.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_batch_plus.callbacks import stop_batch_jobs
from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

with DAG(
    dag_id="example_batch_dag_callback",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["airflow-batch-plus", "example"],
    dagrun_timeout=timedelta(minutes=30),
    on_failure_callback=stop_batch_jobs,
    params={"job_seconds": Param(120, type="integer", minimum=1, description="How long the job runs")},
):
    BatchSubmitJobOperator(
        task_id="let_go",
        job_queue="{{ var.value.get('batch_job_queue', 'local-queue') }}",
        job_definition="{{ var.value.get('batch_job_definition', 'local-job') }}",
        container_overrides={
            "command": ["sh", "-c", 'echo "running for $1 s"; sleep "$1"', "let_go", "{{ params.job_seconds }}"],
        },
        stop_policy="keep",
        execution_timeout=timedelta(seconds=5),
        aws_conn_id="aws_default",
        poll_interval=1,
    )
