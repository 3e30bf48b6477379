"""`stop_batch_jobs`: an `on_failure_callback` that stops every live Batch job a DAG run submitted.

Task-level exits (kill, mark, clear, timeouts) are handled by the operator and its trigger. This is
for what ends a whole run from outside its tasks, like `dagrun_timeout`: the run's tasks may be cut
off while their jobs go on. Jobs are found the way a human would find them: the queues the DAG's
BatchSubmitJobOperator tasks submit to, ListJobs for jobs created since the run started, and the
run's tags on each job (`airflow-batch-plus:dag-id` and `run-id`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from typing import Any

from airflow_batch_plus.jobs import StopPolicy

log = logging.getLogger(__name__)

# Jobs are listed from a little before the run started: clocks differ between Airflow and AWS.
CLOCK_SKEW = timedelta(minutes=5)


def stop_batch_jobs(context: Any, stop_policy: str = "terminate") -> dict[str, str]:
    """Stop every live job the context's DAG run submitted; returns the outcome for each job.

    Use it as is (``on_failure_callback=stop_batch_jobs``) or with another policy
    (``functools.partial(stop_batch_jobs, stop_policy="cancel")``). It never raises: a callback
    that fails helps nobody, so problems are logged.
    """
    from airflow_batch_plus.hooks.batch import BatchHook
    from airflow_batch_plus.jobs import JobSnapshot
    from airflow_batch_plus.operators.batch import BatchSubmitJobOperator
    from airflow_batch_plus.reattach import DAG_ID_TAG, RUN_ID_TAG

    policy = StopPolicy.parse(stop_policy)
    dag_run = context["dag_run"]
    dag = context.get("dag")
    tasks = list(getattr(dag, "tasks", ()) or ())
    start = getattr(dag_run, "start_date", None) or getattr(dag_run, "logical_date", None)
    since = int((start - CLOCK_SKEW).timestamp() * 1000) if start is not None else None
    reason = (
        f"Stopped by Airflow: dag {dag_run.dag_id}, run {dag_run.run_id} failed ({context.get('reason', 'failure')})"
    )

    queues: dict[tuple[str | None, str | None], set[str]] = defaultdict(set)
    for task in tasks:
        # The DAG as parsed (operators), or as Airflow serialised it (their template fields kept).
        submits = isinstance(task, BatchSubmitJobOperator) or getattr(task, "task_type", "") == "BatchSubmitJobOperator"
        queue = getattr(task, "job_queue", None)
        if submits and queue and "{{" not in str(queue):
            queues[(getattr(task, "aws_conn_id", "aws_default"), getattr(task, "region_name", None))].add(str(queue))
    outcomes: dict[str, str] = {}
    for (aws_conn_id, region_name), names in queues.items():
        try:
            hook = BatchHook(aws_conn_id=aws_conn_id, region_name=region_name)
            live = [job.job_id for name in sorted(names) for job in hook.list_live_jobs(name, created_after=since)]
            mine = [
                snapshot
                for snapshot in hook.describe_jobs(live).jobs.values()
                if snapshot.tags.get(DAG_ID_TAG) == dag_run.dag_id
                and _same_run(snapshot.tags.get(RUN_ID_TAG), dag_run.run_id)
                and not snapshot.is_done
            ]
            results = hook.stop_jobs(list[str | JobSnapshot](mine), policy, reason)
        except Exception:
            log.exception("Could not stop the Batch jobs of %s run %s in %s", dag_run.dag_id, dag_run.run_id, names)
            continue
        outcomes.update({job_id: result.outcome.value for job_id, result in results.items()})
    log.info("Stopped the live Batch jobs of %s run %s: %s", dag_run.dag_id, dag_run.run_id, outcomes or "none")
    return outcomes


def _same_run(tagged: str | None, run_id: str) -> bool:
    from airflow_batch_plus.operators.batch import tag_value

    return tagged is not None and tagged == tag_value(run_id)
