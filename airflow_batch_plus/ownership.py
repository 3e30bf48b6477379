"""Whose a Batch job is, and the one place that decides whether an ending task stops it.

A job belongs to the task try that submitted it, or that followed it after an earlier try left it live.
The operator names and tags it after the task (`derived_job_name`, `job_tags`); `is_mine` reads the
tags back, for a retry looking for its job and for the run callback. Pure, no I/O, cheap to import.

Stopping: whatever ends a task (its `execute` failing, a kill, a resume after a failed wait, the
trigger's deadline or its own failure, a user's action on a deferred task), the operator and the trigger
hand the exit to their job's `StopGuard`. It says whether the stop policy is applied, or why not (`Hold`),
and makes sure it is applied once. docs/operators.md's exit-path table names, row by row, the
`ExitPath` each way a task ends takes and the `Hold` that keeps the job, if any;
tests/unit/test_ownership.py holds the two together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Protocol

from airflow_batch_plus.jobs import StopOutcome, StopPolicy, make_job_name, trim_reason

TAG_PREFIX = "airflow-batch-plus:"
DAG_ID_TAG = f"{TAG_PREFIX}dag-id"
TASK_ID_TAG = f"{TAG_PREFIX}task-id"
RUN_ID_TAG = f"{TAG_PREFIX}run-id"
MAP_INDEX_TAG = f"{TAG_PREFIX}map-index"
TRY_NUMBER_TAG = f"{TAG_PREFIX}try-number"
MAX_TRIES_TAG = f"{TAG_PREFIX}max-tries"
_TAG_VALUE_UNSAFE = str.maketrans({character: "_" for character in "\"'#%&*;<>?[\\]^`{|}~,!$()"})


class TaskTry(Protocol):
    """What ownership reads of a task instance (the Task SDK's RuntimeTaskInstance has it all)."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int | None
    try_number: int
    max_tries: int


def tag_value(value: object) -> str:
    """`value` as a Batch tag value: at most 256 characters, none that tag values refuse.

    A retry looking for its job and the run callback compare a run id with its tag through this too."""
    return str(value).translate(_TAG_VALUE_UNSAFE)[:256]


def job_tags(ti: TaskTry, user_tags: Mapping[str, str] | None = None) -> dict[str, str]:
    """The tags a task's job carries: the user's, then the task's own, which reattach and `is_mine` read."""
    tags = {
        **(user_tags or {}),
        DAG_ID_TAG: ti.dag_id,
        TASK_ID_TAG: ti.task_id,
        RUN_ID_TAG: ti.run_id,
        MAP_INDEX_TAG: str(ti.map_index),
        TRY_NUMBER_TAG: str(ti.try_number),
        MAX_TRIES_TAG: str(ti.max_tries),
    }
    return {key: tag_value(value) for key, value in tags.items()}


def derived_job_name(ti: TaskTry) -> str:
    """The job name a task gives its job unless `job_name` is set: the same on every try, so a retry
    finds an earlier try's job by name (ListJobs' JOB_NAME filter)."""
    return make_job_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)


def is_mine(tags: Mapping[str, str], dag_id: str, run_id: str, *, task: TaskTry | None = None) -> bool:
    """Whether a job's tags say the DAG run (and, given `task`, that task instance) submitted it.

    Anything else in a queue, even a job of the same name, belongs to somebody else: never follow or stop it."""
    if tags.get(DAG_ID_TAG) != dag_id or tags.get(RUN_ID_TAG) != tag_value(run_id):
        return False
    return task is None or (tags.get(TASK_ID_TAG) == task.task_id and tags.get(MAP_INDEX_TAG) == str(task.map_index))


def task_stop_reason(ti: TaskTry | None, dag_id: str, task_id: str) -> str:
    """Who asks, at the start of every stop reason a task gives Batch: DAG, task (and map index), run, try."""
    if ti is None:
        return f"Stopped by Airflow task {dag_id}.{task_id}"
    mapped = f"[{ti.map_index}]" if ti.map_index is not None and ti.map_index >= 0 else ""
    return f"Stopped by Airflow: dag {ti.dag_id}, task {ti.task_id}{mapped}, run {ti.run_id}, try {ti.try_number}"


def kill_switch_stop_reason(ti: TaskTry) -> str:
    """The stop reason of a job the kill switch (`BatchStopJobsOperator`) stops, unless its task gives one."""
    return f"Stopped by Airflow kill switch: dag {ti.dag_id}, task {ti.task_id}, run {ti.run_id}"


def sensor_keep_reason(ti: TaskTry) -> str:
    """What a job sensor's trigger would say if it stopped the job: it never does (the keep policy), for
    it did not submit the job. Its trigger still needs a reason, and this one says whose it is not."""
    return f"Left running by sensor {ti.dag_id}.{ti.task_id} (run {ti.run_id}), which does not own it"


def run_stop_reason(dag_id: str, run_id: str, why: str) -> str:
    """The stop reason of a job stopped because its whole DAG run failed (the run callback)."""
    return trim_reason(f"Stopped by Airflow: dag {dag_id}, run {run_id} failed ({why})")


class ExitPath(StrEnum):
    """Each way the end of a task reaches its job, by who sees it."""

    FAILED_IN_WORKER = "failed_in_worker"
    """The operator's `execute` raised after the job was known (execution_timeout in a worker, an AWS error,
    a bug of ours, the last try of a task whose worker died without it)."""
    KILLED_IN_WORKER = "killed_in_worker"
    """The operator's `on_kill`: the task was marked, cleared, terminated or its run timed out while it
    waited in a worker."""
    RESUMED_AFTER_FAILURE = "resumed_after_failure"
    """The operator resumed after a trigger event other than the job's success (failed, error, stuck)."""
    RESUMED_AFTER_TIMEOUT = "resumed_after_timeout"
    """The operator resumed after the trigger's timeout event (execution_timeout while deferred)."""
    DEADLINE_PASSED = "deadline_passed"
    """The trigger's deadline (the task's execution_timeout, a sensor's timeout) passed."""
    STUCK_IN_RUNNABLE = "stuck_in_runnable"
    """The trigger saw the job RUNNABLE for longer than max_runnable_time."""
    TRIGGER_FAILED = "trigger_failed"
    """The trigger's wait failed (AWS errors past retries, a vanished job, a bug)."""
    KILLED_WHILE_DEFERRED = "killed_while_deferred"
    """The trigger's `on_kill`: a user's action or a run timeout ended the deferred task, or (Airflow 3.3)
    a stalled triggerer woke to find its triggers handed to another."""


class Hold(StrEnum):
    """Why the stop policy is not applied on an exit path: somebody else has the job, or nothing is left to do."""

    ALREADY_APPLIED = "the stop policy was applied already"
    JOB_ENDED = "the job has ended"
    TRIGGER_OWNS_IT = "the task has deferred, and its trigger follows it"
    RETRY_FOLLOWS = (
        "this task process outlived the worker that ran it; Airflow retries the task, and the retry follows the job"
    )
    SUPERVISOR_LOST = "this process outlived its supervisor; another triggerer or the task's retry follows the job"
    HANDED_OVER = "this trigger was handed to another triggerer, which follows the job"
    TASK_STATE_UNKNOWN = "whether the task ended or its trigger only moved to another triggerer is unknown"


class TaskLeft(StrEnum):
    """What Airflow said, when asked by a killed trigger, about its task instance (triggers/handover.py)."""

    ENDED = "ended"
    HANDED_OVER = "handed over"
    UNKNOWN = "unknown"


class StopGuard:
    """The stop policy of one task's job, applied once, on whichever exit path comes first.

    One guard per job an operator run or a trigger follows, made once the job is known (before, no exit
    has anything to stop). An exit `claim`s the stop: the guard says what holds the job
    (`Hold`, logged) or claims it, so that a second exit at the same time (a worker's `on_kill` from a
    signal handler while `execute` unwinds) does not stop the job twice; the exit then makes the stop call
    and reports it with `stopped` or `failed`. A failed call releases the claim: a later exit may try
    again. `apply` does all three for a caller that may block (the operator); a trigger makes the same
    call in a thread between `claim` and `stopped`.
    """

    def __init__(self, job_id: str, policy: StopPolicy | str, reason_prefix: str, log: Any) -> None:
        self.job_id = job_id
        self.policy = StopPolicy.parse(policy)
        self.reason_prefix = reason_prefix
        self.log = log
        self.outcome: StopOutcome | None = None
        self.handed_to_trigger = False
        self._settled = False  # applied or claimed
        self._job_ended = False
        self._lock = threading.Lock()

    # What others did

    def hand_to_trigger(self) -> None:
        """From here the trigger owns the job: a signal reaching the worker while Airflow finishes the
        deferral (a scheduler stopping its workers) must not stop it."""
        self.handed_to_trigger = True

    def note_event(self, *, stopped: bool, job_ended: bool) -> None:
        """What the trigger's event says: it applied the policy (`stopped`), or the job has ended."""
        self._settled = self._settled or stopped
        self._job_ended = self._job_ended or job_ended

    # Deciding

    def hold(
        self,
        path: ExitPath,
        *,
        supervisor_lost: bool = False,
        retry_to_come: bool = False,
        task_left: TaskLeft | None = None,
    ) -> Hold | None:
        """Why the policy is not applied on `path`, or None to apply it.

        `supervisor_lost`: the process running this (a worker's task process, a triggerer's trigger)
        outlived the process that supervised it (airflow_batch_plus/orphans.py). `retry_to_come`: the task
        has tries left. `task_left`: for a killed trigger, what Airflow said about its task instance (None
        with the keep policy, which needs no answer, or outside a triggerer)."""
        if self._job_ended:
            return Hold.JOB_ENDED
        if self._settled:
            return Hold.ALREADY_APPLIED
        if path is ExitPath.KILLED_IN_WORKER and self.handed_to_trigger:
            return Hold.TRIGGER_OWNS_IT
        if supervisor_lost:
            if path in (ExitPath.FAILED_IN_WORKER, ExitPath.KILLED_IN_WORKER):
                return Hold.RETRY_FOLLOWS if retry_to_come else None  # the last try: nobody else will stop it
            return Hold.SUPERVISOR_LOST
        if path is ExitPath.KILLED_WHILE_DEFERRED:
            if task_left is TaskLeft.HANDED_OVER:
                return Hold.HANDED_OVER
            if task_left is TaskLeft.UNKNOWN:
                return Hold.TASK_STATE_UNKNOWN
        return None

    def needs_task_verdict(self, path: ExitPath) -> bool:
        """Whether a killed trigger must ask Airflow about its task first: only when a stop is at stake."""
        return (
            path is ExitPath.KILLED_WHILE_DEFERRED
            and self.policy is not StopPolicy.KEEP
            and not (self._settled or self._job_ended)
        )

    # Applying

    def claim(
        self,
        path: ExitPath,
        why: str,
        *,
        supervisor_lost: bool = False,
        retry_to_come: bool = False,
        task_left: TaskLeft | None = None,
    ) -> Hold | None:
        """What holds the job on `path` (logged), or None: the stop is this exit's to make."""
        with self._lock:
            held = self.hold(path, supervisor_lost=supervisor_lost, retry_to_come=retry_to_come, task_left=task_left)
            if held is None:
                self._settled = True
        if held is Hold.TRIGGER_OWNS_IT:
            self.log.info("Not stopping Batch job %s: %s (%s)", self.job_id, held.value, why)
        elif held in (Hold.RETRY_FOLLOWS, Hold.SUPERVISOR_LOST):
            self.log.warning("Not stopping Batch job %s: %s (%s)", self.job_id, held.value, why)
        # ALREADY_APPLIED, JOB_ENDED: nothing at stake. HANDED_OVER, TASK_STATE_UNKNOWN: the trigger
        # logs what Airflow told it (and, if unknown, how to stop the job by hand): triggers/batch.py.
        return held

    def reason(self, why: str) -> str:
        """The reason Batch records: who asks, then why."""
        return trim_reason(f"{self.reason_prefix}: {why}")

    def stopped(self, outcome: StopOutcome, why: str) -> None:
        """The stop call answered: what it did to the job."""
        self.outcome = outcome
        if outcome is StopOutcome.KEPT:
            self.log.info("Leaving Batch job %s as it is (stop_policy=keep): %s", self.job_id, why)
        else:
            self.log.info(
                "Batch job %s: %s (stop_policy=%s): %s", self.job_id, outcome.value, self.policy.value, self.reason(why)
            )

    def failed(self, error: BaseException) -> None:
        """The stop call failed: a later exit may try again."""
        with self._lock:
            self._settled = False
        self.log.error("Could not stop Batch job %s per stop_policy=%s: %s", self.job_id, self.policy.value, error)

    def apply(
        self,
        stop: Callable[[str, StopPolicy, str], Any],
        path: ExitPath,
        why: str,
        *,
        supervisor_lost: bool = False,
        retry_to_come: bool = False,
    ) -> Hold | StopOutcome | None:
        """Claim, stop with `stop(job_id, policy, reason)` (`BatchHook.stop_job`), report. Never raises:
        what held the job, what the stop did, or None if it failed."""
        held = self.claim(path, why, supervisor_lost=supervisor_lost, retry_to_come=retry_to_come)
        if held is not None:
            return held
        try:
            result = stop(self.job_id, self.policy, self.reason(why))
        except Exception as error:
            self.failed(error)
            return None
        self.stopped(result.outcome, why)
        return self.outcome
