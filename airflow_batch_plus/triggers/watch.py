"""JobWatch: one trigger's subscription to one job's snapshots, and how often a job is looked at.

The poller (triggers/poller.py) delivers; a watch queues what it delivers for one trigger, in order.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from airflow_batch_plus.jobs import JobSnapshot, JobStatus

if TYPE_CHECKING:
    from airflow_batch_plus.triggers.poller import JobPoller


def poll_interval_for(status: JobStatus | None, base: float) -> float:
    """How long to wait before asking about a job in `status` again.

    STARTING turns into RUNNING within seconds, and logs start with it, so it is polled twice as often;
    a RUNNABLE job often waits minutes for capacity, so it is polled half as often (at most 30 s later).
    """
    if status is JobStatus.STARTING:
        return base / 2
    if status is JobStatus.RUNNABLE:
        return min(base * 2, base + 30)
    return base


class JobWatch:
    """One trigger's subscription to one job: the snapshots the poller hands it, in order."""

    def __init__(self, poller: JobPoller, job_id: str, interval: float):
        self.poller = poller
        self.job_id = job_id
        self.interval = interval
        self._updates: asyncio.Queue[JobSnapshot | BaseException] = asyncio.Queue()
        self._last: JobSnapshot | None = None
        self.closed = False

    async def next(self) -> JobSnapshot:
        """The job's next snapshot; raises what made the poller give up on it.

        A poller told of changes by events (triggers/job_event_reader.py) hands over a snapshot only when
        the job changed; a live job's watcher still gets one about every interval, the last one again, for
        it reads the job's new log lines and checks its clocks at each."""
        last = self._last
        if self.poller.event_driven and last is not None and not last.is_done:
            try:
                update = await asyncio.wait_for(self._updates.get(), poll_interval_for(last.status, self.interval))
            except TimeoutError:
                return last
        else:
            update = await self._updates.get()
        if isinstance(update, BaseException):
            raise update
        self._last = update
        return update

    def take_pending(self) -> list[JobSnapshot | BaseException]:
        """Every update delivered and not yet taken, without waiting."""
        pending = []
        while not self._updates.empty():
            pending.append(self._updates.get_nowait())
        return pending

    def close(self) -> None:
        """Stop waiting: the poller stops asking about the job once nobody watches it. Idempotent."""
        if not self.closed:
            self.closed = True
            self.poller._unwatch(self)

    def _deliver(self, update: JobSnapshot | BaseException) -> None:
        if not self.closed:
            self._updates.put_nowait(update)
