"""The trigger's side of ending its task in the triggerer once the job has ended (when: airflow_batch_plus/ending.py).

It does what the submit operator's `execute_complete` does for an ended job, in the same order and with
the same task log lines, so a task reads the same whichever process ended it: the log links (logged,
and pushed as XComs), the saved log cursor deleted, then on success the children summary, "Batch job
... SUCCEEDED" and the snapshot as the return value; on failure the same message (status reason, exit
code, container reason, last log lines), logged as the task's error.

How Airflow takes each event (airflow/models/trigger.py, `handle_event_submit` for `BaseTaskEndEvent`):
a `TaskSuccessEvent` sets the task instance SUCCESS and pushes its `xcoms`, key by key, into the
metadata database; a `TaskFailedEvent` sends the task UP_FOR_RETRY (tries left) or FAILED, as a
worker's failure does, since Airflow 3.3.1 (apache/airflow#69821; 3.3.0 failed it for good, so there
the failure resumes in a worker), but drops the event's `xcoms` when the task is to be retried. So a
failure pushes its link XComs itself (`XCom.aset`, as the log cursor is saved), before its event.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent

from airflow_batch_plus import links
from airflow_batch_plus.waiting import Outcome, failure_message, is_tolerated, within_tolerance

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from airflow_batch_plus.ending import TaskEnding
    from airflow_batch_plus.triggers.checkpoint import TaskKey
    from airflow_batch_plus.triggers.poller import JobPoller
    from airflow_batch_plus.waiting import JobEvent

RETURN_VALUE_KEY = "return_value"  # BaseXCom.XCOM_RETURN_KEY, without importing it in the event loop's path
FIRST_AIRFLOW_FAILING_WITH_RETRIES = (3, 3, 1)
"""The first Airflow whose triggerer honours a task's retries on a `TaskFailedEvent` (apache/airflow#69821)."""


def failure_honours_retries(version: str | None = None) -> bool:
    """Whether this Airflow (the triggerer's, which handles the event) retries a task its trigger failed."""
    if version is None:
        from airflow import __version__

        version = str(__version__)
    numbers: list[int] = []
    for part in version.split(".")[:3]:
        digits = "".join(character for character in part if character.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers) >= FIRST_AIRFLOW_FAILING_WITH_RETRIES


async def end_event(
    event: JobEvent, ending: TaskEnding, task: TaskKey, poller: JobPoller, log: Logger
) -> TriggerEvent | None:
    """The event that ends the task for ended-job `event`, or None: the task resumes in a worker with `event`.

    None also for an event whose job has not ended (timeout, stuck, a failed wait): the worker then
    applies the stop policy again if the trigger's stop call failed."""
    snapshot = event.ended_job
    if snapshot is None:
        return None
    succeeded = event.outcome is Outcome.JOB_SUCCEEDED or within_tolerance(snapshot, ending.tolerated_failures)
    if not (ending.success if succeeded else ending.failure and failure_honours_retries()):
        return None
    if event.cursor_saved:
        await _forget_saved_cursor(task, event.job_id, log)
    link_xcoms = await asyncio.to_thread(links.log_link_xcoms, lambda: poller.batch_hook, snapshot, log)
    if succeeded:
        if event.outcome is not Outcome.JOB_SUCCEEDED:
            is_tolerated(snapshot, ending.tolerated_failures, log)  # says so, as the worker would
        if snapshot.is_array_parent:
            log.info("Array job %s children: %s", snapshot.job_id, dict(snapshot.status_summary))
        log.info("Batch job %s %s", snapshot.job_id, snapshot.status.value)
        xcoms: dict[str, Any] = dict(link_xcoms)
        if ending.push_return_value:
            xcoms[RETURN_VALUE_KEY] = snapshot.to_dict()
        return TaskSuccessEvent(xcoms=xcoms)
    message = await asyncio.to_thread(
        failure_message, event, snapshot, job_id=event.job_id, logs_hook=lambda: poller.logs_hook, log=log
    )
    await _push(task, link_xcoms, log)
    log.error("Task failed: %s", message)
    return TaskFailedEvent()


async def _forget_saved_cursor(task: TaskKey, job_id: str, log: Logger) -> None:
    """The saved log cursor has done its job, as the worker's resume would delete it."""
    from airflow_batch_plus.triggers.checkpoint import CursorCheckpoint

    try:
        await CursorCheckpoint(task, job_id).aclear()
    except Exception as error:  # harmless: a new try clears it, and it names this job only
        log.warning("Could not delete the saved log cursor: %s", error)


async def _push(task: TaskKey, xcoms: dict[str, Any], log: Logger) -> None:
    """Push `xcoms` as the task's, best effort, as `links.persist` does in a worker."""
    from airflow.sdk.execution_time.xcom import XCom

    for key, value in xcoms.items():
        try:
            await XCom.aset(
                key, value, dag_id=task.dag_id, task_id=task.task_id, run_id=task.run_id, map_index=task.map_index
            )
        except Exception as error:
            log.warning("Could not save the console link %s (the job is not affected): %s", key, error)
