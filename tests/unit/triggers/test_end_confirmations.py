"""Confirming ends that events told of: ends that come within the confirmation wait share one DescribeJobs
call, a hundred waiting ends go at once, and a due confirmation does not wait for a reconciliation sweep."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from airflow_batch_plus.hooks.budget import RequestBudget
from airflow_batch_plus.hooks.sqs import SqsHook
from airflow_batch_plus.jobs import JobSnapshot, JobStatus
from airflow_batch_plus.local import LocalBatch, LocalBatchConfig
from airflow_batch_plus.testing.calls import CallCounter
from airflow_batch_plus.triggers.job_event_reader import JobEventReader
from airflow_batch_plus.triggers.poller import DEFAULT_CONFIRM_WAIT_SECONDS, JobPoller

HELD = LocalBatchConfig(submitted_seconds=3600, tick_seconds=0.05)


class FakeClock:
    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def quiet_reader(local_batch: LocalBatch) -> JobEventReader:
    """A reader of a queue no rule sends to: the tests offer the events themselves."""
    url = local_batch.client("sqs").create_queue(QueueName="quiet")["QueueUrl"]
    return JobEventReader(url, lambda: SqsHook(aws_conn_id=None, region_name="us-east-1"), wait_seconds=1)


def hold_jobs(local_batch: LocalBatch, count: int) -> list[str]:
    assert local_batch.env is not None
    request = {"jobQueue": local_batch.env.queue_name, "jobDefinition": local_batch.env.job_definition_name}
    return [local_batch.engine.submit_job({**request, "jobName": f"held-{i}"}).job_id for i in range(count)]


def end_event(local_batch: LocalBatch, job_id: str) -> JobSnapshot:
    """End the job in the local Batch and return its end as an event would carry it."""
    local_batch.engine.terminate(job_id, "ended by the test")
    (item,) = local_batch.engine.describe_jobs([job_id])
    snapshot = JobSnapshot.from_describe(item)
    assert snapshot.status is JobStatus.FAILED
    return snapshot


def describe_calls(calls: CallCounter) -> list[list[str]]:
    return [list(params["jobs"]) for name, params in calls.requests if name == "DescribeJobs"]


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_ends_that_come_within_the_confirmation_wait_share_one_call(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller], calls: CallCounter, quiet_reader: JobEventReader
) -> None:
    job_ids = hold_jobs(local_batch, 5)
    clock = FakeClock()

    async def scenario() -> list[JobStatus]:
        poller = make_poller(clock=clock, events=quiet_reader)
        watches = [poller.watch(job_id, interval=5) for job_id in job_ids]
        await asyncio.gather(*(watch.next() for watch in watches))
        calls.clear()
        for index, job_id in enumerate(job_ids):  # five ends, 0.1 s apart on the poller's clock
            clock.now += 0.1 if index else 0.0
            assert poller.offer(end_event(local_batch, job_id))
        await asyncio.sleep(0.5)
        assert describe_calls(calls) == []  # the first end waits its 0.5 s for company
        clock.now += DEFAULT_CONFIRM_WAIT_SECONDS - 0.4 + 0.01
        poller._wakeup.set()
        ends = await asyncio.wait_for(asyncio.gather(*(watch.next() for watch in watches)), timeout=10)
        for watch in watches:
            watch.close()
        return [snapshot.status for snapshot in ends]

    assert asyncio.run(scenario()) == [JobStatus.FAILED] * 5
    # The first end fell due; the four later ones rode in its call's spare room.
    assert describe_calls(calls) == [job_ids]


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_a_hundred_waiting_ends_fill_a_call_and_go_at_once(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller], calls: CallCounter, quiet_reader: JobEventReader
) -> None:
    job_ids = hold_jobs(local_batch, 150)
    clock = FakeClock()  # never moves: only a full call can go

    async def scenario() -> None:
        poller = make_poller(clock=clock, events=quiet_reader)
        watches = [poller.watch(job_id, interval=5) for job_id in job_ids]
        await asyncio.gather(*(watch.next() for watch in watches))
        calls.clear()
        for job_id in job_ids[:100]:
            assert poller.offer(end_event(local_batch, job_id))
        ends = await asyncio.wait_for(asyncio.gather(*(watch.next() for watch in watches[:100])), timeout=10)
        assert {snapshot.status for snapshot in ends} == {JobStatus.FAILED}
        for watch in watches:
            watch.close()

    asyncio.run(scenario())
    (call,) = describe_calls(calls)
    assert sorted(call) == sorted(job_ids[:100])


class SweepGate(RequestBudget):
    """Holds the `gated`th DescribeJobs call in the poller's worker thread until the test opens the gate."""

    def __init__(self, gated: int) -> None:
        super().__init__(rate=1000)
        self.gated = gated
        self.reached = threading.Event()
        self.open = threading.Event()
        self._calls = 0

    def acquire(self) -> float:
        self._calls += 1
        if self._calls == self.gated:
            self.reached.set()
            assert self.open.wait(timeout=10)
        return super().acquire()


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_an_end_due_during_a_reconciliation_sweep_is_confirmed_before_the_rest_of_the_sweep(
    local_batch: LocalBatch, make_poller: Callable[..., JobPoller], calls: CallCounter, quiet_reader: JobEventReader
) -> None:
    """300 jobs: a sweep is 3 calls. An end offered during its first call goes first in the second call,
    which the sweep fills up: no call more, no id asked twice, and the sweep still covers every job."""
    job_ids = hold_jobs(local_batch, 300)
    ended = job_ids[-1]  # in the sweep's last call
    budget = SweepGate(gated=4)  # the first look is 3 calls; the sweep's first call is the 4th

    async def scenario() -> JobStatus:
        poller = make_poller(events=quiet_reader, budget=budget, confirm_wait=0.0)
        watches = [poller.watch(job_id, interval=5) for job_id in job_ids]
        await asyncio.gather(*(watch.next() for watch in watches))
        calls.clear()
        for target in poller._targets.values():
            target.next_due = 0.0  # the reconciliation is due now
        poller._wakeup.set()
        await asyncio.to_thread(budget.reached.wait, 10)
        assert poller.offer(end_event(local_batch, ended))
        budget.open.set()
        last = watches[-1]
        while (snapshot := await asyncio.wait_for(last.next(), timeout=10)).status is not JobStatus.FAILED:
            pass
        await asyncio.sleep(0.2)  # the sweep's remaining calls
        for watch in watches:
            watch.close()
        return snapshot.status

    assert asyncio.run(scenario()) is JobStatus.FAILED
    sweep = describe_calls(calls)
    assert sweep[0] == job_ids[:100]
    assert sweep[1][0] == ended  # the end went before the rest of the sweep
    asked = [job_id for call in sweep for job_id in call]
    assert sorted(asked) == sorted(job_ids)  # every job once, the ended one included
    assert len(sweep) == 3
