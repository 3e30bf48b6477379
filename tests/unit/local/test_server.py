"""Conformance: the local Batch over HTTP, for clients in other processes (AWS_ENDPOINT_URL)."""

from __future__ import annotations

import socket
from typing import Any

import boto3
import pytest
from conftest import wait_for

from airflow_batch_plus.local import LocalBatchConfig, LocalBatchServer, PortInUseError


def test_any_boto3_client_pointed_at_the_endpoint_works(monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalBatchServer(port=0, config=LocalBatchConfig.fast()) as server:
        assert server.local_batch is not None
        env = server.local_batch.bootstrap()
        assert server.endpoint_url.startswith("http://127.0.0.1:")
        for name, value in server.client_environment().items():
            monkeypatch.setenv(name, value)
        # Configured by the environment alone, as another process would be (a new session: boto3's default
        # one keeps the credentials it first read, an earlier server's pair).
        session = boto3.session.Session()
        batch: Any = session.client("batch")
        job_id = batch.submit_job(
            jobName="over-http",
            jobQueue=env.queue_name,
            jobDefinition=env.job_definition_name,
            containerOverrides={"command": ["echo", "over http"]},
        )["jobId"]
        job = wait_for(batch, job_id)
        events = session.client("logs").get_log_events(
            logGroupName="/aws/batch/job", logStreamName=job["container"]["logStreamName"]
        )["events"]
        assert (job["status"], [event["message"] for event in events]) == ("SUCCEEDED", ["over http"])


def test_server_binds_loopback_only() -> None:
    with LocalBatchServer(port=0, config=LocalBatchConfig.fast()) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            pass
        assert server._server is not None
        assert server._server.server_address[0] == "127.0.0.1"


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"Port {port} on 127.0.0.1 is already in use"):
            LocalBatchServer(port=port).__enter__()


def test_the_server_counts_requests_by_action(monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalBatchServer(port=0, config=LocalBatchConfig.fast()) as server:
        assert server.local_batch is not None
        env = server.local_batch.bootstrap()
        before = server.calls
        batch = server.local_batch.client("batch")
        job_id = batch.submit_job(jobName="counted", jobQueue=env.queue_name, jobDefinition=env.job_definition_name)[
            "jobId"
        ]
        batch.describe_jobs(jobs=[job_id])
        batch.describe_jobs(jobs=[job_id])
        server.local_batch.client("logs").filter_log_events(logGroupName="/aws/batch/job", logStreamNames=["x"])
        counted = server.calls
        counted.subtract(before)
        assert +counted == {"submitjob": 1, "describejobs": 2, "FilterLogEvents": 1}


def test_log_reads_over_http_wait_for_a_job_line_being_written() -> None:
    """moto's CloudWatch Logs is not thread-safe: at 1,000 jobs, a FilterLogEvents walking a group's streams
    while a job's first line created another failed with a 500 ("dictionary changed size during
    iteration"). The server now serves Logs requests under the lock job lines are written under: a read
    waits while a write holds it, then answers with the line."""
    import threading
    import time
    import uuid

    from airflow_batch_plus.local.cloudwatch import LogSink, moto_logs_lock

    with LocalBatchServer(port=0, config=LocalBatchConfig.fast()) as server:
        assert server.local_batch is not None
        server.local_batch.bootstrap()
        logs = boto3.client(
            "logs",
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=server.key.access_key_id,
            aws_secret_access_key=server.key.secret_access_key,
        )
        group = f"/test/{uuid.uuid4()}"  # moto's backends are per process, shared by the tests run in it
        LogSink("123456789012", "us-east-1").write(group, "stream-0", "a line", int(time.time() * 1000))
        answers: list[list[str]] = []

        def read() -> None:
            events = logs.filter_log_events(logGroupName=group)["events"]
            answers.append([event["message"] for event in events])

        reader = threading.Thread(target=read)
        with moto_logs_lock:  # as a job's line being written
            reader.start()
            reader.join(timeout=1.0)
            assert reader.is_alive() and answers == [], "the read did not wait for the write"
        reader.join(timeout=10)
        assert answers == [["a line"]]
