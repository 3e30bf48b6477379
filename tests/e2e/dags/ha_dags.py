"""DAGs tests/e2e/test_ha.py runs on the demo's HA profile (Postgres, Celery workers, two triggerers).

Each mapped `BatchSubmitJobOperator` task runs a job printing a numbered line every half second, long
enough to outlast a triggerer's stall past the health-check threshold and the hand-over that follows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

TASKS = 3
LINES = 160  # 80 s of a line every half second
SCRIPT = f'for i in $(seq 1 {LINES}); do echo "ha line-$i"; sleep 0.5; done'
# Long enough that only a stop ends it while the test looks.
LONG_SCRIPT = 'for i in $(seq 1 600); do echo "ha line-$i"; sleep 0.5; done'


def ha_dag(dag_id: str, *, deferrable: bool = True, retries: int = 0, script: str = SCRIPT, tasks: int = TASKS) -> DAG:
    with DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        is_paused_upon_creation=False,
        tags=["e2e", "ha"],
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
        ).expand(container_overrides=[{"command": ["sh", "-c", script]} for _ in range(tasks)])
    return dag


stall = ha_dag("batch_ha_triggerer_stall")
triggerer_killed = ha_dag("batch_ha_triggerer_sigkill")
rolling_restart = ha_dag("batch_ha_rolling_restart")
user_action = ha_dag("batch_ha_user_action", script=LONG_SCRIPT, tasks=2)
worker_killed = ha_dag("batch_ha_worker_sigkill", deferrable=False, retries=1, tasks=2)
