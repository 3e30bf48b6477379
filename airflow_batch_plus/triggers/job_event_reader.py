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

Receives and deletes run in the reader's own threads (one per receiver), not in the event loop's default
executor: that one has os.cpu_count() + 4 threads (6 on 2 cores), which every trigger's `asyncio.to_thread`
shares, the poller's DescribeJobs and log reads included; receivers each blocked up to 20 s in a long poll
of a quiet queue would hold all of them, and every other call of the triggerer would wait that long.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from airflow_batch_plus.job_events import parse_job_event

if TYPE_CHECKING:
    from airflow_batch_plus.hooks.sqs import QueueMessage, SqsHook
    from airflow_batch_plus.jobs import JobSnapshot

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_RECEIVERS = 8
MAX_MESSAGES = 10  # SQS's most per receive
RECEIVE_WAIT_SECONDS = 20  # SQS's longest long poll: an idle queue costs three receives a minute
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


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
        self._make_hook = make_hook
        self._hook: SqsHook | None = None
        self.wait_seconds = wait_seconds
        self.max_receivers = max_receivers
        self._takers: weakref.WeakSet[Any] = weakref.WeakSet()
        self._receivers: set[asyncio.Task[None]] = set()
        self._first: asyncio.Task[None] | None = None  # the receiver that stays while anyone watches
        self.counts: Counter[str] = Counter()  # received, applied, stale, unwatched, foreign, receive_failed
        self._executor: ThreadPoolExecutor | None = None

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

    @property
    def hook(self) -> SqsHook:
        if self._hook is None:
            self._hook = self._make_hook()
        return self._hook

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

    async def _in_own_thread(self, call: Callable[..., _T], *args: Any) -> _T:
        """Run a blocking SQS call in one of the reader's threads (see the module's docstring)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.max_receivers, thread_name_prefix="batch-plus-job-events")
        return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(call, *args))

    def _watching(self) -> bool:
        return any(taker.watching for taker in list(self._takers))

    async def _receive(self, *, first: bool) -> None:
        failures = 0
        while self._watching():
            try:
                messages = await self._in_own_thread(self.hook.receive, self.queue_url, self.wait_seconds)
            except Exception as error:
                self.counts["receive_failed"] += 1
                wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("Could not read job events from %s (%s); again in %.0f s", self.queue_url, error, wait)
                await asyncio.sleep(wait)
                continue
            failures = 0
            self.take(messages)
            if messages:
                await self._delete(messages)
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

    async def _delete(self, messages: list[QueueMessage]) -> None:
        try:
            failed = await self._in_own_thread(self.hook.delete, self.queue_url, messages)
        except Exception as error:  # they come back after their visibility timeout: read twice is harmless
            log.warning("Could not delete %d job events from %s: %s", len(messages), self.queue_url, error)
            return
        self.counts["deleted"] += len(messages) - len(failed)
