"""RequestBudget: a token bucket every CloudWatch Logs call of a process draws from."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_batch_plus.hooks.budget import RequestBudget, shared_budget
from airflow_batch_plus.hooks.logs import BatchLogsHook, LogCursor
from airflow_batch_plus.jobs import LogStream
from airflow_batch_plus.local import LocalBatch
from airflow_batch_plus.local.calls import CallCounter


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


def budget(rate: float, burst: float | None = None) -> tuple[RequestBudget, FakeClock]:
    clock = FakeClock()
    return RequestBudget(rate, burst, clock=clock, sleep=clock.sleep), clock


def test_a_burst_goes_at_once_then_requests_are_spaced_by_the_rate() -> None:
    limiter, clock = budget(rate=5, burst=3)
    assert [limiter.acquire() for _ in range(3)] == [0, 0, 0]
    waits = [limiter.acquire() for _ in range(4)]
    assert waits == pytest.approx([0.2, 0.2, 0.2, 0.2])
    assert clock.now == pytest.approx(100.8)


def test_tokens_refill_with_time_but_never_beyond_the_burst() -> None:
    limiter, clock = budget(rate=2, burst=2)
    limiter.acquire()
    limiter.acquire()
    clock.now += 60  # a long quiet spell earns at most `burst` requests
    assert [limiter.acquire() for _ in range(2)] == [0, 0]
    assert limiter.acquire() == pytest.approx(0.5)


def test_the_default_burst_is_one_second_of_requests() -> None:
    limiter, _ = budget(rate=4)
    assert [limiter.acquire() for _ in range(4)] == [0, 0, 0, 0]
    assert limiter.acquire() > 0


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
