"""BatchJobTrigger: waits for a Batch job in the triggerer, streams its logs live, stops it when killed.

It never calls DescribeJobs itself: it watches its job (and an array's children or a multi-node job's
nodes) through the shared poller of its process, and reads log lines through the poller too, so a
thousand waiting jobs cost ten DescribeJobs calls a cycle, not a thousand. Every event is a
`JobEvent` (airflow_batch_plus/waiting.py): it carries the job's full snapshot, because the operator
or sensor that resumes is a fresh instance, and the log cursor, for a caller that follows the job on
with a new trigger (the operator and the sensor resume only to end, and do not read it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_batch_plus.jobs import JobSnapshot, JobStatus, StopOutcome, StopPolicy
from airflow_batch_plus.orphans import SupervisorWatch
from airflow_batch_plus.ownership import ExitPath, StopGuard, TaskLeft
from airflow_batch_plus.triggers.line_clock import LineClock
from airflow_batch_plus.triggers.poller import JobPoller, JobWatch
from airflow_batch_plus.waiting import EventStatus, JobEvent  # EventStatus: importable here as before

if TYPE_CHECKING:
    from airflow_batch_plus.hooks.logs import LogCursor, LogLine
    from airflow_batch_plus.jobs import LogStream
    from airflow_batch_plus.triggers.checkpoint import CursorCheckpoint, SavedState

# After the job ends, CloudWatch may still ingest its last lines for a few seconds: keep reading
# this often until two reads in a row bring nothing, the last of them at least INGESTION_LAG after
# the job stopped, or until MAX_DRAIN_SECONDS have passed.
DRAIN_INTERVAL_SECONDS = 1.0
INGESTION_LAG_SECONDS = 2.0
MAX_DRAIN_SECONDS = 30.0
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
        self._masked_values: set[str] = set()
        self._log_read_failures = 0
        self._unsaved_lines = 0
        self._line_clock = LineClock()
        self._cursor_saved = False  # the checkpoint holds something of this trigger's, for the task to clear
        self._runnable_since: float | None = None  # when the job was first seen RUNNABLE (this attempt's wait)
        self._saved_runnable_since: float | None = None  # the runnable clock the checkpoint holds
        self._supervisor: SupervisorWatch | None = None
        self._told_where_eks_output_is = False
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
            },
        )

    @cached_property
    def _stop_guard(self) -> StopGuard:
        """The job's stop, applied once whichever exit comes first (ownership.py). Made on first use, with
        the logger the trigger has by then."""
        return StopGuard(self.job_id, self.stop_policy, self.stop_reason, self.log)

    @property
    def poller(self) -> JobPoller:
        return JobPoller.shared(self.aws_conn_id, self.region_name)

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
        follower = _JobFollower(self.poller, self.job_id, self.poll_interval, with_children=self.stream_logs)
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
                self._tell_where_eks_output_is(snapshot)
                if self.stream_logs:
                    self._mask_environment(follower.jobs())
                    await self._log_new_lines(follower.log_streams(), cursor)
                self._time_runnable(snapshot)
                await self._save_state(cursor)
                if snapshot.is_done:
                    if self.stream_logs:
                        await self._drain_logs(follower, snapshot, cursor)
                    status = EventStatus.SUCCESS if snapshot.status is JobStatus.SUCCEEDED else EventStatus.FAILED
                    yield self._event(status, snapshot, cursor, f"Batch job {self.job_id} {snapshot.status.value}")
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

    # Logs

    async def _log_new_lines(self, streams: list[LogStream], cursor: LogCursor) -> int | None:
        """Log the lines not logged yet; how many were read, or None if CloudWatch could not be read.

        A failed read (after botocore's retries) does not end the wait: the job matters more than its
        logs, and the cursor has not moved, so the next read picks up every line this one missed.
        """
        if not streams:
            return 0
        try:
            lines: list[LogLine] = await self.poller.read_logs(streams, cursor)
        except Exception as error:
            if _is_refusal(error):  # no permission, no such group... : reading again cannot help
                self.log.error(
                    "CloudWatch Logs refused to read the job's log streams (%s); waiting for the job without "
                    "showing its lines. The role needs logs:FilterLogEvents on its log group (docs/iam.md)",
                    error,
                )
                self.stream_logs = False
                return None
            self._log_read_failures += 1
            self.log.warning(
                "Could not read the job's CloudWatch logs (%s); reading again later, from where logging stopped",
                error,
            )
            return None
        self._log_read_failures = 0
        # Airflow's structlog loggers keep a `timestamp` given to them; a plain logging.Logger takes no such field.
        dated = not isinstance(self.log, logging.Logger)
        for line in lines:
            if cursor.is_new(line):
                if dated:
                    self.log.info(line.render(), timestamp=self._line_clock.timestamp(line))
                else:
                    self.log.info(line.render())
                cursor.mark(line)
                self._unsaved_lines += 1
        return len(lines)

    def _tell_where_eks_output_is(self, snapshot: JobSnapshot) -> None:
        """An EKS job's output is in its pod's logs, not CloudWatch: say so once, naming the pod once it runs
        (or, for an array or a job that ends before any pod ran, without naming one)."""
        if self._told_where_eks_output_is or not snapshot.is_eks:
            return
        if snapshot.pod_name is None and not (snapshot.is_done or snapshot.is_array_parent):
            return  # its pod is named once it starts
        self._told_where_eks_output_is = True
        if snapshot.pod_name is not None:
            self.log.info(
                "EKS job %s: its output is in the pod's logs (kubectl logs %s -n %s --all-containers), not "
                "CloudWatch. A retry runs in a new pod: DescribeJobs' eksAttempts names each",
                self.job_id,
                snapshot.pod_name,
                snapshot.pod_namespace or "<the compute environment's kubernetesNamespace>",
            )
        else:
            self.log.info(
                "EKS job %s: its output is in its pods' logs (kubectl logs <pod> -n <namespace>), not CloudWatch. "
                "DescribeJobs names each pod (eksProperties.podProperties.podName, eksAttempts)",
                self.job_id,
            )

    def _mask_environment(self, jobs: list[JobSnapshot]) -> None:
        """Register the values of `masked_environment` with this process's secrets masker (once each), so a
        job that prints its own secret shows *** in the task log, in the triggerer as in a worker."""
        from airflow.sdk.log import mask_secret

        for job in jobs:
            for name in self.masked_environment:
                value = job.environment.get(name)
                if value and value not in self._masked_values:
                    mask_secret(value, name)
                    self._masked_values.add(value)

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
        checkpoint = self._checkpoint if self._unsaved_lines or clock_moved else None
        if checkpoint is None or not checkpoint.due():  # over the process's save budget: a later look saves
            return
        runnable_since = self._runnable_since
        try:
            await checkpoint.save(cursor.to_dict(), runnable_since)
        except Exception as error:
            self.log.warning("Could not save the log cursor (%s); trying again at the next look at the job", error)
            return
        self._unsaved_lines = 0
        self._saved_runnable_since = runnable_since
        self._cursor_saved = True

    async def _drain_logs(self, follower: _JobFollower, snapshot: JobSnapshot, cursor: LogCursor) -> None:
        """Read the job's last lines: CloudWatch ingests them seconds after they were written."""
        stopped = (snapshot.stopped_at or time.time() * 1000) / 1000
        started = time.time()
        empty_reads = 0
        while self.stream_logs and time.time() - started < MAX_DRAIN_SECONDS:
            settled = time.time() >= stopped + INGESTION_LAG_SECONDS
            if empty_reads >= 2 and settled and follower.children_done():
                return
            await asyncio.sleep(DRAIN_INTERVAL_SECONDS)
            follower.take_child_updates()
            self._mask_environment(follower.jobs())
            read = await self._log_new_lines(follower.log_streams(), cursor)
            await self._save_state(cursor)
            empty_reads = empty_reads + 1 if read == 0 else 0  # a failed read proves nothing: read again
        if self._log_read_failures:
            self.log.warning(
                "The job's last lines could not be read from CloudWatch in %.0f s; they are in its log streams: %s",
                MAX_DRAIN_SECONDS,
                ", ".join(f"{stream.group}/{stream.name}" for stream in follower.log_streams()),
            )

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

    def _event(
        self, status: EventStatus, snapshot: JobSnapshot | None, cursor: LogCursor, message: str
    ) -> TriggerEvent:
        event = JobEvent(
            status=status,
            job_id=self.job_id,
            message=message,
            snapshot=snapshot,
            log_cursor=cursor.to_dict(),
            cursor_saved=self._cursor_saved,
            stopped=self._stop_guard.outcome in _STOPPED,
            stop_outcome=self._stop_guard.outcome,
        )
        return TriggerEvent(event.to_payload())  # type: ignore[no-untyped-call]


def _is_refusal(error: BaseException) -> bool:
    """An AWS answer that will not change by asking again (no permission, no such group, a bad request)."""
    from botocore.exceptions import ClientError

    from airflow_batch_plus.hooks.batch import retry_outcome

    return isinstance(error, ClientError) and retry_outcome(error) is None


class _JobFollower:
    """A job's watch plus, when its logs are wanted, the watches of an array's children or a job's nodes."""

    def __init__(self, poller: JobPoller, job_id: str, interval: float, *, with_children: bool):
        self.poller = poller
        self.interval = interval
        self.with_children = with_children
        self.watch: JobWatch = poller.watch(job_id, interval)
        self.children: dict[str, JobWatch] = {}
        self.latest: dict[str, JobSnapshot] = {}
        self.snapshot: JobSnapshot | None = None

    async def next(self, timeout: float | None) -> JobSnapshot:
        snapshot = await asyncio.wait_for(self.watch.next(), timeout=timeout)
        self.snapshot = snapshot
        if self.with_children and not self.children:
            for child_id in snapshot.child_job_ids():
                self.children[child_id] = self.poller.watch(child_id, self.interval)
        self.take_child_updates()
        return snapshot

    def take_child_updates(self) -> None:
        for child_id, watch in self.children.items():
            for update in watch.take_pending():
                if isinstance(update, JobSnapshot):
                    self.latest[child_id] = update
                    if update.is_done:
                        watch.close()

    def children_done(self) -> bool:
        return all(child_id in self.latest and self.latest[child_id].is_done for child_id in self.children)

    def jobs(self) -> list[JobSnapshot]:
        """The job and the children or nodes seen so far."""
        return [job for job in (self.snapshot, *self.latest.values()) if job is not None]

    def log_streams(self) -> list[LogStream]:
        """Every stream once. A job with children logs through them only: a multi-node parent reports its
        main node's stream as its own, and the node's copy carries the label (`[node 0]`) to show."""
        jobs = list(self.latest.values()) if self.children else [self.snapshot] if self.snapshot else []
        streams: dict[str, LogStream] = {}
        for job in jobs:
            for stream in job.log_streams:
                streams.setdefault(stream.key, stream)
        return list(streams.values())

    def close(self) -> None:
        self.watch.close()
        for watch in self.children.values():
            watch.close()
