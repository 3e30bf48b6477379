"""JobOutput: what a waiting trigger shows of its job in the task log.

Every new line of every stream once, in order, dated with its CloudWatch time, with the operator's
override environment values masked; the job's last lines read after it ends (CloudWatch ingests them
seconds late); and, for an EKS job whose output is not in CloudWatch, once, where it is. A read that
fails does not end the wait: the job matters more than its logs, and the cursor has not moved.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from airflow_batch_plus.jobs import JobSnapshot
from airflow_batch_plus.triggers.line_clock import LineClock

if TYPE_CHECKING:
    from airflow_batch_plus.hooks.logs import LogCursor, LogLine
    from airflow_batch_plus.jobs import LogStream
    from airflow_batch_plus.triggers.follower import JobFollower
    from airflow_batch_plus.triggers.poller import JobPoller

# After the job ends, CloudWatch may still ingest its last lines for a few seconds: keep reading
# this often until two reads in a row bring nothing, the last of them at least INGESTION_LAG after
# the job stopped, or until MAX_DRAIN_SECONDS have passed.
DRAIN_INTERVAL_SECONDS = 1.0
INGESTION_LAG_SECONDS = 2.0
MAX_DRAIN_SECONDS = 30.0


class JobOutput:
    """The job's lines into the task log, for one trigger.

    :param enabled: whether to log the job's lines (the trigger's `stream_logs`); turned off for good when
        CloudWatch refuses the read (no permission, no such group), as asking again cannot help.
    :param masked_environment: names of the job's environment variables whose values are masked.
    """

    def __init__(self, job_id: str, log: Any, poller: JobPoller, *, enabled: bool, masked_environment: list[str]):
        self.job_id = job_id
        self.log = log
        self.poller = poller
        self.enabled = enabled
        self.masked_environment = masked_environment
        self.masked_values: set[str] = set()
        self.read_failures = 0  # consecutive failed reads
        self.unsaved_lines = 0  # logged since the cursor was last saved: the trigger resets it
        self.line_clock = LineClock()
        self.told_where_eks_output_is = False

    async def log_new_lines(self, streams: list[LogStream], cursor: LogCursor) -> int | None:
        """Log the lines not logged yet; how many were read, or None if CloudWatch could not be read.

        A failed read (after botocore's retries) does not end the wait: the job matters more than its
        logs, and the cursor has not moved, so the next read picks up every line this one missed.
        """
        if not streams:
            return 0
        try:
            lines: list[LogLine] = await self.poller.read_logs(streams, cursor)
        except Exception as error:
            if _is_refusal(error):  # no permission, no such group... : reading again cannot help
                self.log.error(
                    "CloudWatch Logs refused to read the job's log streams (%s); waiting for the job without "
                    "showing its lines. The role needs logs:FilterLogEvents on its log group (docs/iam.md)",
                    error,
                )
                self.enabled = False
                return None
            self.read_failures += 1
            self.log.warning(
                "Could not read the job's CloudWatch logs (%s); reading again later, from where logging stopped",
                error,
            )
            return None
        self.read_failures = 0
        # Airflow's structlog loggers keep a `timestamp` given to them; a plain logging.Logger takes no such field.
        dated = not isinstance(self.log, logging.Logger)
        for line in lines:
            if cursor.is_new(line):
                if dated:
                    self.log.info(line.render(), timestamp=self.line_clock.timestamp(line))
                else:
                    self.log.info(line.render())
                cursor.mark(line)
                self.unsaved_lines += 1
        return len(lines)

    def tell_where_eks_output_is(self, snapshot: JobSnapshot) -> None:
        """An EKS job's output is in its pod's logs, not CloudWatch: say so once, naming the pod once it runs
        (or, for an array or a job that ends before any pod ran, without naming one)."""
        if self.told_where_eks_output_is or not snapshot.is_eks:
            return
        if snapshot.pod_name is None and not (snapshot.is_done or snapshot.is_array_parent):
            return  # its pod is named once it starts
        self.told_where_eks_output_is = True
        if snapshot.pod_name is not None:
            self.log.info(
                "EKS job %s: its output is in the pod's logs (kubectl logs %s -n %s --all-containers), not "
                "CloudWatch. A retry runs in a new pod: DescribeJobs' eksAttempts names each",
                self.job_id,
                snapshot.pod_name,
                snapshot.pod_namespace or "<the compute environment's kubernetesNamespace>",
            )
        else:
            self.log.info(
                "EKS job %s: its output is in its pods' logs (kubectl logs <pod> -n <namespace>), not CloudWatch. "
                "DescribeJobs names each pod (eksProperties.podProperties.podName, eksAttempts)",
                self.job_id,
            )

    def mask_environment(self, jobs: list[JobSnapshot]) -> None:
        """Register the values of `masked_environment` with this process's secrets masker (once each), so a
        job that prints its own secret shows *** in the task log, in the triggerer as in a worker."""
        from airflow.sdk.log import mask_secret

        for job in jobs:
            for name in self.masked_environment:
                value = job.environment.get(name)
                if value and value not in self.masked_values:
                    mask_secret(value, name)
                    self.masked_values.add(value)

    async def drain(
        self, follower: JobFollower, snapshot: JobSnapshot, cursor: LogCursor, save: Callable[[], Awaitable[None]]
    ) -> None:
        """Read the job's last lines: CloudWatch ingests them seconds after they were written."""
        stopped = (snapshot.stopped_at or time.time() * 1000) / 1000
        started = time.time()
        empty_reads = 0
        while self.enabled and time.time() - started < MAX_DRAIN_SECONDS:
            settled = time.time() >= stopped + INGESTION_LAG_SECONDS
            if empty_reads >= 2 and settled and follower.children_done():
                return
            await asyncio.sleep(DRAIN_INTERVAL_SECONDS)
            follower.take_child_updates()
            self.mask_environment(follower.jobs())
            read = await self.log_new_lines(follower.log_streams(), cursor)
            await save()
            empty_reads = empty_reads + 1 if read == 0 else 0  # a failed read proves nothing: read again
        if self.read_failures:
            self.log.warning(
                "The job's last lines could not be read from CloudWatch in %.0f s; they are in its log streams: %s",
                MAX_DRAIN_SECONDS,
                ", ".join(f"{stream.group}/{stream.name}" for stream in follower.log_streams()),
            )


def _is_refusal(error: BaseException) -> bool:
    """An AWS answer that will not change by asking again (no permission, no such group, a bad request)."""
    from botocore.exceptions import ClientError

    from airflow_batch_plus.hooks.batch import retry_outcome

    return isinstance(error, ClientError) and retry_outcome(error) is None
