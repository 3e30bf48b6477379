"""DAGs tests/e2e/test_restarts.py runs while it restarts or kills Airflow's components.

Three mapped `BatchSubmitJobOperator` tasks each run a job printing a numbered line every half second
for 20 s, on the demo's local AWS Batch through its `aws_default` connection.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

TASKS = 3
LINES = 40
SCRIPT = f'for i in $(seq 1 {LINES}); do echo "restart line-$i"; sleep 0.5; done'


def restart_dag(dag_id: str, *, deferrable: bool, retries: int = 0) -> DAG:
    with DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        is_paused_upon_creation=False,
        tags=["e2e"],
    ) as dag:
        BatchSubmitJobOperator.partial(
            task_id="job",
            job_queue="local-queue",
            job_definition="local-job",
            region_name="us-east-1",
            poll_interval=1,
            deferrable=deferrable,
            retries=retries,
            retry_delay=timedelta(seconds=1),
        ).expand(container_overrides=[{"command": ["sh", "-c", SCRIPT]} for _ in range(TASKS)])
    return dag


triggerer_stopped = restart_dag("batch_restart_triggerer_sigterm", deferrable=True)
triggerer_killed = restart_dag("batch_restart_triggerer_sigkill", deferrable=True)
scheduler_stopped = restart_dag("batch_restart_scheduler", deferrable=True)
worker_killed = restart_dag("batch_restart_worker_sigkill", deferrable=False, retries=1)

# Not a restart: a job that prints its own secret, followed by the real triggerer (another process than
# the worker that rendered and masked the value). tests/e2e/test_restarts.py shares this Airflow.
SECRET = "tok-e2e-5ecret-never-print"
with DAG(
    "batch_secret_in_triggerer",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["e2e"],
) as secret_dag:
    BatchSubmitJobOperator(
        task_id="job",
        job_queue="local-queue",
        job_definition="local-job",
        region_name="us-east-1",
        poll_interval=1,
        deferrable=True,
        container_overrides={
            "command": ["sh", "-c", 'echo "my token is $SECRET_TOKEN"; sleep 2; echo "still $SECRET_TOKEN"; exit 3'],
            "environment": [{"name": "SECRET_TOKEN", "value": SECRET}],
        },
    )
