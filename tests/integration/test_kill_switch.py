"""The budget kill switch (BatchStopJobsOperator) and the run-level `stop_batch_jobs` callback, in a real Airflow 3."""

from __future__ import annotations

from typing import Any

import pytest
from dag_runs import jobs_named_like, run_dag

from airflow_batch_plus.testing.status import wait_for_status

pytestmark = pytest.mark.usefixtures("airflow_db")

DONE = {"SUCCEEDED", "FAILED"}
LONG = ["sh", "-c", "sleep 60"]


def submit(batch: Any, name: str, vcpus: str = "1") -> str:
    job_id: str = batch.submit_job(
        jobName=name,
        jobQueue="local-queue",
        jobDefinition="local-job",
        containerOverrides={"command": LONG, "resourceRequirements": [{"type": "VCPU", "value": vcpus}]},
    )["jobId"]
    return job_id


@pytest.fixture
def budget_jobs(batch: Any) -> dict[str, str]:
    """One job RUNNING, one stuck in RUNNABLE (more vCPUs than the queue has), one that does not match."""
    jobs = {
        "running": submit(batch, "budget-running"),
        "runnable": submit(batch, "budget-runnable", vcpus="1024"),
        "other": submit(batch, "other-running"),
    }
    for key in ("running", "other"):
        assert wait_for_status(batch, jobs[key], {"RUNNING"}, timeout=20)["status"] == "RUNNING"
    assert wait_for_status(batch, jobs["runnable"], {"RUNNABLE"}, timeout=20)["status"] == "RUNNABLE"
    return jobs


def statuses(batch: Any, jobs: dict[str, str]) -> dict[str, str]:
    described = {job["jobId"]: job["status"] for job in batch.describe_jobs(jobs=list(jobs.values()))["jobs"]}
    return {key: described[job_id] for key, job_id in jobs.items()}


def test_cancel_removes_waiting_jobs_and_lets_running_ones_finish(batch: Any, budget_jobs: dict[str, str]) -> None:
    assert run_dag("batch_kill_switch_cancel", job_name="budget-*").state == "success"
    wait_for_status(batch, budget_jobs["runnable"], DONE, timeout=10)
    assert statuses(batch, budget_jobs) == {"running": "RUNNING", "runnable": "FAILED", "other": "RUNNING"}


def test_terminate_stops_every_matching_job(batch: Any, budget_jobs: dict[str, str]) -> None:
    assert run_dag("batch_kill_switch_terminate", job_name="budget-*").state == "success"
    for key in ("running", "runnable"):
        wait_for_status(batch, budget_jobs[key], DONE, timeout=15)
    assert statuses(batch, budget_jobs) == {"running": "FAILED", "runnable": "FAILED", "other": "RUNNING"}
    reason = batch.describe_jobs(jobs=[budget_jobs["running"]])["jobs"][0]["statusReason"]
    assert reason.startswith("Stopped by Airflow kill switch: dag batch_kill_switch_terminate")


def test_a_filter_that_renders_empty_fails_the_task_and_stops_nothing(batch: Any, budget_jobs: dict[str, str]) -> None:
    """`job_name` is `{{ dag_run.conf['job_name'] }}`: rendered empty, it must not become "no filter" (every
    live job of the queue)."""
    assert run_dag("batch_kill_switch_terminate", job_name="").state == "failed"
    assert statuses(batch, budget_jobs) == {"running": "RUNNING", "runnable": "RUNNABLE", "other": "RUNNING"}


def test_a_dry_run_stops_nothing_and_says_what_it_would_do(
    batch: Any, budget_jobs: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    assert run_dag("batch_kill_switch_dry_run", job_name="budget-*").state == "success"
    output = capfd.readouterr().out
    assert statuses(batch, budget_jobs) == {"running": "RUNNING", "runnable": "RUNNABLE", "other": "RUNNING"}
    dry_run_lines = [line for line in output.splitlines() if "Dry run:" in line]
    assert len(dry_run_lines) == 2
    assert all("would terminate" in line for line in dry_run_lines)
    assert budget_jobs["other"] not in output


def test_a_failed_run_stops_the_jobs_its_tasks_left_running(batch: Any) -> None:
    run = run_dag("batch_run_failure_callback", script="sleep 60")
    assert run.state == "failed"
    (job,) = jobs_named_like(batch, "batch_run_failure_callback")
    job = wait_for_status(batch, job["jobId"], DONE, timeout=15)
    assert job["status"] == "FAILED"
    assert f"run {run.run_id} failed" in job["statusReason"]
