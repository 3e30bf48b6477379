"""The message a failed BatchSubmitJobOperator task fails with: the event's words, then what the job said."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_batch_plus.jobs import JobSnapshot, JobStatus, LogStream
from airflow_batch_plus.operators.batch import BatchSubmitJobOperator


class Line:
    def __init__(self, text: str) -> None:
        self.text = text

    def render(self) -> str:
        return self.text


def operator(monkeypatch: pytest.MonkeyPatch, tail: list[str] | None = None) -> BatchSubmitJobOperator:
    task = BatchSubmitJobOperator(task_id="t", job_queue="q", job_definition="d")
    task.job_id = "job-1"
    lines = [Line(text) for text in tail or []]
    monkeypatch.setattr(
        BatchSubmitJobOperator, "logs_hook", property(lambda self: type("Logs", (), {"tail": lambda *a: lines})())
    )
    return task


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param({"message": "Batch job job-1 vanished"}, "Batch job job-1 vanished", id="vanished-job"),
        pytest.param({}, "Batch job job-1 did not succeed", id="no-message"),
        pytest.param({"message": ""}, "Batch job job-1 did not succeed", id="empty-message"),
    ],
)
def test_without_a_snapshot_the_message_is_the_events_alone(
    event: dict[str, Any], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert operator(monkeypatch)._failure_message(event, None) == expected


def test_with_a_snapshot_the_parts_follow_and_the_last_lines_go_below(monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = JobSnapshot(
        job_id="job-1",
        job_name="n",
        status=JobStatus.FAILED,
        status_reason="Essential container in task exited",
        exit_code=3,
        log_streams=(LogStream("/aws/batch/job", "s"),),
    )
    message = operator(monkeypatch, ["one", "two"])._failure_message({"message": "failed"}, snapshot)
    assert message == (
        "failed; status FAILED; statusReason: Essential container in task exited; exit code 3\n"
        "last log lines:\none\ntwo"
    )


def test_a_snapshot_without_lines_ends_with_its_last_part(monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = JobSnapshot(job_id="job-1", job_name="n", status=JobStatus.FAILED, exit_code=1)
    message = operator(monkeypatch)._failure_message({"message": "failed"}, snapshot)
    assert message == "failed; status FAILED; exit code 1"
