"""RequestBudget: the sliding-window limit every CloudWatch Logs (and Batch) call of a process draws from."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_batch_plus.hooks.budget import ARRIVAL_SLACK_SECONDS, RequestBudget, shared_budget
from airflow_batch_plus.hooks.logs import BatchLogsHook, LogCursor
from airflow_batch_plus.jobs import LogStream
from airflow_batch_plus.local import LocalBatch
from airflow_batch_plus.testing.calls import CallCounter


class FakeClock:
    """Time that moves only when someone sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def budget(rate: float, burst: int | None = None) -> tuple[RequestBudget, FakeClock]:
    clock = FakeClock()
    return RequestBudget(rate, burst, clock=clock, sleep=clock.sleep), clock


def most_in_any_window(moments: list[float], width: float) -> int:
    return max(sum(1 for other in moments if start <= other < start + width) for start in moments)


def test_never_more_than_rate_requests_in_any_second() -> None:
    limiter, clock = budget(rate=5)
    moments = []
    for index in range(40):
        if index % 7 == 0:
            clock.now += 0.13  # callers arrive at uneven times
        limiter.acquire()
        moments.append(clock.now)
    assert most_in_any_window(moments, 1.0) == 5
    # ... and it is not slower than it must be: 40 requests at 5 a second take about 7 windows.
    assert moments[-1] - moments[0] < 7 * (1 + ARRIVAL_SLACK_SECONDS) + 0.5


def test_a_burst_goes_at_once_then_waits_for_its_window() -> None:
    limiter, _ = budget(rate=5, burst=3)
    assert [limiter.acquire() for _ in range(3)] == [0, 0, 0]
    # Three requests per 0.6 s window: the fourth goes when the first's window is over.
    assert limiter.acquire() == pytest.approx(0.6 + ARRIVAL_SLACK_SECONDS)
    assert [limiter.acquire() for _ in range(2)] == [0, 0]


def test_a_quiet_spell_earns_no_more_than_one_burst() -> None:
    limiter, clock = budget(rate=2)
    limiter.acquire()
    limiter.acquire()
    clock.now += 60
    assert [limiter.acquire() for _ in range(2)] == [0, 0]
    assert limiter.acquire() == pytest.approx(1 + ARRIVAL_SLACK_SECONDS)


def test_a_rate_below_one_a_second_spaces_single_requests() -> None:
    limiter, _ = budget(rate=0.5)
    assert limiter.acquire() == 0
    assert limiter.acquire() == pytest.approx(2 + ARRIVAL_SLACK_SECONDS)


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate=0"):
        RequestBudget(0)


def test_one_shared_budget_per_name_per_process() -> None:
    assert shared_budget("logs") is shared_budget("logs")
    assert shared_budget("logs") is not shared_budget("batch")


def test_every_logs_request_draws_one_token(local_batch: LocalBatch, calls: CallCounter) -> None:
    class CountingBudget(RequestBudget):
        taken = 0

        def acquire(self) -> float:
            CountingBudget.taken += 1
            return super().acquire()

    hook = BatchLogsHook(aws_conn_id=None, region_name="us-east-1", budget=CountingBudget(rate=1000))
    calls.attach(hook.client)
    logs: Any = local_batch.client("logs")
    logs.create_log_group(logGroupName="/budget")
    streams = [LogStream("/budget", f"s{index}") for index in range(150)]
    for stream in streams:
        logs.create_log_stream(logGroupName="/budget", logStreamName=stream.name)
    hook.read_new(streams, LogCursor())
    assert calls.calls["FilterLogEvents"] == 2
    assert CountingBudget.taken == sum(calls.calls.values()) == 2


def test_try_acquire_takes_a_free_slot_at_once_and_never_waits() -> None:
    limited, clock = budget(rate=2)
    assert [limited.try_acquire() for _ in range(3)] == [True, True, False]
    assert clock.slept == []
    clock.now += 1 + ARRIVAL_SLACK_SECONDS
    assert limited.try_acquire() is True
