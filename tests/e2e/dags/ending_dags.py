"""The DAG tests/e2e/test_exit_paths.py runs to see where a deferred task ends once its job has: in the
triggerer (end_from_trigger's default), or in a worker that resumes it (`end_from_trigger=False`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

# A few lines over a second or two: the task has deferred before its job ends.
SUCCEEDING = 'for i in 1 2 3 4; do echo "ending line-$i"; sleep 0.5; done'
FAILING = 'echo "ending line-1"; sleep 1; echo "about to fail"; exit 3'

with DAG(
    "batch_end_in_triggerer",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["e2e"],
) as end_in_triggerer:
    for task_id, script, options in (
        ("succeeds", SUCCEEDING, {}),
        ("fails_twice", FAILING, {"retries": 1, "retry_delay": timedelta(seconds=0)}),
        ("resumes", SUCCEEDING, {"end_from_trigger": False}),
    ):
        BatchSubmitJobOperator(
            task_id=task_id,
            job_queue="local-queue",
            job_definition="local-job",
            container_overrides={"command": ["sh", "-c", script]},
            region_name="us-east-1",
            poll_interval=1,
            deferrable=True,
            **options,
        )
