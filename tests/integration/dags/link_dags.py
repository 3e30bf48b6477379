"""DAGs of tests/integration/test_links_in_airflow.py: a job whose first attempt fails (two attempts, two streams)
and an array of more children than the links' cap (each child a stream)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

ARRAY_SIZE = 22  # over links.MAX_LOG_LINKS (20)

with DAG("batch_links_attempts", schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["test"]) as a:
    BatchSubmitJobOperator(
        task_id="job",
        job_queue="local-queue",
        job_definition="local-job",
        container_overrides={
            "command": ["sh", "-c", 'echo attempt-$AWS_BATCH_JOB_ATTEMPT; [ "$AWS_BATCH_JOB_ATTEMPT" != 1 ]']
        },
        retry_strategy={"attempts": 2},
        aws_conn_id=None,
        region_name="us-east-1",
        poll_interval=0.2,
        deferrable=True,
    )

with DAG("batch_links_array", schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["test"]) as b:
    BatchSubmitJobOperator(
        task_id="job",
        job_queue="local-queue",
        job_definition="local-job",
        container_overrides={"command": ["sh", "-c", "echo child-$AWS_BATCH_JOB_ARRAY_INDEX"]},
        array_properties={"size": ARRAY_SIZE},
        aws_conn_id=None,
        region_name="us-east-1",
        poll_interval=0.2,
        deferrable=True,
    )
