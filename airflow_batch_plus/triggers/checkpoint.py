"""Where a deferred task's log cursor and runnable clock survive a triggerer restart: an XCom of its task instance.

A triggerer rebuilds a trigger from the arguments it was deferred with. A cursor kept only in the
trigger would start again where the task deferred, and every line logged since would be logged twice.
So the trigger saves its cursor after each read that logged lines, and a rebuilt trigger starts from
the saved one: a restart repeats only lines logged after the last save (none, unless the triggerer
died between logging a read's lines and saving the cursor, or more jobs print than the save budget
covers). Saves are capped per process (`[batch_plus] log_cursor_saves_per_second`, 2 by default), so
thousands of printing jobs cost the API server a bounded number of writes; a skipped save is made at
a later read.

The same value carries the trigger's runnable clock (`runnable_since`: when it first saw the job RUNNABLE,
for `max_runnable_time`), so a rebuilt trigger ends a stuck job's wait at the original deadline rather than
timing it afresh. A value saved without it (an older version) still loads, with no clock.

XComs of a task instance survive its deferral and are cleared when a new try starts, so a saved cursor
never outlives the try that saved it; the cursor also names its job, and is ignored for any other.

The trigger loads and saves on the triggerer's event loop with the Task SDK's async XCom calls, never
from a thread: a thread's XCom call waits for the loop to relay it to the triggerer's supervisor, and one
still waiting when the triggerer stops holds up the triggerer's exit until it is killed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any

from airflow_batch_plus.hooks.budget import RequestBudget, shared_budget

log = logging.getLogger(__name__)

CURSOR_XCOM_KEY = "batch_log_cursor"
# Each save is an XCom write through the triggerer's supervisor and the API server: about 12 ms of the
# triggerer's CPU. At 20 a second, 1,000 printing jobs took 7 times the triggerer CPU of no saves (446 s
# against 65 s) and slowed the whole Airflow (docs/benchmarks.md). At 2 a second a cursor is saved after
# every read while fewer than about 10 jobs print; with more, each is saved every N / 2 seconds.
# `[batch_plus] log_cursor_saves_per_second` changes it.
SAVES_PER_SECOND = 2.0


def saves_per_second() -> float:
    from airflow.sdk import conf

    from airflow_batch_plus import CONFIG_SECTION

    return max(0.1, conf.getfloat(CONFIG_SECTION, "log_cursor_saves_per_second", fallback=SAVES_PER_SECOND))


@dataclass(frozen=True)
class TaskKey:
    """The task instance an XCom belongs to."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1

    @classmethod
    def of(cls, ti: Any) -> TaskKey | None:
        """The key of a task instance (the triggerer's or the task runner's), or None without one."""
        try:
            return cls(str(ti.dag_id), str(ti.task_id), str(ti.run_id), int(ti.map_index))
        except (AttributeError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class SavedState:
    """What a trigger saved for its job: the log cursor (`LogCursor.to_dict()`) and the runnable clock."""

    cursor: dict[str, Any]
    runnable_since: float | None = None


class CursorCheckpoint:
    """Load, save and clear the saved log cursor of one task instance's Batch job: `load` and `save` from a
    trigger (awaited on the triggerer's loop), `clear` from the task (a blocking call)."""

    def __init__(self, task: TaskKey, job_id: str, budget: RequestBudget | None = None):
        self.task = task
        self.job_id = job_id
        self.budget = budget if budget is not None else shared_budget("cursor-saves", rate=saves_per_second())

    async def load(self) -> SavedState | None:
        """The state saved for this job, or None (nothing saved, or saved for another job)."""
        from airflow.sdk.execution_time.xcom import XCom

        if hasattr(XCom, "aget_one"):
            saved = await XCom.aget_one(key=CURSOR_XCOM_KEY, **self._where())
        else:  # an older Task SDK, without async XCom calls
            saved = await asyncio.to_thread(functools.partial(XCom.get_one, key=CURSOR_XCOM_KEY, **self._where()))
        if not isinstance(saved, dict) or saved.get("job_id") != self.job_id:
            return None
        if not isinstance(saved.get("cursor"), dict):
            return None
        since = saved.get("runnable_since")  # absent from a value an older version saved
        return SavedState(dict(saved["cursor"]), float(since) if isinstance(since, (int, float)) else None)

    def due(self) -> bool:
        """Whether the process's save budget allows a save now (taking it if so). Never waits, no I/O."""
        return self.budget.try_acquire()

    async def save(self, cursor: dict[str, Any], runnable_since: float | None = None) -> None:
        """Save `cursor` and the runnable clock (ask `due()` first: the budget is the caller's to respect)."""
        from airflow.sdk.execution_time.xcom import XCom

        value = {"job_id": self.job_id, "cursor": cursor, "runnable_since": runnable_since}
        if hasattr(XCom, "aset"):
            await XCom.aset(CURSOR_XCOM_KEY, value, **self._where())
        else:  # an older Task SDK, without async XCom calls
            await asyncio.to_thread(functools.partial(XCom.set, CURSOR_XCOM_KEY, value, **self._where()))

    def clear(self) -> None:
        from airflow.sdk.execution_time.xcom import XCom

        XCom.delete(CURSOR_XCOM_KEY, **self._where())

    async def aclear(self) -> None:
        """`clear` from a trigger that ends its task (triggers/task_end.py), on the event loop: the Task SDK
        has no async XCom delete, so its message is sent as `XCom.delete` sends it (a custom XCom backend,
        whose `purge` this skips, keeps such tasks ending in a worker: ending.py)."""
        from airflow.sdk.execution_time.comms import DeleteXCom
        from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

        await SUPERVISOR_COMMS.asend(DeleteXCom(key=CURSOR_XCOM_KEY, **self._where()))

    def _where(self) -> dict[str, Any]:
        task = self.task
        return {"dag_id": task.dag_id, "task_id": task.task_id, "run_id": task.run_id, "map_index": task.map_index}
