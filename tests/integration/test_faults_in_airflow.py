"""A task in a real Airflow 3 (`dag.test()`) while AWS fails on every kind of call it makes, through the
fault proxy: the run still succeeds, exactly one job is submitted, and every line is logged once."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from dag_runs import jobs_named_like, run_dag

from airflow_batch_plus.local import LocalBatchServer
from airflow_batch_plus.testing.faults import Fault, FaultProxy

pytestmark = pytest.mark.usefixtures("airflow_db")

COUNT_TO_20 = "for i in $(seq 1 20); do echo line-$i; sleep 0.05; done"
# Every operation the task makes, each failing more than one way, in this order.
FAULT_PLAN = {
    "SubmitJob": [Fault.THROTTLE, Fault.TIMEOUT_AFTER],  # the second attempt's answer is lost: found by tag
    "ListJobs": [Fault.RESET_AFTER],  # the look-up that finds it
    "DescribeJobs": [Fault.RESET, Fault.UNAVAILABLE, Fault.SERVER_ERROR, Fault.THROTTLE],
    "FilterLogEvents": [Fault.THROTTLE, Fault.TIMEOUT_AFTER, Fault.RESET],
}


@pytest.fixture
def fault_proxy(
    batch_server: LocalBatchServer, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[FaultProxy]:
    with FaultProxy(batch_server.endpoint_url, timeout_seconds=2) as proxy:
        extra = {"region_name": "us-east-1", "endpoint_url": proxy.endpoint_url, "config_kwargs": {"read_timeout": 1}}
        monkeypatch.setenv("AIRFLOW_CONN_AWS_THROUGH_FAULTS", json.dumps({"conn_type": "aws", "extra": extra}))
        for operation, faults in FAULT_PLAN.items():
            for fault in faults:
                proxy.add(operation, fault)
        yield proxy
        if report := os.environ.get("FAULT_MATRIX_REPORT"):  # docs/reliability.md counts from these
            proxy.report(report, request.node.nodeid)


@pytest.mark.parametrize("dag_id", ["batch_deferred_faults", "batch_in_worker_faults"])
def test_a_task_rides_out_faults_on_every_call_submits_once_and_logs_every_line_once(
    dag_id: str, batch: Any, fault_proxy: FaultProxy, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag(dag_id, script=COUNT_TO_20)
    output = capfd.readouterr().out

    assert run.state == "success"
    logged = [word for line in output.splitlines() for word in line.split() if word.startswith("line-")]
    assert logged == [f"line-{i}" for i in range(1, 21)]
    (job,) = jobs_named_like(batch, dag_id)
    assert job["status"] == "SUCCEEDED"
    injected = sum(fault_proxy.injected.values())
    assert injected == sum(len(faults) for faults in FAULT_PLAN.values()), fault_proxy.injected
    assert fault_proxy.seen["SubmitJob"] == 2  # throttled, then lost after Batch acted: never a third
