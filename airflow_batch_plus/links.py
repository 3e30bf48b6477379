"""Extra links to the AWS console: the Batch job, its queue, its job definition, its CloudWatch logs.

Airflow 3's API server shows an extra link by reading the full URL from the task's XCom under the
link's `xcom_key`, so the operator persists each URL as soon as it knows it (at submit time, while
the task may then sit deferred for hours) and the log link again once the job's streams are known.
"""

from __future__ import annotations

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


JOB_LINK = BatchJobLink()
QUEUE_LINK = BatchJobQueueLink()
DEFINITION_LINK = BatchJobDefinitionLink()
LOGS_LINK = BatchJobLogsLink()
ALL_LINKS: tuple[_PersistedLink, ...] = (JOB_LINK, QUEUE_LINK, DEFINITION_LINK, LOGS_LINK)


def console_base(region: str) -> str:
    return f"https://{region}.console.aws.amazon.com"


def job_url(region: str, job_id: str) -> str:
    return f"{console_base(region)}/batch/home?region={region}#jobs/detail/{job_id}"


def queue_url(region: str, queue: str) -> str:
    return f"{console_base(region)}/batch/home?region={region}#queues/detail/{quote(queue, safe='')}"


def job_definition_url(region: str, definition: str) -> str:
    return f"{console_base(region)}/batch/home?region={region}#job-definition/detail/{quote(definition, safe='')}"


def _console_escape(text: str) -> str:
    """CloudWatch's console escapes its fragment path with `$` instead of `%` (and escapes `/` too)."""
    return quote(quote(text, safe=""), safe="").replace("%", "$")


def log_stream_url(region: str, stream: LogStream) -> str:
    return (
        f"{_logs_console(region)}/log-group/{_console_escape(stream.group)}/log-events/{_console_escape(stream.name)}"
    )


def log_group_url(region: str, group: str) -> str:
    return f"{_logs_console(region)}/log-group/{_console_escape(group)}"


def _logs_console(region: str) -> str:
    return f"{console_base(region)}/cloudwatch/home?region={region}#logsV2:log-groups"


def persist(context: Any, link: _PersistedLink, url: str) -> None:
    """Store `url` where Airflow's UI looks for `link` (the running task's XCom)."""
    context["ti"].xcom_push(key=link.xcom_key, value=url)
