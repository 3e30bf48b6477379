"""A long AWS Batch job (ten minutes by default) to try what happens when you stop its task.

The job prints a line every few seconds. Trigger the DAG, watch the lines arrive in the task log,
then, while the task is DEFERRED, mark it failed (or success) in the UI, or clear it. Airflow kills
the task's trigger, and the trigger's `on_kill` applies the stop policy: with the default
`stop_policy="terminate"` the job gets SIGTERM (its handler's last words reach the job's own
CloudWatch stream), then SIGKILL after Batch's grace period, and ends FAILED with the reason
`Stopped by Airflow: dag example_batch_long_job, task work, run ..., try 1: ...`. With
`stop_policy="cancel"` a job that already started would be left to finish; with `"keep"` it is never
stopped. No `on_failure_callback` is needed for this: Airflow does not run it on a mark-failed.

`duration_seconds` and `tick_seconds` are params: trigger with a config to make it shorter.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

JOB_QUEUE = "{{ var.value.get('batch_job_queue', 'local-queue') }}"
JOB_DEFINITION = "{{ var.value.get('batch_job_definition', 'local-job') }}"

WORK = """
trap 'echo "got SIGTERM after ${elapsed}s: cleaning up"; exit 143' TERM
elapsed=0
while [ "$elapsed" -lt "$1" ]; do
  echo "working: ${elapsed}s of $1s"
  sleep "$2" & wait $!
  elapsed=$((elapsed + $2))
done
echo "finished after $1s"
"""

with DAG(
    dag_id="example_batch_long_job",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["airflow-batch-plus", "example"],
    params={
        "duration_seconds": Param(600, type="integer", minimum=1, description="How long the job runs"),
        "tick_seconds": Param(5, type="integer", minimum=1, description="Seconds between its log lines"),
    },
):
    BatchSubmitJobOperator(
        task_id="work",
        job_queue=JOB_QUEUE,
        job_definition=JOB_DEFINITION,
        container_overrides={
            "command": ["sh", "-c", WORK, "work", "{{ params.duration_seconds }}", "{{ params.tick_seconds }}"],
        },
        stop_policy="terminate",  # the default: stop the job whatever its state when the task ends early
        execution_timeout=timedelta(minutes=30),
        aws_conn_id="aws_default",
        poll_interval=2,
    )
