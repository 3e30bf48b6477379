"""Reading a "Batch Job State Change" event from a queue message, and telling progress from a repeat."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_batch_plus.job_events import is_progress, parse_job_event, progress
from airflow_batch_plus.jobs import JobStatus

DETAIL = {
    "jobArn": "arn:aws:batch:us-east-1:123456789012:job/j-1",
    "jobName": "nightly",
    "jobId": "j-1",
    "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/q",
    "status": "RUNNING",
    "attempts": [],
    "createdAt": 1,
    "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/d:1",
    "container": {"logStreamName": "d/default/abc"},
}


def event(**detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "e-1",
        "detail-type": "Batch Job State Change",
        "source": "aws.batch",
        "account": "123456789012",
        "time": "2026-12-02T00:00:00Z",
        "region": "us-east-1",
        "resources": [DETAIL["jobArn"]],
        "detail": {**DETAIL, **detail},
    }


def test_an_event_as_eventbridge_delivers_it_and_inside_an_sns_notification() -> None:
    direct = parse_job_event(json.dumps(event()))
    assert direct is not None
    assert (direct.job_id, direct.status, [stream.name for stream in direct.log_streams]) == (
        "j-1",
        JobStatus.RUNNING,
        ["d/default/abc"],
    )
    wrapped = {"Type": "Notification", "MessageId": "m", "Message": json.dumps(event())}
    assert parse_job_event(json.dumps(wrapped)) == direct


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps([1, 2]),
        json.dumps({**event(), "source": "aws.ecs"}),
        json.dumps({**event(), "detail-type": "Batch Job Queue Blocked"}),
        json.dumps(event(status="DONE")),
        json.dumps(event(jobId="")),
        json.dumps({**event(), "detail": "text"}),
        json.dumps({"Type": "Notification", "Message": "not json"}),
    ],
    ids=["not-json", "not-an-object", "other-source", "other-type", "bad-status", "no-job-id", "bad-detail", "bad-sns"],
)
def test_anything_else_is_not_a_job_event(body: str) -> None:
    assert parse_job_event(body) is None


def test_a_retry_is_progress_though_its_status_goes_back_and_a_repeat_is_not() -> None:
    def job(status: str, attempts: int) -> Any:
        parsed = parse_job_event(json.dumps(event(status=status, attempts=[{"container": {}}] * attempts)))
        assert parsed is not None
        return parsed

    running, retried, ended = job("RUNNING", 0), job("RUNNABLE", 1), job("SUCCEEDED", 1)
    assert progress(retried) > progress(running)
    assert is_progress(retried, running) and is_progress(ended, retried) and is_progress(running, None)
    assert not is_progress(running, running) and not is_progress(running, retried)
