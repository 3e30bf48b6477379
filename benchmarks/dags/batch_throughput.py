"""The throughput benchmark's DAG: BENCH_TASKS mapped BatchSubmitJobOperator tasks, all deferred at once.

Each task submits one job to the local AWS Batch that prints a line every BENCH_LINE_SECONDS for
BENCH_JOB_SECONDS, then waits for it in the triggerer with its lines copied live into the task log.
benchmarks/throughput.py sets the BENCH_* variables in every Airflow component's environment.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

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
    tags=["airflow-batch-plus", "benchmark"],
):
    BatchSubmitJobOperator.partial(
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
        poll_interval=POLL_SECONDS,
        aws_conn_id="aws_default",
    ).expand(job_name=[f"throughput-{index:04d}" for index in range(TASKS)])
