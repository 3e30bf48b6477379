"""Submit an AWS Batch job and wait for it in the worker (`deferrable=False`), logs streamed live.

The same job as `example_batch_deferrable`, but the task keeps its worker slot while the job runs:
the operator runs the very same trigger code in the task's own event loop, so the job's CloudWatch
lines appear in the task log as they arrive, just as when deferred. Choose this when you have no
triggerer, or for jobs of a few seconds where deferring and resuming costs more than it saves. If
the worker kills the task (mark failed, clear, SIGTERM, `execution_timeout`), the operator's
`on_kill` terminates the job.

Queue and job definition come from the Airflow Variables `batch_job_queue` and
`batch_job_definition` when set, else the local AWS Batch's `local-queue` and `local-job`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

JOB_QUEUE = "{{ var.value.get('batch_job_queue', 'local-queue') }}"
JOB_DEFINITION = "{{ var.value.get('batch_job_definition', 'local-job') }}"

with DAG(
    dag_id="example_batch_sync",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["airflow-batch-plus", "example"],
    params={"steps": 6},
):
    BatchSubmitJobOperator(
        task_id="count_in_worker",
        job_queue=JOB_QUEUE,
        job_definition=JOB_DEFINITION,
        container_overrides={
            "command": [
                "sh",
                "-c",
                'for i in $(seq 1 "$1"); do echo "worker step $i of $1"; sleep 0.5; done',
                "count",
                "{{ params.steps }}",
            ],
        },
        aws_conn_id="aws_default",
        deferrable=False,
        poll_interval=1,  # seconds-long jobs; for real ones keep the default 30 s
        execution_timeout=timedelta(minutes=10),  # on timeout the job is terminated too
    )
