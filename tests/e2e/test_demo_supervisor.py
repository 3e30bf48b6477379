"""The README's demo command, as a user runs it: Airflow and the local Batch up on 127.0.0.1, the login it
prints (a generated password, in a passwords file only we can read, admin/admin refused), the first example
DAG run to success with the job's lines in its task log, and nothing left behind after SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from airflow_batch_plus.demo.login import read_login

STARTUP_SECONDS = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Demo:
    def __init__(self, process: subprocess.Popen[str], port: int, state_dir: Path):
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.state_dir = state_dir
        self.output: list[str] = []

    def read_until(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line.rstrip("\n"))
            if text in line:
                return
        raise AssertionError(f"the demo never printed {text!r}; it printed:\n" + "\n".join(self.output[-40:]))

    def token(self, username: str, password: str) -> str:
        token_request = urllib.request.Request(
            f"{self.url}/auth/token",
            data=json.dumps({"username": username, "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(token_request, timeout=30) as response:
            return str(json.loads(response.read())["access_token"])

    def api(self, path: str) -> Any:
        login = read_login(self.state_dir)  # the password the demo generated, from its passwords file
        token = self.token(login.username, login.password)
        request = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_batch_plus.cli", "demo", "--port", str(port), "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "AWS_"))},
    )
    running = Demo(process, port, tmp_path)
    try:
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_the_demo_serves_a_successful_run_and_leaves_nothing_behind(demo: Demo) -> None:
    demo.read_until("Airflow is ready", STARTUP_SECONDS)
    pids = [int(pid) for pid in re.findall(r"\(pid (\d+),", "\n".join(demo.output))]
    assert len(pids) == 4, demo.output
    # The login it printed is the one in the passwords file, which only we can read even after Airflow's API
    # server opened it; the old admin/admin is refused.
    login = read_login(demo.state_dir)
    assert login.password != "admin"
    assert f"(login admin / {login.password}, kept in {login.path})" in demo.output[-1]
    assert stat.S_IMODE(login.path.stat().st_mode) == 0o600
    with pytest.raises(urllib.error.HTTPError) as refused:
        demo.token("admin", "admin")
    assert refused.value.code == 401
    # The local Batch's key pair is in a file only we can read, named in the output but not printed there, and
    # it is what a client (the AWS CLI, boto3) needs.
    key_file = demo.state_dir / "local-batch.env"
    assert f". {key_file})" in "\n".join(demo.output)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    exported = dict(line.removeprefix("export ").split("=", 1) for line in key_file.read_text().splitlines())
    assert exported["AWS_SECRET_ACCESS_KEY"] not in "\n".join(demo.output)
    batch = boto3.client(
        "batch",
        endpoint_url=exported["AWS_ENDPOINT_URL"],
        region_name=exported["AWS_DEFAULT_REGION"],
        aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
    )
    assert [queue["jobQueueName"] for queue in batch.describe_job_queues()["jobQueues"]] == ["local-queue"]

    dag_id = "example_batch_deferrable"
    deadline = time.monotonic() + 120
    while True:
        runs = demo.api(f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]
        if (runs and runs[0]["state"] in ("success", "failed")) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert [run["state"] for run in runs] == ["success"]
    run_id = urllib.request.quote(runs[0]["dag_run_id"], safe="")
    instances = demo.api(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    submit = next(ti for ti in instances if ti["operator"] == "BatchSubmitJobOperator")
    log = demo.api(
        f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{submit['task_id']}/logs/{submit['try_number']}"
    )
    events = [entry.get("event", "") if isinstance(entry, dict) else str(entry) for entry in log["content"]]
    assert any("SUCCEEDED" in event for event in events)
    # Each job line shows, in Airflow's log view, the time the job printed it (its CloudWatch timestamp, to
    # the millisecond), not the time it was relayed: the job prints a step every 0.5 s.
    shown = {
        entry["event"]: datetime.fromisoformat(entry["timestamp"])
        for entry in log["content"]
        if isinstance(entry, dict) and str(entry.get("event", "")).startswith("step ")
    }
    job = batch.describe_jobs(
        jobs=[batch.list_jobs(jobQueue="local-queue", jobStatus="SUCCEEDED")["jobSummaryList"][0]["jobId"]]
    )
    logs = boto3.client(
        "logs",
        endpoint_url=exported["AWS_ENDPOINT_URL"],
        region_name=exported["AWS_DEFAULT_REGION"],
        aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
    )
    stream = job["jobs"][0]["container"]["logStreamName"]
    printed = logs.get_log_events(logGroupName="/aws/batch/job", logStreamName=stream)["events"]
    assert len(printed) >= 2 and set(shown) == {event["message"] for event in printed}
    for event in printed:
        assert int(shown[event["message"]].timestamp() * 1000) == event["timestamp"], event

    demo.process.send_signal(signal.SIGTERM)
    assert demo.process.wait(timeout=60) == 0
    demo.read_until("Stopped: no process of the demo is left.", 5)
    time.sleep(1)
    assert [pid for pid in pids if alive(pid)] == []


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "airflow_batch_plus.cli", "demo", "--port", str(port), "--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr
