"""`stop_batch_jobs`: an `on_failure_callback` that stops every live Batch job a DAG run submitted.

Task-level exits (kill, mark, clear, timeouts) are handled by the operator and its trigger. This is
for what ends a whole run from outside its tasks, like `dagrun_timeout`: the run's tasks may be cut
off while their jobs go on.

Jobs are found from what each task recorded when it submitted, whatever its queue looked like in the
DAG file: the `batch_job_id` XCom of every task instance of the run (each map index of a mapped task).
Airflow 3 runs a DAG's callbacks in the DAG processor, which serves the Task SDK's XCom reads, so the
callback reads them there as a task would. As a backstop for a task cut off between SubmitJob and its
XCom write, the queues written literally in the DAG file are also listed for jobs created since the run
started. Whichever way a job is found, it is stopped only if its tags (`airflow-batch-plus:dag-id` and
`run-id`) say it belongs to this run.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from airflow_batch_plus.jobs import StopPolicy

log = logging.getLogger(__name__)

# Jobs are listed from a little before the run started: clocks differ between Airflow and AWS.
CLOCK_SKEW = timedelta(minutes=5)
# The task types whose task instances record a Batch job (the DAG as Airflow serialised it names them).
SUBMITTING_TASK_TYPES = frozenset({"BatchSubmitJobOperator"})
# The operator class those are, or a subclass of, by its import path: a callback imports no operator module.
SUBMITTING_CLASS = "airflow_batch_plus.operators.batch.BatchSubmitJobOperator"


def stop_batch_jobs(context: Any, stop_policy: str = "terminate") -> dict[str, str]:
    """Stop every live job the context's DAG run submitted; returns the outcome for each job.

    Use it as is (``on_failure_callback=stop_batch_jobs``) or with another policy
    (``functools.partial(stop_batch_jobs, stop_policy="cancel")``). It never raises: a callback
    that fails helps nobody, so problems are logged.
    """
    from airflow_batch_plus.hooks.batch import BatchHook
    from airflow_batch_plus.jobs import JobSnapshot
    from airflow_batch_plus.ownership import is_mine, run_stop_reason

    policy = StopPolicy.parse(stop_policy)
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = str(getattr(dag_run, "dag_id", None) or getattr(dag, "dag_id", ""))
    run_id = str(getattr(dag_run, "run_id", None) or context.get("run_id") or "")
    if not dag_id or not run_id:
        log.error("stop_batch_jobs: the callback's context names no DAG run; nothing stopped")
        return {}
    start = getattr(dag_run, "start_date", None) or getattr(dag_run, "logical_date", None)
    since = int((start - CLOCK_SKEW).timestamp() * 1000) if start is not None else None
    reason = run_stop_reason(dag_id, run_id, str(context.get("reason", "failure")))

    # Jobs grouped by how their tasks reach AWS: connection, region, botocore config (as JSON, to be a key).
    recorded: dict[tuple[str | None, str | None, str], set[str]] = defaultdict(set)
    queues: dict[tuple[str | None, str | None, str], set[str]] = defaultdict(set)
    for task in _submitting_tasks(getattr(dag, "tasks", ()) or ()):
        try:
            where = (
                _rendered(task, "aws_conn_id", "aws_default", context),
                _rendered(task, "region_name", None, context),
                json.dumps(_rendered(task, "botocore_config", None, context), sort_keys=True, default=str),
            )
        except Exception as error:
            log.warning(
                "Cannot tell which connection task %s of %s used (%s); not searched", task.task_id, dag_id, error
            )
            continue
        ids = _recorded_job_ids(dag_id, task.task_id, run_id)
        log.info("Task %s of %s run %s recorded Batch job(s): %s", task.task_id, dag_id, run_id, ids or "none")
        recorded[where].update(ids)
        try:
            queue = _rendered(task, "job_queue", None, context)
        except Exception as error:  # the recorded job ids are what counts; the queue is only a backstop
            log.info("Not listing the queue of task %s of %s (%s)", task.task_id, dag_id, error)
            continue
        if queue:
            queues[where].add(str(queue))
    outcomes: dict[str, str] = {}
    for where in sorted({*recorded, *queues}, key=str):
        aws_conn_id, region_name, config = where
        try:
            hook = BatchHook(aws_conn_id=aws_conn_id, region_name=region_name, config=json.loads(config))
            candidates = set(recorded[where])
            for name in sorted(queues[where]):
                candidates.update(job.job_id for job in hook.list_live_jobs(name, created_after=since))
            mine = [
                snapshot
                for snapshot in hook.describe_jobs(sorted(candidates)).jobs.values()
                if is_mine(snapshot.tags, dag_id, run_id) and not snapshot.is_done
            ]
            results = hook.stop_jobs(list[str | JobSnapshot](mine), policy, reason)
        except Exception:
            log.exception("Could not stop the Batch jobs of %s run %s (connection %s)", dag_id, run_id, aws_conn_id)
            continue
        outcomes.update({job_id: result.outcome.value for job_id, result in results.items()})
    log.info("Stopped the live Batch jobs of %s run %s: %s", dag_id, run_id, outcomes or "none")
    return outcomes


def _submitting_tasks(tasks: Iterable[Any]) -> list[Any]:
    """The tasks that submit Batch jobs: the DAG as parsed (operators, mapped or not), or as Airflow
    serialised it (`dag.test()` hands the callback that one)."""
    found = []
    for task in tasks:
        operator_class = getattr(task, "operator_class", None)  # a mapped task: the class it expands
        if (
            _is_submitting_class(type(task))
            or (isinstance(operator_class, type) and _is_submitting_class(operator_class))
            or getattr(task, "task_type", "") in SUBMITTING_TASK_TYPES
        ):
            found.append(task)
    return found


def _is_submitting_class(cls: type) -> bool:
    """`cls` is the submit operator or a subclass of it (what `issubclass` says), read from its class
    hierarchy by name rather than by importing the operator module."""
    return any(f"{base.__module__}.{base.__qualname__}" == SUBMITTING_CLASS for base in cls.__mro__)


def _recorded_job_ids(dag_id: str, task_id: str, run_id: str) -> list[str]:
    """The `batch_job_id` XCom of each of the task's instances in the run (every map index)."""
    from airflow_batch_plus.reattach import JOB_ID_XCOM_KEY

    where = {"key": JOB_ID_XCOM_KEY, "dag_id": dag_id, "task_id": task_id, "run_id": run_id}
    try:
        try:
            from airflow.sdk.execution_time.xcom import XCom

            values = XCom.get_all(**where)  # through the Task SDK: the DAG processor serves it
        except ImportError:  # this process has no Task SDK channel
            values = _from_the_database(**where)
    except Exception as error:
        log.warning("Could not read the job ids task %s of %s run %s recorded: %s", task_id, dag_id, run_id, error)
        return []
    return [str(value) for value in values or () if value]


def _from_the_database(key: str, dag_id: str, task_id: str, run_id: str) -> list[Any]:
    """`dag.test()` runs a DAG's callbacks in its own process, which has no Task SDK channel to ask but
    has the metadata database (a DAG processor, where real runs call back, has the channel)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run_id, key=key, dag_ids=dag_id, task_ids=task_id)
        return [XComModel.deserialize_value(row) for row in session.scalars(query).all()]


def _rendered(task: Any, field: str, default: Any, context: Any) -> Any:
    """The task's `field` as the DAG file wrote it, or rendered with the callback's context if it is a
    template (raises if it cannot be: the callback's context may lack what the template reads)."""
    partial = getattr(task, "partial_kwargs", None)  # a mapped task: what `partial()` was given
    value = partial.get(field, default) if isinstance(partial, dict) else getattr(task, field, default)
    if not (isinstance(value, str) and "{" in value):
        return value
    rendered = task.render_template(value, context)
    if not isinstance(rendered, str) or "{{" in rendered:
        raise ValueError(f"{field}={value!r} did not render")
    return rendered
