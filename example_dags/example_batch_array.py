"""Fan out with an AWS Batch array job: one task, four children, one failure tolerated.

Each child runs the same command with its own `AWS_BATCH_JOB_ARRAY_INDEX` (0 to 3), here used to
pick its shard. Every child's lines appear in the task log prefixed with its index (`[2] ...`).
Child 2 fails on purpose: Batch then marks the whole array job FAILED, but `tolerated_failures=1`
lets the task succeed (with a warning naming how many children failed) as long as no more than one
child fails. Give a percentage instead (`tolerated_failures="10%"`) for large arrays.

A Batch array is the cheap way to run many identical shards: one SubmitJob, one task, one
triggerer wait. Use Airflow's dynamic task mapping instead when each shard needs its own retries,
its own task in the UI, or different arguments.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

JOB_QUEUE = "{{ var.value.get('batch_job_queue', 'local-queue') }}"
JOB_DEFINITION = "{{ var.value.get('batch_job_definition', 'local-job') }}"
SIZE = 4

SHARD = """
shard=$AWS_BATCH_JOB_ARRAY_INDEX
echo "shard $shard of $1: start"
sleep 1
if [ "$shard" = "$2" ]; then echo "shard $shard: bad input, giving up"; exit 4; fi
echo "shard $shard: done"
"""

with DAG(
    dag_id="example_batch_array",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["airflow-batch-plus", "example"],
    params={"failing_shard": 2},  # -1: every shard succeeds
):
    BatchSubmitJobOperator(
        task_id="shards",
        job_queue=JOB_QUEUE,
        job_definition=JOB_DEFINITION,
        array_properties={"size": SIZE},
        container_overrides={
            "command": ["sh", "-c", SHARD, "shard", str(SIZE), "{{ params.failing_shard }}"],
        },
        tolerated_failures=1,
        aws_conn_id="aws_default",
        poll_interval=1,  # seconds-long jobs; for real ones keep the default 30 s
    )
