"""Conformance: job output reaches CloudWatch Logs line by line, as it is printed."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import describe, log_messages, submit, wait_for

from airflow_batch_plus.local import LocalBatch


@pytest.fixture
def batch(batch_client: Any) -> Any:
    return batch_client


def test_lines_are_readable_while_the_job_still_runs(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch, "echo first; sleep 30")
    stream = wait_for(batch, job_id, "RUNNING")["container"]["logStreamName"]
    logs = local_batch.client("logs")
    while not log_messages(logs, stream):
        time.sleep(0.01)
    assert log_messages(logs, stream) == ["first"]
    assert describe(batch, job_id)["status"] == "RUNNING"
    batch.terminate_job(jobId=job_id, reason="cleanup")


def test_stdout_and_stderr_lines_keep_their_print_time_and_order(local_batch: LocalBatch, batch: Any) -> None:
    job = wait_for(batch, submit(local_batch, "echo out; echo err >&2; sleep 0.3; printf 'no newline'"))
    events = local_batch.client("logs").get_log_events(
        logGroupName="/aws/batch/job", logStreamName=job["container"]["logStreamName"], startFromHead=True
    )["events"]
    assert [event["message"] for event in events] == ["out", "err", "no newline"]
    # A line is stamped when the reader thread gets it, a few ms after the print on a busy machine.
    assert events[2]["timestamp"] - events[0]["timestamp"] >= 200
    assert job["startedAt"] <= events[0]["timestamp"] <= job["stoppedAt"]


def test_many_fast_lines_all_arrive_in_order(local_batch: LocalBatch, batch: Any) -> None:
    job = wait_for(batch, submit(local_batch, ["python3", "-c", "for i in range(3000): print(i)"]))
    events: list[str] = []
    request = {
        "logGroupName": "/aws/batch/job",
        "logStreamName": job["container"]["logStreamName"],
        "startFromHead": True,
    }
    logs = local_batch.client("logs")
    while True:
        page = logs.get_log_events(**request)
        events += [event["message"] for event in page["events"]]
        if not page["events"]:
            break
        request["nextToken"] = page["nextForwardToken"]
    assert events == [str(index) for index in range(3000)]


def test_stream_name_and_group_follow_the_awslogs_options(local_batch: LocalBatch, batch: Any) -> None:
    batch.register_job_definition(
        jobDefinitionName="custom-logs",
        type="container",
        containerProperties={
            "image": "local",
            "command": ["echo", "custom"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": "/my/jobs", "awslogs-stream-prefix": "etl"},
            },
        },
    )
    job = wait_for(batch, batch.submit_job(jobName="c", jobQueue="local-queue", jobDefinition="custom-logs")["jobId"])
    stream = job["container"]["logStreamName"]
    prefix, container, task_id = stream.split("/")
    assert (prefix, container, len(task_id)) == ("etl", "default", 32)
    assert job["container"]["taskArn"].endswith(task_id)
    assert log_messages(local_batch.client("logs"), stream, group="/my/jobs") == ["custom"]


def test_default_stream_is_definition_name_default_task_id(local_batch: LocalBatch, batch: Any) -> None:
    job = wait_for(batch, submit(local_batch, "echo x"))
    assert job["container"]["logStreamName"].startswith("local-job/default/")
