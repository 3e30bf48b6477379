"""BatchJobTrigger on the local Batch, run the way a triggerer runs it: in an event loop, to its first event."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import time
from typing import Any

import pytest
import structlog.testing

from airflow_batch_plus.hooks.budget import RequestBudget
from airflow_batch_plus.jobs import JobSnapshot, JobStatus
from airflow_batch_plus.local import LocalBatch, LocalBatchConfig
from airflow_batch_plus.testing.calls import CallCounter
from airflow_batch_plus.testing.status import wait_for_status
from airflow_batch_plus.triggers.batch import BatchJobTrigger
from airflow_batch_plus.triggers.checkpoint import CURSOR_XCOM_KEY, CursorCheckpoint, SavedState, TaskKey
from airflow_batch_plus.triggers.poller import JobPoller

LONG = "echo started; sleep 30"
TASK = TaskKey("dag", "task", "run")
NO_CAPACITY = {"resourceRequirements": [{"type": "VCPU", "value": "1024"}]}  # RUNNABLE for ever


def submit(local_batch: LocalBatch, script: str, **fields: Any) -> str:
    assert local_batch.env is not None
    job_id: str = local_batch.client("batch").submit_job(
        jobName="trigger-test",
        jobQueue=local_batch.env.queue_name,
        jobDefinition=local_batch.env.job_definition_name,
        containerOverrides={"command": ["sh", "-c", script], **fields.pop("containerOverrides", {})},
        **fields,
    )["jobId"]
    return job_id


def trigger(job_id: str, **options: Any) -> BatchJobTrigger:
    return BatchJobTrigger(job_id, aws_conn_id=None, region_name="us-east-1", poll_interval=0.2, **options)


async def first_event(batch_trigger: BatchJobTrigger) -> dict[str, Any]:
    async for event in batch_trigger.run():
        return dict(event.payload)
    raise AssertionError("no event")


def run(batch_trigger: BatchJobTrigger) -> dict[str, Any]:
    return asyncio.run(asyncio.wait_for(first_event(batch_trigger), timeout=60))


class FakeXCom:
    """The Task SDK's async XCom calls, on a dict: what a trigger saves, a rebuilt one loads."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str, str, str, int], Any] = {}
        self.saves: list[Any] = []

    async def aget_one(self, *, key: str, dag_id: str, task_id: str, run_id: str, map_index: int) -> Any:
        return self.values.get((key, dag_id, task_id, run_id, map_index))

    async def aset(self, key: str, value: Any, *, dag_id: str, task_id: str, run_id: str, map_index: int) -> None:
        value = json.loads(json.dumps(value))  # what the API server stores
        self.values[(key, dag_id, task_id, run_id, map_index)] = value
        self.saves.append(value)


@pytest.fixture
def xcom(monkeypatch: pytest.MonkeyPatch) -> FakeXCom:
    fake = FakeXCom()
    monkeypatch.setattr("airflow.sdk.execution_time.xcom.XCom", fake)
    return fake


def in_triggerer(batch_trigger: BatchJobTrigger) -> BatchJobTrigger:
    """The trigger with the checkpoint a triggerer gives it (its task instance's), on an ample save budget."""
    batch_trigger.__dict__["_checkpoint"] = CursorCheckpoint(TASK, batch_trigger.job_id, budget=RequestBudget(1000))
    return batch_trigger


def status_of(local_batch: LocalBatch, job_id: str, wanted: set[str], timeout: float = 10) -> dict[str, Any]:
    return wait_for_status(local_batch.client("batch"), job_id, wanted, timeout)


def run_logged(batch_trigger: BatchJobTrigger, prefix: str) -> tuple[dict[str, Any], list[str]]:
    """The trigger's first event, and the messages starting with `prefix` it logged on the way.

    Airflow 3 triggers log through structlog; these are the records the task log would show.
    """
    with structlog.testing.capture_logs() as entries:
        event = run(batch_trigger)
    return event, [
        str(entry["event"]) for entry in entries if str(entry["event"]).lstrip("[0123456789] ").startswith(prefix)
    ]


def test_every_field_survives_serialisation() -> None:
    original = BatchJobTrigger(
        "j-1",
        aws_conn_id="prod",
        region_name="eu-west-1",
        poll_interval=7,
        stream_logs=False,
        deadline=1_900_000_000.5,
        stop_policy="cancel",
        stop_reason="Stopped by Airflow: dag d",
        max_runnable_seconds=600,
        deadline_reason="the sensor's timeout passed",
        botocore_config={"read_timeout": 7},
    )
    classpath, kwargs = original.serialize()
    read_only = {"log_cursor", "runnable_since"}  # read from triggers 0.1.0 serialized, never written
    assert set(kwargs) == set(inspect.signature(BatchJobTrigger).parameters) - read_only  # none left behind
    module, name = classpath.rsplit(".", 1)
    assert getattr(importlib.import_module(module), name) is BatchJobTrigger
    rebuilt = BatchJobTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["stop_policy"] == "cancel" and kwargs["deadline"] == 1_900_000_000.5
    assert kwargs["deadline_reason"] == "the sensor's timeout passed"
    assert kwargs["botocore_config"] == {"read_timeout": 7}


def test_bad_arguments_are_refused_when_the_trigger_is_made() -> None:
    with pytest.raises(ValueError, match="poll_interval=0"):
        BatchJobTrigger("j", poll_interval=0)
    with pytest.raises(ValueError, match="stop_policy='nuke'"):
        BatchJobTrigger("j", stop_policy="nuke")


def test_success_carries_the_snapshot_and_cursor_and_every_line_is_logged_once_in_order(
    local_batch: LocalBatch, xcom: FakeXCom
) -> None:
    job_id = submit(local_batch, "for i in $(seq 1 30); do echo line-$i; sleep 0.01; done")
    event, lines = run_logged(in_triggerer(trigger(job_id)), "line-")
    assert (event["status"], event["job_id"], event["stopped"]) == ("success", job_id, False)
    snapshot = JobSnapshot.from_dict(event["job"])
    assert (snapshot.status, snapshot.exit_code) == (JobStatus.SUCCEEDED, 0)
    assert lines == [f"line-{i}" for i in range(1, 31)]
    assert isinstance(event["log_cursor"], dict) and json.loads(json.dumps(event["log_cursor"])) == event["log_cursor"]

    assert event["cursor_saved"] and xcom.saves[-1]["cursor"] == event["log_cursor"]

    # a triggerer restart: the trigger is rebuilt from the same arguments and resumes from the saved cursor
    again, lines = run_logged(in_triggerer(trigger(job_id)), "line-")
    assert again["status"] == "success" and lines == []  # nothing twice


def test_a_failed_job_gives_a_failed_event_with_its_exit_code(local_batch: LocalBatch) -> None:
    event = run(trigger(submit(local_batch, "exit 3")))
    assert event["status"] == "failed"
    assert JobSnapshot.from_dict(event["job"]).exit_code == 3


def test_array_children_lines_are_logged_with_their_index(local_batch: LocalBatch) -> None:
    job_id = submit(local_batch, "echo child-$AWS_BATCH_JOB_ARRAY_INDEX", arrayProperties={"size": 3})
    event, lines = run_logged(trigger(job_id), "child-")
    assert event["status"] == "success"
    assert sorted(lines) == ["[0] child-0", "[1] child-1", "[2] child-2"]


@pytest.mark.parametrize(
    ("policy", "seconds_left", "expected"),
    [("terminate", 1, "FAILED"), ("terminate", -60, "FAILED"), ("keep", 1, "RUNNING")],
    ids=["near-terminate", "past-terminate", "near-keep"],
)
def test_the_deadline_stops_the_job_per_policy_and_emits_timeout(
    local_batch: LocalBatch, policy: str, seconds_left: float, expected: str
) -> None:
    job_id = submit(local_batch, LONG)
    status_of(local_batch, job_id, {"RUNNING"})
    started = time.monotonic()
    event = run(trigger(job_id, deadline=time.time() + seconds_left, stop_policy=policy, stop_reason="Test run"))
    assert (event["status"], event["stopped"]) == ("timeout", expected == "FAILED")  # keep stops nothing
    assert time.monotonic() - started < max(seconds_left, 0) + 3  # at the deadline, not at the job's end
    job = status_of(local_batch, job_id, {"FAILED"}, timeout=10 if expected == "FAILED" else 0.5)
    assert job["status"] == expected
    if expected == "FAILED":
        assert job["statusReason"] == "Test run: the task's execution_timeout passed"


@pytest.mark.parametrize(
    ("policy", "outcome", "said"),
    [
        ("terminate", "terminate_requested", "the job was stopped (stop_policy=terminate)"),
        ("cancel", "cancel_requested", "the job was cancelled (stop_policy=cancel)"),
    ],
)
def test_a_job_stuck_in_runnable_is_stopped(local_batch: LocalBatch, policy: str, outcome: str, said: str) -> None:
    job_id = submit(local_batch, LONG, containerOverrides={"resourceRequirements": [{"type": "VCPU", "value": "1024"}]})
    event = run(trigger(job_id, max_runnable_seconds=0.5, stop_policy=policy))
    assert (event["status"], event["stopped"], event["stop_outcome"]) == ("stuck", True, outcome)
    assert event["message"].endswith(f"(max_runnable_time); {said}")
    job = status_of(local_batch, job_id, {"FAILED"})
    assert job["status"] == "FAILED" and "max_runnable_time" in job["statusReason"]


def test_a_job_stuck_in_runnable_with_stop_policy_keep_is_left_queued_and_the_event_says_so(
    local_batch: LocalBatch, calls: CallCounter
) -> None:
    job_id = submit(local_batch, LONG, containerOverrides={"resourceRequirements": [{"type": "VCPU", "value": "1024"}]})

    async def stuck() -> dict[str, Any]:
        calls.attach(JobPoller.shared(None, "us-east-1").batch_hook.client)
        return await first_event(trigger(job_id, max_runnable_seconds=0.5, stop_policy="keep"))

    event = asyncio.run(stuck())
    assert (event["status"], event["stopped"], event["stop_outcome"]) == ("stuck", False, "kept")
    assert event["message"].endswith("(max_runnable_time); the job was left as it is (stop_policy=keep)")
    assert "stopped" not in event["message"]
    assert [name for name, _ in calls.requests if "Job" in name and name != "DescribeJobs"] == []
    time.sleep(1)  # a stop would show within this
    assert status_of(local_batch, job_id, {"RUNNABLE"}, timeout=0)["status"] == "RUNNABLE"


# RUNNABLE long enough to be seen there by a trigger polling every 0.2 s (RUNNABLE: every 0.4 s).
SLOW_RUNNABLE = LocalBatchConfig(
    submitted_seconds=0.02,
    pending_seconds=0.02,
    runnable_seconds=0.8,
    starting_seconds=0.02,
    terminate_grace_seconds=1.0,
    tick_seconds=0.01,
)


@pytest.mark.parametrize("local_batch_config", [SLOW_RUNNABLE])
def test_a_retried_job_waiting_in_runnable_again_is_not_stuck_for_its_first_wait(local_batch: LocalBatch) -> None:
    # Each attempt is RUNNABLE for 0.8 s, under the 1.6 s allowed; attempt 1 runs 1.5 s and fails, so
    # attempt 2 becomes RUNNABLE more than 1.6 s after the trigger first saw the job RUNNABLE.
    job_id = submit(
        local_batch,
        'if [ "$AWS_BATCH_JOB_ATTEMPT" = 1 ]; then sleep 1.5; exit 1; fi',
        retryStrategy={"attempts": 2},
    )
    event = run(trigger(job_id, max_runnable_seconds=1.6, stream_logs=False))
    assert (event["status"], event["stopped"]) == ("success", False)
    assert len(JobSnapshot.from_dict(event["job"]).attempts) == 2


def test_a_value_saved_without_the_runnable_clock_still_loads_and_another_jobs_is_ignored(xcom: FakeXCom) -> None:
    cursor = {"overlap_ms": 10_000, "streams": {}}
    xcom.values[(CURSOR_XCOM_KEY, "dag", "task", "run", -1)] = {"job_id": "j-1", "cursor": cursor}  # older format
    assert asyncio.run(CursorCheckpoint(TASK, "j-1").load()) == SavedState(cursor, runnable_since=None)
    assert asyncio.run(CursorCheckpoint(TASK, "j-2").load()) is None


def test_a_trigger_rebuilt_after_a_restart_ends_a_stuck_wait_at_the_first_ones_deadline(
    local_batch: LocalBatch, xcom: FakeXCom
) -> None:
    job_id = submit(local_batch, LONG, containerOverrides=NO_CAPACITY)
    status_of(local_batch, job_id, {"RUNNABLE"})
    allowed = 3.0

    async def restarted() -> tuple[float, float, dict[str, Any], float]:
        started = time.time()
        with pytest.raises(TimeoutError):  # the triggerer stops before the job is stuck
            await asyncio.wait_for(first_event(in_triggerer(trigger(job_id, max_runnable_seconds=allowed))), 2.0)
        rebuilt = time.time()  # another triggerer rebuilds the trigger from the same arguments
        event = await asyncio.wait_for(first_event(in_triggerer(trigger(job_id, max_runnable_seconds=allowed))), 10)
        return started, rebuilt, event, time.time()

    started, rebuilt, event, ended = asyncio.run(restarted())
    assert event["status"] == "stuck" and event["cursor_saved"]
    # The first trigger saw the job RUNNABLE at once and saved that moment, though the job printed nothing;
    # the rebuilt one loaded it and saved nothing more.
    # (when it first looked: on a busy machine its first poll may come a second or more after `started`)
    assert len(xcom.saves) == 1 and started <= xcom.saves[0]["runnable_since"] <= rebuilt
    assert ended - started > allowed  # not before the deadline...
    assert ended - rebuilt < allowed - 0.5  # ...and at the first trigger's, not a fresh one's


def test_a_trigger_serialized_by_0_1_0_rebuilds_and_keeps_its_runnable_clock(local_batch: LocalBatch) -> None:
    """0.1.0 serialized `log_cursor` and `runnable_since` as arguments: a triggerer rebuilding such a trigger
    after an upgrade must not fail on them, and the clock they carry still ends the wait on time."""
    job_id = submit(local_batch, LONG, containerOverrides=NO_CAPACITY)
    status_of(local_batch, job_id, {"RUNNABLE"})
    seen_runnable = time.time() - 5  # the old trigger saw it RUNNABLE 5 s ago
    old = trigger(job_id, max_runnable_seconds=6.0, log_cursor={"streams": {}}, runnable_since=seen_runnable)
    assert "runnable_since" not in old.serialize()[1] and "log_cursor" not in old.serialize()[1]
    started = time.time()
    event = run(old)
    assert event["status"] == "stuck"
    assert time.time() - started < 4  # about 1 s left of the old clock, not 6 s afresh


def test_a_runnable_clock_is_saved_only_for_a_trigger_that_times_runnable(
    local_batch: LocalBatch, xcom: FakeXCom
) -> None:
    job_id = submit(local_batch, LONG, containerOverrides=NO_CAPACITY)
    status_of(local_batch, job_id, {"RUNNABLE"})

    async def watch_a_while() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(first_event(in_triggerer(trigger(job_id))), 1.0)

    asyncio.run(watch_a_while())
    assert xcom.saves == []  # no max_runnable_seconds and no line: nothing worth an XCom write


@pytest.mark.parametrize("local_batch_config", [SLOW_RUNNABLE])
def test_the_runnable_clock_is_saved_when_each_attempt_is_first_seen_runnable_and_when_it_leaves_runnable(
    local_batch: LocalBatch, xcom: FakeXCom
) -> None:
    job_id = submit(
        local_batch,
        'if [ "$AWS_BATCH_JOB_ATTEMPT" = 1 ]; then sleep 1.5; exit 1; fi; sleep 0.8',  # each seen RUNNING
        retryStrategy={"attempts": 2},
    )
    event = run(in_triggerer(trigger(job_id, max_runnable_seconds=1.6, stream_logs=False)))
    assert (event["status"], event["cursor_saved"]) == ("success", True)
    clocks = [save["runnable_since"] for save in xcom.saves]
    # RUNNABLE, then RUNNING, for each attempt; nothing saved for the end, which no restart needs
    assert [clock is not None for clock in clocks] == [True, False, True, False]
    assert clocks[0] < clocks[2]


def test_on_kill_stops_per_policy_and_a_second_call_does_nothing_more(
    local_batch: LocalBatch, calls: CallCounter
) -> None:
    running = submit(local_batch, LONG)
    waiting = submit(
        local_batch, LONG, containerOverrides={"resourceRequirements": [{"type": "VCPU", "value": "1024"}]}
    )
    status_of(local_batch, running, {"RUNNING"})
    status_of(local_batch, waiting, {"RUNNABLE"})

    async def kill(job_id: str, policy: str, times: int) -> None:
        batch_trigger = trigger(job_id, stop_policy=policy)
        calls.attach(JobPoller.shared(None, "us-east-1").batch_hook.client)
        for _ in range(times):
            await batch_trigger.on_kill()

    calls.clear()
    asyncio.run(kill(running, "terminate", times=2))
    assert calls.calls["TerminateJobs"] == 1
    killed = status_of(local_batch, running, {"FAILED"})
    assert killed["status"] == "FAILED"
    assert killed["statusReason"].startswith("Stopped by Airflow: the task was killed in Airflow while deferred")

    running_too = submit(local_batch, LONG)
    status_of(local_batch, running_too, {"RUNNING"})
    asyncio.run(kill(running_too, "cancel", times=1))  # cancel lets a running job finish
    assert status_of(local_batch, running_too, {"FAILED"}, timeout=0.5)["status"] == "RUNNING"
    assert calls.calls["CancelJobs"] == 0
    asyncio.run(kill(waiting, "cancel", times=1))  # ... and removes one that has not started
    assert status_of(local_batch, waiting, {"FAILED"})["status"] == "FAILED"


def test_a_second_trigger_on_a_job_that_has_just_ended_gets_its_event_too(local_batch: LocalBatch) -> None:
    job_id = submit(local_batch, "echo one")

    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        first = asyncio.create_task(first_event(trigger(job_id)))
        await asyncio.to_thread(status_of, local_batch, job_id, {"SUCCEEDED"})
        await asyncio.sleep(0.4)  # the poller has seen the end; the first trigger still drains the job's logs
        assert not first.done()
        # e.g. a sensor on the job the operator's trigger still follows, in the same triggerer
        second = await asyncio.wait_for(first_event(trigger(job_id, stop_policy="keep", stream_logs=False)), 10)
        return await first, second

    first, second = asyncio.run(asyncio.wait_for(both(), timeout=30))
    assert (first["status"], second["status"]) == ("success", "success")


def test_fifty_triggers_share_one_describe_jobs_call_a_cycle(local_batch: LocalBatch, calls: CallCounter) -> None:
    job_ids = [submit(local_batch, "sleep 1.5") for _ in range(50)]

    async def all_of_them() -> list[dict[str, Any]]:
        calls.attach(JobPoller.shared(None, "us-east-1").batch_hook.client)
        started = time.monotonic()
        events = await asyncio.gather(*(first_event(trigger(job_id, stream_logs=False)) for job_id in job_ids))
        cycles = (time.monotonic() - started) / 0.2
        # One trigger per call would be 50 calls a cycle. Shared, it is about one (two while jobs sit
        # in statuses polled at different rates: STARTING twice as often, RUNNABLE half as often).
        assert calls.calls["DescribeJobs"] <= 2 * cycles + 3, (calls.calls, cycles)
        return events

    events = asyncio.run(all_of_them())
    assert [event["status"] for event in events] == ["success"] * 50
    asked = [len(params["jobs"]) for name, params in calls.requests if name == "DescribeJobs"]
    assert max(asked) <= 100 and sum(asked) / len(asked) >= 25
