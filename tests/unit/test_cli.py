"""The `airflow-batch-plus` command, run as a user runs it: a real process on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

COMMAND = [sys.executable, "-m", "airflow_batch_plus.cli"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_port()
    process = subprocess.Popen(
        [*COMMAND, "local-batch", "--port", str(port), "--fast", "--max-vcpus", "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "listening on" in line:
            break
    else:
        pytest.fail(f"the server did not start (exit {process.wait()})")
    yield process, port
    if process.poll() is None:
        process.kill()
        process.wait()


def _client(port: int) -> object:
    return boto3.client(
        "batch",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_local_batch_serves_boto3_and_sigterm_kills_every_job_process(
    server: tuple[subprocess.Popen[str], int], tmp_path: Path
) -> None:
    process, port = server
    batch = _client(port)
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


def test_port_taken_is_a_clear_error(server: tuple[subprocess.Popen[str], int]) -> None:
    _, port = server
    result = subprocess.run(
        [*COMMAND, "local-batch", "--port", str(port)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert re.search(rf"Port {port} on 127.0.0.1 is already in use; pick another with --port", result.stderr)
