"""BatchJobTrigger: waits for a Batch job in the triggerer, streams its logs live, stops it when killed.

It never calls DescribeJobs itself: it watches its job (and an array's children or a multi-node job's
nodes) through the shared poller of its process, and reads log lines through the poller too, so a
thousand waiting jobs cost ten DescribeJobs calls a cycle, not a thousand. Every event is a
`JobEvent` (airflow_batch_plus/waiting.py): it carries the job's full snapshot, because the operator
or sensor that resumes is a fresh instance, and the log cursor, for a caller that follows the job on
with a new trigger (the operator and the sensor resume only to end, and do not read it).

Its parts: what it follows (the job and its children) is `triggers/follower.py`; what it shows of the job
in the task log, `triggers/output.py`; where it saves its place for a restart, `triggers/checkpoint.py`;
whether a killed trigger's task has ended, `triggers/handover.py`; whether to stop the job, the job's
`StopGuard` (`ownership.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_batch_plus.ending import TaskEnding
from airflow_batch_plus.jobs import JobSnapshot, JobStatus, StopOutcome, StopPolicy
from airflow_batch_plus.orphans import SupervisorWatch
from airflow_batch_plus.ownership import ExitPath, StopGuard, TaskLeft
from airflow_batch_plus.triggers.follower import JobFollower
from airflow_batch_plus.triggers.output import JobOutput
from airflow_batch_plus.triggers.poller import JobPoller
from airflow_batch_plus.waiting import EventStatus, JobEvent  # EventStatus: importable here as before

if TYPE_CHECKING:
    from airflow_batch_plus.hooks.logs import LogCursor
    from airflow_batch_plus.triggers.checkpoint import CursorCheckpoint, SavedState

# on_kill has a SIGKILL or the triggerer's own bound behind it: stop within this.
STOP_TIMEOUT_SECONDS = 20.0


# What the stop policy did to the job, as the end of a timeout, stuck or error event's message. Only
# the first two are a stop: the event's `stopped` says whether Batch was asked to stop the job.
_STOPPED = {StopOutcome.CANCEL_REQUESTED, StopOutcome.TERMINATE_REQUESTED}
_OUTCOME_TEXT = {
    StopOutcome.CANCEL_REQUESTED: "the job was cancelled (stop_policy={policy})",
    StopOutcome.TERMINATE_REQUESTED: "the job was stopped (stop_policy={policy})",
    StopOutcome.ALREADY_DONE: "the job had already ended",
    StopOutcome.KEPT: "the job was left as it is (stop_policy=keep)",
    StopOutcome.LEFT_RUNNING: "the job was left running: it had started (stop_policy={policy})",
    StopOutcome.NOT_FOUND: "Batch no longer knows the job",
    StopOutcome.FAILED: "stopping the job failed (stop_policy={policy})",
}


class BatchJobTrigger(BaseTrigger):
    """Wait for Batch job `job_id` to end; log its lines as they arrive; stop it per policy when killed.

    :param job_id: the Batch job to wait for.
    :param aws_conn_id: the amazon provider's `aws` connection (None: boto3's default chain).
    :param region_name: overrides the connection's region.
    :param botocore_config: botocore.config.Config's arguments as a dict (timeouts, retries, ...), as the
        amazon provider's operators take them; triggers with the same one share a poller.
    :param poll_interval: seconds between looks at the job (shared with every other waiting trigger).
    :param stream_logs: log every line of every stream of the job (attempts, array children, nodes).
    :param deadline: epoch seconds; past it the job is stopped per policy and a timeout event emitted
        (Airflow does not enforce `execution_timeout` on a deferred task, so the trigger carries it).
    :param stop_policy: what `on_kill`, the deadline and errors do to a live job: terminate, cancel or keep.
    :param stop_reason: who asks, put at the start of every stop reason (DAG, task, run, try).
    :param max_runnable_seconds: end the wait with a `stuck` event, applying the stop policy (terminate
        and cancel cancel the job; keep leaves it queued), once the job has been RUNNABLE this long since
        the trigger first saw it so. That moment is saved with the log cursor (triggers/checkpoint.py),
        so a trigger rebuilt after a triggerer restart keeps the clock rather than starting it again.
    :param deadline_reason: what the deadline stands for, in the stop reason and the timeout event.
    :param masked_environment: names of the job's environment variables whose values are masked in every
        line logged (the operator's override variables). Names only: a triggerer is another process, so
        it learns the values from the job's own description, and no secret is stored with the trigger.
    :param end_task: what the trigger may end itself once the job has ended (`TaskEnding.to_dict()`,
        airflow_batch_plus/ending.py): success, failure, or neither (None, the default: the task resumes in a
        worker). Honoured only in a triggerer, which gives the trigger its task instance and handles the end
        events; `dag.test()` and a task waiting in its worker run the trigger without one, and resume.
    :param log_cursor: only from a trigger serialized by 0.1.0: its log cursor, where a rebuilt trigger
        starts when no checkpoint was saved (the checkpoint holds it now).
    :param runnable_since: only from a trigger serialized by 0.1.0: its max_runnable_time clock, likewise.
    """

    def __init__(
        self,
        job_id: str,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        poll_interval: float = 30,
        stream_logs: bool = True,
        *,
        deadline: float | None = None,
        stop_policy: str = StopPolicy.TERMINATE.value,
        stop_reason: str = "Stopped by Airflow",
        max_runnable_seconds: float | None = None,
        deadline_reason: str = "the task's execution_timeout passed",
        masked_environment: list[str] | None = None,
        botocore_config: dict[str, Any] | None = None,
        end_task: dict[str, Any] | None = None,
        log_cursor: dict[str, Any] | None = None,
        runnable_since: float | None = None,
    ):
        super().__init__()  # type: ignore[no-untyped-call]
        if poll_interval <= 0:
            raise ValueError(f"poll_interval={poll_interval!r}: must be a positive number of seconds")
        self.job_id = job_id
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.poll_interval = poll_interval
        self.stream_logs = stream_logs
        self.deadline = deadline
        self.stop_policy = StopPolicy.parse(stop_policy).value
        self.stop_reason = stop_reason
        self.max_runnable_seconds = max_runnable_seconds
        self.deadline_reason = deadline_reason
        self.masked_environment = sorted(set(masked_environment or ()))
        self.botocore_config = botocore_config
        self.end_task = TaskEnding.from_dict(end_task)
        self._cursor_saved = False  # the checkpoint holds something of this trigger's, for the task to clear
        self._runnable_since: float | None = None  # when the job was first seen RUNNABLE (this attempt's wait)
        self._saved_runnable_since: float | None = None  # the runnable clock the checkpoint holds
        self._supervisor: SupervisorWatch | None = None
        self._output: JobOutput | None = None  # made when the trigger runs (it needs the loop's poller)
        # Triggers serialized by 0.1.0 carry these two as arguments; a triggerer rebuilding one after an
        # upgrade passes them back. They start the state when no checkpoint was saved and are not serialized.
        self._legacy_cursor = log_cursor
        self._legacy_runnable_since = runnable_since

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "poll_interval": self.poll_interval,
                "stream_logs": self.stream_logs,
                "deadline": self.deadline,
                "stop_policy": self.stop_policy,
                "stop_reason": self.stop_reason,
                "max_runnable_seconds": self.max_runnable_seconds,
                "deadline_reason": self.deadline_reason,
                "masked_environment": self.masked_environment,
                "botocore_config": self.botocore_config,
                "end_task": self.end_task.to_dict() if self.end_task is not None else None,
            },
        )

    @cached_property
    def _stop_guard(self) -> StopGuard:
        """The job's stop, applied once whichever exit comes first (ownership.py). Made on first use, with
        the logger the trigger has by then."""
        return StopGuard(self.job_id, self.stop_policy, self.stop_reason, self.log)

    @property
    def poller(self) -> JobPoller:
        return JobPoller.shared(self.aws_conn_id, self.region_name, self.botocore_config)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_batch_plus.hooks.logs import LogCursor

        self._supervisor = SupervisorWatch()
        cursor = LogCursor.from_dict(self._legacy_cursor) if self.stream_logs and self._legacy_cursor else LogCursor()
        self._runnable_since = self._legacy_runnable_since
        if (saved := await self._saved_state()) is not None:
            self._cursor_saved = True  # the task deletes it when it resumes, whether this trigger saves or not
            self._runnable_since = self._saved_runnable_since = saved.runnable_since
            if self.stream_logs and saved.cursor.get("streams"):
                cursor = LogCursor.from_dict(saved.cursor)
                self.log.info("Resuming the job's log lines after the last one logged before the triggerer restarted")
        output = self._output = JobOutput(
            self.job_id, self.log, self.poller, enabled=self.stream_logs, masked_environment=self.masked_environment
        )
        follower = JobFollower(self.poller, self.job_id, self.poll_interval, with_children=self.stream_logs)
        snapshot: JobSnapshot | None = None
        try:
            while True:
                try:
                    snapshot = await follower.next(timeout=self._seconds_left())
                except TimeoutError:
                    yield await self._stop_and_report(
                        EventStatus.TIMEOUT, ExitPath.DEADLINE_PASSED, snapshot, cursor, self.deadline_reason
                    )
                    return
                output.tell_where_eks_output_is(snapshot)
                if output.enabled:
                    output.mask_environment(follower.jobs())
                    await output.log_new_lines(follower.log_streams(), cursor)
                self._time_runnable(snapshot)
                await self._save_state(cursor)
                if snapshot.is_done:
                    if output.enabled:
                        await output.drain(follower, snapshot, cursor, lambda: self._save_state(cursor))
                    status = EventStatus.SUCCESS if snapshot.status is JobStatus.SUCCEEDED else EventStatus.FAILED
                    said = f"Batch job {self.job_id} {snapshot.status.value}"
                    event = self._job_event(status, snapshot, cursor, said)
                    yield await self._end_of_task(event) or TriggerEvent(event.to_payload())  # type: ignore[no-untyped-call]
                    return
                if self._stuck_in_runnable():
                    yield await self._stop_and_report(
                        EventStatus.STUCK,
                        ExitPath.STUCK_IN_RUNNABLE,
                        snapshot,
                        cursor,
                        f"the job was RUNNABLE for more than {self.max_runnable_seconds:g} s (max_runnable_time)",
                    )
                    return
        except asyncio.CancelledError:
            raise
        except Exception as error:
            yield await self._stop_and_report(
                EventStatus.ERROR, ExitPath.TRIGGER_FAILED, snapshot, cursor, f"waiting failed: {error}"
            )
        finally:
            follower.close()

    async def on_kill(self) -> None:
        """A user marked, cleared or otherwise killed the deferred task: stop the job per policy.

        Airflow 3.3 also calls this on a triggerer that stalled and woke to find the trigger handed to
        another triggerer, which still follows the job for a task that still wants it; so the task
        instance's fate is asked first (triggers/handover.py), and a hand-over stops nothing. Runs with
        the triggerer's bound behind it and may run twice: the stop calls are idempotent and bounded.
        """
        path = ExitPath.KILLED_WHILE_DEFERRED
        task_left = await self._task_left() if self._stop_guard.needs_task_verdict(path) else None
        await self._stop(
            path,
            "the task was killed in Airflow while deferred (marked failed or success, cleared, or its run timed out)",
            task_left=task_left,
        )

    async def _task_left(self) -> TaskLeft:
        """Whether the task instance has left this deferral, as Airflow says (ENDED also without a task
        instance: nothing to ask); logs what was seen."""
        from airflow_batch_plus.triggers.checkpoint import TaskKey
        from airflow_batch_plus.triggers.handover import Verdict, judge

        task = TaskKey.of(self.task_instance) if self.task_instance is not None else None
        if task is None:
            return TaskLeft.ENDED
        found, seen = await judge(task, self.job_id)
        if found is Verdict.HANDED_OVER:
            self.log.info(
                "Not stopping Batch job %s: this trigger was handed to another triggerer (%s), which follows the job",
                self.job_id,
                seen,
            )
            return TaskLeft.HANDED_OVER
        if found is Verdict.UNKNOWN:
            self.log.error(
                "Not stopping Batch job %s: this trigger was cancelled, but whether its task ended or the trigger "
                "only moved to another triggerer is unknown: %s. If the task has ended, stop the job with "
                "BatchStopJobsOperator or `aws batch terminate-job --job-id %s` (docs/deployment.md)",
                self.job_id,
                seen,
                self.job_id,
            )
            return TaskLeft.UNKNOWN
        self.log.info("The task has left its deferral (%s): stopping Batch job %s", seen, self.job_id)
        return TaskLeft.ENDED

    # Waiting

    def _seconds_left(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.time())

    def _time_runnable(self, snapshot: JobSnapshot) -> None:
        """Start the runnable clock at the first RUNNABLE sighting; stop it when the job leaves RUNNABLE."""
        if snapshot.is_done:
            return  # the wait is over: nothing to time, nor to save for a restart
        if snapshot.status is not JobStatus.RUNNABLE:
            self._runnable_since = None  # a retry's attempt waits afresh: its clock starts when it is RUNNABLE
        elif self._runnable_since is None:
            self._runnable_since = time.time()

    def _stuck_in_runnable(self) -> bool:
        since, limit = self._runnable_since, self.max_runnable_seconds
        return since is not None and limit is not None and time.time() - since > limit

    @cached_property
    def _checkpoint(self) -> CursorCheckpoint | None:
        """Where the cursor is saved: only for a task's trigger in a triggerer (which sets task_instance
        before running it)."""
        from airflow_batch_plus.triggers.checkpoint import CursorCheckpoint, TaskKey

        task = TaskKey.of(self.task_instance) if self.task_instance is not None else None
        return CursorCheckpoint(task, self.job_id) if task is not None else None

    async def _saved_state(self) -> SavedState | None:
        """What this trigger saved before a triggerer restart, if it has anything to resume (no XCom read
        for a trigger that neither streams logs nor times RUNNABLE)."""
        checkpoint = self._checkpoint
        if checkpoint is None or not (self.stream_logs or self.max_runnable_seconds is not None):
            return None
        try:
            return await checkpoint.load()
        except Exception as error:  # starting afresh loses no line, it may repeat some
            self.log.warning(
                "Could not load the saved log cursor (%s); logging from the job's first line, the runnable "
                "clock starting now",
                error,
            )
            return None

    async def _save_state(self, cursor: LogCursor) -> None:
        """Save the cursor and the runnable clock when either moved, within the process's save budget.

        The cursor moves when lines were logged; the clock when the job is first seen RUNNABLE (a RUNNABLE
        job prints nothing, so the clock needs its own reason to save) and when it leaves RUNNABLE (so a
        retry's wait is not timed from the first's). The clock counts only with `max_runnable_seconds`:
        without it, no save is made for it. A save the budget refuses stays due and is made at a later look
        at the job, so a RUNNABLE sighting is saved once, at most a poll or a few later.
        """
        clock_moved = self.max_runnable_seconds is not None and self._runnable_since != self._saved_runnable_since
        unsaved_lines = self._output.unsaved_lines if self._output is not None else 0
        checkpoint = self._checkpoint if unsaved_lines or clock_moved else None
        if checkpoint is None or not checkpoint.due():  # over the process's save budget: a later look saves
            return
        runnable_since = self._runnable_since
        try:
            await checkpoint.save(cursor.to_dict(), runnable_since)
        except Exception as error:
            self.log.warning("Could not save the log cursor (%s); trying again at the next look at the job", error)
            return
        if self._output is not None:
            self._output.unsaved_lines = 0
        self._saved_runnable_since = runnable_since
        self._cursor_saved = True

    # Stopping

    async def _stop(self, path: ExitPath, why: str, *, task_left: TaskLeft | None = None) -> None:
        """Apply the stop policy through the job's guard (ownership.py), within STOP_TIMEOUT_SECONDS."""
        # A triggerer (or, in a worker, the task's supervisor) that died without this process: another
        # triggerer, or the task's retry, follows the job (airflow_batch_plus/orphans.py).
        lost = self._supervisor is not None and self._supervisor.lost()
        guard = self._stop_guard
        if guard.claim(path, why, supervisor_lost=lost, task_left=task_left) is not None:
            return
        poller = self.poller
        try:
            result = await asyncio.wait_for(
                asyncio.to_thread(lambda: poller.batch_hook.stop_job(self.job_id, guard.policy, guard.reason(why))),
                timeout=STOP_TIMEOUT_SECONDS,
            )
        except Exception as error:
            guard.failed(error)
            return
        guard.stopped(result.outcome, why)

    async def _stop_and_report(
        self, status: EventStatus, path: ExitPath, snapshot: JobSnapshot | None, cursor: LogCursor, why: str
    ) -> TriggerEvent:
        await self._stop(path, why)
        outcome = self._stop_guard.outcome
        done = _OUTCOME_TEXT[outcome].format(policy=self.stop_policy) if outcome else "the job was not stopped"
        return self._event(status, snapshot, cursor, f"Batch job {self.job_id}: {why}; {done}")

    async def _end_of_task(self, event: JobEvent) -> TriggerEvent | None:
        """The event ending the task in the triggerer (triggers/task_end.py), or None to resume it in a worker:
        without `end_task`, outside a triggerer (no task instance), or for an ending `end_task` leaves out."""
        from airflow_batch_plus.triggers.checkpoint import TaskKey

        task = TaskKey.of(self.task_instance) if self.end_task is not None and self.task_instance is not None else None
        if task is None or self.end_task is None:
            return None
        from airflow_batch_plus.triggers.task_end import end_event

        try:
            return await end_event(event, self.end_task, task, self.poller, self.log)
        except Exception as error:  # the job's outcome must still reach the task: the worker ends it
            self.log.warning("Could not end the task in the triggerer (%s); it resumes in a worker", error)
            return None

    def _event(
        self, status: EventStatus, snapshot: JobSnapshot | None, cursor: LogCursor, message: str
    ) -> TriggerEvent:
        return TriggerEvent(self._job_event(status, snapshot, cursor, message).to_payload())  # type: ignore[no-untyped-call]

    def _job_event(
        self, status: EventStatus, snapshot: JobSnapshot | None, cursor: LogCursor, message: str
    ) -> JobEvent:
        return JobEvent(
            status=status,
            job_id=self.job_id,
            message=message,
            snapshot=snapshot,
            log_cursor=cursor.to_dict(),
            cursor_saved=self._cursor_saved,
            stopped=self._stop_guard.outcome in _STOPPED,
            stop_outcome=self._stop_guard.outcome,
        )
