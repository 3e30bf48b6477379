"""A retry follows the live job of a try whose worker died, instead of submitting a duplicate (design §6).

A cleared task, though, starts fresh: Airflow raises `max_tries` on a clear and never on a retry. And a
retry runs the job definition revision its first try ran.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path
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


def test_a_retry_runs_the_job_definition_revision_the_first_try_ran(
    batch: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Try 1 runs local-job:N and fails; its on_retry_callback registers local-job:N+1; try 2 runs local-job:N."""

    def revisions() -> list[int]:
        found = batch.describe_job_definitions(jobDefinitionName="local-job", status="ACTIVE")["jobDefinitions"]
        return sorted(definition["revision"] for definition in found)

    latest = revisions()[-1]  # N: the local Batch keeps what earlier tests in this process registered
    marker = tmp_path / "first-try-ran"
    script = f"if [ -e {marker} ]; then echo second-job-ran; else touch {marker}; exit 1; fi"
    run = run_dag("batch_pinned_retry", script=script)
    output = capfd.readouterr().out
    assert run.state == "success"
    assert revisions()[-1] == latest + 1  # registered between the tries
    jobs = sorted(jobs_named_like(batch, "batch_pinned_retry"), key=lambda job: job["createdAt"])
    assert [job["status"] for job in jobs] == ["FAILED", "SUCCEEDED"]
    pinned = f"local-job:{latest}"
    assert [job["jobDefinition"].rsplit("/", 1)[-1] for job in jobs] == [pinned, pinned]
    assert f"Job definition local-job: running revision {pinned} (its latest ACTIVE revision" in output
    assert f"Job definition local-job: running revision {pinned}, which try 1 ran" in output
