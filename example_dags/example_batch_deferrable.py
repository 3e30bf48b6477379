"""Submit an AWS Batch job and wait for it in the triggerer, with its log lines live in the task log.

The job prints a line every half second for about five seconds. While it runs the task is DEFERRED:
it holds no worker slot, and `BatchJobTrigger` in the triggerer follows the job and copies each
CloudWatch line into the task log as it arrives. When the job ends, the task resumes on a worker and
succeeds with the job's snapshot (job id, status, exit code, log streams) as its return value.

Queue and job definition come from the Airflow Variables `batch_job_queue` and `batch_job_definition`
when set, else the local AWS Batch's `local-queue` and `local-job` (`airflow-batch-plus demo`, or
`airflow-batch-plus local-batch` with `AWS_ENDPOINT_URL` pointing at it).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

JOB_QUEUE = "{{ var.value.get('batch_job_queue', 'local-queue') }}"
JOB_DEFINITION = "{{ var.value.get('batch_job_definition', 'local-job') }}"

with DAG(
    dag_id="example_batch_deferrable",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["airflow-batch-plus", "example"],
    params={"steps": 10},
):
    BatchSubmitJobOperator(
        task_id="count",
        job_queue=JOB_QUEUE,
        job_definition=JOB_DEFINITION,
        container_overrides={
            # The run id is an argument, not an environment value: override environment values are
            # treated as secrets and masked in every log.
            "command": [
                "sh",
                "-c",
                'for i in $(seq 1 "$1"); do echo "step $i of $1 (run $2)"; sleep 0.5; done',
                "count",
                "{{ params.steps }}",
                "{{ run_id }}",
            ],
        },
        aws_conn_id="aws_default",
        deferrable=True,  # the default; spelled out because it is what this example shows
        poll_interval=1,  # seconds-long jobs; for real ones keep the default 30 s
    )
