"""Fixtures for the hook tests: hooks bound to the local AWS Batch, and AWS calls counted by botocore."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_batch_plus.hooks.batch import BatchHook
from airflow_batch_plus.hooks.budget import RequestBudget
from airflow_batch_plus.hooks.logs import BatchLogsHook
from airflow_batch_plus.local import LocalBatch
from airflow_batch_plus.testing.calls import CallCounter


@pytest.fixture
def calls() -> CallCounter:
    return CallCounter()


@pytest.fixture
def batch_hook(local_batch: LocalBatch, calls: CallCounter) -> Iterator[BatchHook]:
    """A BatchHook on the local Batch (no Airflow connection: boto3's default chain), its calls counted."""
    hook = BatchHook(aws_conn_id=None, region_name="us-east-1")
    calls.attach(hook.client)
    calls.attach(hook.submit_client)
    yield hook


@pytest.fixture
def logs_hook(local_batch: LocalBatch, calls: CallCounter) -> Iterator[BatchLogsHook]:
    """A BatchLogsHook on the local Batch with a budget of its own (generous: tests are not rate tests)."""
    hook = BatchLogsHook(aws_conn_id=None, region_name="us-east-1", budget=RequestBudget(rate=1000))
    calls.attach(hook.client)
    yield hook
