"""pytest fixtures for the local AWS Batch, registered through the `pytest11` entry point.

Users' own DAG tests get them too once `airflow-batch-plus[local]` is installed. moto is imported
only when a fixture is used, so the plugin costs nothing without the extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_batch_plus.local import LocalBatch, LocalBatchConfig


@pytest.fixture
def local_batch_config() -> LocalBatchConfig:
    """Timings for `local_batch`: tens of milliseconds per state. Override in a conftest to change them."""
    from airflow_batch_plus.local import LocalBatchConfig

    return LocalBatchConfig.fast()


@pytest.fixture
def local_batch(local_batch_config: LocalBatchConfig, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBatch]:
    """A bootstrapped in-process local Batch; `local_batch.env` names its queue and job definition."""
    from airflow_batch_plus.local import LocalBatch

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with LocalBatch(local_batch_config) as batch:
        batch.bootstrap()
        yield batch


@pytest.fixture
def batch_client(local_batch: LocalBatch) -> Any:
    return local_batch.client("batch")


@pytest.fixture
def logs_client(local_batch: LocalBatch) -> Any:
    return local_batch.client("logs")
