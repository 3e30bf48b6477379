"""DAGs on ECS-properties and EKS-properties job definitions (the tests register `ecs-test` and `eks-test`).

What each job runs comes from `dag_run.conf`, rendered into the ECS or EKS override as DAG authors template it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator


def ecs_or_eks_dag(dag_id: str, **operator_kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["test"]) as dag:
        BatchSubmitJobOperator(
            task_id="job",
            job_queue="local-queue",
            aws_conn_id=None,
            region_name="us-east-1",
            poll_interval=0.2,
            deferrable=True,
            **operator_kwargs,
        )
    return dag


ecs = ecs_or_eks_dag(
    "batch_deferred_ecs",
    job_definition="ecs-test",
    retry_strategy={"attempts": 2},
    ecs_properties_override={
        "taskProperties": [
            {
                "containers": [
                    {"name": "main", "environment": [{"name": "GATE", "value": "{{ dag_run.conf['gate'] }}"}]},
                    {"name": "side", "command": ["sh", "-c", "{{ dag_run.conf['side'] }}"]},
                ]
            }
        ]
    },
)
eks = ecs_or_eks_dag(
    "batch_deferred_eks",
    job_definition="eks-test",
    execution_timeout=timedelta(seconds=6),
    eks_properties_override={
        "podProperties": {"containers": [{"name": "app", "args": ["{{ dag_run.conf['script'] }}"]}]}
    },
)
