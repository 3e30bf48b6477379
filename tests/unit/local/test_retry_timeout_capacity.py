"""Conformance: retryStrategy, timeout.attemptDurationSeconds and compute capacity (maxvCpus)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import describe, log_messages, submit, wait_for

from airflow_batch_plus.local import LocalBatch

ATTEMPT_EXIT = 'echo "attempt $AWS_BATCH_JOB_ATTEMPT"; exit $((AWS_BATCH_JOB_ATTEMPT + 10))'


@pytest.fixture
def batch(batch_client: Any) -> Any:
    return batch_client


def test_retry_runs_new_attempts_each_with_its_own_log_stream(local_batch: LocalBatch, batch: Any) -> None:
    job = wait_for(batch, submit(local_batch, ATTEMPT_EXIT, retryStrategy={"attempts": 3}))
    assert job["status"] == "FAILED"
    assert [attempt["container"]["exitCode"] for attempt in job["attempts"]] == [11, 12, 13]
    streams = [attempt["container"]["logStreamName"] for attempt in job["attempts"]]
    assert len(set(streams)) == 3
    logs = local_batch.client("logs")
    assert [log_messages(logs, stream) for stream in streams] == [["attempt 1"], ["attempt 2"], ["attempt 3"]]


def test_retry_stops_when_an_attempt_succeeds(local_batch: LocalBatch, batch: Any) -> None:
    job = wait_for(batch, submit(local_batch, 'test "$AWS_BATCH_JOB_ATTEMPT" = 2', retryStrategy={"attempts": 5}))
    assert (job["status"], len(job["attempts"])) == ("SUCCEEDED", 2)


@pytest.mark.parametrize(
    ("rules", "attempts_made"),
    [
        ([{"onExitCode": "12", "action": "EXIT"}], 2),
        ([{"onExitCode": "1*", "action": "EXIT"}], 1),
        ([{"onExitCode": "99", "action": "EXIT"}], 4),
        ([{"onStatusReason": "Essential*", "action": "EXIT"}], 1),
        ([{"onStatusReason": "Host EC2*", "action": "RETRY"}, {"onExitCode": "*", "action": "EXIT"}], 1),
        ([{"onReason": "CannotPull*", "action": "EXIT"}], 4),
    ],
)
def test_evaluate_on_exit_first_matching_rule_decides(
    local_batch: LocalBatch, batch: Any, rules: list[dict[str, str]], attempts_made: int
) -> None:
    job = wait_for(batch, submit(local_batch, ATTEMPT_EXIT, retryStrategy={"attempts": 4, "evaluateOnExit": rules}))
    assert (job["status"], len(job["attempts"])) == ("FAILED", attempts_made)


def test_retry_strategy_comes_from_the_definition_unless_submit_overrides_it(
    local_batch: LocalBatch, batch: Any
) -> None:
    batch.register_job_definition(
        jobDefinitionName="retrying",
        type="container",
        retryStrategy={"attempts": 2},
        containerProperties={
            "image": "local",
            "command": ["sh", "-c", "exit 1"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
        },
    )
    inherited = wait_for(
        batch, batch.submit_job(jobName="a", jobQueue="local-queue", jobDefinition="retrying")["jobId"]
    )
    overridden = wait_for(
        batch,
        batch.submit_job(jobName="b", jobQueue="local-queue", jobDefinition="retrying", retryStrategy={"attempts": 3})[
            "jobId"
        ],
    )
    assert (len(inherited["attempts"]), len(overridden["attempts"])) == (2, 3)


def test_timeout_stops_the_attempt_and_does_not_retry(local_batch: LocalBatch, batch: Any) -> None:
    # fast() scales time by 0.005: a 60 s timeout is 0.3 s here.
    job_id = submit(
        local_batch,
        "trap 'echo timed out; exit 143' TERM; while true; do sleep 0.05; done",
        timeout={"attemptDurationSeconds": 60},
        retryStrategy={"attempts": 3},
    )
    job = wait_for(batch, job_id)
    assert (job["status"], job["statusReason"]) == ("FAILED", "Job attempt duration exceeded timeout")
    assert len(job["attempts"]) == 1 and job["container"]["exitCode"] == 143
    assert log_messages(local_batch.client("logs"), job["container"]["logStreamName"])[-1] == "timed out"
    assert job["timeout"] == {"attemptDurationSeconds": 60}


def test_jobs_wait_in_runnable_while_the_compute_environment_is_full(local_batch: LocalBatch, batch: Any) -> None:
    assert local_batch.env is not None
    batch.update_compute_environment(
        computeEnvironment=local_batch.env.compute_environment_name, computeResources={"maxvCpus": 2}
    )
    big = submit(
        local_batch, "sleep 0.4", containerOverrides={"resourceRequirements": [{"type": "VCPU", "value": "2"}]}
    )
    wait_for(batch, big, "RUNNING")
    small = submit(local_batch, "true")
    wait_for(batch, small, "RUNNABLE")
    time.sleep(0.15)
    assert describe(batch, small)["status"] == "RUNNABLE"
    done_big, done_small = wait_for(batch, big), wait_for(batch, small)
    assert done_small["status"] == "SUCCEEDED"
    assert done_small["startedAt"] >= done_big["stoppedAt"]


def test_concurrency_reaches_but_never_exceeds_max_vcpus(local_batch: LocalBatch, batch: Any) -> None:
    """Five 1-vCPU jobs on 2 vCPUs: two run at a time, never three, judged from every attempt's start and stop."""
    assert local_batch.env is not None
    batch.update_compute_environment(
        computeEnvironment=local_batch.env.compute_environment_name, computeResources={"maxvCpus": 2}
    )
    ids = [submit(local_batch, "sleep 0.2", jobName=f"c{index}") for index in range(5)]
    jobs = [wait_for(batch, job_id) for job_id in ids]
    assert {job["status"] for job in jobs} == {"SUCCEEDED"}
    # At equal milliseconds a stop (-1) sorts before a start (+1): capacity freed, then taken.
    events = sorted((edge, step) for job in jobs for edge, step in ((job["startedAt"], 1), (job["stoppedAt"], -1)))
    running, peak = 0, 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 2


def test_a_job_bigger_than_every_compute_environment_stays_runnable(local_batch: LocalBatch, batch: Any) -> None:
    huge = submit(local_batch, containerOverrides={"resourceRequirements": [{"type": "VCPU", "value": "1000"}]})
    wait_for(batch, huge, "RUNNABLE")
    time.sleep(0.2)
    assert describe(batch, huge)["status"] == "RUNNABLE"
    batch.cancel_job(jobId=huge, reason="stuck in RUNNABLE")
    assert describe(batch, huge)["status"] == "FAILED"


def test_a_disabled_queue_holds_its_jobs(local_batch: LocalBatch, batch: Any) -> None:
    batch.update_job_queue(jobQueue="local-queue", state="DISABLED")
    job_id = submit(local_batch)
    wait_for(batch, job_id, "RUNNABLE")
    time.sleep(0.15)
    assert describe(batch, job_id)["status"] == "RUNNABLE"
    batch.update_job_queue(jobQueue="local-queue", state="ENABLED")
    assert wait_for(batch, job_id)["status"] == "SUCCEEDED"
