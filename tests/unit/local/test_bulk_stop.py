"""CancelJobs and TerminateJobs, the bulk stops of botocore's Batch model, on the local Batch."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_batch_plus.local import LocalBatch


def _submit(batch: Any, local_batch: LocalBatch, count: int, command: list[str]) -> list[str]:
    assert local_batch.env is not None
    return [
        batch.submit_job(
            jobName=f"bulk-{index}",
            jobQueue=local_batch.env.queue_name,
            jobDefinition=local_batch.env.job_definition_name,
            containerOverrides={"command": command},
        )["jobId"]
        for index in range(count)
    ]


def _statuses(batch: Any, ids: list[str]) -> dict[str, str]:
    return {job["jobId"]: job["status"] for job in batch.describe_jobs(jobs=ids)["jobs"]}


def _wait(batch: Any, ids: list[str], wanted: set[str], timeout: float = 10) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = _statuses(batch, ids)
        if set(statuses.values()) <= wanted or time.monotonic() > deadline:
            return statuses
        time.sleep(0.01)


def _wait_two_running(batch: Any, ids: list[str]) -> list[str]:
    """Both vCPUs busy; the other jobs wait in RUNNABLE for capacity."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        statuses = _statuses(batch, ids)
        running = [job_id for job_id, status in statuses.items() if status == "RUNNING"]
        if len(running) == 2 and set(statuses.values()) == {"RUNNING", "RUNNABLE"}:
            time.sleep(0.1)  # several scheduler ticks: the waiting jobs really stay RUNNABLE
            assert sorted(_statuses(batch, ids).values()).count("RUNNABLE") == len(ids) - 2
            return running
        time.sleep(0.01)
    raise AssertionError(f"not two jobs running: {_statuses(batch, ids)}")


@pytest.fixture
def queue_of_two(local_batch: LocalBatch, batch_client: Any) -> Any:
    """The bootstrap queue with its compute environment shrunk to 2 vCPUs, so later jobs wait in RUNNABLE."""
    assert local_batch.env is not None
    batch_client.update_compute_environment(
        computeEnvironment=local_batch.env.compute_environment_name, computeResources={"maxvCpus": 2}
    )
    return batch_client


def test_cancel_jobs_cancels_waiting_jobs_and_leaves_running_ones(local_batch: LocalBatch, queue_of_two: Any) -> None:
    batch = queue_of_two
    ids = _submit(batch, local_batch, 5, ["sleep", "30"])
    running = _wait_two_running(batch, ids)

    answer = batch.cancel_jobs(jobs=[*ids, "no-such-job"], reason="budget alarm")

    assert answer["successful"] == [*ids, "no-such-job"] and answer["errors"] == []
    time.sleep(0.2)
    details = {job["jobId"]: job for job in batch.describe_jobs(jobs=ids)["jobs"]}
    for job_id in ids:
        if job_id in running:
            assert details[job_id]["status"] == "RUNNING"
        else:
            assert (details[job_id]["status"], details[job_id]["statusReason"]) == ("FAILED", "budget alarm")
            assert details[job_id]["isCancelled"] is True
    batch.terminate_jobs(jobs=running, reason="cleanup")


def test_terminate_jobs_stops_running_and_waiting_jobs(local_batch: LocalBatch, queue_of_two: Any) -> None:
    batch = queue_of_two
    ids = _submit(batch, local_batch, 4, ["sleep", "30"])
    _wait_two_running(batch, ids)

    batch.terminate_jobs(jobs=ids, reason="kill switch")

    assert _wait(batch, ids, {"FAILED"}) == dict.fromkeys(ids, "FAILED")
    exit_codes = sorted(str(job.get("container", {}).get("exitCode")) for job in batch.describe_jobs(jobs=ids)["jobs"])
    assert exit_codes == ["143", "143", "None", "None"]


def test_bulk_stops_take_at_most_fifty_ids_and_a_short_reason(batch_client: Any) -> None:
    with pytest.raises(ClientError, match="1 to 50 job IDs"):
        batch_client.cancel_jobs(jobs=[f"id-{index}" for index in range(51)], reason="x")
    with pytest.raises(ClientError, match="limit is 1024"):
        batch_client.terminate_jobs(jobs=["id"], reason="x" * 1025)
