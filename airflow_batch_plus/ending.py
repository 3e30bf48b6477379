"""Whether a deferred submit task ends in the triggerer when its job ends, or resumes in a worker to end.

Airflow 3 lets a trigger end its task itself (`TaskSuccessEvent`, `TaskFailedEvent` in
airflow/triggers/base.py): the triggerer sets the task instance's state and pushes the event's XComs
(airflow/models/trigger.py, `handle_event_submit` for `BaseTaskEndEvent`), and no worker runs the task a
second time. For a thousand short jobs that second run is most of Airflow's work (docs/benchmarks.md).

But a task ended there skips what only a worker does when a task ends, so the operator lets the
trigger end its task only when nothing of that is wanted, and says what is (`worker_only`):

- on success, Airflow's DAG processor does not run `on_success_callback` (it runs failure callbacks
  only); no asset event is emitted for `outlets`; no `post_execute` hook runs; no task map is recorded
  for a downstream task mapped over the result; `multiple_outputs` is not split; the XComs go to the
  metadata database, not through a custom `[core] xcom_backend`;
- on failure, `on_failure_callback` and `on_retry_callback` would run in the DAG processor, without the
  task's exception in their context, and `email_on_failure` / `email_on_retry` would send nothing;
- no listener plugin (OpenLineage, say) hears of the task's success or failure; either way, XComs bypass a custom
  `[core] xcom_backend` (the triggerer writes them to the database, or deletes without the backend's purge).
- on failure, before Airflow 3.3.1 the task would not be retried (checked in the triggerer: triggers/task_end.py).

Only a job that has ended is ended in the triggerer: a timeout, a job stuck in RUNNABLE or a failed
wait resume in a worker, which tries the stop policy again if the trigger's stop call failed.

Cheap to import: the operator module imports it at DAG parse.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from airflow_batch_plus import CONFIG_SECTION


def default_end_from_trigger() -> bool:
    """`[batch_plus] end_from_trigger` (environment `AIRFLOW__BATCH_PLUS__END_FROM_TRIGGER`), true by default."""
    from airflow.sdk import conf

    return conf.getboolean(CONFIG_SECTION, "end_from_trigger", fallback=True)


@dataclass(frozen=True)
class TaskEnding:
    """What the trigger may end itself once the job has ended; anything else resumes in a worker.

    :param success: end the task successfully when the job SUCCEEDED (or its failed children are
        within `tolerated_failures`).
    :param failure: fail the task when the job FAILED (honouring its retries, as Airflow does).
    :param push_return_value: push the job's snapshot as the return value (the task's `do_xcom_push`).
    :param tolerated_failures: the operator's, for an array job's failed children.
    """

    success: bool
    failure: bool
    push_return_value: bool = True
    tolerated_failures: int | str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The trigger's `end_task` argument: plain JSON, serialized with the trigger."""
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None) -> TaskEnding | None:
        """A serialized `TaskEnding` back; unknown keys (from a newer provider) are ignored."""
        if not value:
            return None
        return cls(
            success=bool(value.get("success", False)),
            failure=bool(value.get("failure", False)),
            push_return_value=bool(value.get("push_return_value", True)),
            tolerated_failures=value.get("tolerated_failures"),
        )


@dataclass(frozen=True)
class WorkerOnly:
    """Why each ending of a task must happen in a worker (empty: the trigger may end it that way)."""

    success: tuple[str, ...]
    failure: tuple[str, ...]


def worker_only(task: Any) -> WorkerOnly:
    """What of `task` (a BaseOperator) only a worker does when it succeeds, or fails; see the module's doc."""
    both = ["a custom [core] xcom_backend is configured"] if _custom_xcom_backend() else []
    heard = "a listener plugin implements {} (it hears of a task's end in a worker only)"
    success = [
        *both,
        *([heard.format("on_task_instance_success")] if _listening("on_task_instance_success") else []),
        *(["on_success_callback is set (Airflow runs it in a worker only)"] if task.on_success_callback else []),
        *(["the task has outlets (their asset events are emitted by the worker)"] if task.outlets else []),
        *(["a post_execute hook is set"] if _has_post_execute(task) else []),
        *(["multiple_outputs is set"] if getattr(task, "multiple_outputs", False) else []),
        *(["a mapped task expands over its result"] if _has_mapped_dependants(task) else []),
    ]
    failure = [
        *both,
        *([heard.format("on_task_instance_failed")] if _listening("on_task_instance_failed") else []),
        *(["on_failure_callback is set"] if task.on_failure_callback else []),
        *(["on_retry_callback is set"] if task.on_retry_callback else []),
        *(["email_on_failure or email_on_retry is set"] if task.email and _emails(task) else []),
    ]
    return WorkerOnly(tuple(success), tuple(failure))


def plan(task: Any, *, enabled: bool, tolerated_failures: int | str | None) -> tuple[TaskEnding | None, WorkerOnly]:
    """The ending to hand the trigger (None: every ending resumes in a worker) and why the rest resume there."""
    if not enabled:
        return None, WorkerOnly((), ())
    why = worker_only(task)
    if why.success and why.failure:
        return None, why
    ending = TaskEnding(
        success=not why.success,
        failure=not why.failure,
        push_return_value=bool(task.do_xcom_push),
        tolerated_failures=tolerated_failures,
    )
    return ending, why


def _emails(task: Any) -> bool:
    return bool(getattr(task, "email_on_failure", False) or getattr(task, "email_on_retry", False))


def _has_post_execute(task: Any) -> bool:
    from airflow.sdk import BaseOperator

    if getattr(task, "_post_execute_hook", None) is not None:
        return True
    # The task runner's own test (airflow/sdk/execution_time/task_runner.py, `_execute_task`)
    return getattr(task.post_execute, "__func__", None) is not BaseOperator.post_execute


def _has_mapped_dependants(task: Any) -> bool:
    try:
        return next(task.iter_mapped_dependants(), None) is not None
    except Exception:  # a task outside a DAG (a unit test) has no dependants
        return False


def _custom_xcom_backend() -> bool:
    from airflow.sdk.bases.xcom import BaseXCom
    from airflow.sdk.execution_time.xcom import XCom

    return XCom is not BaseXCom


def _listening(hook: str) -> bool:
    """Whether a listener plugin implements `hook` (an example plugin does when `[core] load_examples` is on)."""
    try:
        from airflow.sdk.listener import get_listener_manager

        return bool(getattr(get_listener_manager().pm.hook, hook).get_hookimpls())
    except Exception:  # an SDK without the listener manager: assume one, and resume in the worker
        return True
