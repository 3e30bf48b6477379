"""What a wait for a Batch job ends with: the trigger's event, parsed once, and what it means for the task.

`BatchJobTrigger` builds every event as a `JobEvent` and hands Airflow its `to_payload()`; the submit
operator and `BatchJobSensor` resume with that payload (from the triggerer, through Airflow's
database, or from the trigger run in the worker) and read it through `JobEvent.parse` only. A payload
is data that crossed a process boundary and may come from another version of this provider, so it is
checked once, here, with an error that names the bad field, rather than read with `.get` by each task.

What an event means for the submit operator's task is here too: whether an array job's failed
children are within `tolerated_failures` (a count checked at DAG parse as well), the message a task
fails with, and `first_event`, which runs the trigger in the worker for a task that does not defer, so
the worker waits exactly as the triggerer would.

Cheap to import, like jobs.py: no hook and no boto3 is imported here, and nothing here does I/O of its
own; `failure_message` reads log lines through the hook it is handed and `first_event` runs the trigger
it is handed. The trigger, the operator and the sensor all import it cheaply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_batch_plus.jobs import JobSnapshot, StopOutcome

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from airflow_batch_plus.hooks.logs import BatchLogsHook
    from airflow_batch_plus.triggers.batch import BatchJobTrigger

FAILURE_LOG_LINES = 20
"""How many of a failed job's last log lines its task's failure message ends with."""


class EventStatus(StrEnum):
    """The `status` of every event the trigger emits.

    The values are the strings events have always carried: an event a triggerer serialized before an
    upgrade still parses after it.
    """

    SUCCESS = "success"  # the job SUCCEEDED
    FAILED = "failed"  # the job FAILED
    TIMEOUT = "timeout"  # the deadline passed (execution_timeout); the stop policy was applied
    STUCK = "stuck"  # RUNNABLE for longer than max_runnable_seconds; the stop policy was applied
    ERROR = "error"  # waiting failed (Batch kept failing, the job vanished, or a bug); the stop policy was applied


class Outcome(StrEnum):
    """What an event means for the task that waited.

    Each task turns it into its own result: the operator lets an array job's tolerated failures
    succeed and fails retryably otherwise, the sensor fails a FAILED job without retries, and each
    says a timeout its own way. Which events mean what is decided here only (`JobEvent.outcome`).
    """

    JOB_SUCCEEDED = "job_succeeded"  # the job SUCCEEDED; the event holds its snapshot
    JOB_FAILED = "job_failed"  # the job FAILED; the event holds its snapshot
    TIMED_OUT = "timed_out"  # the task's deadline passed before the job ended
    WAIT_FAILED = "wait_failed"  # stuck in RUNNABLE, waiting failed, or an end without the job's snapshot


class EventError(ValueError):
    """A trigger event's payload that is not a `JobEvent`; the message names the field."""


# Keys every version of the trigger has put in its events: an event without one is not a JobEvent.
_REQUIRED = ("status", "job_id", "message", "job", "log_cursor", "stopped")
# Keys added later, read with the value an event from before them meant: an event serialized by an
# older triggerer that is still waiting when the provider is upgraded parses as it did then.
_ADDED_LATER: Mapping[str, Any] = {"cursor_saved": False, "stop_outcome": None}


@dataclass(frozen=True)
class JobEvent:
    """One event of `BatchJobTrigger`: how the wait for job `job_id` ended.

    `snapshot` is the job as last seen (None if it never was), so the task that resumes, a fresh
    instance, knows the job without describing it again. `log_cursor` (`LogCursor.to_dict()`) is where
    log streaming stood, for a caller that follows the job on with a new trigger; the submit operator
    and the sensor, which resume only to end, do not read it. `cursor_saved`: the trigger saved its
    cursor in the task's XCom (a triggerer restart resumes from it), which the operator then deletes.
    `stopped`: Batch was asked to stop the job (cancel or terminate; never with keep, nor with cancel
    once it had started). `stop_outcome`: what the stop policy did, if it was applied.
    """

    status: EventStatus
    job_id: str
    message: str
    snapshot: JobSnapshot | None = None
    log_cursor: Mapping[str, Any] = field(default_factory=dict)
    cursor_saved: bool = False
    stopped: bool = False
    stop_outcome: StopOutcome | None = None

    @property
    def outcome(self) -> Outcome:
        """What the event means for the task: a job that ended needs its snapshot to say how."""
        if self.status is EventStatus.SUCCESS and self.snapshot is not None:
            return Outcome.JOB_SUCCEEDED
        if self.status is EventStatus.FAILED and self.snapshot is not None:
            return Outcome.JOB_FAILED
        if self.status is EventStatus.TIMEOUT:
            return Outcome.TIMED_OUT
        return Outcome.WAIT_FAILED

    @property
    def ended_job(self) -> JobSnapshot | None:
        """The snapshot of the job if the event says it ended (SUCCEEDED or FAILED), else None."""
        return self.snapshot if self.outcome in (Outcome.JOB_SUCCEEDED, Outcome.JOB_FAILED) else None

    def to_payload(self) -> dict[str, Any]:
        """The JSON-ready dictionary a `TriggerEvent` carries; `parse` reads it back."""
        return {
            "status": self.status.value,
            "job_id": self.job_id,
            "message": self.message,
            "job": self.snapshot.to_dict() if self.snapshot is not None else None,
            "log_cursor": dict(self.log_cursor),
            "cursor_saved": self.cursor_saved,
            "stopped": self.stopped,
            "stop_outcome": self.stop_outcome.value if self.stop_outcome is not None else None,
        }

    @classmethod
    def parse(cls, payload: Any) -> JobEvent:
        """The event a payload (`to_payload()`, after Airflow's round trip) stands for.

        :raises EventError: the payload is not a mapping, lacks a key, or holds a value of the wrong kind;
            the message names the field and what it holds.
        """
        if not isinstance(payload, Mapping):
            raise EventError(f"a Batch job trigger event is a mapping, not {type(payload).__name__}: {payload!r}")
        missing = [key for key in _REQUIRED if key not in payload]
        if missing:
            raise EventError(f"trigger event {_excerpt(payload)} lacks the field(s) {', '.join(missing)}")
        values = {**_ADDED_LATER, **payload}
        return cls(
            status=_choice(values, "status", EventStatus),
            job_id=_text(values, "job_id", allow_empty=False),
            message=_text(values, "message", allow_empty=True),
            snapshot=_snapshot(values),
            log_cursor=dict(_of_type(values, "log_cursor", Mapping, "a mapping (LogCursor.to_dict())")),
            cursor_saved=_of_type(values, "cursor_saved", bool, "true or false"),
            stopped=_of_type(values, "stopped", bool, "true or false"),
            stop_outcome=None if values["stop_outcome"] is None else _choice(values, "stop_outcome", StopOutcome),
        )


def _excerpt(payload: Mapping[str, Any]) -> str:
    return f"(status {payload.get('status')!r}, job_id {payload.get('job_id')!r})"


def _bad(values: Mapping[str, Any], key: str, expected: str) -> EventError:
    return EventError(f"trigger event {_excerpt(values)}: field {key!r} is {values[key]!r}, expected {expected}")


def _of_type(values: Mapping[str, Any], key: str, kind: type, expected: str) -> Any:
    if not isinstance(values[key], kind):
        raise _bad(values, key, expected)
    return values[key]


def _text(values: Mapping[str, Any], key: str, *, allow_empty: bool) -> str:
    text = _of_type(values, key, str, "a string" if allow_empty else "a non-empty string")
    if not text and not allow_empty:
        raise _bad(values, key, "a non-empty string")
    return str(text)


_Choice = TypeVar("_Choice", bound=StrEnum)


def _choice(values: Mapping[str, Any], key: str, kind: type[_Choice]) -> _Choice:
    try:
        return kind(values[key])
    except ValueError:
        raise _bad(values, key, "one of " + ", ".join(member.value for member in kind)) from None


def _snapshot(values: Mapping[str, Any]) -> JobSnapshot | None:
    job = values["job"]
    if job is None:
        return None
    if not isinstance(job, Mapping):
        raise _bad(values, "job", "a job snapshot (JobSnapshot.to_dict()) or null")
    try:
        return JobSnapshot.from_dict(job)
    except (KeyError, TypeError, ValueError) as error:
        raise EventError(
            f"trigger event {_excerpt(values)}: field 'job' is not a job snapshot (JobSnapshot.to_dict()): "
            f"{type(error).__name__}: {error}"
        ) from None


# What the submit operator's task makes of an event


def first_event(trigger: BatchJobTrigger) -> dict[str, Any]:
    """Run `trigger` to its first event in this thread, for a task that does not defer: the worker waits
    exactly as the triggerer would, and resumes with the same payload (`JobEvent.parse` reads it)."""

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise RuntimeError(f"the trigger for Batch job {trigger.job_id} ended without an event")

    return asyncio.run(first())


def tolerated_count(tolerated: int | str | None, size: int) -> int:
    """How many of `size` children may fail under `tolerated` (a count or "N%").

    The operator calls it at DAG parse too (with any size), so a bad value fails the DAG, not a task
    hours later when its array job ends.
    """
    if tolerated is None:
        return 0
    text = str(tolerated).strip()
    try:
        if text.endswith("%"):
            percent = float(text[:-1])
            if not 0 <= percent <= 100:
                raise ValueError
            return int(size * percent / 100)
        count = int(text)
        if count < 0:
            raise ValueError
        return count
    except ValueError:
        raise ValueError(
            f"tolerated_failures={tolerated!r}: give a number of children (like 3) or a percentage (like '10%')"
        ) from None


def within_tolerance(snapshot: JobSnapshot, tolerated: int | str | None) -> bool:
    """Whether ended array job `snapshot` has few enough failed children under `tolerated`; says nothing."""
    if not snapshot.is_array_parent or tolerated is None or snapshot.array_size is None:
        return False
    return int(snapshot.status_summary.get("FAILED", 0)) <= tolerated_count(tolerated, snapshot.array_size)


def is_tolerated(snapshot: JobSnapshot, tolerated: int | str | None, log: Logger) -> bool:
    """Whether ended array job `snapshot` counts as a success under `tolerated_failures=tolerated`: few
    enough of its children failed. Said in the task log as a warning, since some children did fail."""
    if within_tolerance(snapshot, tolerated):
        log.warning(
            "Array job %s: %d of %d children failed, within tolerated_failures=%r",
            snapshot.job_id,
            int(snapshot.status_summary.get("FAILED", 0)),
            snapshot.array_size,
            tolerated,
        )
        return True
    return False


def failure_message(
    event: JobEvent | Mapping[str, Any],
    snapshot: JobSnapshot | None,
    *,
    job_id: str | None,
    logs_hook: Callable[[], BatchLogsHook],
    log: Logger,
) -> str:
    """What a task whose job did not succeed fails with: the event's message, then what the job said
    about itself, then its last `FAILURE_LOG_LINES` log lines, so the task's failure explains itself.

    `event` is the parsed event; a bare mapping (`{"message": ...}`) is taken too, for a message without
    the rest of an event. `logs_hook` makes the Logs hook only when there are lines to read (making it
    imports boto3); a failure to read them is a warning, never the task's error.
    """
    said = event.message if isinstance(event, JobEvent) else event.get("message")
    parts = [str(said or f"Batch job {job_id} did not succeed")]
    if snapshot is not None:
        parts += [f"status {snapshot.status.value}", *snapshot.failure_reasons()]
    message = "; ".join(parts)
    tail = _last_lines(snapshot, logs_hook, log) if snapshot is not None else []
    if tail:
        message += "\nlast log lines:\n" + "\n".join(tail)
    return message


def _last_lines(snapshot: JobSnapshot, logs_hook: Callable[[], BatchLogsHook], log: Logger) -> list[str]:
    if not snapshot.log_streams:
        return []
    try:
        return [line.render() for line in logs_hook().tail(snapshot.log_streams, FAILURE_LOG_LINES)]
    except Exception as error:  # the failure itself matters more than its last lines
        log.warning("Could not read the job's last log lines: %s", error)
        return []
