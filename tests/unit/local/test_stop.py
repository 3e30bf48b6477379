"""Conformance: CancelJob and TerminateJob exactly as the AWS documents in ../shared/seeds describe them."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import describe, log_messages, submit, wait_for

from airflow_batch_plus.local import LocalBatch, LocalBatchConfig

FAST = LocalBatchConfig.fast()
SLOW_SUBMITTED = replace(FAST, submitted_seconds=30)
SLOW_STARTING = replace(FAST, starting_seconds=30)
SHORT_GRACE = replace(FAST, terminate_grace_seconds=0.3)
TRAP_TERM = "trap 'echo caught SIGTERM; exit 143' TERM; echo started; while true; do sleep 0.05; done"
IGNORE_TERM = "trap 'echo ignoring SIGTERM' TERM; echo started; while true; do sleep 0.05; done"


@pytest.fixture
def batch(batch_client: Any) -> Any:
    return batch_client


def _fill_capacity(local_batch: LocalBatch, batch: Any) -> str:
    """Shrink the compute environment to one vCPU and occupy it, so the next job waits in RUNNABLE."""
    assert local_batch.env is not None
    batch.update_compute_environment(
        computeEnvironment=local_batch.env.compute_environment_name, computeResources={"maxvCpus": 1}
    )
    blocker = submit(local_batch, "sleep 30", jobName="blocker")
    wait_for(batch, blocker, "RUNNING")
    return blocker


@pytest.mark.parametrize("local_batch_config", [SLOW_SUBMITTED])
def test_cancel_submitted_fails_it_at_once(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch)
    batch.cancel_job(jobId=job_id, reason="not needed")
    job = describe(batch, job_id)
    assert (job["status"], job["statusReason"], job["isCancelled"]) == ("FAILED", "not needed", True)
    assert job["attempts"] == []


def test_cancel_runnable_fails_it_without_running(local_batch: LocalBatch, batch: Any) -> None:
    blocker = _fill_capacity(local_batch, batch)
    job_id = submit(local_batch, "echo never")
    wait_for(batch, job_id, "RUNNABLE")
    time.sleep(0.1)
    assert describe(batch, job_id)["status"] == "RUNNABLE"
    batch.cancel_job(jobId=job_id, reason="budget")
    job = describe(batch, job_id)
    assert (job["status"], job["statusReason"], job["attempts"]) == ("FAILED", "budget", [])
    batch.terminate_job(jobId=blocker, reason="cleanup")


def test_cancel_pending_waits_for_its_dependencies_then_fails(local_batch: LocalBatch, batch: Any) -> None:
    dependency = submit(local_batch, "sleep 0.5")
    job_id = submit(local_batch, "echo never", dependsOn=[{"jobId": dependency}])
    wait_for(batch, job_id, "PENDING")
    batch.cancel_job(jobId=job_id, reason="cancelled while pending")
    time.sleep(0.1)
    assert describe(batch, job_id)["status"] == "PENDING"
    assert wait_for(batch, dependency)["status"] == "SUCCEEDED"
    job = wait_for(batch, job_id)
    assert (job["status"], job["statusReason"], job["attempts"]) == ("FAILED", "cancelled while pending", [])


def test_cancel_running_does_nothing_yet_succeeds(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch, "sleep 0.3")
    wait_for(batch, job_id, "RUNNING")
    answer = batch.cancel_job(jobId=job_id, reason="too late")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    job = wait_for(batch, job_id)
    assert (job["status"], job["statusReason"]) == ("SUCCEEDED", "Essential container in task exited")


@pytest.mark.parametrize("local_batch_config", [SLOW_STARTING])
def test_cancel_starting_does_nothing(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch)
    wait_for(batch, job_id, "STARTING")
    batch.cancel_job(jobId=job_id, reason="too late")
    time.sleep(0.1)
    assert describe(batch, job_id)["status"] == "STARTING"


def test_cancel_removes_the_retry_strategy_of_a_running_job(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch, "sleep 0.3; exit 1", retryStrategy={"attempts": 3})
    wait_for(batch, job_id, "RUNNING")
    batch.cancel_job(jobId=job_id, reason="no more tries")
    job = wait_for(batch, job_id)
    assert job["status"] == "FAILED"
    assert len(job["attempts"]) == 1


def test_cancel_or_terminate_a_finished_job_changes_nothing(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch)
    before = wait_for(batch, job_id)
    batch.cancel_job(jobId=job_id, reason="late")
    batch.terminate_job(jobId=job_id, reason="late")
    after = describe(batch, job_id)
    assert (
        (after["status"], after["statusReason"])
        == (before["status"], before["statusReason"])
        == (
            "SUCCEEDED",
            "Essential container in task exited",
        )
    )


def test_cancel_array_parent_cancels_waiting_children_and_fails_when_all_are_done(
    local_batch: LocalBatch, batch: Any
) -> None:
    assert local_batch.env is not None
    batch.update_compute_environment(
        computeEnvironment=local_batch.env.compute_environment_name, computeResources={"maxvCpus": 1}
    )
    parent = submit(local_batch, "sleep 0.5", arrayProperties={"size": 3})
    wait_for(batch, parent, "PENDING")  # children exist from here
    wait_for(batch, f"{parent}:0", "RUNNING")
    batch.cancel_job(jobId=parent, reason="stop the array")
    time.sleep(0.1)
    assert describe(batch, parent)["status"] == "PENDING"  # a child still runs
    children = batch.describe_jobs(jobs=[f"{parent}:{index}" for index in range(3)])["jobs"]
    statuses = {child["jobId"]: (child["status"], child.get("statusReason")) for child in children}
    assert statuses[f"{parent}:0"] == ("RUNNING", None)
    assert statuses[f"{parent}:1"] == statuses[f"{parent}:2"] == ("FAILED", "stop the array")
    job = wait_for(batch, parent)
    assert (job["status"], job["statusReason"]) == ("FAILED", "stop the array")
    assert describe(batch, f"{parent}:0")["status"] == "SUCCEEDED"


def test_terminate_running_sends_sigterm_and_its_handler_output_is_logged(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch, TRAP_TERM)
    wait_for(batch, job_id, "RUNNING")
    time.sleep(0.1)
    batch.terminate_job(jobId=job_id, reason="stop now")
    job = wait_for(batch, job_id)
    assert (job["status"], job["statusReason"], job["isTerminated"]) == ("FAILED", "stop now", True)
    assert job["container"]["exitCode"] == 143
    lines = log_messages(local_batch.client("logs"), job["container"]["logStreamName"])
    assert lines[0] == "started" and lines[-1] == "caught SIGTERM"


@pytest.mark.parametrize("local_batch_config", [SHORT_GRACE])
def test_terminate_sends_sigkill_after_the_grace_period(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch, IGNORE_TERM)
    wait_for(batch, job_id, "RUNNING")
    time.sleep(0.1)
    asked = time.monotonic()
    batch.terminate_job(jobId=job_id, reason="stop now")
    job = wait_for(batch, job_id)
    assert time.monotonic() - asked >= SHORT_GRACE.terminate_grace_seconds
    assert (job["status"], job["container"]["exitCode"]) == ("FAILED", 137)
    assert "ignoring SIGTERM" in log_messages(local_batch.client("logs"), job["container"]["logStreamName"])


def test_a_job_that_exits_within_the_grace_period_is_not_killed(local_batch: LocalBatch, batch: Any) -> None:
    """A SIGTERM handler that takes a while to clean up keeps its own exit code: no SIGKILL before the grace ends."""
    cleanup = "trap 'sleep 0.2; echo cleaned up; exit 3' TERM; echo started; while true; do sleep 0.05; done"
    job_id = submit(local_batch, cleanup)
    wait_for(batch, job_id, "RUNNING")
    time.sleep(0.1)
    batch.terminate_job(jobId=job_id, reason="stop now")
    job = wait_for(batch, job_id)
    assert (job["status"], job["container"]["exitCode"]) == ("FAILED", 3)
    assert log_messages(local_batch.client("logs"), job["container"]["logStreamName"])[-1] == "cleaned up"


def test_default_grace_is_thirty_seconds_like_aws() -> None:
    assert LocalBatchConfig().terminate_grace_seconds == 30.0


def test_terminate_runnable_cancels_it(local_batch: LocalBatch, batch: Any) -> None:
    blocker = _fill_capacity(local_batch, batch)
    job_id = submit(local_batch)
    wait_for(batch, job_id, "RUNNABLE")
    batch.terminate_job(jobId=job_id, reason="terminated while waiting")
    job = describe(batch, job_id)
    assert (job["status"], job["statusReason"], job["attempts"]) == ("FAILED", "terminated while waiting", [])
    batch.terminate_job(jobId=blocker, reason="cleanup")


@pytest.mark.parametrize("local_batch_config", [SLOW_STARTING])
def test_terminate_starting_fails_it(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch)
    wait_for(batch, job_id, "STARTING")
    batch.terminate_job(jobId=job_id, reason="terminated while starting")
    assert describe(batch, job_id)["status"] == "FAILED"


def test_terminate_removes_the_retry_strategy(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch, TRAP_TERM, retryStrategy={"attempts": 3})
    wait_for(batch, job_id, "RUNNING")
    batch.terminate_job(jobId=job_id, reason="no retry")
    job = wait_for(batch, job_id)
    assert (job["status"], len(job["attempts"])) == ("FAILED", 1)


def test_reason_is_limited_to_1024_characters(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch)
    batch.cancel_job(jobId=job_id, reason="x" * 1024)
    for call in (batch.cancel_job, batch.terminate_job):
        with pytest.raises(ClientError, match="limit is 1024") as raised:
            call(jobId=job_id, reason="x" * 1025)
        assert raised.value.response["Error"]["Code"] == "ClientException"


def test_stopping_an_unknown_job_is_a_client_exception(local_batch: LocalBatch, batch: Any) -> None:
    for call in (batch.cancel_job, batch.terminate_job):
        with pytest.raises(ClientError, match="does not exist"):
            call(jobId="00000000-0000-0000-0000-000000000000", reason="x")


def test_terminate_signals_the_whole_process_group(local_batch: LocalBatch, batch: Any, tmp_path: Path) -> None:
    child_pid_file = tmp_path / "child"
    job_id = submit(
        local_batch, f"sleep 30 & echo $! > {child_pid_file}; trap 'exit 143' TERM; while true; do sleep 0.05; done"
    )
    wait_for(batch, job_id, "RUNNING")
    deadline = time.monotonic() + 5
    while not child_pid_file.exists() or not child_pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the job never started its background child"
        time.sleep(0.02)
    child = int(child_pid_file.read_text())
    batch.terminate_job(jobId=job_id, reason="stop the group")
    wait_for(batch, job_id)
    while _alive(child):
        assert time.monotonic() < deadline + 5, f"background child {child} outlived its job"
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
