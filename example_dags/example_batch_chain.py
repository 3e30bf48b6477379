"""A chain of AWS Batch jobs, ordered by Airflow: `extract` >> `transform` >> `publish`.

Each step is its own task waiting on its own job, and the next job is submitted only once the
previous task succeeded. That is what most users want: every step has its own retries, its own log
and its own box in the grid, a failed step stops the chain, and clearing one step reruns from there.
Results travel by XCom: every task pushes its job id (`batch_job_id`, at submit time) and returns the
job's snapshot, so `transform` is told which job produced its input.

Why not Batch's own `dependsOn` (`depends_on=[{"jobId": "{{ ti.xcom_pull(task_ids='extract',
key='batch_job_id') }}"}]`)? It saves the few seconds between one job's end and the next submit,
but only if the downstream task runs while the upstream job is still going, which Airflow ordering
does not allow (and an XCom pulled from a still-running task is a race). It also makes Batch, not
Airflow, decide what happens when a step fails: Batch fails the dependent job, and Airflow's retries
and clears no longer line up with the chain. Reach for `dependsOn` inside one task's world, such as
an array job whose children depend on each other (`{"type": "SEQUENTIAL"}`).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, chain

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

JOB_QUEUE = "{{ var.value.get('batch_job_queue', 'local-queue') }}"
JOB_DEFINITION = "{{ var.value.get('batch_job_definition', 'local-job') }}"


def step(task_id: str, script: str, *args: str) -> BatchSubmitJobOperator:
    """One Batch job running `script` in `sh -c`, with `args` as $1, $2..."""
    return BatchSubmitJobOperator(
        task_id=task_id,
        job_queue=JOB_QUEUE,
        job_definition=JOB_DEFINITION,
        container_overrides={"command": ["sh", "-c", script, task_id, *args]},
        aws_conn_id="aws_default",
        poll_interval=1,  # seconds-long jobs; for real ones keep the default 30 s
    )


with DAG(
    dag_id="example_batch_chain",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["airflow-batch-plus", "example"],
):
    chain(
        step("extract", 'sleep 1; echo "extract: 1000 rows for run $1"', "{{ run_id }}"),
        step(
            "transform",
            'sleep 1; echo "transform: reading the output of Batch job $1"',
            "{{ ti.xcom_pull(task_ids='extract', key='batch_job_id') }}",
        ),
        step(
            "publish",
            'echo "publish: transform job $1 ended $2"',
            "{{ ti.xcom_pull(task_ids='transform')['job_id'] }}",
            "{{ ti.xcom_pull(task_ids='transform')['status'] }}",
        ),
    )
