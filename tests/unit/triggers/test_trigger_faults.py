"""BatchJobTrigger when AWS fails for longer than botocore's retries: through the fault proxy, with a
connection whose botocore config makes one attempt a call, so every injected fault reaches our code."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import structlog.testing

from airflow_batch_plus.testing.faults import Fault, FaultProxy
from airflow_batch_plus.testing.status import wait_for_status
from airflow_batch_plus.triggers import poller as poller_module
from airflow_batch_plus.triggers.batch import BatchJobTrigger

ONE_ATTEMPT = {"read_timeout": 1, "connect_timeout": 1, "retries": {"mode": "standard", "total_max_attempts": 1}}


@pytest.fixture(autouse=True)
def one_attempt_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"region_name": "us-east-1", "config_kwargs": ONE_ATTEMPT}
    monkeypatch.setenv("AIRFLOW_CONN_FLAKY", json.dumps({"conn_type": "aws", "extra": extra}))


def submit(direct_batch: Any, script: str) -> str:
    return str(
        direct_batch.submit_job(
            jobName="flaky",
            jobQueue="local-queue",
            jobDefinition="local-job",
            containerOverrides={"command": ["sh", "-c", script]},
        )["jobId"]
    )


def run_logged(job_id: str) -> tuple[dict[str, Any], list[str]]:
    """The trigger's first event and every message it logged."""
    trigger = BatchJobTrigger(job_id, aws_conn_id="flaky", region_name="us-east-1", poll_interval=0.2)

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    with structlog.testing.capture_logs() as entries:
        event = asyncio.run(asyncio.wait_for(first(), timeout=60))
    return event, [str(entry["event"]) for entry in entries]


def test_cloudwatch_failing_for_a_while_loses_no_line_and_does_not_end_the_wait(
    fault_proxy: FaultProxy, direct_batch: Any
) -> None:
    job_id = submit(direct_batch, "for i in $(seq 1 20); do echo line $i; sleep 0.1; done")
    fault_proxy.add("FilterLogEvents", Fault.RESET, times=3).add("FilterLogEvents", Fault.UNAVAILABLE, times=3)

    event, logged = run_logged(job_id)

    assert event["status"] == "success"
    assert [line for line in logged if line.startswith("line ")] == [f"line {i}" for i in range(1, 21)]
    assert sum(line.startswith("Could not read the job's CloudWatch logs") for line in logged) == 6
    assert fault_proxy.injected[("FilterLogEvents", Fault.RESET)] == 3


def test_describe_jobs_failing_past_the_grace_ends_the_wait_with_an_error_and_terminates_the_job(
    fault_proxy: FaultProxy, direct_batch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poller_module, "DEFAULT_FAILURE_GRACE_SECONDS", 3.0)
    job_id = submit(direct_batch, "echo started; sleep 60")
    wait_for_status(direct_batch, job_id, {"RUNNING"}, timeout=15)
    fault_proxy.add("DescribeJobs", Fault.UNAVAILABLE, times=10_000)

    event, _ = run_logged(job_id)

    assert (event["status"], event["stopped"]) == ("error", True)
    assert "DescribeJobs has failed for" in event["message"] and "ServiceUnavailable" in event["message"]
    job = wait_for_status(direct_batch, job_id, {"FAILED", "SUCCEEDED"}, timeout=15)
    assert job["status"] == "FAILED" and "waiting failed: DescribeJobs has failed" in job["statusReason"]


def test_a_job_batch_no_longer_returns_ends_in_a_clear_error_not_an_endless_wait(
    fault_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a job that aged out of Batch (about 7 days after it ended) looks like to a waiting trigger."""
    monkeypatch.setattr(poller_module, "DEFAULT_MISSING_GRACE_SECONDS", 1.0)

    event, _ = run_logged("8c0d6b7e-0000-4000-8000-000000000000")

    assert event["status"] == "error"
    assert "Batch has not returned job 8c0d6b7e-0000-4000-8000-000000000000" in event["message"]
    assert "longer ago than Batch keeps jobs" in event["message"]
