"""JobEventReader: wakes waiting triggers from Batch's job state change events instead of polling.

Batch sends EventBridge an event on each transition of each job; a rule delivers them to an SQS queue
(`[batch_plus] job_events_queue_url`). One reader per queue and event loop (so one per triggerer process)
long-polls it and offers each job's new state to the pollers of its loop (`JobPoller.offer`), which hand
it to exactly the triggers that wait on that job: a wake-up costs no DescribeJobs call, since the event
carries what a DescribeJobs item carries. The reader deletes every message it has read: its queue is its
triggerer's own (docs/deployment.md: an SQS message goes to one reader, so triggerers sharing a queue would
take each other's wake-ups; each triggerer gets a queue of its own, every one a target of the same rule).

Events come at least once, in no promised order, or not at all. The poller only moves a job forward
(`job_events.is_progress`), confirms a job's end with DescribeJobs before a task ends on it, and still
describes every job at a long interval (`[batch_plus] job_events_reconcile_seconds`), so a lost or late
event costs latency, never a wrong outcome.

When the queue is busy (a full batch of 10 messages came back), more receivers join, up to
MAX_RECEIVERS; extra ones leave when a receive comes back empty. Reads fail soft: a failed receive is
logged, waited out and tried again, while the reconciliation keeps every trigger going.

Receives and deletes run in threads of the reader's own, one per receiver (triggers/queue_reading.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from airflow_batch_plus.job_events import parse_job_event
from airflow_batch_plus.triggers.queue_reading import RECEIVE_WAIT_SECONDS, QueueReading

if TYPE_CHECKING:
    from airflow_batch_plus.hooks.sqs import QueueMessage, SqsHook
    from airflow_batch_plus.jobs import JobSnapshot

log = logging.getLogger(__name__)

MAX_RECEIVERS = 8
MAX_MESSAGES = 10  # SQS's most per receive


class EventTaker(Protocol):
    """What the reader offers events to (a JobPoller)."""

    @property
    def watching(self) -> bool: ...

    def offer(self, snapshot: JobSnapshot) -> bool: ...


class JobEventReader:
    """Reads one SQS queue of job state change events for the pollers of one event loop."""

    _shared: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, JobEventReader]]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(
        self,
        queue_url: str,
        make_hook: Callable[[], SqsHook],
        *,
        wait_seconds: int = RECEIVE_WAIT_SECONDS,
        max_receivers: int = MAX_RECEIVERS,
    ):
        self.queue_url = queue_url
        self.max_receivers = max_receivers
        self._queue = QueueReading(
            queue_url, make_hook, what="job events", wait_seconds=wait_seconds, threads=max_receivers
        )
        self._takers: weakref.WeakSet[Any] = weakref.WeakSet()
        self._receivers: set[asyncio.Task[None]] = set()
        self._first: asyncio.Task[None] | None = None  # the receiver that stays while anyone watches
        self.counts: Counter[str] = Counter()  # received, applied, unwatched, foreign, deleted

    @classmethod
    def shared(
        cls, queue_url: str, aws_conn_id: str | None, region_name: str | None, config: Mapping[str, Any] | None
    ) -> JobEventReader:
        """The reader of `queue_url` for the running event loop, made on first use."""
        from airflow_batch_plus.hooks.sqs import SqsHook

        readers = cls._shared.setdefault(asyncio.get_running_loop(), {})
        if queue_url not in readers:
            readers[queue_url] = cls(
                queue_url, lambda: SqsHook(aws_conn_id=aws_conn_id, region_name=region_name, config=config)
            )
        return readers[queue_url]

    def attach(self, taker: EventTaker) -> None:
        """Offer events to `taker` from now on."""
        self._takers.add(taker)

    @property
    def receivers(self) -> int:
        return len(self._receivers)

    def ensure_running(self) -> None:
        """Start reading if no receiver stays (a poller calls this whenever it starts watching a job).

        Helpers that the first receiver started while the queue was busy do not count: each leaves at its
        first empty receive, and the queue would then go unread until another job is watched."""
        if self._first is None or self._first.done():
            self._first = self._start_receiver(first=True)

    def _start_receiver(self, *, first: bool = False) -> asyncio.Task[None]:
        # A context of its own: the reader serves every trigger and must log into none of their task logs.
        task = asyncio.get_running_loop().create_task(
            self._receive(first=first), name="airflow-batch-plus job event reader", context=contextvars.Context()
        )
        self._receivers.add(task)
        task.add_done_callback(self._receivers.discard)
        return task

    def _watching(self) -> bool:
        return any(taker.watching for taker in list(self._takers))

    async def _receive(self, *, first: bool) -> None:
        while (messages := await self._queue.receive(still_wanted=self._watching)) is not None:
            self.take(messages)
            if messages:
                self.counts["deleted"] += await self._queue.delete(messages)
            if len(messages) == MAX_MESSAGES and len(self._receivers) < self.max_receivers:
                self._start_receiver()  # the queue is busy: read it with one more
            elif not messages and not first:
                return  # drained: a helper leaves, the first receiver stays

    def take(self, messages: list[QueueMessage]) -> None:
        """Offer each message's job state to every poller; count what each message was."""
        takers = list(self._takers)
        for message in messages:
            self.counts["received"] += 1
            snapshot = parse_job_event(message.body)
            if snapshot is None:
                self.counts["foreign"] += 1
                continue
            watched = [taker.offer(snapshot) for taker in takers]
            self.counts["applied" if any(watched) else "unwatched"] += 1
