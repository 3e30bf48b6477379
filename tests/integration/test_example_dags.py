"""The example DAGs users copy (example_dags/): each one parses, and each runs as its docstring says.

Every DAG runs once with `dag.test()` (the real task runner, triggers in line) against the local AWS
Batch, with the `aws_default` connection it names left undefined, as on a fresh install: the Amazon
provider's hook then falls back to boto3's defaults, which the `batch_server` fixture points at the
local Batch through `AWS_ENDPOINT_URL`. tests/conftest.py makes example_dags/ a DAG bundle of its own,
so `dag.test()` can write these DAGs to the database.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from dag_runs import jobs_named_like, xcoms

from airflow_batch_plus.testing.status import wait_for_status

pytestmark = pytest.mark.usefixtures("airflow_db")

EXAMPLE_DAGS = Path(__file__).parents[2] / "example_dags"
EXAMPLE_FILES = sorted(EXAMPLE_DAGS.glob("*.py"))
DONE = {"SUCCEEDED", "FAILED"}
EVENT_DRIVEN = {"example_batch_cost_alarm"}


def run_example(dag_id: str, **conf: Any) -> Any:
    """One run of example DAG `dag_id` with `dag.test()` and `conf` as the run's config (params override)."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(EXAMPLE_DAGS).get_dag(dag_id)
    assert dag is not None, f"no DAG {dag_id} in {EXAMPLE_DAGS}"
    return dag.test(run_conf=conf)


def job_lines(output: str) -> list[str]:
    """The job's own lines as the task log printed them (message only), in order."""
    lines = []
    for line in output.splitlines():
        if "[airflow_batch_plus.triggers.batch.BatchJobTrigger]" in line:
            lines.append(line.split("] ", 1)[1].rsplit(" [airflow_batch_plus", 1)[0].strip())
    return lines


def by_creation(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(jobs, key=lambda job: job["createdAt"])


# Parsing


def test_every_example_file_parses_into_one_dag_named_after_it_with_a_docstring() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(EXAMPLE_DAGS)
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == [path.stem for path in EXAMPLE_FILES]
    for path in EXAMPLE_FILES:
        assert ast.get_docstring(ast.parse(path.read_text())), f"{path.name} says nothing about what it shows"
        dag = bag.get_dag(path.stem)
        assert dag is not None
        # Triggered by hand, except the event-driven one, which its asset watcher runs (tests/e2e/test_cost_alarm.py).
        assert (dag.schedule is None) is (path.stem not in EVENT_DRIVEN) and dag.catchup is False
        assert set(dag.tags) == {"airflow-batch-plus", "example"}
        assert dag.fileloc == str(path)


# Submitting and waiting


def test_deferrable_waits_in_the_triggerer_and_logs_every_line_once_in_order(
    batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_example("example_batch_deferrable")
    output = capfd.readouterr().out
    assert run.state == "success"
    assert "Pausing task as DEFERRED" in output
    assert job_lines(output) == [f"step {i} of 10 (run {run.run_id})" for i in range(1, 11)]
    (job,) = jobs_named_like(batch, "example_batch_deferrable")
    assert job["status"] == "SUCCEEDED"
    assert xcoms(run, "count")["return_value"]["job_id"] == job["jobId"]


def test_sync_waits_in_the_worker_and_logs_every_line(batch: Any, capfd: pytest.CaptureFixture[str]) -> None:
    run = run_example("example_batch_sync")
    output = capfd.readouterr().out
    assert run.state == "success"
    assert "Pausing task as DEFERRED" not in output
    assert job_lines(output) == [f"worker step {i} of 6" for i in range(1, 7)]
    (job,) = jobs_named_like(batch, "example_batch_sync")
    assert job["status"] == "SUCCEEDED"


def test_array_logs_each_child_and_tolerates_its_one_failed_child(
    batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_example("example_batch_array")
    output = capfd.readouterr().out
    assert run.state == "success"
    lines = job_lines(output)
    for shard in (0, 1, 3):
        assert f"[{shard}] shard {shard} of 4: start" in lines
        assert f"[{shard}] shard {shard}: done" in lines
    assert "[2] shard 2: bad input, giving up" in lines
    assert "[2] shard 2: done" not in lines
    assert "1 of 4 children failed, within tolerated_failures=1" in output
    (parent,) = [job for job in jobs_named_like(batch, "example_batch_array") if ":" not in job["jobId"]]
    assert parent["status"] == "FAILED"  # Batch's verdict; the task tolerated it
    assert parent["arrayProperties"]["statusSummary"]["FAILED"] == 1
    assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3


def test_chain_runs_its_jobs_one_after_another_passing_job_ids_on(
    batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_example("example_batch_chain")
    output = capfd.readouterr().out
    assert run.state == "success"
    jobs = {job["jobName"].split("-")[1]: job for job in jobs_named_like(batch, "example_batch_chain")}
    assert sorted(jobs) == ["extract", "publish", "transform"]
    assert all(job["status"] == "SUCCEEDED" for job in jobs.values())
    # Each job was submitted only after the one before it had ended.
    assert jobs["extract"]["stoppedAt"] <= jobs["transform"]["createdAt"]
    assert jobs["transform"]["stoppedAt"] <= jobs["publish"]["createdAt"]
    assert job_lines(output) == [
        f"extract: 1000 rows for run {run.run_id}",
        f"transform: reading the output of Batch job {jobs['extract']['jobId']}",
        f"publish: transform job {jobs['transform']['jobId']} ended SUCCEEDED",
    ]


def test_long_job_logs_as_it_goes_and_its_duration_is_a_param(batch: Any, capfd: pytest.CaptureFixture[str]) -> None:
    """Ten minutes by default (for trying mark-failed in the UI); two seconds here through the run's config."""
    run = run_example("example_batch_long_job", duration_seconds=2, tick_seconds=1)
    output = capfd.readouterr().out
    assert run.state == "success"
    assert job_lines(output) == ["working: 0s of 2s", "working: 1s of 2s", "finished after 2s"]
    (job,) = jobs_named_like(batch, "example_batch_long_job")
    assert job["status"] == "SUCCEEDED"


# Stopping


def submit(batch: Any, name: str, vcpus: str = "1") -> str:
    job_id: str = batch.submit_job(
        jobName=name,
        jobQueue="local-queue",
        jobDefinition="local-job",
        containerOverrides={
            "command": ["sh", "-c", "sleep 60"],
            "resourceRequirements": [{"type": "VCPU", "value": vcpus}],
        },
    )["jobId"]
    return job_id


def test_kill_switch_dry_runs_then_cancels_what_waits_then_terminates_what_runs(
    batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    running, runnable, other = submit(batch, "budget-a"), submit(batch, "budget-b", vcpus="1024"), submit(batch, "x")
    for job_id, status in ((running, "RUNNING"), (runnable, "RUNNABLE"), (other, "RUNNING")):
        assert wait_for_status(batch, job_id, {status}, timeout=20)["status"] == status
    run = run_example("example_batch_kill_switch", job_name="budget-*")
    output = capfd.readouterr().out
    assert run.state == "success"
    dry_run_lines = [line for line in output.splitlines() if "Dry run:" in line]
    assert len(dry_run_lines) == 2 and all("would terminate" in line for line in dry_run_lines)
    assert xcoms(run, "dry_run")["return_value"]["counts"] == {"would terminate": 2}
    assert xcoms(run, "cancel")["return_value"]["job_ids"] == {
        "cancel_requested": [runnable],
        "left_running": [running],
    }
    assert running in xcoms(run, "terminate")["return_value"]["job_ids"]["terminate_requested"]
    ended = {job_id: wait_for_status(batch, job_id, DONE, timeout=15) for job_id in (running, runnable)}
    assert [ended[running]["status"], ended[runnable]["status"]] == ["FAILED", "FAILED"]
    assert ended[running]["statusReason"].startswith("Stopped by Airflow kill switch: dag example_batch_kill_switch")
    assert batch.describe_jobs(jobs=[other])["jobs"][0]["status"] == "RUNNING"


def test_retry_submits_a_new_job_only_after_the_previous_one_failed(
    batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_example("example_batch_retry_reattach")
    output = capfd.readouterr().out
    assert run.state == "success"
    jobs = by_creation(jobs_named_like(batch, "example_batch_retry_reattach"))
    assert [job["status"] for job in jobs] == ["FAILED", "SUCCEEDED"]  # one job per try
    assert [job["tags"]["airflow-batch-plus:try-number"] for job in jobs] == ["1", "2"]
    assert "try 1: the upstream API timed out" in job_lines(output)
    assert "try 2: done" in job_lines(output)
    assert "Following Batch job" not in output  # try 1's job had failed: nothing to reattach to
    assert xcoms(run, "flaky")["return_value"]["job_id"] == jobs[1]["jobId"]


def test_dag_callback_stops_the_job_a_failed_run_left_behind(batch: Any) -> None:
    run = run_example("example_batch_dag_callback")
    assert run.state == "failed"
    (job,) = jobs_named_like(batch, "example_batch_dag_callback")
    job = wait_for_status(batch, job["jobId"], DONE, timeout=15)
    assert job["status"] == "FAILED"
    assert job["statusReason"].startswith(
        f"Stopped by Airflow: dag example_batch_dag_callback, run {run.run_id} failed"
    )


# Sensing


def test_sensor_waits_on_a_job_submitted_elsewhere_and_logs_its_lines(
    batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_example("example_batch_sensor")
    output = capfd.readouterr().out
    assert run.state == "success"
    (job,) = jobs_named_like(batch, "submitted-elsewhere")
    assert job["status"] == "SUCCEEDED"
    result = xcoms(run, "wait_for_job")["return_value"]
    assert (result["job_id"], result["status"]) == (job["jobId"], "SUCCEEDED")
    assert job_lines(output) == [f"outside job: part {i} of 3" for i in (1, 2, 3)]
