"""DAGs the browser tests (tests/e2e/test_ui.py) trigger, mark and clear through the Airflow UI.

Each runs one deferrable `BatchSubmitJobOperator` on the demo's local AWS Batch (queue `local-queue`,
job definition `local-job`, the `aws_default` connection the demo supervisor points at it). They are
unpaused at creation so the UI's Trigger button starts a run at once.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

# `tick N` once a second for `$1` seconds; the job's trap makes a stop visible in its log.
TICKS = """
trap 'echo "got SIGTERM at tick $i"; exit 143' TERM
i=0
while [ "$i" -lt "$1" ]; do
  i=$((i + 1))
  echo "tick $i"
  sleep 1 & wait $!
done
"""


def ui_dag(dag_id: str, seconds: int) -> DAG:
    with DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        is_paused_upon_creation=False,
        tags=["e2e"],
    ) as dag:
        BatchSubmitJobOperator(
            task_id="job",
            job_queue="local-queue",
            job_definition="local-job",
            container_overrides={"command": ["sh", "-c", TICKS, "ticks", str(seconds)]},
            aws_conn_id="aws_default",
            deferrable=True,
            poll_interval=1,
        )
    return dag


ui_live_logs = ui_dag("ui_live_logs", 60)
ui_mark_failed = ui_dag("ui_mark_failed", 300)
ui_clear = ui_dag("ui_clear", 300)
