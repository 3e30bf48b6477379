"""Helpers of the integration tests: run a DAG with `dag.test()`, find and watch its Batch jobs."""

from __future__ import annotations

import os
from typing import Any


def run_dag(dag_id: str, logical_date: Any = None, **conf: Any) -> Any:
    """Run one DAG run of `dag_id` with `dag.test()` (the real task runner, triggers run in line).

    Given the `logical_date` of an earlier run, `dag.test()` clears that run's tasks and runs them again.
    """
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(dag_id)
    assert dag is not None, f"no DAG {dag_id}"
    if logical_date is None:
        return dag.test(run_conf=conf)
    return dag.test(run_conf=conf, logical_date=logical_date, run_after=logical_date)


def jobs_named_like(batch: Any, prefix: str) -> list[dict[str, Any]]:
    """Every job in local-queue whose name starts with `prefix`, any status, described."""
    summaries = batch.list_jobs(jobQueue="local-queue", filters=[{"name": "JOB_NAME", "values": [f"{prefix}*"]}])
    ids = [summary["jobId"] for summary in summaries["jobSummaryList"]]
    return list(batch.describe_jobs(jobs=ids)["jobs"]) if ids else []


def xcoms(run: Any, task_id: str = "job") -> dict[str, Any]:
    """Every XCom the task pushed in `run`, by key, deserialised."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id)).all()
        return {row.key: XComModel.deserialize_value(row) for row in rows}
