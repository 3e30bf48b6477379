"""Fixtures for fault tests: the local Batch over HTTP with a `FaultProxy` in front of it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_batch_plus.local import LocalBatchConfig, LocalBatchServer
from airflow_batch_plus.local.faults import FaultProxy


@pytest.fixture
def proxied_batch(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBatchServer]:
    """The local Batch on 127.0.0.1 (queue `local-queue`, job definition `local-job`)."""
    with LocalBatchServer(port=0, config=LocalBatchConfig.fast()) as server:
        assert server.local_batch is not None
        server.local_batch.bootstrap()
        for name, value in server.client_environment().items():
            if name != "AWS_ENDPOINT_URL":  # set by `fault_proxy`: clients go through the proxy
                monkeypatch.setenv(name, value)
        yield server


@pytest.fixture
def fault_proxy(
    proxied_batch: LocalBatchServer, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[FaultProxy]:
    """The proxy in front of the local Batch; hooks and clients made after it reach AWS through it."""
    with FaultProxy(proxied_batch.endpoint_url, timeout_seconds=2) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint_url)
        yield proxy
        if report := os.environ.get("FAULT_MATRIX_REPORT"):  # docs/reliability.md counts from these
            proxy.report(report, request.node.nodeid)


@pytest.fixture
def direct_batch(proxied_batch: LocalBatchServer) -> Any:
    """A Batch client that bypasses the proxy: how a test sees what Batch really holds."""
    assert proxied_batch.local_batch is not None
    return proxied_batch.local_batch.client("batch")
