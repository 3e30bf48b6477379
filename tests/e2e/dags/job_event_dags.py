"""The DAG tests/e2e/test_waiting_on_job_events.py runs on the demo started with `--job-events`: three mapped deferred
tasks whose jobs print a line a second for six seconds, polled every second if they were polled."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

with DAG(
    "batch_job_events", schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["e2e"]
) as job_events_dag:
    BatchSubmitJobOperator.partial(
        task_id="job",
        job_queue="local-queue",
        job_definition="local-job",
        aws_conn_id="aws_default",
        deferrable=True,
        poll_interval=1,
    ).expand(
        container_overrides=[
            {"command": ["sh", "-c", f"for i in 1 2 3 4 5 6; do echo event-job-{index}-line-$i; sleep 1; done"]}
            for index in range(3)
        ]
    )
