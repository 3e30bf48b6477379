"""The message a failed BatchSubmitJobOperator task fails with: the event's words, then what the job said.

The message is built by `waiting.failure_message`; the operator hands it its job id and its Logs hook.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from airflow_batch_plus.jobs import JobSnapshot, JobStatus, LogStream
from airflow_batch_plus.operators.batch import BatchSubmitJobOperator
from airflow_batch_plus.waiting import EventStatus, JobEvent, failure_message

log = logging.getLogger(__name__)


class Line:
    def __init__(self, text: str) -> None:
        self.text = text

    def render(self) -> str:
        return self.text


class Logs:
    """A Logs hook whose `tail` gives `lines` (or raises `error`)."""

    def __init__(self, lines: list[str] | None = None, error: Exception | None = None) -> None:
        self.lines = [Line(text) for text in lines or []]
        self.error = error

    def tail(self, *args: Any) -> list[Line]:
        if self.error is not None:
            raise self.error
        return self.lines


def message(event: JobEvent | dict[str, Any], snapshot: JobSnapshot | None, logs: Logs | None = None) -> str:
    return failure_message(event, snapshot, job_id="job-1", logs_hook=lambda: logs or Logs(), log=log)  # type: ignore[arg-type]


FAILED_WITH_LINES = JobSnapshot(
    job_id="job-1",
    job_name="n",
    status=JobStatus.FAILED,
    status_reason="Essential container in task exited",
    exit_code=3,
    log_streams=(LogStream("/aws/batch/job", "s"),),
)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param({"message": "Batch job job-1 vanished"}, "Batch job job-1 vanished", id="vanished-job"),
        pytest.param({}, "Batch job job-1 did not succeed", id="no-message"),
        pytest.param({"message": ""}, "Batch job job-1 did not succeed", id="empty-message"),
    ],
)
def test_without_a_snapshot_the_message_is_the_events_alone(event: dict[str, Any], expected: str) -> None:
    assert message(event, None) == expected


def test_with_a_snapshot_the_parts_follow_and_the_last_lines_go_below() -> None:
    assert message({"message": "failed"}, FAILED_WITH_LINES, Logs(["one", "two"])) == (
        "failed; status FAILED; statusReason: Essential container in task exited; exit code 3\n"
        "last log lines:\none\ntwo"
    )


def test_a_snapshot_without_lines_ends_with_its_last_part() -> None:
    snapshot = JobSnapshot(job_id="job-1", job_name="n", status=JobStatus.FAILED, exit_code=1)
    assert message({"message": "failed"}, snapshot) == "failed; status FAILED; exit code 1"


def test_lines_that_cannot_be_read_leave_the_message_without_them(caplog: pytest.LogCaptureFixture) -> None:
    logs = Logs(error=RuntimeError("CloudWatch Logs is down"))
    assert message({"message": "failed"}, FAILED_WITH_LINES, logs) == (
        "failed; status FAILED; statusReason: Essential container in task exited; exit code 3"
    )
    assert "Could not read the job's last log lines: CloudWatch Logs is down" in caplog.text


def test_the_operator_fails_with_its_job_id_and_its_logs_hooks_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    task = BatchSubmitJobOperator(task_id="t", job_queue="q", job_definition="d")
    task.job_id = "job-1"
    monkeypatch.setattr(BatchSubmitJobOperator, "logs_hook", property(lambda self: Logs(["one", "two"])))
    no_word = JobEvent(EventStatus.FAILED, "job-1", "")
    assert task._failure_message(no_word, None) == "Batch job job-1 did not succeed"
    assert task._failure_message(JobEvent(EventStatus.FAILED, "job-1", "failed"), FAILED_WITH_LINES) == (
        "failed; status FAILED; statusReason: Essential container in task exited; exit code 3\n"
        "last log lines:\none\ntwo"
    )
