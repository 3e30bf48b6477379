"""Fixtures for the trigger tests: jobs held in SUBMITTED, and a poller whose AWS calls are counted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_batch_plus.hooks.batch import BatchHook
from airflow_batch_plus.hooks.budget import RequestBudget
from airflow_batch_plus.hooks.logs import BatchLogsHook
from airflow_batch_plus.local import LocalBatch
from airflow_batch_plus.testing.calls import CallCounter
from airflow_batch_plus.triggers.poller import JobPoller


@pytest.fixture
def calls() -> CallCounter:
    return CallCounter()


@pytest.fixture
def make_poller(local_batch: LocalBatch, calls: CallCounter) -> Callable[..., JobPoller]:
    """Build a JobPoller on the local Batch (inside the test's event loop), its calls counted."""

    def build(**options: Any) -> JobPoller:
        batch = BatchHook(aws_conn_id=None, region_name="us-east-1")
        logs = BatchLogsHook(aws_conn_id=None, region_name="us-east-1", budget=RequestBudget(rate=1000))
        calls.attach(batch.client)
        calls.attach(logs.client)
        options.setdefault("budget", RequestBudget(rate=1000))
        return JobPoller(lambda: batch, lambda: logs, **options)

    return build
