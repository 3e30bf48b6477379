"""The shared poller: one DescribeJobs call per 100 waiting jobs per cycle, for every trigger of a process.

A triggerer runs thousands of triggers in one event loop. If each asked Batch about its own job, a
thousand waiting jobs would cost a thousand DescribeJobs calls per poll interval, against an account
limit of about 50 calls a second. Instead each trigger registers its job id with the poller of its
event loop and connection, and awaits snapshots; the poller describes every due id in calls of 100,
hands each trigger its job's snapshot, and forgets ids nobody waits on any more. Log reads are
coalesced the same way: requests that arrive together become FilterLogEvents calls of up to 100
streams. All AWS calls run the hooks' ordinary boto3 code in `asyncio.to_thread`, never in the loop.

A poll's calls wait on the process's Batch budget, and a poll is scheduled so that waiting costs no
detection time: each call's snapshots are handed over as soon as that call returns, and each id's
next look is due one interval after this one was due, not after the poll's last call returned. So
the ids of a poll's last call are asked a couple of seconds into every poll, still every interval.

The budget. AWS Batch throttles the Batch API calls of an account in a Region together, DescribeJobs
and SubmitJob alike, at about 50 a second (AWS: "Too Many Requests" knowledge-center article), shared
with every triggerer, worker and other client of the account. Triggerers do not talk to each other,
so the budget is per process: 10 DescribeJobs a second (`DEFAULT_BATCH_REQUESTS_PER_SECOND`), which
leaves the account's other 40 to the other triggerers and clients (2 triggerers at full rate take 20).
It is sized for the steady rate, not for one poll's burst: at 100 ids a call, 10 calls a second follow
1,000 jobs a second, 5,000 waiting jobs per triggerer at 5 s polling (30,000 at 30 s). A triggerer
with 2,500 jobs polled every 5 s needs 5 calls a second on average; its 25 calls a poll go out 10 +
10 + 5 over about 2.1 s, which the scheduling above absorbs. A larger budget would only shorten that
burst, and let a few triggerers together reach the account's limit and throttle its submissions.
Beyond 5,000 jobs a triggerer at 5 s polls, a poll takes longer than the interval: every id is then
asked once per poll, as often as the budget allows, instead of the budget being exceeded.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import heapq
import json
import logging
import math
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_batch_plus.hooks.budget import RequestBudget, shared_budget
from airflow_batch_plus.job_events import is_progress, progress
from airflow_batch_plus.jobs import DESCRIBE_BATCH_SIZE, DONE, JobSnapshot, JobStatus
from airflow_batch_plus.triggers.job_event_reader import JobEventReader
from airflow_batch_plus.triggers.log_reader import LogReader
from airflow_batch_plus.triggers.watch import JobWatch, poll_interval_for

if TYPE_CHECKING:
    from airflow_batch_plus.hooks.batch import BatchHook, DescribeResult
    from airflow_batch_plus.hooks.logs import BatchLogsHook, LogCursor, LogLine
    from airflow_batch_plus.jobs import LogStream

log = logging.getLogger(__name__)

# A job Batch does not return at all is an error only after this long: a job just submitted can take a
# moment to appear, and a job that ended about a week ago is gone for good.
DEFAULT_MISSING_GRACE_SECONDS = 120.0
# DescribeJobs failing (after botocore's own retries) for this long fails every trigger waiting on it.
DEFAULT_FAILURE_GRACE_SECONDS = 300.0
# Registrations and log requests that arrive within this window share one call.
COALESCE_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 60.0
# With job state events: every job is still described this often, so a lost event costs at most this much
# latency; and a job whose end an event told of is asked again this soon while DescribeJobs lags behind.
DEFAULT_RECONCILE_SECONDS = 300.0
CONFIRM_SECONDS = 1.0
# With job state events: an end an event told of waits at most this long for other ends to share its
# confirming DescribeJobs call (100 waiting ends go at once). `[batch_plus] job_events_confirm_seconds`.
DEFAULT_CONFIRM_WAIT_SECONDS = 0.5
# DescribeJobs calls a second for all pollers of a process: AWS allows about 50 Batch calls a second per
# account and Region, shared with every other triggerer and client; at 100 ids a call this still follows
# 1,000 jobs a second (see the module's docstring).
DEFAULT_BATCH_REQUESTS_PER_SECOND = 10.0

_PollerKey = tuple[str | None, str | None, str]  # (aws_conn_id, region_name, the botocore config as JSON)


class JobVanishedError(LookupError):
    """Batch stopped returning a job (a wrong id, or a job older than the ~7 days Batch keeps)."""


class PollingFailedError(RuntimeError):
    """DescribeJobs kept failing for longer than the poller's failure grace."""


@dataclass
class _Target:
    job_id: str
    next_due: float
    watches: set[JobWatch] = field(default_factory=set)
    status: JobStatus | None = None
    missing_since: float | None = None
    latest: JobSnapshot | None = None  # the newest state handed over (event mode: the progress to beat)
    confirming: bool = False  # an event said the job ended: DescribeJobs must say so before a task ends

    @property
    def interval(self) -> float:
        return poll_interval_for(self.status, min(watch.interval for watch in self.watches))


@dataclass(frozen=True)
class _Schedule:
    """When a poll was due (its longest-waiting id's due time) and when it began."""

    due: float
    started: float

    def next_look(self, interval: float) -> float:
        """When to ask about an id again after this poll: one `interval` after the poll was due.

        Not one interval after the call returned: a poll whose calls wait on the budget (25 calls go
        out over about 2 s at 10 a second) must not push the next poll back by that wait, or a 5 s poll
        comes every 7 s. Every id of a poll, riders that filled a call included, gets the same next due
        time (for the same interval), so ids asked together stay together and keep sharing calls. A
        poll that began more than a whole interval late (the loop stalled, or the budget cannot keep
        up with the ids) starts the schedule again from its own start instead of making up the looks it
        missed at once.
        """
        next_due = self.due + interval
        return next_due if next_due > self.started else self.started + interval


class JobPoller:
    """Polls every watched job of one connection and region in one event loop. Use `JobPoller.shared`."""

    def __init__(
        self,
        make_batch_hook: Callable[[], BatchHook],
        make_logs_hook: Callable[[], BatchLogsHook],
        *,
        missing_grace: float = DEFAULT_MISSING_GRACE_SECONDS,
        failure_grace: float = DEFAULT_FAILURE_GRACE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        budget: RequestBudget | None = None,
        events: JobEventReader | None = None,
        reconcile_seconds: float = DEFAULT_RECONCILE_SECONDS,
        confirm_wait: float = DEFAULT_CONFIRM_WAIT_SECONDS,
    ):
        self._make_batch_hook = make_batch_hook
        self._make_logs_hook = make_logs_hook
        self._batch_hook: BatchHook | None = None
        self._logs_hook: BatchLogsHook | None = None
        self._hooks_lock = threading.Lock()
        self.missing_grace = missing_grace
        self.failure_grace = failure_grace
        self._clock = clock
        self._targets: dict[str, _Target] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._log_reader = LogReader(lambda: self.logs_hook)
        self._failing_since: float | None = None
        self._failures = 0
        self._budget = budget if budget is not None else shared_budget("batch", rate=DEFAULT_BATCH_REQUESTS_PER_SECOND)
        self._events = events
        self.reconcile_seconds = reconcile_seconds
        self.confirm_wait = confirm_wait
        self._confirming: set[str] = set()  # ids of ends an event told of, not confirmed yet
        if events is not None:
            events.attach(self)

    @property
    def event_driven(self) -> bool:
        """Whether job state changes come from events (`[batch_plus] job_events_queue_url`), not polls."""
        return self._events is not None

    # Sharing: one poller per event loop, connection and region.

    _shared: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_PollerKey, JobPoller]]] = (
        weakref.WeakKeyDictionary()
    )

    @classmethod
    def shared(
        cls, aws_conn_id: str | None, region_name: str | None, botocore_config: Mapping[str, Any] | None = None
    ) -> JobPoller:
        """The poller of the running event loop for this connection, region and botocore config, created on
        first use: triggers that ask AWS the same way share one."""
        from airflow.sdk import conf

        from airflow_batch_plus import CONFIG_SECTION
        from airflow_batch_plus.hooks.batch import BatchHook
        from airflow_batch_plus.hooks.logs import BatchLogsHook

        pollers = cls._shared.setdefault(asyncio.get_running_loop(), {})
        config = dict(botocore_config) if botocore_config else None
        key = (aws_conn_id, region_name, json.dumps(config, sort_keys=True, default=str))
        if key not in pollers:
            queue_url = conf.get(CONFIG_SECTION, "job_events_queue_url", fallback="") or ""
            events = JobEventReader.shared(queue_url, aws_conn_id, region_name, config) if queue_url else None
            pollers[key] = cls(
                lambda: BatchHook(aws_conn_id=aws_conn_id, region_name=region_name, config=config),
                lambda: BatchLogsHook(aws_conn_id=aws_conn_id, region_name=region_name, config=config),
                missing_grace=DEFAULT_MISSING_GRACE_SECONDS,
                failure_grace=DEFAULT_FAILURE_GRACE_SECONDS,
                events=events,
                reconcile_seconds=conf.getfloat(
                    CONFIG_SECTION, "job_events_reconcile_seconds", fallback=DEFAULT_RECONCILE_SECONDS
                ),
                confirm_wait=conf.getfloat(
                    CONFIG_SECTION, "job_events_confirm_seconds", fallback=DEFAULT_CONFIRM_WAIT_SECONDS
                ),
            )
        return pollers[key]

    @property
    def batch_hook(self) -> BatchHook:
        """The poller's BatchHook (built on first use, in a worker thread: it may look up a connection)."""
        with self._hooks_lock:
            if self._batch_hook is None:
                self._batch_hook = self._make_batch_hook()
            return self._batch_hook

    @property
    def logs_hook(self) -> BatchLogsHook:
        with self._hooks_lock:
            if self._logs_hook is None:
                self._logs_hook = self._make_logs_hook()
            return self._logs_hook

    # Snapshots

    def watch(self, job_id: str, interval: float) -> JobWatch:
        """Start receiving snapshots of `job_id`, about every `interval` seconds (the first one at once)."""
        if interval <= 0:
            raise ValueError(f"poll_interval={interval!r}: must be a positive number of seconds")
        watch = JobWatch(self, job_id, interval)
        target = self._targets.get(job_id)
        first_due = self._clock() + COALESCE_SECONDS
        if target is None:
            target = self._targets[job_id] = _Target(job_id, next_due=first_due)
        else:
            # Its first snapshot at once, even if the job has ended and is no longer asked about.
            target.next_due = min(target.next_due, first_due)
        target.watches.add(watch)
        self._ensure_running()
        self._wakeup.set()
        return watch

    def _unwatch(self, watch: JobWatch) -> None:
        target = self._targets.get(watch.job_id)
        if target is not None:
            target.watches.discard(watch)
            if not target.watches:
                del self._targets[watch.job_id]
                self._confirming.discard(watch.job_id)
                if not self._targets:
                    self._wakeup.set()  # the loop may be asleep until a job that ended is due: never

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            # A context of its own: the poller serves every trigger, so it must not log into the task
            # log of whichever trigger happened to start it.
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="airflow-batch-plus job poller", context=contextvars.Context()
            )
        if self._events is not None:
            self._events.ensure_running()

    async def _run(self) -> None:
        while self._targets:
            now = self._clock()
            # Ids due within the coalescing window go now too, so ids registered or polled moments
            # apart keep sharing calls instead of drifting into calls of their own.
            due = [target for target in self._targets.values() if target.next_due <= now + COALESCE_SECONDS]
            if not due:
                self._wakeup.clear()
                sleep = min(target.next_due for target in self._targets.values()) - now - COALESCE_SECONDS
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=max(sleep, 0.001))
                continue
            due.sort(key=lambda target: target.next_due)  # the longest overdue go first (a stable sort)
            await self._poll(due, _Schedule(due=due[0].next_due, started=now))

    def _riders(self, room: int, chosen: set[str]) -> list[_Target]:
        """Up to `room` of the soonest-due other targets, to fill a poll's last call: they ride along for free."""
        waiting = (
            target
            for target in self._targets.values()
            if target.job_id not in chosen and target.status not in DONE and target.next_due != math.inf
        )
        return heapq.nsmallest(room, waiting, key=lambda target: target.next_due)

    async def _poll(self, due: list[_Target], schedule: _Schedule) -> None:
        """Describe the `due` targets in calls of 100, handing each call's snapshots over as soon as it returns;
        the soonest-due others fill the last call's spare room.

        A poll of 2,500 ids is 25 calls, which the budget lets out over about 2 s: a job seen ended by
        the first call must not wait for the last one. A failed call backs off its ids and the rest.

        With events, each call first takes the ends that events told of and DescribeJobs has not confirmed
        yet, then the due targets. A reconciliation of 5,000 jobs is 50 calls, 5 s at the budget: a task
        whose job ended meanwhile does not wait for the whole sweep, and a job both swept and confirmed
        takes one place in one call, so the sweep and the ends share the budget's calls.
        """
        waiting = collections.deque(due)
        asked: set[str] = set()
        while True:
            # Due ids asked already (an end taken first) or nobody waits on any more (their trigger fired
            # while the poll went on) make no call; riders only fill a call that asks a due id.
            while waiting and (waiting[0].job_id in asked or self._targets.get(waiting[0].job_id) is not waiting[0]):
                waiting.popleft()
            if not waiting:
                return
            chunk = self._unconfirmed_ends(asked)[:DESCRIBE_BATCH_SIZE] if self.event_driven else []
            chosen = asked | {target.job_id for target in chunk}
            while waiting and len(chunk) < DESCRIBE_BATCH_SIZE:
                target = waiting.popleft()
                if self._targets.get(target.job_id) is target and target.job_id not in chosen:
                    chunk.append(target)
                    chosen.add(target.job_id)
            if not waiting and len(chunk) < DESCRIBE_BATCH_SIZE:
                chunk += self._riders(DESCRIBE_BATCH_SIZE - len(chunk), chosen)
            asked.update(target.job_id for target in chunk)
            try:
                result = await asyncio.to_thread(self._describe, [target.job_id for target in chunk])
            except Exception as error:
                await self._back_off([*chunk, *waiting], error)  # this call and the rest of the poll
                return
            self._failing_since, self._failures = None, 0
            self._take(chunk, result, schedule)

    def _unconfirmed_ends(self, asked: set[str]) -> list[_Target]:
        """Ends an event told of that DescribeJobs has not confirmed and this poll has not asked about yet,
        the longest waiting first."""
        ends = (self._targets.get(job_id) for job_id in self._confirming if job_id not in asked)
        return sorted((target for target in ends if target is not None), key=lambda target: target.next_due)

    def _take(self, chunk: list[_Target], result: DescribeResult, schedule: _Schedule) -> None:
        """Hand one call's snapshots to their watchers and schedule each id's next look."""
        now = self._clock()
        for target in chunk:
            if self._targets.get(target.job_id) is not target:
                continue  # nobody waits on it any more
            snapshot = result.jobs.get(target.job_id)
            if snapshot is None:
                self._missing(target, now, schedule)
                continue
            target.missing_since = None
            if self.event_driven and target.latest is not None and progress(snapshot) < progress(target.latest):
                # DescribeJobs lags behind what an event already said: keep that, and look again.
                target.next_due = (
                    now + CONFIRM_SECONDS if target.confirming else schedule.next_look(self._interval(target))
                )
                continue
            target.status, target.latest = snapshot.status, snapshot
            if snapshot.is_done:
                self._confirming.discard(target.job_id)
            # A finished job is not asked about again: its watchers have what they need.
            target.next_due = math.inf if snapshot.is_done else schedule.next_look(self._interval(target))
            if target.confirming and not snapshot.is_done:
                target.next_due = now + CONFIRM_SECONDS  # an event said it ended; DescribeJobs is to say so too
            for watch in list(target.watches):
                watch._deliver(snapshot)

    def _interval(self, target: _Target) -> float:
        """How long until `target` is described again: its poll interval, or with events the reconciliation
        interval (a job's end that an event told of is confirmed at once: `offer`)."""
        return self.reconcile_seconds if self.event_driven else target.interval

    # Events

    @property
    def watching(self) -> bool:
        return bool(self._targets)

    def offer(self, snapshot: JobSnapshot) -> bool:
        """A job state an event told of (triggers/job_event_reader.py); whether a trigger here waits on it.

        A state further along than the last one handed over goes to the job's watchers at once, with no
        call. An end is not handed over: DescribeJobs confirms it first, within `confirm_wait` seconds, in
        one call with the other ends that came meanwhile (the soonest due ride in a due call's spare room,
        `_riders`); a hundred waiting ends fill a call and go at once. A duplicate or older state is dropped.

        Waiting for company costs a task at most that half second; an end confirmed alone costs a call,
        which at 8 ends a second would be more calls than polling every 5 s makes."""
        target = self._targets.get(snapshot.job_id)
        if target is None:
            return False
        if target.confirming or not is_progress(snapshot, target.latest):
            return True
        if snapshot.is_done:
            target.confirming = True
            self._confirming.add(target.job_id)
            full = len(self._confirming) >= DESCRIBE_BATCH_SIZE
            target.next_due = min(target.next_due, self._clock() + (0.0 if full else self.confirm_wait))
            self._wakeup.set()
            return True
        target.status, target.latest = snapshot.status, snapshot
        for watch in list(target.watches):
            watch._deliver(snapshot)
        return True

    def _describe(self, job_ids: list[str]) -> DescribeResult:
        """One DescribeJobs of up to 100 ids once the process's Batch budget allows it, in a worker
        thread: waiting for the budget blocks the thread, never the event loop."""
        self._budget.acquire()
        return self.batch_hook.describe_jobs(job_ids)

    def _missing(self, target: _Target, now: float, schedule: _Schedule) -> None:
        if target.missing_since is None:
            target.missing_since = now
        if now - target.missing_since >= self.missing_grace:
            error = JobVanishedError(
                f"Batch has not returned job {target.job_id} for {now - target.missing_since:.0f} s: a wrong "
                "job id, or a job that ended longer ago than Batch keeps jobs (about 7 days)"
            )
            self._fail(target, error)
        else:
            target.next_due = schedule.next_look(self._interval(target))

    async def _back_off(self, targets: list[_Target], error: Exception) -> None:
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        self._failures += 1
        if now - self._failing_since >= self.failure_grace:
            failure = PollingFailedError(
                f"DescribeJobs has failed for {now - self._failing_since:.0f} s "
                f"({self._failures} times in a row); last error: {error}"
            )
            for target in targets:
                if self._targets.get(target.job_id) is target:
                    self._fail(target, failure)
            self._failing_since, self._failures = None, 0
            return
        # Full jitter: waiting triggers of many triggerers must not retry in step.
        delay = random.uniform(0, min(MAX_BACKOFF_SECONDS, 2.0**self._failures))
        log.warning("DescribeJobs failed (%s); trying again in %.1f s", error, delay)
        for target in targets:
            target.next_due = max(target.next_due, now + delay)

    def _fail(self, target: _Target, error: BaseException) -> None:
        del self._targets[target.job_id]
        self._confirming.discard(target.job_id)
        for watch in list(target.watches):
            watch._deliver(error)

    # Logs

    async def read_logs(self, streams: Sequence[LogStream], cursor: LogCursor) -> list[LogLine]:
        """The lines of `streams` that `cursor` has not marked, read together with other triggers' requests
        (triggers/log_reader.py). The cursor is not changed: the caller marks each line once it has logged it."""
        return await self._log_reader.read(streams, cursor)
