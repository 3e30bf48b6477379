"""JobFollower: a trigger's view of its job and, for its logs, of an array's children or a job's nodes.

Every look goes through the process's shared poller (triggers/poller.py), so following a job's children
costs no DescribeJobs call of its own.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from airflow_batch_plus.jobs import JobSnapshot

if TYPE_CHECKING:
    from airflow_batch_plus.jobs import LogStream
    from airflow_batch_plus.triggers.poller import JobPoller
    from airflow_batch_plus.triggers.watch import JobWatch


class JobFollower:
    """A job's watch plus, when its logs are wanted, the watches of an array's children or a job's nodes."""

    def __init__(self, poller: JobPoller, job_id: str, interval: float, *, with_children: bool):
        self.poller = poller
        self.interval = interval
        self.with_children = with_children
        self.watch: JobWatch = poller.watch(job_id, interval)
        self.children: dict[str, JobWatch] = {}
        self.latest: dict[str, JobSnapshot] = {}
        self.snapshot: JobSnapshot | None = None

    async def next(self, timeout: float | None) -> JobSnapshot:
        snapshot = await asyncio.wait_for(self.watch.next(), timeout=timeout)
        self.snapshot = snapshot
        if self.with_children and not self.children:
            for child_id in snapshot.child_job_ids():
                self.children[child_id] = self.poller.watch(child_id, self.interval)
        self.take_child_updates()
        return snapshot

    def take_child_updates(self) -> None:
        for child_id, watch in self.children.items():
            for update in watch.take_pending():
                if isinstance(update, JobSnapshot):
                    self.latest[child_id] = update
                    if update.is_done:
                        watch.close()

    def children_done(self) -> bool:
        return all(child_id in self.latest and self.latest[child_id].is_done for child_id in self.children)

    def jobs(self) -> list[JobSnapshot]:
        """The job and the children or nodes seen so far."""
        return [job for job in (self.snapshot, *self.latest.values()) if job is not None]

    def log_streams(self) -> list[LogStream]:
        """Every stream once. A job with children logs through them only: a multi-node parent reports its
        main node's stream as its own, and the node's copy carries the label (`[node 0]`) to show."""
        jobs = list(self.latest.values()) if self.children else [self.snapshot] if self.snapshot else []
        streams: dict[str, LogStream] = {}
        for job in jobs:
            for stream in job.log_streams:
                streams.setdefault(stream.key, stream)
        return list(streams.values())

    def close(self) -> None:
        self.watch.close()
        for watch in self.children.values():
            watch.close()
