"""pytest fixtures for the local AWS Batch, registered through the `pytest11` entry point.

Users' own DAG tests get them too once `airflow-batch-plus[local]` is installed. moto is imported
only when a fixture is used, so the plugin costs nothing without the extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_batch_plus.local import LocalBatch, LocalBatchConfig, LocalBatchServer


@pytest.fixture
def local_batch_config() -> LocalBatchConfig:
    """Timings for `local_batch` and `batch_server`: tens of milliseconds per state. Override in a conftest
    (or parametrize it) to change them."""
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
def batch_server(local_batch_config: LocalBatchConfig, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBatchServer]:
    """The local Batch served on 127.0.0.1 (queue `local-queue`, job definition `local-job`), for code that
    reaches it over HTTP, from this process or another.

    Its client environment (`AWS_ENDPOINT_URL`, its key pair, the region) is set for the test, so boto3
    clients and hooks made during the test use it; `batch_server.local_batch` is the Batch behind it.
    """
    from airflow_batch_plus.local import LocalBatchServer

    with LocalBatchServer(port=0, config=local_batch_config) as server:
        assert server.local_batch is not None
        server.local_batch.bootstrap()
        for name, value in server.client_environment().items():
            monkeypatch.setenv(name, value)
        yield server


@pytest.fixture
def batch_client(local_batch: LocalBatch) -> Any:
    return local_batch.client("batch")


@pytest.fixture
def logs_client(local_batch: LocalBatch) -> Any:
    return local_batch.client("logs")
