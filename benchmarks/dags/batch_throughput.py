"""The throughput benchmark's DAG: BENCH_TASKS mapped Batch tasks, all deferred at once.

Each task submits one job to the local AWS Batch that prints a line every BENCH_LINE_SECONDS for
BENCH_JOB_SECONDS, then waits for it in the triggerer. BENCH_PROVIDER picks the operator, with the
same jobs, queue, job definition and poll interval either way:

- `plus` (default): our BatchSubmitJobOperator, the job's lines copied live into the task log;
- `amazon`: the amazon provider's deferrable BatchOperator, which resumes in a worker when the job
  ends; `awslogs_enabled` has that resume copy the job's lines into the task log, so both runs
  account for every line.

benchmarks/throughput.py sets the BENCH_* variables in every Airflow component's environment.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG

TASKS = int(os.environ.get("BENCH_TASKS", "1000"))
JOB_SECONDS = int(os.environ.get("BENCH_JOB_SECONDS", "60"))
LINE_SECONDS = int(os.environ.get("BENCH_LINE_SECONDS", "5"))
POLL_SECONDS = int(os.environ.get("BENCH_POLL_SECONDS", "5"))
PROVIDER = os.environ.get("BENCH_PROVIDER", "plus")

JOB: dict[str, Any] = {
    "task_id": "job",
    "job_queue": "local-queue",
    "job_definition": "local-job",
    "container_overrides": {
        "command": [
            "sh",
            "-c",
            'i=0; while [ "$i" -lt "$1" ]; do i=$((i + 1)); echo "line $i"; sleep "$2"; done',
            "job",
            str(JOB_SECONDS // LINE_SECONDS),
            str(LINE_SECONDS),
        ]
    },
    "poll_interval": POLL_SECONDS,
    "aws_conn_id": "aws_default",
}

with DAG(
    dag_id="batch_throughput",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=TASKS,
    tags=["benchmark", PROVIDER],
):
    job_names = [f"throughput-{index:04d}" for index in range(TASKS)]
    if PROVIDER == "amazon":
        from airflow.providers.amazon.aws.operators.batch import BatchOperator

        BatchOperator.partial(**JOB, deferrable=True, awslogs_enabled=True).expand(job_name=job_names)
    else:
        from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

        BatchSubmitJobOperator.partial(**JOB).expand(job_name=job_names)
