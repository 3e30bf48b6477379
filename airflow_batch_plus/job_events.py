"""What a "Batch Job State Change" event says about a job, and whether it moves the job forward.

AWS Batch sends EventBridge an event on each transition of each job, its `detail` the job as DescribeJobs
describes it; a rule delivers them to an SQS queue (as they are, or wrapped in an SNS notification when
the rule's target is a topic the queue subscribes to). Delivery is at least once, in no promised order,
and an event may never come: so an event only ever moves a job forward (`is_progress`), a duplicate or a
late one is dropped, and a job's end is confirmed by DescribeJobs before any task ends on it.

A job moves forward when it has more attempts than last seen (a retry sends it back to RUNNABLE with one
attempt more), or as many attempts and a later status. Pure: no I/O, cheap to import.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_batch_plus.jobs import JobSnapshot, JobStatus

BATCH_SOURCE = "aws.batch"
JOB_STATE_CHANGE = "Batch Job State Change"
_STATUS_ORDER = {status: index for index, status in enumerate(JobStatus)}


def parse_job_event(body: str) -> JobSnapshot | None:
    """The job a queue message's body describes, or None if it is not a Batch job state change.

    Takes the event as EventBridge delivers it to SQS, or inside an SNS notification's `Message`."""
    event = _json_object(body)
    if event is not None and event.get("Type") == "Notification" and isinstance(event.get("Message"), str):
        event = _json_object(event["Message"])  # EventBridge -> SNS -> SQS
    if event is None or event.get("source") != BATCH_SOURCE or event.get("detail-type") != JOB_STATE_CHANGE:
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict) or not detail.get("jobId") or detail.get("status") not in JobStatus.__members__:
        return None
    try:
        return JobSnapshot.from_describe(detail)
    except (KeyError, TypeError, ValueError):
        return None


def progress(snapshot: JobSnapshot) -> tuple[int, int]:
    """How far a job has gone: its attempts, then its status in the order a job walks through them."""
    return len(snapshot.attempts), _STATUS_ORDER[snapshot.status]


def is_progress(new: JobSnapshot, known: JobSnapshot | None) -> bool:
    """Whether `new` is further along than `known` (a duplicate or an older event is not)."""
    return known is None or progress(new) > progress(known)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
