"""The `airflow-batch-plus` command, run as a user runs it: a real process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import pytest
from botocore.exceptions import ClientError

COMMAND = [sys.executable, "-m", "airflow_batch_plus.cli"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served(NamedTuple):
    process: subprocess.Popen[str]
    port: int
    client_env: dict[str, str]  # from the "Use it with:" line, as a user copies it
    printed: tuple[str, ...]  # the lines before it


def _serve(*options: str, env: dict[str, str] | None = None) -> Served:
    port = _free_port()
    process = subprocess.Popen(
        [*COMMAND, "local-batch", "--port", str(port), "--fast", "--max-vcpus", "8", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    printed: list[str] = []
    for line in process.stdout:
        if line.startswith("Use it with: "):
            pairs = (item.split("=", 1) for item in line.removeprefix("Use it with: ").split())
            return Served(process, port, {name: value for name, value in pairs}, tuple(printed))
        printed.append(line.rstrip("\n"))
    pytest.fail(f"the server did not start (exit {process.wait()})")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture
def server() -> Iterator[Served]:
    served = _serve()
    yield served
    _stop(served.process)


def _client(client_env: dict[str, str], **override: str) -> Any:
    """A Batch client configured the way the server's "Use it with" line says (or with `override`)."""
    settings = {
        "endpoint_url": client_env["AWS_ENDPOINT_URL"],
        "region_name": client_env["AWS_DEFAULT_REGION"],
        "aws_access_key_id": client_env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": client_env["AWS_SECRET_ACCESS_KEY"],
        **override,
    }
    return boto3.client("batch", **settings)


def test_local_batch_serves_boto3_and_sigterm_kills_every_job_process(server: Served, tmp_path: Path) -> None:
    process = server.process
    batch = _client(server.client_env)
    pid_file = tmp_path / "pid"
    job_id = batch.submit_job(  # type: ignore[attr-defined]
        jobName="sleeper",
        jobQueue="local-queue",
        jobDefinition="local-job",
        containerOverrides={"command": ["sh", "-c", f"echo $$ > {pid_file}; trap '' TERM; sleep 300"]},
    )["jobId"]
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)
    job_pid = int(pid_file.read_text())
    status = batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"]  # type: ignore[attr-defined]
    assert status == "RUNNING"

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(job_pid, 0)


def test_port_taken_is_a_clear_error(server: Served) -> None:
    port = server.port
    result = subprocess.run(
        [*COMMAND, "local-batch", "--port", str(port)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert re.search(rf"Port {port} on 127.0.0.1 is already in use; pick another with --port", result.stderr)


def test_the_server_prints_a_random_key_pair_and_refuses_any_other(server: Served) -> None:
    """As a new user tried it: made-up keys used to submit a job that ran. Now only the printed pair works."""
    printed = server.client_env
    assert printed["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{server.port}"
    assert printed["AWS_ACCESS_KEY_ID"].startswith("AKIA") and len(printed["AWS_SECRET_ACCESS_KEY"]) == 40
    assert _client(printed).describe_job_queues()["jobQueues"][0]["jobQueueName"] == "local-queue"
    made_up = _client(printed, aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(ClientError) as refused:
        made_up.submit_job(jobName="intruder", jobQueue="local-queue", jobDefinition="local-job")
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
    named = {"filters": [{"name": "JOB_NAME", "values": ["intruder"]}]}
    assert _client(printed).list_jobs(jobQueue="local-queue", **named)["jobSummaryList"] == []


def test_a_key_pair_given_in_the_environment_is_served_and_no_job_sees_the_servers_variables() -> None:
    """A job gets what a Batch container would: its own environment, none of the server's (its key pair, the
    user's AWS credentials, anything else it was started with)."""
    server_only = {
        "LOCAL_BATCH_ACCESS_KEY_ID": "AKIAMYOWNKEY0000",
        "LOCAL_BATCH_SECRET_ACCESS_KEY": "server-secret-value",
        "AWS_ACCESS_KEY_ID": "AKIAUSERSREALKEY",
        "AWS_SECRET_ACCESS_KEY": "users-real-secret",
        "AWS_SESSION_TOKEN": "users-session-token",
        "SERVER_ONLY_MARKER": "marker-value",
    }
    served = _serve(env=server_only)
    try:
        client_env = served.client_env
        assert (client_env["AWS_ACCESS_KEY_ID"], client_env["AWS_SECRET_ACCESS_KEY"]) == (
            "AKIAMYOWNKEY0000",
            "server-secret-value",
        )
        batch = _client(client_env)
        job_id = batch.submit_job(
            jobName="env-dump",
            jobQueue="local-queue",
            jobDefinition="local-job",
            containerOverrides={"command": ["env"], "environment": [{"name": "MINE", "value": "job-value"}]},
        )["jobId"]
        deadline = time.monotonic() + 30
        while (job := batch.describe_jobs(jobs=[job_id])["jobs"][0])["status"] not in ("SUCCEEDED", "FAILED"):
            assert time.monotonic() < deadline, job["status"]
            time.sleep(0.2)
        logs = boto3.client(
            "logs",
            endpoint_url=client_env["AWS_ENDPOINT_URL"],
            region_name=client_env["AWS_DEFAULT_REGION"],
            aws_access_key_id=client_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=client_env["AWS_SECRET_ACCESS_KEY"],
        )
        events = logs.get_log_events(logGroupName="/aws/batch/job", logStreamName=job["container"]["logStreamName"])
        environment = dict(line["message"].split("=", 1) for line in events["events"] if "=" in line["message"])
        assert environment["MINE"] == "job-value" and environment["AWS_BATCH_JOB_ID"] == job_id
        leaked = {name for name, value in server_only.items() if name in environment or value in environment.values()}
        assert leaked == set()
    finally:
        _stop(served.process)


def test_half_a_key_pair_is_a_clear_error() -> None:
    result = subprocess.run(
        [*COMMAND, "local-batch", "--port", str(_free_port()), "--access-key-id", "AKIAONLYHALF"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "give both the access key id and the secret access key" in result.stderr


def test_job_event_queues_are_bootstrapped_printed_and_get_the_events() -> None:
    served = _serve("--job-event-queues", "2")
    try:
        urls = [line.removeprefix("job state change events: ") for line in served.printed if "events: " in line]
        base = f"http://127.0.0.1:{served.port}/123456789012/batch-job-events"
        assert urls == [f"{base}-1", f"{base}-2"]
        job_id = _client(served.client_env).submit_job(
            jobName="evented", jobQueue="local-queue", jobDefinition="local-job"
        )["jobId"]
        sqs = boto3.client(
            "sqs",
            endpoint_url=served.client_env["AWS_ENDPOINT_URL"],
            region_name=served.client_env["AWS_DEFAULT_REGION"],
            aws_access_key_id=served.client_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=served.client_env["AWS_SECRET_ACCESS_KEY"],
        )
        for url in urls:
            statuses: list[str] = []
            deadline = time.monotonic() + 30
            while not statuses or statuses[-1] not in ("SUCCEEDED", "FAILED"):
                assert time.monotonic() < deadline, statuses
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
                for message in messages.get("Messages", []):
                    detail = json.loads(message["Body"])["detail"]
                    assert detail["jobId"] == job_id
                    statuses.append(detail["status"])
            assert statuses == ["PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    finally:
        _stop(served.process)
