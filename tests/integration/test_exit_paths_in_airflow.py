"""Exit paths of docs/operators.md's table that `dag.test()` can drive, each read back from the local Batch:
an array job with more failed children than it tolerates, and a job sensor in reschedule mode, which never
stops the job it waits on (it did not submit it). The paths that need a scheduler and an API server
(a user's action on a task waiting in a worker, `dagrun_timeout`) are in tests/e2e/test_exit_paths.py.
"""

from __future__ import annotations

import ast
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dag_runs import jobs_named_like, run_dag, xcoms

from airflow_batch_plus.testing.status import wait_for_status

pytestmark = pytest.mark.usefixtures("airflow_db")

DONE = {"SUCCEEDED", "FAILED"}
CHILDREN = re.compile(r"children: (\{[^}]*\})")


@pytest.mark.parametrize("dag_id", ["batch_deferred_array", "batch_in_worker_array"])
def test_an_array_job_over_its_tolerated_failures_fails_the_task_with_the_childrens_summary(
    dag_id: str, batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """Size 3, tolerated_failures=1: two children fail (exit 4), so the task fails, and says how many did."""
    script = 'echo child-$AWS_BATCH_JOB_ARRAY_INDEX; [ "$AWS_BATCH_JOB_ARRAY_INDEX" = 0 ] || exit 4'
    run = run_dag(dag_id, script=script)
    output = capfd.readouterr().out
    assert run.state == "failed"
    (instance,) = run.get_task_instances()
    assert instance.state == "failed"
    (parent,) = [job for job in jobs_named_like(batch, dag_id) if ":" not in job["jobId"]]
    parent = wait_for_status(batch, parent["jobId"], DONE, timeout=20)
    assert parent["status"] == "FAILED"
    summary = parent["arrayProperties"]["statusSummary"]
    assert (summary.get("FAILED"), summary.get("SUCCEEDED")) == (2, 1)
    children = batch.describe_jobs(jobs=[f"{parent['jobId']}:{index}" for index in range(3)])["jobs"]
    assert sorted(child["status"] for child in children) == ["FAILED", "FAILED", "SUCCEEDED"]
    # The task's failure carries the children's summary as Batch reported it, and no tolerance was claimed.
    reported = [ast.literal_eval(found) for found in CHILDREN.findall(output)]
    assert reported, f"no children summary in the task's failure:\n{output[-3000:]}"
    assert all((found.get("FAILED"), found.get("SUCCEEDED")) == (2, 1) for found in reported), reported
    assert f"Batch job {parent['jobId']}" in output
    assert "within tolerated_failures" not in output
    for index in range(3):
        assert f"[{index}] child-{index}" in output


def reschedules(run: Any, task_id: str = "wait") -> int:
    """How many times the task instance gave its worker slot back (Airflow's TaskReschedule rows)."""
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    (instance,) = [ti for ti in run.get_task_instances() if ti.task_id == task_id]
    with create_session() as session:
        return int(session.scalar(select(func.count()).where(TaskReschedule.ti_id == instance.id)) or 0)


def submit(batch: Any, script: str, name: str) -> str:
    response = batch.submit_job(
        jobName=name,
        jobQueue="local-queue",
        jobDefinition="local-job",
        containerOverrides={"command": ["sh", "-c", script]},
    )
    return str(response["jobId"])


def reschedules_since(dag_id: str, since: datetime) -> int:
    """How many times `dag_id`'s task instances gave their worker slot back since `since`."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    query = (
        select(func.count())
        .select_from(TaskReschedule)
        .join(TaskInstance, TaskInstance.id == TaskReschedule.ti_id)
        .where(TaskInstance.dag_id == dag_id, TaskReschedule.start_date >= since)
    )
    with create_session() as session:
        return int(session.scalar(query) or 0)


def test_a_job_sensor_in_reschedule_mode_follows_the_job_across_reschedules_to_its_end(
    batch: Any, tmp_path: Path
) -> None:
    # The job ends only once the sensor has been rescheduled twice, however slow the machine.
    gate = tmp_path / "gate"
    job_id = submit(batch, f'while [ ! -e "{gate}" ]; do sleep 0.2; done; echo done', "rescheduled-success")
    since = datetime.now(UTC)

    def open_gate_after_two_reschedules() -> None:
        deadline = time.monotonic() + 60
        while reschedules_since("batch_sensor_reschedule", since) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        gate.touch()  # after 60 s regardless, so the job ends and the count below says what happened

    opener = threading.Thread(target=open_gate_after_two_reschedules, daemon=True)
    opener.start()
    run = run_dag("batch_sensor_reschedule", job_id=job_id)
    opener.join(timeout=5)
    assert run.state == "success"
    assert reschedules(run) >= 2  # it waited between pokes with no worker slot, more than once
    assert xcoms(run, "wait")["return_value"]["status"] == "SUCCEEDED"
    assert batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] == "SUCCEEDED"


@pytest.mark.parametrize("mode", ["reschedule", "poke"])
def test_a_job_sensor_poking_from_a_worker_times_out_and_never_stops_the_job_it_waits_on(
    mode: str, batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """In reschedule mode the task gives its worker slot back between pokes; in poke mode it holds it."""
    job_id = submit(batch, "echo started; sleep 60", f"{mode}-timeout")
    assert wait_for_status(batch, job_id, {"RUNNING"}, timeout=20)["status"] == "RUNNING"
    started = time.monotonic()
    run = run_dag(f"batch_sensor_{mode}_timeout", job_id=job_id)
    output = capfd.readouterr().out
    assert run.state == "failed"
    assert time.monotonic() - started >= 4  # its timeout (in reschedule mode, counted across reschedules)
    if mode == "reschedule":
        # It gave its worker slot back between pokes (how often within 4 s depends on the machine's speed;
        # the test above shows two reschedules without depending on it).
        assert reschedules(run) >= 1
    else:
        assert reschedules(run) == 0
    assert "AirflowSensorTimeout" in output
    (instance,) = run.get_task_instances()
    assert instance.state == "failed"
    time.sleep(2)  # anything that stopped it would have had the time to
    job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    assert (job["status"], job.get("statusReason")) == ("RUNNING", None)
    batch.terminate_job(jobId=job_id, reason="test cleanup")
