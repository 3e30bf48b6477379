"""Whether a trigger's `on_kill` means "the task ended" or only "another triggerer has this trigger now".

Airflow 3.3's triggerer cancels a trigger with the same user-action message, and so calls `on_kill`, in
two very different cases: a person or Airflow ended the deferred task (marked it failed or success,
cleared it), and a triggerer that stalled past `[triggerer] triggerer_health_check_threshold` waking to
find its triggers reassigned to another triggerer (apache/airflow pull request 73454). Stopping the job
in the second case kills a job that the other triggerer is following for a task that still wants it.

The two are told apart by asking Airflow (the triggerer serves the Task SDK's task-state and XCom
requests to its triggers) what became of the task instance:

| the task instance is | and its `batch_job_id` XCom | verdict |
| --- | --- | --- |
| deferred | names this trigger's job | handed over: leave the job alone |
| deferred | names another job, or none | ended: a new try (after a clear) waits on a job of its own |
| anything else (failed, success, up for retry, queued, running, none, removed) | any | ended |
| not readable within the budget (8 s) | | unknown: the job is left alone, with an error saying how to stop it |

XComs are cleared when a new try starts and the operator pushes `batch_job_id` before it defers, so a
deferred task instance whose XCom names this job is waiting on this job in the try that deferred it.

Why "unknown" leaves the job alone: the triggerer learns of the cancellation from the same metadata
database that answers the task-state request, so the request fails only in a transient outage of
Airflow itself, which is also when hand-overs happen. A wrong stop kills a job somebody still wants and
cannot be undone; a wrong keep leaves a job running that the error names, which the kill switch
(`BatchStopJobsOperator`) or the console stops, and which ends on its own at its Batch timeout.
"""

from __future__ import annotations

import asyncio
import logging
from enum import Enum
from typing import Any

from airflow_batch_plus.reattach import JOB_ID_XCOM_KEY
from airflow_batch_plus.triggers.checkpoint import TaskKey

log = logging.getLogger(__name__)

DEFERRED = "deferred"
# How long `on_kill` may spend asking. The triggerer answers a trigger's request only between the database
# work of its loop, which on a busy SQLite or Postgres can hold it for seconds, so a read is given the whole
# budget rather than cut short and asked again behind itself. With the stop's own bound
# (STOP_TIMEOUT_SECONDS, 20 s) it stays inside the triggerer's `[triggerer] on_kill_timeout` (30 s).
JUDGE_BUDGET_SECONDS = 8.0
# Between reads that failed outright (an error, not slowness), while the budget lasts.
RETRY_WAITS_SECONDS = (0.5, 1.0, 2.0)


class Verdict(Enum):
    """What a trigger's `on_kill` learned about its task instance."""

    HANDED_OVER = "handed over"  # still deferred on this job: another triggerer follows it
    ENDED = "ended"  # a person or Airflow ended the deferral: stop per policy
    UNKNOWN = "unknown"  # Airflow could not be asked


def verdict(state: str | None, waited_job_id: object, job_id: str) -> Verdict:
    """The verdict for a task instance in `state` whose `batch_job_id` XCom holds `waited_job_id`."""
    if state == DEFERRED and waited_job_id == job_id:
        return Verdict.HANDED_OVER
    return Verdict.ENDED


def state_key(task: TaskKey) -> str:
    """How Airflow's task-states answer names a task instance: `task_id`, or `task_id_<map index>` if mapped."""
    return task.task_id if task.map_index < 0 else f"{task.task_id}_{task.map_index}"


async def read_task_state(task: TaskKey) -> str | None:
    """The task instance's state, through the triggerer (the Task SDK's GetTaskStates request)."""
    from airflow.sdk.execution_time.comms import GetTaskStates, TaskStatesResult
    from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

    answer = await SUPERVISOR_COMMS.asend(
        GetTaskStates(dag_id=task.dag_id, task_ids=[task.task_id], run_ids=[task.run_id], map_index=task.map_index)
    )
    if not isinstance(answer, TaskStatesResult):
        raise RuntimeError(f"unexpected answer to GetTaskStates: {type(answer).__name__}")
    states: dict[str, Any] = answer.task_states.get(task.run_id) or {}
    state = states.get(state_key(task))
    return None if state is None else str(getattr(state, "value", state))


async def read_waited_job_id(task: TaskKey) -> object:
    """The job id the task instance's current try recorded in XCom before it deferred (None if none)."""
    from airflow.sdk.execution_time.xcom import XCom

    where = {"dag_id": task.dag_id, "task_id": task.task_id, "run_id": task.run_id, "map_index": task.map_index}
    return await XCom.aget_one(key=JOB_ID_XCOM_KEY, **where)


async def judge(task: TaskKey, job_id: str, budget: float | None = None) -> tuple[Verdict, str]:
    """Ask Airflow what became of `task`, again after a failed read, within `budget` seconds (by default
    JUDGE_BUDGET_SECONDS); the verdict and what was seen."""
    budget = JUDGE_BUDGET_SECONDS if budget is None else budget
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    errors: list[str] = []
    attempt = 0
    while (remaining := deadline - loop.time()) > 0:
        try:
            state = await asyncio.wait_for(read_task_state(task), remaining)
            waited = None
            if state == DEFERRED:
                waited = await asyncio.wait_for(read_waited_job_id(task), max(deadline - loop.time(), 0.001))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
            wait = RETRY_WAITS_SECONDS[min(attempt, len(RETRY_WAITS_SECONDS) - 1)]
            attempt += 1
            await asyncio.sleep(min(wait, max(deadline - loop.time(), 0)))
            continue
        seen = f"the task instance is {state or 'without a state'}"
        if state == DEFERRED:
            seen += f", waiting on Batch job {waited}" if waited else ", with no Batch job recorded"
        return verdict(state, waited, job_id), seen
    tried = f"{len(errors)} read(s) in {budget:g} s" if errors else f"no answer in {budget:g} s"
    return Verdict.UNKNOWN, f"its state could not be read ({tried}: {'; '.join(errors) or 'TimeoutError'})"
