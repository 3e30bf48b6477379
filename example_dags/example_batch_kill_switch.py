"""The kill switch: stop every live AWS Batch job of a queue whose name matches, in three steps.

For a budget alarm, a runaway backfill, or a bad release: trigger this DAG with the job name prefix
to stop (`job_name`, a ListJobs JOB_NAME filter: case-insensitive, trailing `*` for a prefix). By
default it targets the jobs of `example_batch_long_job` (start that one first to see it work).

1. `dry_run` lists each matching job and logs what `terminate` would do to it; nothing is stopped.
   Read it in the task log before trusting a filter.
2. `cancel` removes every matching job that has not started (SUBMITTED, PENDING, RUNNABLE): they
   end FAILED without costing a cent; jobs already STARTING or RUNNING are left to finish. This is
   AWS's "cancel" step: stop the queue growing without killing work in progress.
3. `terminate` stops what is left, running jobs included (SIGTERM, then SIGKILL after the grace).

Drop step 3 when running jobs should finish. Each step returns its counts and job ids by outcome
(XCom `return_value`), and Batch records `Stopped by Airflow kill switch: dag ..., task ..., run ...`
as each job's reason. Job ids instead of a filter: `job_ids=[...]`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, chain

from airflow_batch_plus.operators.stop import BatchStopJobsOperator

JOB_QUEUE = "{{ var.value.get('batch_job_queue', 'local-queue') }}"

with DAG(
    dag_id="example_batch_kill_switch",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["airflow-batch-plus", "example"],
    params={
        "job_name": Param(
            "example_batch_long_job-*",
            type="string",
            minLength=1,
            description="Job name, or a prefix ending in * (case-insensitive)",
        ),
    },
):
    scope = {"job_queue": JOB_QUEUE, "job_name": "{{ params.job_name }}", "aws_conn_id": "aws_default"}
    chain(
        BatchStopJobsOperator(task_id="dry_run", stop_policy="terminate", dry_run=True, **scope),
        BatchStopJobsOperator(task_id="cancel", stop_policy="cancel", **scope),
        BatchStopJobsOperator(task_id="terminate", stop_policy="terminate", **scope),
    )
