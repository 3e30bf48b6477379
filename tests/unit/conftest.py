"""Fixtures for fault tests: a `FaultProxy` in front of the local Batch served over HTTP (`batch_server`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_batch_plus.local import LocalBatchServer
from airflow_batch_plus.testing.faults import FaultProxy


@pytest.fixture
def fault_proxy(
    batch_server: LocalBatchServer, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[FaultProxy]:
    """The proxy in front of the local Batch (`batch_server`, from the plugin); hooks and clients made after
    it reach AWS through it: it points `AWS_ENDPOINT_URL` at itself."""
    with FaultProxy(batch_server.endpoint_url, timeout_seconds=2) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint_url)
        yield proxy
        if report := os.environ.get("FAULT_MATRIX_REPORT"):  # docs/reliability.md counts from these
            proxy.report(report, request.node.nodeid)


@pytest.fixture
def direct_batch(batch_server: LocalBatchServer) -> Any:
    """A Batch client that bypasses the proxy: how a test sees what Batch really holds."""
    assert batch_server.local_batch is not None
    return batch_server.local_batch.client("batch")
