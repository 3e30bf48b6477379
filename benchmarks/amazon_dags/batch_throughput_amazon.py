"""The throughput benchmark's DAG for the amazon provider: BENCH_TASKS mapped deferrable `BatchOperator` tasks.

The same DAG id, jobs, queue and job definition as benchmarks/dags/batch_throughput.py, so that
benchmarks/throughput.py (`--provider amazon`) measures both providers on the same Airflow and local
AWS Batch. The amazon provider's deferrable operator waits in the triggerer and resumes in a worker when
the job ends; `awslogs_enabled` has that resume copy the job's CloudWatch lines into the task log (ours
copies them live), so both runs account for every line.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.amazon.aws.operators.batch import BatchOperator
from airflow.sdk import DAG

TASKS = int(os.environ.get("BENCH_TASKS", "1000"))
JOB_SECONDS = int(os.environ.get("BENCH_JOB_SECONDS", "60"))
LINE_SECONDS = int(os.environ.get("BENCH_LINE_SECONDS", "5"))
POLL_SECONDS = int(os.environ.get("BENCH_POLL_SECONDS", "5"))

with DAG(
    dag_id="batch_throughput",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=TASKS,
    tags=["amazon-provider", "benchmark"],
):
    BatchOperator.partial(
        task_id="job",
        job_queue="local-queue",
        job_definition="local-job",
        container_overrides={
            "command": [
                "sh",
                "-c",
                'i=0; while [ "$i" -lt "$1" ]; do i=$((i + 1)); echo "line $i"; sleep "$2"; done',
                "job",
                str(JOB_SECONDS // LINE_SECONDS),
                str(LINE_SECONDS),
            ]
        },
        deferrable=True,
        poll_interval=POLL_SECONDS,
        awslogs_enabled=True,
        aws_conn_id="aws_default",
    ).expand(job_name=[f"throughput-{index:04d}" for index in range(TASKS)])
