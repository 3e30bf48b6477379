"""A retry follows the live job of a try whose worker died, instead of submitting a duplicate (design §6).

A cleared task, though, starts fresh: Airflow raises `max_tries` on a clear and never on a retry.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from typing import Any

import pytest
from dag_runs import jobs_named_like, run_dag
from test_stop_on_exit import start_dag_test, wait_for_job

pytestmark = pytest.mark.usefixtures("airflow_db")


def retry_like_the_scheduler(dag_id: str) -> Any:
    """What the scheduler does for a task whose worker vanished, then run the next try in the task runner."""
    import os

    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    dag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(dag_id)
    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, task_id="job").one()
        assert ti.state == TaskInstanceState.RUNNING  # its worker was killed mid-wait
        ti.try_number += 1
        ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        session.refresh(ti)
        session.expunge(ti)
    _run_task(ti=ti, task=dag.task_dict["job"])
    return ti


def test_a_retry_after_the_worker_was_killed_follows_the_same_job(batch: Any) -> None:
    dag_id = "batch_in_worker_retry"
    worker = start_dag_test(dag_id, script="echo first-half; sleep 4; echo second-half")
    try:
        job = wait_for_job(batch, dag_id, {"RUNNING"})
        worker.send_signal(signal.SIGKILL)  # no on_kill, no cleanup: the job goes on
    finally:
        worker.wait()
    ti = retry_like_the_scheduler(dag_id)
    assert ti.state == "success"
    jobs = jobs_named_like(batch, dag_id)
    assert [found["jobId"] for found in jobs] == [job["jobId"]]
    assert jobs[0]["status"] == "SUCCEEDED"


def test_a_cleared_task_submits_a_new_job_even_though_its_state_store_survives(batch: Any) -> None:
    when = datetime.now(UTC)
    first = run_dag("batch_in_worker", logical_date=when, script="echo one")
    second = run_dag("batch_in_worker", logical_date=when, script="echo two")  # clears, then runs again
    assert (first.run_id, first.state, second.state) == (second.run_id, "success", "success")
    jobs = jobs_named_like(batch, "batch_in_worker")
    assert len(jobs) == 2
    assert jobs[0]["jobName"] == jobs[1]["jobName"]  # the same task instance, yet a new job
