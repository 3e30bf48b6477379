"""BatchStopJobsOperator: the kill switch, which stops a queue's live jobs, or the jobs named, in bulk.

Apart from the submit operator: it submits nothing and follows nothing, it only lists and stops. Which
ListJobs filters it takes together is `jobs.list_jobs_filter`'s rule, the one the hook's requests obey.
The hooks (boto3) are imported only when the task runs, so parsing a DAG that uses it stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_batch_plus.aws_settings import check_botocore_config
from airflow_batch_plus.jobs import DONE, JobSnapshot, StopAction, StopPolicy, decide_stop, list_jobs_filter
from airflow_batch_plus.ownership import kill_switch_stop_reason

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_batch_plus.hooks.batch import BatchHook

_DRY_RUN_OUTCOMES = {
    StopAction.CANCEL: "would cancel",
    StopAction.TERMINATE: "would terminate",
    StopAction.NONE: "would leave running",
}


class BatchStopJobsOperator(BaseOperator):
    """The kill switch: stop every live job of a queue that matches one ListJobs filter, or the jobs named.

    For the budget alarm of AWS's "cancel or terminate" guidance: ``cancel`` (the default) removes
    every job that has not started and lets running ones finish; ``terminate`` stops running jobs too.
    Jobs go out in bulk CancelJobs / TerminateJobs calls of 50. With ``dry_run`` nothing is stopped:
    the task logs and returns what would happen to each job.

    :param job_queue: the queue whose live jobs to stop (with at most one of the filters below), or a list
        of queues (each listed with the same filter).
    :param job_ids: explicit job ids instead of a queue.
    :param tags: only jobs carrying every one of these tags (``{"team": "ml"}``). ListJobs cannot filter by
        tag, so each listed job's tags are read from DescribeJobs (100 jobs a call); with any ListJobs filter
        as well, or with ``job_ids``.
    :param job_name: a job name, or a prefix ending in ``*`` (case-insensitive, as ListJobs matches).
    :param job_definition: a job definition name, name:revision or ARN.
    :param created_before: only jobs created before this (a datetime or epoch milliseconds).
    :param created_after: only jobs created after this.
    :param stop_policy: ``cancel`` or ``terminate``.
    :param reason: the reason Batch records (the default names this task and run).
    :returns: counts by outcome, and the ids of the jobs in each outcome (up to 1,000 each).
    """

    template_fields: Sequence[str] = (
        "job_queue",
        "job_ids",
        "job_name",
        "job_definition",
        "tags",
        "created_before",
        "created_after",
        "reason",
        "aws_conn_id",
        "region_name",
    )
    ui_color = "#e8735d"

    def __init__(
        self,
        *,
        job_queue: str | list[str] | None = None,
        job_ids: list[str] | None = None,
        tags: dict[str, str] | None = None,
        job_name: str | None = None,
        job_definition: str | None = None,
        created_before: Any = None,
        created_after: Any = None,
        stop_policy: str = "cancel",
        dry_run: bool = False,
        reason: str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        botocore_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        policy = StopPolicy.parse(stop_policy)
        if policy is StopPolicy.KEEP:
            raise ValueError("stop_policy='keep' stops nothing: use 'cancel' or 'terminate'")
        if (job_queue is None) == (job_ids is None):
            raise ValueError("give either job_queue (with at most one filter) or job_ids, not both and not neither")
        filters = {"job_name": job_name, "job_definition": job_definition}
        filters |= {"created_before": created_before, "created_after": created_after}
        _refuse_empty_filters(filters)
        if job_ids is not None and not isinstance(job_ids, str) and len(job_ids) == 0:
            raise ValueError("job_ids=[] stops nothing: give the ids to stop, or job_queue with a filter")
        one_filter = list_jobs_filter(filters)
        if job_ids is not None and one_filter is not None:
            raise ValueError(f"{one_filter} filters a queue's jobs; with job_ids, drop it or give job_queue instead")
        _check_queues(job_queue)
        _check_tags(tags)
        self.job_queue = job_queue
        self.job_ids = job_ids
        self.job_name = job_name
        self.job_definition = job_definition
        self.tags = tags
        self.created_before = created_before
        self.created_after = created_after
        self.stop_policy = policy.value
        self.list_only = dry_run  # `dry_run` itself is a BaseOperator method
        self.reason = reason
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.botocore_config = check_botocore_config(botocore_config)

    @cached_property
    def hook(self) -> BatchHook:
        from airflow_batch_plus.hooks.batch import BatchHook

        return BatchHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, config=self.botocore_config)

    def execute(self, context: Context) -> dict[str, Any]:
        # Again once rendered: a template that renders empty must not widen the stop to the whole queue.
        _refuse_empty_filters(
            {
                "job_name": self.job_name,
                "job_definition": self.job_definition,
                "created_before": self.created_before,
                "created_after": self.created_after,
            }
        )
        _check_queues(self.job_queue)
        _check_tags(self.tags)

        hook = self.hook
        jobs = self._matching_jobs(hook)
        if self.list_only:
            outcomes = {
                job.job_id: _DRY_RUN_OUTCOMES[decide_stop(StopPolicy(self.stop_policy), job.status)] for job in jobs
            }
            for job in jobs:
                self.log.info(
                    "Dry run: %s %s (%s): %s", job.job_id, job.job_name, job.status.value, outcomes[job.job_id]
                )
        else:
            ti = context["ti"]
            reason = self.reason or kill_switch_stop_reason(ti)
            results = hook.stop_jobs(jobs, self.stop_policy, reason)
            outcomes = {job_id: result.outcome.value for job_id, result in results.items()}
        by_outcome: dict[str, list[str]] = {}
        for job_id, outcome in outcomes.items():
            by_outcome.setdefault(outcome, []).append(job_id)
        counts = {outcome: len(ids) for outcome, ids in by_outcome.items()}
        self.log.info(
            "%s %d job(s) with stop_policy=%s: %s",
            "Matched" if self.list_only else "Stopped",
            len(jobs),
            self.stop_policy,
            counts,
        )
        return {
            "stop_policy": self.stop_policy,
            "dry_run": self.list_only,
            "matched": len(jobs),
            "counts": counts,
            "job_ids": {outcome: ids[:1000] for outcome, ids in by_outcome.items()},
        }

    def _matching_jobs(self, hook: Any) -> list[JobSnapshot]:
        """The live jobs to act on, as snapshots with their listed status (so stopping describes nothing),
        or, with `tags`, as DescribeJobs saw them (which had to be asked for their tags)."""
        if self.job_ids is not None:
            described = list(hook.describe_jobs(self.job_ids).jobs.values())
            return described if not self.tags else [job for job in described if _carries(job, self.tags)]
        assert self.job_queue is not None
        queues = [self.job_queue] if isinstance(self.job_queue, str) else list(dict.fromkeys(self.job_queue))
        listed = {
            job.job_id: JobSnapshot(job_id=job.job_id, job_name=job.job_name, status=job.status)
            for queue in queues
            for job in hook.list_live_jobs(
                queue,
                job_name=self.job_name,
                job_definition=self.job_definition,
                created_before=self.created_before,
                created_after=self.created_after,
            )
        }
        if not self.tags:
            return list(listed.values())
        described = hook.describe_jobs(list(listed)).jobs
        matching = [job for job in described.values() if job.status not in DONE and _carries(job, self.tags)]
        self.log.info("%d of %d live job(s) carry the tags %s", len(matching), len(listed), self.tags)
        return matching


def _carries(job: JobSnapshot, tags: dict[str, str]) -> bool:
    return all(job.tags.get(key) == value for key, value in tags.items())


def _check_queues(job_queue: Any) -> None:
    """A queue name, or a non-empty list of them; never an empty one (at parse, and again once rendered)."""
    if job_queue is None or (isinstance(job_queue, str) and job_queue.strip()):
        return
    if (
        isinstance(job_queue, (list, tuple))
        and job_queue
        and all(isinstance(queue, str) and queue.strip() for queue in job_queue)
    ):
        return
    raise ValueError(f"job_queue={job_queue!r}: give a queue name or ARN, or a non-empty list of them")


def _check_tags(tags: Any) -> None:
    """Tags to match: a non-empty dict of non-empty string keys to string values. An empty one would match
    every job, so it is refused rather than widening the stop to the whole queue."""
    if tags is None:
        return
    if (
        not isinstance(tags, dict)
        or not tags
        or not all(isinstance(key, str) and key.strip() and isinstance(value, str) for key, value in tags.items())
    ):
        raise ValueError(
            f"tags={tags!r}: give a non-empty dict of tag names to values, like {{'team': 'ml'}} (an empty one "
            "would match every job of the queue), or leave tags out"
        )


def _refuse_empty_filters(filters: dict[str, Any]) -> None:
    """An empty filter is refused, never dropped: ListJobs without a filter lists the whole queue, so dropping
    it would stop every live job there (a template rendering to "" included)."""
    for name, value in filters.items():
        if isinstance(value, str) and not value.strip():
            raise ValueError(
                f"{name}={value!r} is empty: the kill switch would stop every live job of the queue. Give a value "
                "(job_name and job_definition: a trailing * matches a prefix) or leave the filter out"
            )
