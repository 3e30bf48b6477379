"""The shared poller: one DescribeJobs call per 100 watched jobs per cycle, whatever the number of triggers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from airflow_batch_plus.hooks.budget import RequestBudget
from airflow_batch_plus.jobs import JobStatus, LogStream
from airflow_batch_plus.local import LocalBatch, LocalBatchConfig
from airflow_batch_plus.testing.calls import CallCounter
from airflow_batch_plus.triggers.poller import (
    JobPoller,
    JobVanishedError,
    PollingFailedError,
)
from airflow_batch_plus.triggers.watch import poll_interval_for

HELD = LocalBatchConfig(submitted_seconds=3600, tick_seconds=0.05)


def hold_jobs(local_batch: LocalBatch, count: int) -> list[str]:
    assert local_batch.env is not None
    request = {"jobQueue": local_batch.env.queue_name, "jobDefinition": local_batch.env.job_definition_name}
    return [local_batch.engine.submit_job({**request, "jobName": f"held-{i}"}).job_id for i in range(count)]


def describe_calls(calls: CallCounter) -> list[list[str]]:
    return [list(params["jobs"]) for name, params in calls.requests if name == "DescribeJobs"]


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_250_watched_jobs_cost_3_describe_jobs_calls_a_cycle(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller], calls: CallCounter
) -> None:
    job_ids = hold_jobs(local_batch, 250)

    async def two_cycles() -> None:
        poller = make_poller()
        # Each job is due again one interval after its own answer: the interval must outlast the three
        # calls of a cycle on a loaded CI machine, or the first chunk's jobs are asked again before the
        # cycle ends (CI once saw a third cycle's first two calls).
        watches = [poller.watch(job_id, interval=2.0) for job_id in job_ids]
        for _ in range(2):
            snapshots = await asyncio.gather(*(watch.next() for watch in watches))
            assert [snapshot.job_id for snapshot in snapshots] == job_ids
            assert {snapshot.status for snapshot in snapshots} == {JobStatus.SUBMITTED}
        for watch in watches:
            watch.close()

    asyncio.run(two_cycles())
    assert [len(ids) for ids in describe_calls(calls)] == [100, 100, 50, 100, 100, 50]


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_an_id_watched_twice_is_asked_once_and_forgotten_when_nobody_watches(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller], calls: CallCounter
) -> None:
    first, second = hold_jobs(local_batch, 2)

    async def scenario() -> JobPoller:
        poller = make_poller()
        one, two, other = poller.watch(first, 0.1), poller.watch(first, 0.1), poller.watch(second, 0.1)
        await asyncio.gather(one.next(), two.next(), other.next())
        assert describe_calls(calls)[0] == [first, second]  # two watches, one id in the call
        one.close()
        one.close()  # idempotent
        await two.next()
        two.close()
        calls.clear()
        await other.next()
        await other.next()
        other.close()
        await asyncio.sleep(0.3)
        return poller

    poller = asyncio.run(scenario())
    assert all(ids == [second] for ids in describe_calls(calls))
    assert not poller._targets
    assert poller._task is not None and poller._task.done()


class FakeClock:
    """The poller's clock, moved only by the test and by budget waits: schedules without wall time."""

    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_a_poll_that_waits_on_the_budget_does_not_push_the_next_poll_back(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller]
) -> None:
    """150 ids are 2 calls; the budget lets the second out 2.05 s (on the poller's clock) after the first.
    Every id is next due one interval after it was due, not one interval after the poll returned."""
    job_ids = hold_jobs(local_batch, 150)
    clock = FakeClock()
    budget = RequestBudget(rate=0.5, burst=1, clock=clock, sleep=clock.advance)  # 1 call per 2.05 s

    async def one_poll() -> list[float]:
        poller = make_poller(clock=clock, budget=budget)
        watches = [poller.watch(job_id, interval=5) for job_id in job_ids]  # due at 100.05
        await asyncio.gather(*(watch.next() for watch in watches))
        assert clock.now == pytest.approx(102.05)  # the second call waited on the budget
        next_due = [poller._targets[job_id].next_due for job_id in job_ids]
        for watch in watches:
            watch.close()
        return next_due

    assert asyncio.run(one_poll()) == [pytest.approx(105.05)] * 150  # not 107.05: no slip


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_a_poll_that_began_a_whole_interval_late_starts_the_schedule_again_from_itself(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller]
) -> None:
    """A stalled loop does not make up missed looks: the next look is one interval after the late poll."""
    job_ids = hold_jobs(local_batch, 2)
    clock = FakeClock()

    async def scenario() -> tuple[float, float]:
        poller = make_poller(clock=clock)
        watches = [poller.watch(job_id, interval=5) for job_id in job_ids]
        await asyncio.gather(*(watch.next() for watch in watches))
        on_time = poller._targets[job_ids[0]].next_due
        poller._targets[job_ids[0]].next_due = poller._targets[job_ids[1]].next_due = 100.0
        clock.advance(12)  # the loop stalled: the look due at 100 happens at 112
        poller._wakeup.set()
        await asyncio.gather(*(watch.next() for watch in watches))
        late = poller._targets[job_ids[0]].next_due
        for watch in watches:
            watch.close()
        return on_time, late

    on_time, late = asyncio.run(scenario())
    assert on_time == pytest.approx(105.05)
    assert late == pytest.approx(117.0)  # not 105 or 110, which would ask again at once


class GatedBudget(RequestBudget):
    """Holds the second call back (in the poller's worker thread) until the test says the first call's
    snapshot reached its watcher, and records whether it did."""

    def __init__(self) -> None:
        super().__init__(rate=1000)
        self.first_delivered = threading.Event()
        self.delivered_before_second_call: list[bool] = []
        self._calls = 0

    def acquire(self) -> float:
        self._calls += 1
        if self._calls == 2:
            self.delivered_before_second_call.append(self.first_delivered.wait(timeout=10))
        return super().acquire()


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_each_calls_snapshots_are_handed_over_before_the_next_call_of_the_poll(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller], calls: CallCounter
) -> None:
    """A job seen by the first call of a poll is not held back by the budget wait of the calls after it."""
    job_ids = hold_jobs(local_batch, 150)
    budget = GatedBudget()

    async def scenario() -> None:
        poller = make_poller(budget=budget)
        watches = [poller.watch(job_id, interval=5) for job_id in job_ids]

        async def first_snapshot() -> None:
            await watches[0].next()
            budget.first_delivered.set()

        waiting = asyncio.create_task(first_snapshot())
        await asyncio.wait_for(watches[-1].next(), timeout=30)
        await waiting
        for watch in watches:
            watch.close()

    asyncio.run(scenario())
    assert budget.delivered_before_second_call == [True]
    assert describe_calls(calls) == [job_ids[:100], job_ids[100:]]


def finished_job(local_batch: LocalBatch) -> str:
    """A job that has already SUCCEEDED."""
    assert local_batch.env is not None
    batch = local_batch.client("batch")
    job_id: str = batch.submit_job(
        jobName="done",
        jobQueue=local_batch.env.queue_name,
        jobDefinition=local_batch.env.job_definition_name,
        containerOverrides={"command": ["true"]},
    )["jobId"]
    deadline = time.monotonic() + 10
    while batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.02)
    return job_id


def test_a_watch_that_starts_after_the_job_ended_still_gets_its_final_snapshot(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller], calls: CallCounter
) -> None:
    job_id = finished_job(local_batch)

    async def scenario() -> JobStatus:
        poller = make_poller()
        early = poller.watch(job_id, 0.1)
        assert (await early.next()).status is JobStatus.SUCCEEDED
        await asyncio.sleep(0.3)  # the ended job is no longer asked about, while `early` still holds it
        asked = calls.calls["DescribeJobs"]
        late = poller.watch(job_id, 0.1)  # e.g. a sensor's trigger on the job another trigger still drains
        snapshot = await asyncio.wait_for(late.next(), timeout=5)
        assert calls.calls["DescribeJobs"] == asked + 1
        early.close()
        late.close()
        return snapshot.status

    assert asyncio.run(scenario()) is JobStatus.SUCCEEDED


def test_the_poller_task_ends_as_soon_as_the_last_watch_of_an_ended_job_closes(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller]
) -> None:
    job_id = finished_job(local_batch)

    async def scenario() -> None:
        poller = make_poller()
        watch = poller.watch(job_id, 0.1)
        await watch.next()
        await asyncio.sleep(0.2)  # the poller now has nothing due, ever
        watch.close()
        assert poller._task is not None
        await asyncio.wait_for(asyncio.shield(poller._task), timeout=1)
        assert not poller._targets

    asyncio.run(scenario())


def test_a_job_batch_never_returns_is_an_error_after_the_grace_not_before(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller]
) -> None:
    async def scenario() -> tuple[float, BaseException]:
        poller = make_poller(missing_grace=0.6)
        watch = poller.watch("no-such-job", 0.1)
        started = time.monotonic()
        with pytest.raises(JobVanishedError) as error:
            await watch.next()
        return time.monotonic() - started, error.value

    waited, error = asyncio.run(scenario())
    assert 0.6 <= waited < 3
    assert "Batch has not returned job no-such-job" in str(error)


class _Body:
    def __init__(self, payload: bytes):
        self._payload = payload

    def stream(self, **_: Any) -> Any:
        yield self._payload


def fail_describe_jobs(poller: JobPoller, failures: dict[str, int], sent: list[float] | None = None) -> None:
    """A 500 on every DescribeJobs attempt while failures['left'] > 0 (injected at botocore's send, the AWS
    boundary, so botocore's own retries see it); the time of every attempt goes to `sent`."""

    def respond(request: Any, **_: Any) -> Any:  # an AWSResponse answers in place of AWS; None lets it through
        if sent is not None:
            sent.append(time.monotonic())
        if failures["left"] <= 0:
            return None
        failures["left"] -= 1
        body = b'{"__type": "ServerException", "message": "injected"}'
        return AWSResponse(
            request.url, 500, HTTPHeaders.from_dict({"x-amzn-errortype": "ServerException"}), _Body(body)
        )

    poller.batch_hook.client.meta.events.register("before-send.batch.DescribeJobs", respond)


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_describe_failures_back_off_and_recover(
    local_batch: LocalBatch,
    make_poller: Callable[..., JobPoller],
    calls: CallCounter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (job_id,) = hold_jobs(local_batch, 1)
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    jitter_bounds: list[tuple[float, float]] = []

    def jitter(low: float, high: float) -> float:
        jitter_bounds.append((low, high))
        return 0.3

    monkeypatch.setattr("airflow_batch_plus.triggers.poller.random.uniform", jitter)
    sent: list[float] = []

    async def scenario() -> JobStatus:
        poller = make_poller(failure_grace=30)
        failures = {"left": 25}  # more than botocore's 11 attempts a call: the poller itself has to try again
        fail_describe_jobs(poller, failures, sent)
        watch = poller.watch(job_id, 0.1)
        snapshot = await asyncio.wait_for(watch.next(), timeout=20)
        watch.close()
        assert failures["left"] == 0
        return snapshot.status

    assert asyncio.run(scenario()) is JobStatus.SUBMITTED
    # 11 attempts (botocore's 10 retries) fail, 11 more fail, the third call gets through on its 4th attempt
    assert calls.calls["DescribeJobs"] == 3
    assert jitter_bounds == [(0, 2.0), (0, 4.0)]  # full jitter over a doubling bound
    assert len(sent) == 26
    assert sent[11] - sent[10] >= 0.2 and sent[22] - sent[21] >= 0.2  # the poller waited before each new call


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_describe_failing_past_the_failure_grace_fails_the_watchers(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller], monkeypatch: pytest.MonkeyPatch
) -> None:
    (job_id,) = hold_jobs(local_batch, 1)
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    monkeypatch.setattr("airflow_batch_plus.triggers.poller.random.uniform", lambda low, high: 0.05)

    async def scenario() -> tuple[float, BaseException]:
        poller = make_poller(failure_grace=0.5)
        fail_describe_jobs(poller, {"left": 10_000})
        watch = poller.watch(job_id, 0.1)
        started = time.monotonic()
        with pytest.raises(PollingFailedError) as error:
            await asyncio.wait_for(watch.next(), timeout=20)
        assert not poller._targets  # given up on: not asked about again
        return time.monotonic() - started, error.value

    waited, error = asyncio.run(scenario())
    assert waited >= 0.5
    assert "DescribeJobs has failed" in str(error)


def put_lines(local_batch: LocalBatch, group: str, names: list[str]) -> list[LogStream]:
    logs: Any = local_batch.client("logs")
    logs.create_log_group(logGroupName=group)
    for name in names:
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        logs.put_log_events(
            logGroupName=group, logStreamName=name, logEvents=[{"timestamp": int(time.time() * 1000), "message": name}]
        )
    return [LogStream(group, name) for name in names]


def test_log_reads_asked_together_share_one_filter_log_events_call(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller], calls: CallCounter
) -> None:
    from airflow_batch_plus.hooks.logs import LogCursor

    streams = put_lines(local_batch, "/shared", [f"job-{i}" for i in range(100)])  # FilterLogEvents' limit

    async def scenario() -> list[list[str]]:
        poller = make_poller()
        results = await asyncio.gather(*(poller.read_logs([stream], LogCursor()) for stream in streams))
        return [[line.message for line in lines] for lines in results]

    assert asyncio.run(scenario()) == [[stream.name] for stream in streams]
    assert calls.calls["FilterLogEvents"] == 1


def test_two_readers_of_one_stream_are_never_served_by_one_call(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller], calls: CallCounter
) -> None:
    from airflow_batch_plus.hooks.logs import LogCursor

    stream, other = put_lines(local_batch, "/twice", ["shared", "other"])

    async def scenario() -> list[list[str]]:
        poller = make_poller()
        results = await asyncio.gather(
            poller.read_logs([stream], LogCursor()),
            poller.read_logs([stream], LogCursor()),
            poller.read_logs([other], LogCursor()),
        )
        return [[line.message for line in lines] for lines in results]

    assert asyncio.run(scenario()) == [["shared"], ["shared"], ["other"]]
    asked = [params["logStreamNames"] for name, params in calls.requests if name == "FilterLogEvents"]
    assert asked == [["shared", "other"], ["shared"]]  # two rounds; the other stream rides the first


def test_poll_intervals_adapt_to_the_status() -> None:
    assert poll_interval_for(JobStatus.STARTING, 30) == 15
    assert poll_interval_for(JobStatus.RUNNING, 30) == 30
    assert poll_interval_for(JobStatus.RUNNABLE, 30) == 60
    assert poll_interval_for(JobStatus.RUNNABLE, 60) == 90  # at most 30 s later
    assert poll_interval_for(None, 30) == 30


def test_a_watch_needs_a_positive_interval(make_poller: Callable[..., JobPoller]) -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError, match="poll_interval=0"):
            make_poller().watch("j", 0)

    asyncio.run(scenario())
