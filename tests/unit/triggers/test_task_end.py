"""A trigger ending its task in the triggerer (triggers/task_end.py), and when the operator lets it (ending.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import structlog.testing
from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent
from test_trigger import FakeXCom, submit, trigger  # tests/unit/triggers/test_trigger.py

from airflow_batch_plus import ending
from airflow_batch_plus.ending import TaskEnding
from airflow_batch_plus.jobs import JobSnapshot
from airflow_batch_plus.local import LocalBatch
from airflow_batch_plus.operators.batch import BatchSubmitJobOperator
from airflow_batch_plus.triggers import task_end
from airflow_batch_plus.triggers.batch import BatchJobTrigger

TASK_INSTANCE = SimpleNamespace(dag_id="dag", task_id="task", run_id="run", map_index=-1, try_number=1)
BOTH = TaskEnding(success=True, failure=True).to_dict()


class FakeComms:
    """The triggerer's comms, for the one message a trigger sends without the XCom class: the cursor's delete."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def asend(self, message: Any) -> None:
        self.sent.append(message)


@pytest.fixture
def xcom(monkeypatch: pytest.MonkeyPatch) -> FakeXCom:
    fake = FakeXCom()
    monkeypatch.setattr("airflow.sdk.execution_time.xcom.XCom", fake)
    return fake


@pytest.fixture
def comms(monkeypatch: pytest.MonkeyPatch) -> FakeComms:
    fake = FakeComms()
    monkeypatch.setattr("airflow.sdk.execution_time.task_runner.SUPERVISOR_COMMS", fake, raising=False)
    return fake


def in_a_triggerer(batch_trigger: BatchJobTrigger) -> BatchJobTrigger:
    batch_trigger.task_instance = TASK_INSTANCE  # type: ignore[assignment]
    return batch_trigger


def run_to_event(batch_trigger: BatchJobTrigger) -> tuple[TriggerEvent, list[dict[str, Any]]]:
    async def first() -> TriggerEvent:
        async for event in batch_trigger.run():
            return event
        raise AssertionError("no event")

    with structlog.testing.capture_logs() as entries:
        event = asyncio.run(asyncio.wait_for(first(), timeout=60))
    return event, entries


def said(entries: list[dict[str, Any]]) -> list[str]:
    return [str(entry["event"]) for entry in entries]


def test_a_succeeded_job_ends_its_task_with_the_snapshot_and_the_log_links(
    local_batch: LocalBatch, xcom: FakeXCom, comms: FakeComms
) -> None:
    job_id = submit(local_batch, "echo one; echo two")
    event, entries = run_to_event(in_a_triggerer(trigger(job_id, end_task=BOTH)))
    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms is not None
    result = JobSnapshot.from_dict(event.xcoms["return_value"])  # type: ignore[arg-type]
    assert (result.job_id, result.status.value, result.exit_code) == (job_id, "SUCCEEDED", 0)
    (stream,) = result.log_streams
    assert [link["stream"] for link in event.xcoms["batch_log_links"]] == [stream.name]  # type: ignore[union-attr, index]
    assert str(event.xcoms["_link_BatchJobLogsLink"]).endswith(stream.name.replace("/", "$252F"))
    lines = said(entries)
    assert lines.index("one") < lines.index("two") < lines.index(f"Batch job {job_id} SUCCEEDED")
    assert any(line.startswith(f"CloudWatch log streams of Batch job {job_id}") for line in lines)


def test_the_saved_cursor_is_deleted_as_the_resumed_task_would(
    local_batch: LocalBatch, xcom: FakeXCom, comms: FakeComms
) -> None:
    from airflow_batch_plus.hooks.budget import RequestBudget
    from airflow_batch_plus.triggers.checkpoint import CURSOR_XCOM_KEY, CursorCheckpoint, TaskKey

    batch_trigger = in_a_triggerer(trigger(submit(local_batch, "echo saved"), end_task=BOTH))
    batch_trigger.__dict__["_checkpoint"] = CursorCheckpoint(
        TaskKey.of(TASK_INSTANCE), batch_trigger.job_id, budget=RequestBudget(1000)
    )  # type: ignore[arg-type]
    event, _ = run_to_event(batch_trigger)
    assert isinstance(event, TaskSuccessEvent) and xcom.saves  # the trigger did save its cursor
    (deleted,) = comms.sent
    assert (deleted.key, deleted.task_id, deleted.map_index) == (CURSOR_XCOM_KEY, "task", -1)


def test_a_failed_job_fails_its_task_with_the_workers_message_and_pushes_the_links_itself(
    local_batch: LocalBatch, xcom: FakeXCom, comms: FakeComms
) -> None:
    event, entries = run_to_event(
        in_a_triggerer(trigger(submit(local_batch, "echo about-to-fail; exit 3"), end_task=BOTH))
    )
    assert isinstance(event, TaskFailedEvent) and not event.xcoms  # Airflow drops them when the task retries
    (failure,) = [line for line in said(entries) if line.startswith("Task failed: ")]
    assert "exit code 3" in failure and "last log lines:\n" in failure and failure.endswith("about-to-fail")
    pushed = {key[0] for key in xcom.values}
    assert {"batch_log_links", "_link_BatchJobLogsLink"} <= pushed


def test_an_array_within_its_tolerated_failures_ends_its_task_successfully(
    local_batch: LocalBatch, xcom: FakeXCom, comms: FakeComms
) -> None:
    script = '[ "$AWS_BATCH_JOB_ARRAY_INDEX" != 1 ]'
    ends = TaskEnding(success=True, failure=False, tolerated_failures=1).to_dict()
    job_id = submit(local_batch, script, arrayProperties={"size": 3})
    event, entries = run_to_event(in_a_triggerer(trigger(job_id, end_task=ends)))
    assert isinstance(event, TaskSuccessEvent)
    assert [line for line in said(entries) if "within tolerated_failures=1" in line] == [
        f"Array job {job_id}: 1 of 3 children failed, within tolerated_failures=1"
    ]


@pytest.mark.parametrize(
    ("end_task", "task_instance", "script"),
    [
        (BOTH, None, "exit 0"),  # dag.test() or a task waiting in its worker: no task instance given
        (None, TASK_INSTANCE, "exit 0"),  # end_from_trigger=False
        (TaskEnding(success=True, failure=False).to_dict(), TASK_INSTANCE, "exit 3"),  # on_failure_callback
        (TaskEnding(success=False, failure=True).to_dict(), TASK_INSTANCE, "exit 0"),  # on_success_callback
    ],
)
@pytest.mark.usefixtures("xcom")
def test_otherwise_the_task_resumes_in_a_worker_with_the_jobs_event(
    local_batch: LocalBatch, comms: FakeComms, end_task: Any, task_instance: Any, script: str
) -> None:
    batch_trigger = trigger(submit(local_batch, script), end_task=end_task)
    batch_trigger.task_instance = task_instance
    event, entries = run_to_event(batch_trigger)
    assert type(event) is TriggerEvent and event.payload["status"] in ("success", "failed")
    assert not any(line.startswith("CloudWatch log streams") for line in said(entries))  # the worker says it
    assert comms.sent == []


def test_a_failure_resumes_in_a_worker_on_an_airflow_that_would_not_retry_it(
    local_batch: LocalBatch, xcom: FakeXCom, comms: FakeComms, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(task_end, "failure_honours_retries", lambda: False)
    event, _ = run_to_event(in_a_triggerer(trigger(submit(local_batch, "exit 3"), end_task=BOTH)))
    assert type(event) is TriggerEvent and event.payload["status"] == "failed"


def test_a_timeout_resumes_in_a_worker_which_may_stop_the_job_again(local_batch: LocalBatch, comms: FakeComms) -> None:
    import time

    batch_trigger = in_a_triggerer(trigger(submit(local_batch, "sleep 30"), end_task=BOTH, deadline=time.time() + 1))
    event, _ = run_to_event(batch_trigger)
    assert type(event) is TriggerEvent and event.payload["status"] == "timeout"


@pytest.mark.parametrize(
    ("version", "honoured"),
    [("3.3.0", False), ("3.3.1", True), ("3.3.2", True), ("3.4.0.dev0", True), ("3.2.9", False)],
)
def test_failures_end_in_the_triggerer_from_airflow_3_3_1(version: str, honoured: bool) -> None:
    assert task_end.failure_honours_retries(version) is honoured


def operator(**kwargs: Any) -> BatchSubmitJobOperator:
    return BatchSubmitJobOperator(task_id="t", job_queue="q", job_definition="d", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "success", "failure"),
    [
        ({}, True, True),
        ({"on_success_callback": print}, False, True),
        ({"on_failure_callback": print}, True, False),
        ({"on_retry_callback": print, "retries": 1, "retry_delay": timedelta(0)}, True, False),
        ({"email": "a@b.c", "email_on_failure": True}, True, False),
        ({"multiple_outputs": True}, False, True),
    ],
)
def test_the_operator_hands_the_trigger_only_endings_that_need_no_worker(
    kwargs: dict[str, Any], success: bool, failure: bool
) -> None:
    planned, why = ending.plan(operator(**kwargs), enabled=True, tolerated_failures=None)
    assert planned is not None and (planned.success, planned.failure) == (success, failure)
    assert bool(why.success) is not success and bool(why.failure) is not failure


def test_end_from_trigger_false_or_a_task_needing_a_worker_both_ways_hands_the_trigger_nothing() -> None:
    assert ending.plan(operator(), enabled=False, tolerated_failures=None)[0] is None
    task = operator(on_success_callback=print, on_failure_callback=print)
    assert ending.plan(task, enabled=True, tolerated_failures=None)[0] is None
    assert TaskEnding.from_dict(None) is None
    assert TaskEnding.from_dict({"success": True, "later": 1}) == TaskEnding(success=True, failure=False)
