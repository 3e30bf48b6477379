"""The fault matrix of the hooks: every AWS call we make, against every way AWS fails, through a real
HTTP proxy (`FaultProxy`) in front of the local AWS Batch.

Each case injects two faults in a row into one operation, then checks that the call still returns the
right answer, how many requests reached the proxy (bounded retries), and that no job was submitted twice.
Faults "before" Batch acts (throttling, 503, reset) must be resent; faults "after" it acted (500, reset,
read timeout) are resent by botocore for idempotent calls, but never for SubmitJob: its lost answer is
found by the job's name and submission tag instead.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_batch_plus.hooks.batch import BatchHook, SubmitJobFailedError, SubmitRetry
from airflow_batch_plus.hooks.budget import RequestBudget
from airflow_batch_plus.hooks.logs import BatchLogsHook, LogCursor
from airflow_batch_plus.jobs import JobStatus, StopOutcome
from airflow_batch_plus.testing.faults import Fault, FaultProxy
from airflow_batch_plus.testing.status import wait_for_status

QUEUE, DEFINITION = "local-queue", "local-job"
# A short read timeout, so an answer withheld for 2 s is a ReadTimeoutError after 1 s.
FAST_TIMEOUTS = {"read_timeout": 1, "connect_timeout": 1}
FAULTS = list(Fault)
FAULTS_IN_A_ROW = 2


def batch_hook(**options: Any) -> BatchHook:
    options.setdefault("config", FAST_TIMEOUTS)
    options.setdefault("submit_retry", SubmitRetry(base_seconds=0.2, cap_seconds=1))
    return BatchHook(aws_conn_id=None, region_name="us-east-1", **options)


def request(name: str, script: str = "echo hello", **fields: Any) -> dict[str, Any]:
    return {
        "jobName": name,
        "jobQueue": QUEUE,
        "jobDefinition": DEFINITION,
        "containerOverrides": {"command": ["sh", "-c", script]},
        **fields,
    }


def jobs_named(direct_batch: Any, name: str) -> list[str]:
    listed = direct_batch.list_jobs(jobQueue=QUEUE, filters=[{"name": "JOB_NAME", "values": [name]}])
    return [job["jobId"] for job in listed["jobSummaryList"]]


def submit_direct(direct_batch: Any, name: str, script: str, **fields: Any) -> str:
    return str(direct_batch.submit_job(**request(name, script, **fields))["jobId"])


@pytest.mark.parametrize("fault", FAULTS)
def test_submit_job_survives_the_fault_and_submits_exactly_one_job(
    fault_proxy: FaultProxy, direct_batch: Any, fault: Fault
) -> None:
    name = f"submit-{fault.value}"
    fault_proxy.add("SubmitJob", fault, times=FAULTS_IN_A_ROW)

    submitted = batch_hook().submit_job(request(name))

    assert jobs_named(direct_batch, name) == [submitted.job_id], "one submission, one job"
    if fault.reaches_batch:
        # The first attempt started the job; the next attempt found it by name and tag instead of resending.
        assert (fault_proxy.seen["SubmitJob"], fault_proxy.injected[("SubmitJob", fault)]) == (1, 1)
        assert fault_proxy.seen["ListJobs"] >= 1
    else:
        assert (fault_proxy.seen["SubmitJob"], fault_proxy.injected[("SubmitJob", fault)]) == (3, FAULTS_IN_A_ROW)


@pytest.mark.parametrize("fault", FAULTS)
def test_describe_jobs_survives_the_fault(fault_proxy: FaultProxy, direct_batch: Any, fault: Fault) -> None:
    job_id = submit_direct(direct_batch, "describe", "echo hi")
    fault_proxy.add("DescribeJobs", fault, times=FAULTS_IN_A_ROW)

    result = batch_hook().describe_jobs([job_id, "no-such-job"])

    assert list(result.jobs) == [job_id] and result.missing == ("no-such-job",)
    assert (fault_proxy.seen["DescribeJobs"], fault_proxy.injected[("DescribeJobs", fault)]) == (3, FAULTS_IN_A_ROW)


@pytest.mark.parametrize("fault", FAULTS)
def test_list_jobs_survives_the_fault(fault_proxy: FaultProxy, direct_batch: Any, fault: Fault) -> None:
    job_ids = {submit_direct(direct_batch, "listed", "echo hi") for _ in range(3)}
    fault_proxy.add("ListJobs", fault, times=FAULTS_IN_A_ROW)

    listed = list(batch_hook().list_jobs(job_queue=QUEUE, job_name="listed", page_size=2))

    assert sorted(summary.job_id for summary in listed) == sorted(job_ids), "every job once across pages"
    assert fault_proxy.injected[("ListJobs", fault)] == FAULTS_IN_A_ROW
    assert fault_proxy.seen["ListJobs"] == 2 + FAULTS_IN_A_ROW  # two pages, each fault resent once


@pytest.mark.parametrize("fault", FAULTS)
def test_terminate_jobs_survives_the_fault_and_the_job_stops(
    fault_proxy: FaultProxy, direct_batch: Any, fault: Fault
) -> None:
    job_id = submit_direct(direct_batch, "terminate", "sleep 60")
    wait_for_status(direct_batch, job_id, {"RUNNING"}, timeout=15)
    fault_proxy.add("TerminateJobs", fault, times=FAULTS_IN_A_ROW)

    result = batch_hook().stop_job(job_id, "terminate", "fault test")

    assert result.outcome is StopOutcome.TERMINATE_REQUESTED
    assert wait_for_status(direct_batch, job_id, {"FAILED", "SUCCEEDED"}, timeout=15)["status"] == "FAILED"
    assert (fault_proxy.seen["TerminateJobs"], fault_proxy.injected[("TerminateJobs", fault)]) == (3, FAULTS_IN_A_ROW)


@pytest.mark.parametrize("fault", FAULTS)
def test_cancel_jobs_survives_the_fault(fault_proxy: FaultProxy, direct_batch: Any, fault: Fault) -> None:
    blocker = submit_direct(direct_batch, "blocker", "sleep 60")
    job_id = submit_direct(direct_batch, "cancel", "echo never", dependsOn=[{"jobId": blocker}])
    wait_for_status(direct_batch, job_id, {"PENDING"}, timeout=15)
    fault_proxy.add("CancelJobs", fault, times=FAULTS_IN_A_ROW)

    result = batch_hook().stop_job(job_id, "cancel", "fault test")

    assert (result.outcome, result.status) == (StopOutcome.CANCEL_REQUESTED, JobStatus.PENDING)
    assert (fault_proxy.seen["CancelJobs"], fault_proxy.injected[("CancelJobs", fault)]) == (3, FAULTS_IN_A_ROW)
    direct_batch.terminate_job(jobId=blocker, reason="cleanup")
    assert wait_for_status(direct_batch, job_id, {"FAILED", "SUCCEEDED"}, timeout=15)["status"] == "FAILED"


@pytest.mark.parametrize("fault", FAULTS)
def test_filter_log_events_survives_the_fault_and_reads_every_line_once(
    fault_proxy: FaultProxy, direct_batch: Any, fault: Fault
) -> None:
    job_id = submit_direct(direct_batch, "logs", "for i in 1 2 3 4 5; do echo line $i; done")
    wait_for_status(direct_batch, job_id, {"SUCCEEDED"}, timeout=15)
    hook = batch_hook()
    streams = hook.describe_job(job_id).log_streams
    fault_proxy.add("FilterLogEvents", fault, times=FAULTS_IN_A_ROW)
    logs = BatchLogsHook(aws_conn_id=None, region_name="us-east-1", config=FAST_TIMEOUTS, budget=RequestBudget(100))

    lines = logs.read_new(streams, LogCursor())

    assert [line.message for line in lines] == [f"line {i}" for i in range(1, 6)]
    assert fault_proxy.injected[("FilterLogEvents", fault)] == FAULTS_IN_A_ROW
    assert fault_proxy.seen["FilterLogEvents"] == 1 + FAULTS_IN_A_ROW


def test_a_throttling_storm_of_four_describe_jobs_is_ridden_out(fault_proxy: FaultProxy, direct_batch: Any) -> None:
    job_id = submit_direct(direct_batch, "storm", "echo hi")
    fault_proxy.add("DescribeJobs", Fault.THROTTLE, times=4)

    assert job_id in batch_hook().describe_jobs([job_id]).jobs
    assert fault_proxy.seen["DescribeJobs"] == 5


# When retries run out


@pytest.mark.parametrize("fault", [Fault.THROTTLE, Fault.UNAVAILABLE, Fault.RESET])
def test_submit_job_that_never_gets_through_fails_clearly_and_starts_nothing(
    fault_proxy: FaultProxy, direct_batch: Any, fault: Fault
) -> None:
    fault_proxy.add("SubmitJob", fault, times=1_000)
    hook = batch_hook(submit_retry=SubmitRetry(attempts=3, base_seconds=0.1, cap_seconds=0.2))

    with pytest.raises(SubmitJobFailedError) as failure:
        hook.submit_job(request("never-through"))

    assert "failed 3 times" in str(failure.value) and "none was started" in str(failure.value)
    assert fault_proxy.seen["SubmitJob"] == 3
    assert jobs_named(direct_batch, "never-through") == []


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR, Fault.RESET_AFTER, Fault.TIMEOUT_AFTER])
def test_submit_job_whose_every_answer_is_lost_returns_the_one_job_it_started(
    fault_proxy: FaultProxy, direct_batch: Any, fault: Fault
) -> None:
    fault_proxy.add("SubmitJob", fault, times=1_000)
    hook = batch_hook(submit_retry=SubmitRetry(attempts=3, base_seconds=0.1, cap_seconds=0.2))

    submitted = hook.submit_job(request("answers-lost"))

    assert jobs_named(direct_batch, "answers-lost") == [submitted.job_id]
    assert fault_proxy.seen["SubmitJob"] == 1


def test_submit_job_refused_for_a_bad_request_is_not_sent_again(fault_proxy: FaultProxy, direct_batch: Any) -> None:
    with pytest.raises(ClientError, match="ClientException"):
        batch_hook().submit_job({**request("no-queue"), "jobQueue": "no-such-queue"})
    assert fault_proxy.seen["SubmitJob"] == 1


def test_two_jobs_started_by_one_submission_are_collapsed_into_one(fault_proxy: FaultProxy, direct_batch: Any) -> None:
    """A slow first attempt that lands after the resend: the newer job is terminated, the first kept."""
    hook = batch_hook()
    tagged = request("raced", "sleep 60")
    token = "fixed-token"
    first = direct_batch.submit_job(**{**tagged, "tags": {"airflow-batch-plus:submission": token}})["jobId"]
    second = direct_batch.submit_job(**{**tagged, "tags": {"airflow-batch-plus:submission": token}})["jobId"]

    found = hook.find_submission({**tagged, "tags": {"airflow-batch-plus:submission": token}}, token)

    assert found is not None and found.job_id == first
    assert wait_for_status(direct_batch, second, {"FAILED"}, timeout=15)["statusReason"].startswith(
        f"A duplicate of Batch job {first}"
    )
    direct_batch.terminate_job(jobId=first, reason="cleanup")


def test_describe_jobs_failing_on_every_attempt_gives_up_after_the_configured_attempts(
    fault_proxy: FaultProxy, direct_batch: Any
) -> None:
    job_id = submit_direct(direct_batch, "down", "echo hi")
    fault_proxy.add("DescribeJobs", Fault.UNAVAILABLE, times=1_000)
    hook = batch_hook(config={**FAST_TIMEOUTS, "retries": {"mode": "adaptive", "total_max_attempts": 3}})

    with pytest.raises(ClientError, match="ServiceUnavailable"):
        hook.describe_jobs([job_id])
    assert fault_proxy.seen["DescribeJobs"] == 3


def test_stopping_still_terminates_when_describe_jobs_is_down(fault_proxy: FaultProxy, direct_batch: Any) -> None:
    job_id = submit_direct(direct_batch, "stop-blind", "sleep 60")
    wait_for_status(direct_batch, job_id, {"RUNNING"}, timeout=15)
    fault_proxy.add("DescribeJobs", Fault.UNAVAILABLE, times=1_000)
    hook = batch_hook(config={**FAST_TIMEOUTS, "retries": {"mode": "adaptive", "total_max_attempts": 2}})

    result = hook.stop_job(job_id, "terminate", "describe is down")

    assert (result.outcome, result.status) == (StopOutcome.TERMINATE_REQUESTED, None)
    assert wait_for_status(direct_batch, job_id, {"FAILED", "SUCCEEDED"}, timeout=15)["status"] == "FAILED"
