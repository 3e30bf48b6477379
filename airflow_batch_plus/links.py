"""Extra links to the AWS console: the Batch job, its queue, its job definition, its CloudWatch logs.

Airflow 3's API server shows an extra link by reading the full URL from the task's XCom under the
link's `xcom_key`, so the operator persists each URL as soon as it knows it (at submit time, while
the task may then sit deferred for hours) and the log link again once the job's streams are known.

An extra link is one button with one URL, and a job may have many streams (one per attempt, per array
child, per node, per ECS container). So the "CloudWatch Logs" button opens the job's newest stream (for
an array, the log group that holds every child's), and the link to each stream, up to
`MAX_LOG_LINKS`, is in the task's `batch_log_links` XCom (label, group, stream, URL) and in its task
log, where a reader of a failed attempt or child looks first.

Links are best effort: saving one never stops a job or fails a task (`persist` logs a warning, and
`persist_submit_links` and `persist_log_links`, which the submit operator calls, catch everything).

Console hosts follow the region's partition (botocore knows which partition a region is in; it does
not know the partition's console host, so `CONSOLE_HOSTS` names the three public consoles).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

from airflow_batch_plus.jobs import DEFAULT_LOG_GROUP

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import Logger, TaskInstanceKey

    from airflow_batch_plus.hooks.batch import BatchHook
    from airflow_batch_plus.jobs import JobSnapshot, LogStream


class _PersistedLink(BaseOperatorLink):
    """A link whose URL the operator stored in XCom under `xcom_key`."""

    name: ClassVar[str] = ""  # type: ignore[misc]

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        url = XCom.get_value(ti_key=ti_key, key=self.xcom_key)
        return str(url) if url else ""


class BatchJobLink(_PersistedLink):
    name = "Batch Job"


class BatchJobQueueLink(_PersistedLink):
    name = "Batch Job Queue"


class BatchJobDefinitionLink(_PersistedLink):
    name = "Batch Job Definition"


class BatchJobLogsLink(_PersistedLink):
    name = "CloudWatch Logs"


log = logging.getLogger(__name__)

JOB_LINK = BatchJobLink()
QUEUE_LINK = BatchJobQueueLink()
DEFINITION_LINK = BatchJobDefinitionLink()
LOGS_LINK = BatchJobLogsLink()
ALL_LINKS: tuple[_PersistedLink, ...] = (JOB_LINK, QUEUE_LINK, DEFINITION_LINK, LOGS_LINK)


LOG_LINKS_XCOM_KEY = "batch_log_links"
"""The XCom holding a link to each of the job's log streams (at most MAX_LOG_LINKS)."""
MAX_LOG_LINKS = 20
"""How many log streams are linked (an array of 10,000 children would otherwise mean 10,000 links)."""

# The console of each partition: botocore's partition data has each partition's API DNS suffix
# (GovCloud's is amazonaws.com, like the commercial one) but not its console's host. The ISO
# partitions' consoles are not public, so they get no links.
CONSOLE_HOSTS = {
    "aws": "{region}.console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


@functools.lru_cache(maxsize=64)
def partition_of(region: str) -> str:
    """The partition botocore puts `region` in (`aws`, `aws-cn`, `aws-us-gov`...); `aws` for a region
    botocore does not know (a newer one than this botocore, or a local endpoint's made-up name)."""
    from botocore.exceptions import UnknownRegionError

    from airflow_batch_plus.botocore_data import new_session

    try:
        return str(new_session().get_partition_for_region(region))
    except UnknownRegionError:
        return "aws"


def console_base(region: str) -> str | None:
    """The console's base URL for `region`, in its partition; None for a partition whose console is not
    public (every URL below is then empty, and Airflow shows no link)."""
    host = CONSOLE_HOSTS.get(partition_of(region))
    return "https://" + host.format(region=region) if host else None


def job_url(region: str, job_id: str) -> str:
    return _batch_url(region, f"jobs/detail/{job_id}")


def queue_url(region: str, queue: str) -> str:
    return _batch_url(region, f"queues/detail/{quote(queue, safe='')}")


def job_definition_url(region: str, definition: str) -> str:
    return _batch_url(region, f"job-definition/detail/{quote(definition, safe='')}")


def _batch_url(region: str, fragment: str) -> str:
    base = console_base(region)
    return f"{base}/batch/home?region={region}#{fragment}" if base else ""


def _console_escape(text: str) -> str:
    """CloudWatch's console escapes its fragment path with `$` instead of `%` (and escapes `/` too)."""
    return quote(quote(text, safe=""), safe="").replace("%", "$")


def log_stream_url(region: str, stream: LogStream) -> str:
    return _logs_url(region, f"/log-group/{_console_escape(stream.group)}/log-events/{_console_escape(stream.name)}")


def log_group_url(region: str, group: str) -> str:
    return _logs_url(region, f"/log-group/{_console_escape(group)}")


def _logs_url(region: str, path: str) -> str:
    base = console_base(region)
    return f"{base}/cloudwatch/home?region={region}#logsV2:log-groups{path}" if base else ""


def log_links(region: str, streams: Iterable[LogStream]) -> list[dict[str, str]]:
    """A link to each stream (the first MAX_LOG_LINKS), labelled as the task log labels its lines."""
    return [
        {"label": stream.label, "group": stream.group, "stream": stream.name, "url": log_stream_url(region, stream)}
        for stream in list(streams)[:MAX_LOG_LINKS]
    ]


def persist(context: Any, link: _PersistedLink | str, value: Any) -> bool:
    """Store `value` where Airflow's UI looks for `link` (the running task's XCom), or under the XCom key
    given. Best effort: a failure is logged as a warning, never raised; returns whether it was stored."""
    key = link if isinstance(link, str) else link.xcom_key
    try:
        context["ti"].xcom_push(key=key, value=value)
    except Exception as error:
        log.warning("Could not save the console link %s (the job is not affected): %s", key, error)
        return False
    return True


# The submit operator's links, saved as soon as each is known. `hook` is called inside the guard: making
# the hook, and finding its region (which may read the connection), never fails the task either.


def persist_submit_links(
    context: Any, hook: Callable[[], BatchHook], job_id: str, request: Mapping[str, Any], log: Logger
) -> None:
    """The console links of job `job_id` submitted (or followed) with `request`, as soon as the job is known:
    the task may then wait deferred for hours. Best effort: a link never stops a job or fails a task."""
    try:
        region = hook().region
        persist(context, JOB_LINK, job_url(region, job_id))
        persist(context, QUEUE_LINK, queue_url(region, str(request["jobQueue"])))
        persist(context, DEFINITION_LINK, job_definition_url(region, str(request["jobDefinition"])))
        # The job's own stream is known once it starts; until then, its log group.
        persist(context, LOGS_LINK, log_group_url(region, DEFAULT_LOG_GROUP))
    except Exception as error:
        log.warning("Could not save the console links of Batch job %s (the job goes on): %s", job_id, error)


def persist_log_links(context: Any, hook: Callable[[], BatchHook], snapshot: JobSnapshot, log: Logger) -> None:
    """Once the job has ended: the CloudWatch Logs link on its newest stream (an array's on its log group,
    which holds every child's), and a link to every stream (each attempt, child, node or container, at
    most `MAX_LOG_LINKS`) in the `batch_log_links` XCom and the task log. Best effort."""
    for key, value in log_link_xcoms(hook, snapshot, log).items():
        persist(context, key, value)


def log_link_xcoms(hook: Callable[[], BatchHook], snapshot: JobSnapshot, log: Logger) -> dict[str, Any]:
    """The XComs `persist_log_links` pushes (key: value), having logged the streams' links. A trigger that
    ends its task hands them to Airflow with its end event (triggers/task_end.py). Best effort: never raises,
    an empty dict when they cannot be made. Blocking (an array's children are described): call it from a thread
    in a trigger."""
    try:
        batch = hook()
        region = batch.region
        streams = _streams_to_link(batch, snapshot)
        if not streams:
            return {}
        newest = snapshot.log_streams[-1] if snapshot.log_streams else None
        logs_url = log_stream_url(region, newest) if newest else log_group_url(region, streams[0].group)
        listed = log_links(region, streams)
        more = _unlinked_streams_note(snapshot, streams, listed)
        log.info(
            "CloudWatch log streams of Batch job %s:\n%s%s",
            snapshot.job_id,
            "\n".join(f"  {link['label'] or link['stream']}: {link['url'] or link['stream']}" for link in listed),
            more,
        )
        return {LOGS_LINK.xcom_key: logs_url, LOG_LINKS_XCOM_KEY: listed}
    except Exception as error:
        log.warning("Could not save the log links of Batch job %s (the task goes on): %s", snapshot.job_id, error)
        return {}


def _streams_to_link(hook: BatchHook, snapshot: JobSnapshot) -> list[LogStream]:
    """Every stream of the job, oldest attempt first; for a job with children (an array's, a multi-node
    job's nodes) the children's, in index order, described up to the cap (one DescribeJobs call)."""
    children = snapshot.child_job_ids()[:MAX_LOG_LINKS]
    if not children:
        return list(snapshot.log_streams)
    described = hook.describe_jobs(children).jobs
    streams: dict[str, LogStream] = {}
    for child_id in children:
        for stream in described[child_id].log_streams if child_id in described else ():
            streams.setdefault(stream.key, stream)
    return list(streams.values())


def _unlinked_streams_note(snapshot: JobSnapshot, streams: list[LogStream], listed: list[dict[str, str]]) -> str:
    """What the task log adds when not every stream got a link: where the rest are."""
    children = len(snapshot.child_job_ids())
    if len(streams) <= len(listed) and children <= MAX_LOG_LINKS:
        return ""
    where = ", ".join(sorted({stream.group for stream in streams}))
    return f"\n  (only the first {MAX_LOG_LINKS} are linked; every stream is in log group {where})"
