"""DAGs tests/e2e/test_exit_paths.py runs: the exit paths of docs/operators.md's table that need Airflow's
scheduler and API server, on the demo's local AWS Batch through its `aws_default` connection.

Every job prints a line every half second for five minutes: only a stop ends it while the test looks.
Queues are plain strings (no template), so `stop_batch_jobs` finds them either way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_batch_plus.callbacks import stop_batch_jobs
from airflow_batch_plus.operators.batch import BatchSubmitJobOperator
from airflow_batch_plus.sensors.batch import BatchJobSensor

LONG_SCRIPT = 'for i in $(seq 1 600); do echo "exit line-$i"; sleep 0.5; done'
# Long enough for both tasks' jobs to be RUNNING before the run times out, on 2 busy cores.
DAGRUN_TIMEOUT = timedelta(seconds=40)
COMMON: dict[str, Any] = {"schedule": None, "start_date": datetime(2026, 1, 1), "catchup": False}


def submit(task_id: str, **kwargs: Any) -> BatchSubmitJobOperator:
    return BatchSubmitJobOperator(
        task_id=task_id,
        job_queue="local-queue",
        job_definition="local-job",
        container_overrides={"command": ["sh", "-c", LONG_SCRIPT]},
        region_name="us-east-1",
        poll_interval=1,
        **kwargs,
    )


def user_action_dag(dag_id: str, *, deferrable: bool) -> DAG:
    """A user acts on each task while it waits (in a worker, or deferred): the test marks `marked_failed`
    failed, `marked_success` success, clears `cleared`, and marks `kept` (stop_policy="keep") failed."""
    with DAG(dag_id, is_paused_upon_creation=False, tags=["e2e"], **COMMON) as dag:
        for name in ("marked_failed", "marked_success", "cleared"):
            submit(name, deferrable=deferrable)
        submit("kept", deferrable=deferrable, stop_policy="keep")
    return dag


user_action_in_worker = user_action_dag("batch_exit_worker_user_action", deferrable=False)
user_action_deferred = user_action_dag("batch_exit_deferred_user_action", deferrable=True)

# The run times out while one task waits in a worker and one is deferred. No callback: each task's own
# exit path (the operator's on_kill, the trigger's on_kill) applies the default stop policy.
with DAG(
    "batch_exit_dagrun_timeout", dagrun_timeout=DAGRUN_TIMEOUT, is_paused_upon_creation=False, tags=["e2e"], **COMMON
) as dagrun_timeout:
    submit("in_worker", deferrable=False)
    submit("deferred", deferrable=True)

# The same, but the tasks keep their jobs (stop_policy="keep"): the run's `on_failure_callback` stops them.
with DAG(
    "batch_exit_dagrun_timeout_callback",
    dagrun_timeout=DAGRUN_TIMEOUT,
    on_failure_callback=stop_batch_jobs,
    is_paused_upon_creation=False,
    tags=["e2e"],
    **COMMON,
) as dagrun_timeout_callback:
    submit("in_worker", deferrable=False, stop_policy="keep")
    submit("deferred", deferrable=True, stop_policy="keep")

# A job sensor in reschedule mode on a job submitted elsewhere (`dag_run.conf['job_id']`), which the test
# marks failed while it waits between pokes.
with DAG("batch_exit_sensor_reschedule", is_paused_upon_creation=False, tags=["e2e"], **COMMON) as sensor_reschedule:
    BatchJobSensor(
        task_id="wait",
        job_id="{{ dag_run.conf['job_id'] }}",
        mode="reschedule",
        deferrable=False,
        poke_interval=2,
        timeout=600,
        region_name="us-east-1",
    )

# Its worker dies without the task's process (SIGKILL) on the task's last try: no retry will follow the job.
with DAG("batch_exit_worker_dies_last_try", is_paused_upon_creation=False, tags=["e2e"], **COMMON) as worker_dies:
    submit("job", deferrable=False, retries=0)
