"""Every way a task ends stops its live Batch job per the stop policy (design §3), in a real Airflow 3.

Each test ends with the job FAILED and a statusReason that says who stopped it and why.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from dag_runs import jobs_named_like, run_dag

from airflow_batch_plus.testing.status import wait_for_status

pytestmark = pytest.mark.usefixtures("airflow_db")

LONG_JOB = "echo started; sleep 60; echo never-reached"
DONE = {"SUCCEEDED", "FAILED"}


def the_job(batch: Any, dag_id: str) -> dict[str, Any]:
    (job,) = jobs_named_like(batch, dag_id)
    return job


@pytest.mark.parametrize("dag_id", ["batch_deferred_timeout", "batch_in_worker_timeout"])
def test_execution_timeout_stops_the_job(dag_id: str, batch: Any) -> None:
    started = time.monotonic()
    run = run_dag(dag_id, script=LONG_JOB)
    assert run.state == "failed"
    job = wait_for_status(batch, the_job(batch, dag_id)["jobId"], DONE, timeout=10)
    assert job["status"] == "FAILED"
    assert f"dag {dag_id}" in job["statusReason"]
    assert time.monotonic() - started < 40


def test_a_job_stuck_in_runnable_is_cancelled_after_max_runnable_time(
    batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag("batch_deferred_stuck", script=LONG_JOB, vcpus="1024")  # more than the queue will ever have
    output = capfd.readouterr().out
    assert run.state == "failed"
    job = wait_for_status(batch, the_job(batch, "batch_deferred_stuck")["jobId"], DONE, timeout=10)
    assert job["status"] == "FAILED"
    assert "max_runnable_time" in job["statusReason"]
    assert "RUNNABLE" in output


def start_dag_test(dag_id: str, **conf: Any) -> subprocess.Popen[bytes]:
    """`dag.test()` in a process of its own, to be signalled like a worker."""
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); from dag_runs import run_dag; "
        "run_dag(sys.argv[2], **json.loads(sys.argv[3]))"
    )
    import json

    here = os.path.dirname(__file__)
    return subprocess.Popen(
        [sys.executable, "-c", code, here, dag_id, json.dumps(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_job(batch: Any, dag_id: str, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = jobs_named_like(batch, dag_id)
        if jobs and jobs[0]["status"] in statuses:
            return jobs[0]
        time.sleep(0.1)
    raise AssertionError(f"no job of {dag_id} in {statuses} after {timeout} s")


def test_sigterm_to_the_worker_stops_the_job(batch: Any) -> None:
    worker = start_dag_test("batch_in_worker", script=LONG_JOB)
    try:
        job = wait_for_job(batch, "batch_in_worker", {"RUNNING"})
        worker.send_signal(signal.SIGTERM)
        stopped = wait_for_status(batch, job["jobId"], DONE, timeout=15)
    finally:
        worker.kill()
        worker.wait()
    assert stopped["status"] == "FAILED"
    assert "killed in the worker" in stopped["statusReason"]


def test_a_trigger_error_stops_the_job(batch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch refuses every DescribeJobs (a fault at the AWS boundary): past the poller's failure grace the
    trigger gives up, the task fails and the job is stopped."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    from airflow_batch_plus.triggers import poller

    make_api_call = BaseClient._make_api_call
    refusing = {"on": False}

    def refuse_describes(self: Any, operation_name: str, api_params: Any) -> Any:
        if operation_name == "DescribeJobs" and refusing["on"]:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, operation_name)
        if operation_name == "SubmitJob":
            refusing["on"] = True  # the operator's own calls went through; the trigger's do not
        return make_api_call(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", refuse_describes)
    monkeypatch.setattr(poller, "DEFAULT_FAILURE_GRACE_SECONDS", 1.0)
    run = run_dag("batch_deferred", script=LONG_JOB)
    monkeypatch.undo()
    assert run.state == "failed"
    job = wait_for_status(batch, the_job(batch, "batch_deferred")["jobId"], DONE, timeout=10)
    assert job["status"] == "FAILED"
    assert "waiting failed: DescribeJobs has failed" in job["statusReason"]
    assert "AccessDenied" in job["statusReason"]


def test_cloudwatch_refusing_every_read_does_not_stop_a_healthy_job(
    batch: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """No permission to read logs is no reason to kill a paid job: the task waits on, says why it shows no lines."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    make_api_call = BaseClient._make_api_call

    def refuse_log_reads(self: Any, operation_name: str, api_params: Any) -> Any:
        if operation_name == "FilterLogEvents":
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, operation_name)
        return make_api_call(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", refuse_log_reads)
    run = run_dag("batch_deferred", script="echo unseen; sleep 1")
    output = capfd.readouterr().out
    assert run.state == "success"
    assert the_job(batch, "batch_deferred")["status"] == "SUCCEEDED"
    assert output.count("CloudWatch Logs refused to read the job's log streams") == 1
    assert "logs:FilterLogEvents" in output


def test_our_own_bug_after_submission_stops_the_job(batch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything that breaks in the operator after SubmitJob (here: building its trigger) stops the job.
    (Not the extra links: they are best effort, tests/integration/test_links_in_airflow.py.)"""
    from airflow_batch_plus.operators.batch import BatchSubmitJobOperator

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(BatchSubmitJobOperator, "_trigger", broken)
    run = run_dag("batch_in_worker", script=LONG_JOB)
    assert run.state == "failed"
    job = wait_for_status(batch, the_job(batch, "batch_in_worker")["jobId"], DONE, timeout=10)
    assert job["status"] == "FAILED"
    assert "the task failed in the worker (RuntimeError)" in job["statusReason"]
