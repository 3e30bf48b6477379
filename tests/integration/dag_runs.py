"""Helpers of the integration tests: run a DAG with `dag.test()`, find and watch its Batch jobs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def run_dag(dag_id: str, logical_date: Any = None, **conf: Any) -> Any:
    """Run one DAG run of `dag_id` with `dag.test()` (the real task runner, triggers run in line).

    Given the `logical_date` of an earlier run, `dag.test()` clears that run's tasks and runs them again.
    """
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(dag_id)
    assert dag is not None, f"no DAG {dag_id}"
    if logical_date is None:
        return dag.test(run_conf=conf)
    return dag.test(run_conf=conf, logical_date=logical_date, run_after=logical_date)


def jobs_named_like(batch: Any, prefix: str) -> list[dict[str, Any]]:
    """Every job in local-queue whose name starts with `prefix`, any status, described."""
    summaries = batch.list_jobs(jobQueue="local-queue", filters=[{"name": "JOB_NAME", "values": [f"{prefix}*"]}])
    ids = [summary["jobId"] for summary in summaries["jobSummaryList"]]
    return list(batch.describe_jobs(jobs=ids)["jobs"]) if ids else []


def xcoms(run: Any, task_id: str = "job") -> dict[str, Any]:
    """Every XCom the task pushed in `run`, by key, deserialised."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id)).all()
        return {row.key: XComModel.deserialize_value(row) for row in rows}


class _EndedInTriggerer(BaseException):
    """Carries a trigger's task-end event out of `dag.test()`'s task loop, which would resume the task with it."""

    def __init__(self, event: Any) -> None:
        super().__init__(event)
        self.event = event


@contextmanager
def triggerer_ends_tasks() -> Iterator[list[str]]:
    """`dag.test()` taking a trigger's task-end event as a triggerer does; yields the ids of tasks so ended.

    `dag.test()` runs a trigger without a task instance and resumes the task with whatever event comes
    (airflow/sdk/definitions/dag.py, `_run_task`), where a triggerer gives the trigger its task instance
    and hands a `TaskSuccessEvent` / `TaskFailedEvent` to `handle_event_submit` (airflow/models/trigger.py),
    which ends the task instance. Here the trigger gets the task instance, and an end event goes to that
    very function of Airflow's, with the task instance DEFERRED as in a triggerer; the in-process comms get
    the `asend` a triggerer's have (the trigger saves its log cursor and pushes XComs with it).
    """
    from unittest import mock

    import airflow.sdk.definitions.dag as dag_module
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import handle_event_submit
    from airflow.sdk.execution_time.supervisor import InProcessSupervisorComms
    from airflow.triggers.base import BaseTaskEndEvent
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    run_inline_trigger, run_task = dag_module._run_inline_trigger, dag_module._run_task
    ended: list[str] = []

    def inline_trigger(trigger: Any, task_sdk_ti: Any) -> Any:
        trigger.task_instance = task_sdk_ti
        event = run_inline_trigger(trigger, task_sdk_ti)
        if isinstance(event, BaseTaskEndEvent):
            raise _EndedInTriggerer(event)
        return event

    def task_run(*, ti: Any, task: Any, run_triggerer: bool = False) -> Any:
        try:
            return run_task(ti=ti, task=task, run_triggerer=run_triggerer)
        except _EndedInTriggerer as end:
            with create_session() as session:
                deferred = session.get(TaskInstance, ti.id)
                deferred.state = TaskInstanceState.DEFERRED
                handle_event_submit(end.event, task_instance=deferred, session=session)
            ended.append(f"{ti.task_id}[{ti.map_index}]: {end.event.task_instance_state}")
            return None

    async def asend(self: Any, msg: Any) -> Any:
        return self.send(msg)

    with (
        mock.patch.object(dag_module, "_run_inline_trigger", inline_trigger),
        mock.patch.object(dag_module, "_run_task", task_run),
        mock.patch.object(InProcessSupervisorComms, "asend", asend, create=True),
    ):
        yield ended
