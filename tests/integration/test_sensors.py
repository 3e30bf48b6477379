"""BatchJobSensor and BatchJobQueueSensor in a real Airflow 3 (`dag.test()`), waiting on jobs a plain
boto3 client submitted, the way jobs submitted elsewhere reach a sensor.
"""

from __future__ import annotations

from typing import Any

import pytest
from dag_runs import run_dag, xcoms

from airflow_batch_plus.sensors.batch import BatchJobQueueSensor
from airflow_batch_plus.testing.status import wait_for_status

pytestmark = pytest.mark.usefixtures("airflow_db")

LONG_JOB = "echo started; sleep 60"


def submit(batch: Any, script: str, name: str = "submitted-elsewhere") -> str:
    response = batch.submit_job(
        jobName=name,
        jobQueue="local-queue",
        jobDefinition="local-job",
        containerOverrides={"command": ["sh", "-c", script]},
    )
    return str(response["jobId"])


def deferred(output: str) -> bool:
    return "Pausing task as DEFERRED" in output


@pytest.mark.parametrize("dag_id", ["batch_sensor_poke", "batch_sensor_deferred"])
def test_the_job_sensor_succeeds_with_the_jobs_snapshot_when_the_job_succeeds(
    dag_id: str, batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    job_id = submit(batch, "sleep 2; echo done")
    run = run_dag(dag_id, job_id=job_id)
    assert run.state == "success"
    assert deferred(capfd.readouterr().out) == dag_id.endswith("deferred")
    stored = xcoms(run, "wait")
    assert (stored["return_value"]["job_id"], stored["return_value"]["status"]) == (job_id, "SUCCEEDED")
    assert stored["_link_BatchJobLink"].endswith(f"#jobs/detail/{job_id}")


def test_a_deferrable_job_sensor_on_an_ended_job_does_not_defer(batch: Any, capfd: pytest.CaptureFixture[str]) -> None:
    job_id = submit(batch, "exit 0")
    assert wait_for_status(batch, job_id, {"SUCCEEDED", "FAILED"}, timeout=20)["status"] == "SUCCEEDED"
    run = run_dag("batch_sensor_deferred", job_id=job_id)
    assert run.state == "success"
    assert not deferred(capfd.readouterr().out)


@pytest.mark.parametrize("dag_id", ["batch_sensor_poke", "batch_sensor_deferred"])
def test_a_failed_job_fails_the_job_sensor_with_its_exit_code(
    dag_id: str, batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    job_id = submit(batch, "sleep 8; exit 3")  # still running when the sensor first looks, even on a busy machine
    run = run_dag(dag_id, job_id=job_id)
    output = capfd.readouterr().out
    assert run.state == "failed"
    assert deferred(output) == dag_id.endswith("deferred")
    assert f"Batch job {job_id}" in output
    assert "exit code 3" in output


def test_a_deferred_job_sensor_times_out_and_leaves_the_job_running(
    batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    job_id = submit(batch, LONG_JOB)
    assert wait_for_status(batch, job_id, {"RUNNING"}, timeout=20)["status"] == "RUNNING"
    run = run_dag("batch_sensor_deferred_timeout", job_id=job_id)
    output = capfd.readouterr().out
    assert run.state == "failed"
    assert deferred(output)
    assert "AirflowSensorTimeout" in output
    assert "the job was left running" in output
    job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    assert (job["status"], job.get("statusReason")) == ("RUNNING", None)
    batch.terminate_job(jobId=job_id, reason="test cleanup")


def test_the_queue_sensor_sees_a_ready_queue(batch: Any) -> None:
    run = run_dag("batch_queue_ready")
    assert run.state == "success"
    result = xcoms(run, "wait")["return_value"]
    assert (result["job_queue"], result["state"], result["status"]) == ("local-queue", "ENABLED", "VALID")


def test_the_queue_sensor_succeeds_once_the_queues_jobs_have_finished(batch: Any) -> None:
    job_ids = [submit(batch, "sleep 1"), submit(batch, "sleep 1.5; exit 1")]
    run = run_dag("batch_queue_drained")
    assert run.state == "success"
    statuses = [job["status"] for job in batch.describe_jobs(jobs=job_ids)["jobs"]]
    assert sorted(statuses) == ["FAILED", "SUCCEEDED"]


def test_the_queue_sensor_times_out_while_a_job_runs(batch: Any, capfd: pytest.CaptureFixture[str]) -> None:
    job_id = submit(batch, LONG_JOB)
    run = run_dag("batch_queue_drained_timeout")
    output = capfd.readouterr().out
    assert run.state == "failed"
    assert f"still has job {job_id}" in output
    assert "AirflowSensorTimeout" in output
    batch.terminate_job(jobId=job_id, reason="test cleanup")


def test_a_bad_wait_for_is_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match=r"wait_for='empty'.*'ready'.*'drained'"):
        BatchJobQueueSensor(task_id="wait", job_queue="local-queue", wait_for="empty")
