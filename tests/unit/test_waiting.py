"""JobEvent: the trigger's event, built and parsed in one place, and what each event means for the task.

The payload crosses processes (triggerer, database, worker) and provider versions, so these tests hold
its exact keys and values, the formats earlier triggers emitted, and the error a bad payload raises.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from airflow_batch_plus.hooks.logs import LogCursor
from airflow_batch_plus.jobs import Attempt, JobSnapshot, JobStatus, LogStream, StopOutcome
from airflow_batch_plus.triggers.batch import BatchJobTrigger
from airflow_batch_plus.waiting import EventError, EventStatus, JobEvent, Outcome

STREAM = LogStream("/aws/batch/job", "d/default/abc", "")
SNAPSHOT = JobSnapshot(
    job_id="job-1",
    job_name="nightly",
    status=JobStatus.FAILED,
    job_arn="arn:aws:batch:us-east-1:123456789012:job/job-1",
    job_queue="q",
    job_definition="arn:aws:batch:us-east-1:123456789012:job-definition/d:3",
    status_reason="Essential container in task exited",
    exit_code=3,
    created_at=1,
    started_at=2,
    stopped_at=3,
    attempts=(Attempt(started_at=2, stopped_at=3, exit_code=3, log_streams=(STREAM,)),),
    tags={"airflow_dag_id": "dag"},
    log_streams=(STREAM,),
)
CURSOR = {"overlap_ms": 10_000, "streams": {}}


def payload(**changes: Any) -> dict[str, Any]:
    """An event exactly as the trigger has emitted it since `cursor_saved` and `stop_outcome` were added."""
    event = {
        "status": "stuck",
        "job_id": "job-1",
        "message": "Batch job job-1: the job was RUNNABLE for more than 60 s (max_runnable_time); the job was "
        "cancelled (stop_policy=cancel)",
        "job": SNAPSHOT.to_dict(),
        "log_cursor": CURSOR,
        "cursor_saved": True,
        "stopped": True,
        "stop_outcome": "cancel_requested",
    }
    return {**event, **changes}


def test_the_statuses_are_the_strings_events_have_always_carried() -> None:
    assert [status.value for status in EventStatus] == ["success", "failed", "timeout", "stuck", "error"]
    assert EventStatus.SUCCESS == "success" and f"a {EventStatus.STUCK} event" == "a stuck event"


def test_todays_payload_parses_and_comes_back_identical() -> None:
    event = JobEvent.parse(payload())
    assert event == JobEvent(
        status=EventStatus.STUCK,
        job_id="job-1",
        message=payload()["message"],
        snapshot=SNAPSHOT,
        log_cursor=CURSOR,
        cursor_saved=True,
        stopped=True,
        stop_outcome=StopOutcome.CANCEL_REQUESTED,
    )
    assert event.to_payload() == payload()
    assert list(event.to_payload()) == list(payload())  # the same keys, in the same order


@pytest.mark.parametrize("status", list(EventStatus))
@pytest.mark.parametrize("snapshot", [SNAPSHOT, None], ids=["snapshot", "no-snapshot"])
@pytest.mark.parametrize("outcome", [*StopOutcome, None])
def test_every_event_survives_its_round_trip_through_json(
    status: EventStatus, snapshot: JobSnapshot | None, outcome: StopOutcome | None
) -> None:
    event = JobEvent(status, "job-1", "m", snapshot, CURSOR, False, outcome is not None, outcome)
    carried = json.loads(json.dumps(event.to_payload()))  # what Airflow's database does to it
    assert JobEvent.parse(carried) == event
    assert carried == event.to_payload()


def test_an_event_from_a_trigger_older_than_cursor_saved_and_stop_outcome_parses() -> None:
    """A triggerer still waiting when the provider is upgraded hands its event to the new operator."""
    older = payload(status="failed", stopped=False)
    del older["cursor_saved"], older["stop_outcome"]
    event = JobEvent.parse(older)
    assert (event.status, event.cursor_saved, event.stop_outcome, event.snapshot) == (
        EventStatus.FAILED,
        False,
        None,
        SNAPSHOT,
    )


def test_the_trigger_emits_todays_payload() -> None:
    trigger = BatchJobTrigger(job_id="job-1", aws_conn_id=None, region_name="us-east-1")
    trigger._stop_guard.outcome = StopOutcome.KEPT
    emitted = trigger._event(EventStatus.STUCK, SNAPSHOT, LogCursor.from_dict(CURSOR), "m").payload
    assert emitted == payload(message="m", cursor_saved=False, stopped=False, stop_outcome="kept")
    assert all(type(emitted[key]) is str for key in ("status", "stop_outcome"))  # plain JSON, no enums


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        pytest.param(payload(status="done"), "field 'status' is 'done', expected one of success, failed", id="status"),
        pytest.param(payload(status=None), "field 'status' is None", id="status-none"),
        pytest.param(payload(job_id=""), "field 'job_id' is '', expected a non-empty string", id="job-id-empty"),
        pytest.param(payload(job_id=7), "field 'job_id' is 7", id="job-id-number"),
        pytest.param(payload(message=None), "field 'message' is None, expected a string", id="message"),
        pytest.param(payload(job="job-1"), "field 'job' is 'job-1', expected a job snapshot", id="job-string"),
        pytest.param(payload(job={"job_id": "job-1"}), "field 'job' is not a job snapshot", id="job-partial"),
        pytest.param(payload(log_cursor=[]), "field 'log_cursor' is [], expected a mapping", id="cursor"),
        pytest.param(payload(stopped="yes"), "field 'stopped' is 'yes', expected true or false", id="stopped"),
        pytest.param(payload(cursor_saved=1), "field 'cursor_saved' is 1, expected true or false", id="saved"),
        pytest.param(payload(stop_outcome="gone"), "field 'stop_outcome' is 'gone', expected one of", id="outcome"),
    ],
)
def test_a_bad_value_is_an_error_naming_its_field(bad: dict[str, Any], says: str) -> None:
    with pytest.raises(EventError, match="^trigger event .*" + re.escape(says)):
        JobEvent.parse(bad)


@pytest.mark.parametrize("key", ["status", "job_id", "message", "job", "log_cursor", "stopped"])
def test_a_missing_field_is_an_error_naming_it(key: str) -> None:
    incomplete = payload()
    del incomplete[key]
    with pytest.raises(EventError, match=f"lacks the field\\(s\\) {key}$"):
        JobEvent.parse(incomplete)


@pytest.mark.parametrize("bad", [None, "success", ["status", "success"]])
def test_a_payload_that_is_no_mapping_is_an_error(bad: Any) -> None:
    with pytest.raises(EventError, match="is a mapping, not"):
        JobEvent.parse(bad)


def test_the_error_is_a_value_error() -> None:
    assert issubclass(EventError, ValueError)


@pytest.mark.parametrize(
    ("status", "snapshot", "outcome"),
    [
        (EventStatus.SUCCESS, SNAPSHOT, Outcome.JOB_SUCCEEDED),
        (EventStatus.FAILED, SNAPSHOT, Outcome.JOB_FAILED),
        (EventStatus.SUCCESS, None, Outcome.WAIT_FAILED),  # an end the task cannot read is no end
        (EventStatus.FAILED, None, Outcome.WAIT_FAILED),
        (EventStatus.TIMEOUT, SNAPSHOT, Outcome.TIMED_OUT),
        (EventStatus.TIMEOUT, None, Outcome.TIMED_OUT),
        (EventStatus.STUCK, SNAPSHOT, Outcome.WAIT_FAILED),
        (EventStatus.ERROR, None, Outcome.WAIT_FAILED),
    ],
)
def test_what_each_event_means_for_the_task(
    status: EventStatus, snapshot: JobSnapshot | None, outcome: Outcome
) -> None:
    event = JobEvent(status, "job-1", "m", snapshot)
    assert event.outcome is outcome
    ended = outcome in (Outcome.JOB_SUCCEEDED, Outcome.JOB_FAILED)
    assert event.ended_job is (snapshot if ended else None)


@pytest.mark.parametrize("task", ["operator", "sensor"])
def test_the_operator_and_the_sensor_refuse_a_bad_event_naming_its_field(task: str) -> None:
    from airflow_batch_plus.operators.batch import BatchSubmitJobOperator
    from airflow_batch_plus.sensors.batch import BatchJobSensor

    waiter = (
        BatchSubmitJobOperator(task_id="t", job_queue="q", job_definition="d")
        if task == "operator"
        else BatchJobSensor(task_id="s", job_id="job-1")
    )
    with pytest.raises(EventError, match="field 'status' is 'done'"):
        waiter.execute_complete({}, payload(status="done"))  # type: ignore[arg-type]
