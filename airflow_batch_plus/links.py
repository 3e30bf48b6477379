"""Extra links to the AWS console: the Batch job, its queue, its job definition, its CloudWatch logs.

Airflow 3's API server shows an extra link by reading the full URL from the task's XCom under the
link's `xcom_key`, so the operator persists each URL as soon as it knows it (at submit time, while
the task may then sit deferred for hours) and the log link again once the job's streams are known.

An extra link is one button with one URL, and a job may have many streams (one per attempt, per array
child, per node, per ECS container). So the "CloudWatch Logs" button opens the job's newest stream (for
an array, the log group that holds every child's), and the link to each stream, up to
`MAX_LOG_LINKS`, is in the task's `batch_log_links` XCom (label, group, stream, URL) and in its task
log, where a reader of a failed attempt or child looks first.

Links are best effort: saving one never stops a job or fails a task (`persist` logs a warning).

Console hosts follow the region's partition (botocore knows which partition a region is in; it does
not know the partition's console host, so `CONSOLE_HOSTS` names the three public consoles).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

    from airflow_batch_plus.jobs import LogStream


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
    import botocore.session
    from botocore.exceptions import UnknownRegionError

    try:
        return str(botocore.session.get_session().get_partition_for_region(region))
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
