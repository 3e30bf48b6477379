"""The poller told of job changes by Batch's events through SQS, not by polling: triggers wake on events
with no DescribeJobs call, an end is confirmed by DescribeJobs, and lost, repeated, late or forged events
cost latency, never a wrong outcome."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import pytest

from airflow_batch_plus.hooks.sqs import QueueMessage, SqsHook
from airflow_batch_plus.job_events import BATCH_SOURCE, JOB_STATE_CHANGE
from airflow_batch_plus.jobs import JobStatus
from airflow_batch_plus.local import LocalBatch, LocalBatchConfig
from airflow_batch_plus.testing.calls import CallCounter
from airflow_batch_plus.triggers.job_event_reader import JobEventReader
from airflow_batch_plus.triggers.poller import JobPoller

FAST = LocalBatchConfig.fast()


@pytest.fixture
def local_batch_config() -> LocalBatchConfig:
    return FAST


@pytest.fixture
def queue_url(local_batch: LocalBatch) -> str:
    (url,) = local_batch.bootstrap(job_event_queues=1).job_event_queue_urls
    return url


class DroppingReader(JobEventReader):
    """A reader that loses the events `drop` picks (as SQS or EventBridge may), after reading them."""

    def __init__(self, queue_url: str, drop: Callable[[dict[str, Any]], bool]):
        super().__init__(queue_url, lambda: SqsHook(aws_conn_id=None, region_name="us-east-1"), wait_seconds=1)
        self.drop = drop
        self.dropped = 0

    def take(self, messages: list[QueueMessage]) -> None:
        kept = [message for message in messages if not self.drop(json.loads(message.body))]
        self.dropped += len(messages) - len(kept)
        super().take(kept)


def reader(queue_url: str, drop: Callable[[dict[str, Any]], bool] = lambda event: False) -> DroppingReader:
    return DroppingReader(queue_url, drop)


def submit(local_batch: LocalBatch, script: str) -> str:
    assert local_batch.env is not None
    return local_batch.client("batch").submit_job(
        jobName="evented",
        jobQueue=local_batch.env.queue_name,
        jobDefinition=local_batch.env.job_definition_name,
        containerOverrides={"command": ["sh", "-c", script]},
    )["jobId"]


async def follow(poller: JobPoller, job_id: str, interval: float, timeout: float = 30) -> list[tuple[str, float]]:
    """Every status the watch hands over until the job ends, with when (monotonic)."""
    watch = poller.watch(job_id, interval)
    seen: list[tuple[str, float]] = []
    try:
        while not seen or seen[-1][0] not in ("SUCCEEDED", "FAILED"):
            snapshot = await asyncio.wait_for(watch.next(), timeout)
            seen.append((snapshot.status.value, time.monotonic()))
    finally:
        watch.close()
    return seen


def test_a_job_is_followed_by_its_events_with_one_describe_to_start_and_one_to_confirm_its_end(
    local_batch: LocalBatch, queue_url: str, make_poller: Callable[..., JobPoller], calls: CallCounter
) -> None:
    job_id = submit(local_batch, "sleep 3")

    async def scenario() -> tuple[list[tuple[str, float]], JobEventReader]:
        events = reader(queue_url)
        poller = make_poller(events=events, reconcile_seconds=600)
        return await follow(poller, job_id, interval=600), events  # no poll would come in this test's time

    seen, events = asyncio.run(scenario())
    statuses = [status for status, _ in seen]
    assert statuses[-1] == "SUCCEEDED"
    assert "RUNNING" in statuses  # handed over from its event, with no call
    assert calls["DescribeJobs"] == 2  # the first look, then the end's confirmation
    assert events.counts["applied"] >= 3


def test_a_live_watch_still_wakes_every_interval_between_events(
    local_batch: LocalBatch, queue_url: str, make_poller: Callable[..., JobPoller], calls: CallCounter
) -> None:
    """The trigger reads a running job's new log lines and checks its clocks at each wake-up."""
    job_id = submit(local_batch, "sleep 4")

    async def scenario() -> list[tuple[str, float]]:
        poller = make_poller(events=reader(queue_url), reconcile_seconds=600)
        return await follow(poller, job_id, interval=0.5)

    seen = asyncio.run(scenario())
    running = [at for status, at in seen if status == "RUNNING"]
    assert len(running) >= 4  # about every 0.5 s over ~3 s RUNNING, though only one RUNNING event came
    assert calls["DescribeJobs"] == 2


def test_lost_events_cost_latency_not_the_outcome(
    local_batch: LocalBatch, queue_url: str, make_poller: Callable[..., JobPoller], calls: CallCounter
) -> None:
    """Every event lost: the reconciliation sweep still follows the job to its real end. The jobs run a few
    seconds so that the reader, whose first receive makes an SQS client (seconds on a loaded CI machine),
    reads and loses some of their events before they end."""
    succeeds, fails = submit(local_batch, "sleep 4"), submit(local_batch, "sleep 4; exit 3")

    async def scenario() -> tuple[list[tuple[str, float]], list[tuple[str, float]], DroppingReader]:
        events = reader(queue_url, drop=lambda event: True)
        poller = make_poller(events=events, reconcile_seconds=2)
        one, other = await asyncio.gather(follow(poller, succeeds, 600), follow(poller, fails, 600))
        return one, other, events

    one, other, events = asyncio.run(scenario())
    assert (one[-1][0], other[-1][0]) == ("SUCCEEDED", "FAILED")
    assert events.dropped > 0 and events.counts["applied"] == 0
    assert calls["DescribeJobs"] >= 2


def test_repeated_and_late_events_never_move_a_job_back(
    local_batch: LocalBatch, queue_url: str, make_poller: Callable[..., JobPoller]
) -> None:
    """Each event read twice, and the whole batch read again in reverse order after it: the states handed
    over only ever move forward."""
    job_id = submit(local_batch, "sleep 2")
    order = [status.value for status in JobStatus]

    class Replaying(DroppingReader):
        def take(self, messages: list[QueueMessage]) -> None:
            super().take(messages + messages)
            super().take(list(reversed(messages)))

    async def scenario() -> list[tuple[str, float]]:
        events = Replaying(queue_url, drop=lambda event: False)
        poller = make_poller(events=events, reconcile_seconds=600)
        return await follow(poller, job_id, interval=600)

    statuses = [status for status, _ in asyncio.run(scenario())]
    assert statuses[-1] == "SUCCEEDED"
    assert [order.index(status) for status in statuses] == sorted(order.index(status) for status in statuses)
    assert len(statuses) == len(set(statuses))  # each state handed over once


def test_an_end_that_batch_does_not_confirm_is_not_handed_over(
    local_batch: LocalBatch, queue_url: str, make_poller: Callable[..., JobPoller], calls: CallCounter
) -> None:
    """An event saying a running job SUCCEEDED (late consistency, or forged): DescribeJobs is asked, still
    says RUNNING, and the watch never sees SUCCEEDED until the job really ends."""
    job_id = submit(local_batch, "sleep 3")
    client = local_batch.client("batch")

    async def scenario() -> list[tuple[str, float]]:
        events = reader(queue_url, drop=lambda event: event["detail"]["status"] in ("SUCCEEDED", "FAILED"))
        poller = make_poller(events=events, reconcile_seconds=600)
        task = asyncio.ensure_future(follow(poller, job_id, interval=600))
        while client.describe_jobs(jobs=[job_id])["jobs"][0]["status"] != "RUNNING":
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        running = client.describe_jobs(jobs=[job_id])["jobs"][0]
        forged = {"source": BATCH_SOURCE, "detail-type": JOB_STATE_CHANGE, "detail": {**running, "status": "SUCCEEDED"}}
        JobEventReader.take(events, [QueueMessage("forged", "r", json.dumps(forged))])  # past the dropping
        await asyncio.sleep(1.5)
        assert not task.done()  # the forged end was asked about and not handed over
        return await task

    seen = asyncio.run(scenario())
    assert seen[-1][0] == "SUCCEEDED"
    assert calls["DescribeJobs"] >= 3  # first look, the forged end's confirmations, the real end by a later one


def test_a_message_that_is_not_a_job_event_is_counted_and_left(local_batch: LocalBatch, queue_url: str) -> None:
    events = JobEventReader(queue_url, lambda: SqsHook(aws_conn_id=None, region_name="us-east-1"))
    events.take(
        [
            QueueMessage("1", "r", "not json"),
            QueueMessage("2", "r", json.dumps({"source": "aws.ec2", "detail-type": "x", "detail": {}})),
        ]
    )
    assert events.counts == {"received": 2, "foreign": 2}


def test_the_reader_deletes_what_it_read(
    local_batch: LocalBatch, queue_url: str, make_poller: Callable[..., JobPoller]
) -> None:
    job_id = submit(local_batch, "true")

    async def scenario() -> JobEventReader:
        events = reader(queue_url)
        await follow(make_poller(events=events, reconcile_seconds=600), job_id, interval=600)
        await asyncio.sleep(0.2)
        return events

    events = asyncio.run(scenario())
    assert events.counts["deleted"] == events.counts["received"] > 0
    sqs = local_batch.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == (
        "0",
        "0",
    )


def test_a_trigger_in_a_triggerer_configured_for_events_logs_every_line_live_and_ends_on_the_confirmed_end(
    local_batch: LocalBatch, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[batch_plus] job_events_queue_url` set: the shared poller reads the queue; the job's lines still
    reach the log while it runs (the watch wakes each poll interval), each once."""
    import structlog

    from airflow_batch_plus.triggers.batch import BatchJobTrigger

    monkeypatch.setenv("AIRFLOW__BATCH_PLUS__JOB_EVENTS_QUEUE_URL", queue_url)
    monkeypatch.setenv("AIRFLOW__BATCH_PLUS__JOB_EVENTS_RECONCILE_SECONDS", "600")
    job_id = submit(local_batch, "for i in 1 2 3 4 5; do echo evented-line-$i; sleep 0.4; done")
    batch_trigger = BatchJobTrigger(job_id, aws_conn_id=None, region_name="us-east-1", poll_interval=0.3)

    async def first() -> tuple[dict[str, Any], JobPoller]:
        async for event in batch_trigger.run():
            return dict(event.payload), batch_trigger.poller
        raise AssertionError("no event")

    with structlog.testing.capture_logs() as entries:
        event, poller = asyncio.run(asyncio.wait_for(first(), 60))
    lines = [str(entry["event"]) for entry in entries if "evented-line-" in str(entry["event"])]
    assert event["status"] == "success"
    assert poller.event_driven
    assert [line.rsplit("evented-line-", 1)[1] for line in lines] == ["1", "2", "3", "4", "5"]


def test_receivers_waiting_on_a_quiet_queue_leave_the_loops_threads_to_everything_else() -> None:
    """Long polls of a quiet queue block their threads up to 20 s each: they must not be the loop's default
    executor's, which every trigger's `asyncio.to_thread` (the poller's DescribeJobs, log reads) shares."""
    quiet = threading.Event()

    class Hook:
        def __init__(self) -> None:
            self.receives = 0

        def receive(self, queue_url: str, wait_seconds: int) -> list[QueueMessage]:
            self.receives += 1
            if self.receives <= 3:  # full batches: more receivers join
                return [QueueMessage(str(index), f"handle-{index}", "{}") for index in range(10)]
            quiet.wait(wait_seconds)  # a long poll of an empty queue
            return []

        def delete(self, queue_url: str, messages: list[QueueMessage]) -> list[str]:
            return []

    class Taker:
        watching = True

        def offer(self, snapshot: Any) -> bool:
            return False

    hook = Hook()
    events = JobEventReader("https://sqs.example/queue", lambda: cast(SqsHook, hook), wait_seconds=10)
    taker = Taker()
    events.attach(taker)

    async def scenario() -> float:
        from concurrent.futures import ThreadPoolExecutor

        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))  # 2 threads, as few as 4 receivers
        events.ensure_running()
        while events.receivers < 4:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # each in its long poll
        started = time.monotonic()
        await asyncio.wait_for(asyncio.to_thread(lambda: None), timeout=5)
        waited = time.monotonic() - started
        taker.watching = False
        quiet.set()
        return waited

    assert asyncio.run(scenario()) < 1


def test_a_new_watch_gets_a_staying_receiver_even_while_a_helper_receiver_still_reads() -> None:
    """The first receiver left (nobody watched) while a helper was in a long poll; a job is watched again.
    The helper leaves at its first empty receive, so a receiver that stays must start now, or the queue
    goes unread until yet another job is watched."""
    release = threading.Event()

    class Hook:
        def receive(self, queue_url: str, wait_seconds: int) -> list[QueueMessage]:
            release.wait(wait_seconds)
            return []

        def delete(self, queue_url: str, messages: list[QueueMessage]) -> list[str]:
            return []

    class Taker:
        watching = True

        def offer(self, snapshot: Any) -> bool:
            return False

    events = JobEventReader("https://sqs.example/queue", lambda: cast(SqsHook, Hook()), wait_seconds=5)
    taker = Taker()
    events.attach(taker)

    async def scenario() -> tuple[int, int]:
        events._start_receiver()  # a helper in its long poll; the first receiver has gone
        await asyncio.sleep(0.1)
        events.ensure_running()  # a job is watched again
        await asyncio.sleep(0.1)
        during = events.receivers
        release.set()  # the helper's receive comes back empty: it leaves
        await asyncio.sleep(0.3)
        after = events.receivers
        taker.watching = False
        await asyncio.sleep(0.3)
        return during, after

    assert asyncio.run(scenario()) == (2, 1)
