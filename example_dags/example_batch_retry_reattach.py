"""Airflow retries around a flaky AWS Batch job, and what "reattach" means for them.

The job fails on its first try on purpose (it is told its try number and `fail_tries` says how many
tries fail). The task has `retries=2`: try 1 submits a job that fails, so the task fails and is
retried; try 2 sees that try 1's job ended FAILED, submits a new job, and succeeds. One job per try.

Reattach is what makes retries safe when the *task* dies but the *job* does not: a worker killed
by OOM or a node drain, a triggerer handing over, a task retried after a heartbeat timeout. After
SubmitJob the operator records the job id in Airflow's task state store (and XCom); the next try
reads it and, if that job is still live, follows it (logs included) instead of submitting a
duplicate; if it SUCCEEDED meanwhile, the task succeeds with its result; only if it FAILED does the
try submit anew. With no record left, the try finds the job by its deterministic name and tags
(dag, task, run, map index). A *cleared* task always starts a new job. `reattach=False` turns it off.

For failures inside the job itself (a spot instance reclaimed), Batch's own
`retry_strategy={"attempts": 3, "evaluateOnExit": [...]}` retries within one job, without Airflow.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

JOB_QUEUE = "{{ var.value.get('batch_job_queue', 'local-queue') }}"
JOB_DEFINITION = "{{ var.value.get('batch_job_definition', 'local-job') }}"

FLAKY = """
echo "try $1 (max_tries $2)"
sleep 1
if [ "$1" -le "$3" ]; then echo "try $1: the upstream API timed out"; exit 1; fi
echo "try $1: done"
"""

with DAG(
    dag_id="example_batch_retry_reattach",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["airflow-batch-plus", "example"],
    params={"fail_tries": Param(1, type="integer", minimum=0, description="How many tries fail")},
):
    BatchSubmitJobOperator(
        task_id="flaky",
        job_queue=JOB_QUEUE,
        job_definition=JOB_DEFINITION,
        container_overrides={
            "command": [
                "sh",
                "-c",
                FLAKY,
                "flaky",
                "{{ ti.try_number }}",
                "{{ ti.max_tries }}",
                "{{ params.fail_tries }}",
            ],
        },
        retries=2,
        retry_delay=timedelta(seconds=2),
        reattach=True,  # the default
        aws_conn_id="aws_default",
        poll_interval=1,  # seconds-long jobs; for real ones keep the default 30 s
    )
