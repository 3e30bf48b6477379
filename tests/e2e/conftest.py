"""One whole Airflow (the demo supervisor: local AWS Batch, api-server, scheduler, dag-processor,
triggerer on 127.0.0.1) per test module, or its "ha" profile (Postgres, Redis, two triggerers, two Celery
workers), the local Batch's boto3 client, headless Chromium, and a directory for screenshots
(`$E2E_ARTIFACTS_DIR`, else tests/e2e/artifacts/).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from airflow_batch_plus.demo.login import DemoLogin
from airflow_batch_plus.demo.settings import DemoSettings, Profile
from airflow_batch_plus.demo.supervisor import Supervisor

CHROMIUM = "/usr/bin/chromium"


# pytest-timeout counts fixture setup and teardown: the first test of a module also pays for starting its
# whole Airflow (up to DemoSettings.startup_timeout, 180 s; about 50 s on 2 cores beside another test worker)
# and the last one for stopping it. Each test bounds its own waits; this only catches a hang.
E2E_TEST_TIMEOUT = 480
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(E2E_TEST_TIMEOUT))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Airflow:
    """The running demo: its UI URL, its REST API (read only in the tests) and the local Batch."""

    url: str
    supervisor: Supervisor
    batch: Any

    @property
    def login(self) -> DemoLogin:
        """The login the supervisor generated (or reused) as it started, from the demo's passwords file."""
        assert self.supervisor.login is not None, "the supervisor was not started"
        return self.supervisor.login

    def api(self, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}/auth/token",
            data=json.dumps({"username": self.login.username, "password": self.login.password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # our own 127.0.0.1 URL
            token = json.loads(response.read())["access_token"]
        request = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def task_instance(self, dag_id: str, run_id: str, task_id: str = "job") -> dict[str, Any]:
        run = urllib.parse.quote(run_id, safe="")
        return self.api(f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances/{task_id}")  # type: ignore[no-any-return]

    def batch_job_id(self, dag_id: str, run_id: str, task_id: str = "job", map_index: int = -1) -> str | None:
        """The job id the operator pushed to XCom `batch_job_id` as soon as it submitted the job, if yet."""
        run = urllib.parse.quote(run_id, safe="")
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances/{task_id}/xcomEntries/batch_job_id"
        try:
            entry = self.api(f"{path}?map_index={map_index}")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise
        return str(entry["value"])

    def job(self, job_id: str) -> dict[str, Any]:
        jobs = self.batch.describe_jobs(jobs=[job_id])["jobs"]
        assert jobs, f"the local Batch does not know job {job_id}"
        return jobs[0]  # type: ignore[no-any-return]

    def task_log_events(
        self, dag_id: str, run_id: str, task_id: str = "job", skip: re.Pattern[str] | None = None
    ) -> str:
        """What the task's log files (every try, worker and trigger) say, for a failure message: one
        `file time event` line per entry, leaving out the entries `skip` finds (a job's own lines)."""
        logs = self.supervisor.settings.state_dir / "airflow" / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        told = []
        for path in sorted(logs.glob(f"task_id={task_id}/attempt=*.log*")):
            for line in path.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                event = str(entry.get("event", ""))
                if skip is None or not skip.search(event):
                    told.append(f"{path.name} {str(entry.get('timestamp', ''))[11:23]} {event[:300]}")
        return "\n".join(told) or f"(no log files under {logs})"

    def jobs_named(self, prefix: str) -> list[dict[str, Any]]:
        """Every job in local-queue whose name starts with `prefix`, whatever its status, once each (a
        ListJobs name filter covers every status in one listing; one listing per status would show a job
        moving on between two of them twice)."""
        pages = self.batch.get_paginator("list_jobs").paginate(
            jobQueue="local-queue", filters=[{"name": "JOB_NAME", "values": [f"{prefix}*"]}]
        )
        return [job for page in pages for job in page["jobSummaryList"]]


@pytest.fixture(scope="module")
def airflow(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    """The demo's Airflow; a test module may set `AIRFLOW_EXTRA_ENV` (a dict) for its components, and
    `DEMO_JOB_EVENTS = True` for triggerers that wait on job state change events."""
    yield from run_demo(request, tmp_path_factory, "sqlite")


@pytest.fixture(scope="module")
def ha_airflow(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    """The demo's "ha" profile: Postgres, Redis, api-server, scheduler, dag-processor, `triggerer` and
    `triggerer-2`, `celery-worker-1` and `celery-worker-2`; `AIRFLOW_EXTRA_ENV` as for `airflow`."""
    yield from run_demo(request, tmp_path_factory, "ha")


def run_demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, profile: Profile
) -> Iterator[Airflow]:
    """Start the demo's `profile` on tests/e2e/dags, yield it, stop it, and fail if any process it started
    (components, their descendants, Postgres and its backends, Redis) is left."""
    # The ha profile's servers run as other users, who must traverse to their data directories: not under
    # pytest's base directory, which any pytest starting on the machine resets to 0700 (Postgres then PANICs).
    state_dir = (
        Path(tempfile.mkdtemp(prefix="airflow-batch-plus-e2e-ha-"))
        if profile == "ha"
        else tmp_path_factory.mktemp(f"demo-{profile}")
    )
    failures_before = request.session.testsfailed
    supervisor = Supervisor(
        DemoSettings(
            state_dir=state_dir,
            dags_folder=Path(__file__).parent / "dags",
            api_port=free_port(),
            first_dag=None,
            profile=profile,
            extra_env=dict(getattr(request.module, "AIRFLOW_EXTRA_ENV", {})),
            job_events=bool(getattr(request.module, "DEMO_JOB_EVENTS", False)),
        )
    )
    starting = time.monotonic()
    try:
        url = supervisor.start()
        print(f"\nthe {profile} profile started in {time.monotonic() - starting:.1f} s")
        assert supervisor.batch is not None
        batch = boto3.client(
            "batch",
            endpoint_url=supervisor.batch.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=supervisor.batch.key.access_key_id,
            aws_secret_access_key=supervisor.batch.key.secret_access_key,
        )
        yield Airflow(url, supervisor, batch)
    finally:
        pids = dict(supervisor.pids)
        # Every process the components started, in their groups or not (a task runs in a session of its own),
        # and the servers' (Postgres's postmaster leads its backends; it is not a component's child).
        started = descendants([*pids.values(), *supervisor.server_pids.values()])
        stopping = time.monotonic()
        supervisor.stop()
        stopped = time.monotonic()
    # None may be left. A SIGKILLed child may take a moment to be reaped, so look for a few seconds first.
    if lingering := alive(started) + groups_alive(pids.values()):
        print(f"\nstill there as stop() returned:\n{processes(lingering)}")
    deadline = stopped + 5
    while (left := alive(started) + groups_alive(pids.values())) and time.monotonic() < deadline:
        time.sleep(0.1)
    print(
        f"\nstop() took {stopped - stopping:.1f} s; the {len(started)} processes of the demo were gone "
        f"{time.monotonic() - stopped:.1f} s later"
    )
    if profile == "ha":
        if request.session.testsfailed == failures_before:
            shutil.rmtree(state_dir, ignore_errors=True)
        else:
            print(f"\nthe ha profile's state (logs, Postgres) is kept in {state_dir}")
    assert left == [], f"processes left after stop():\n{processes(left)}"


def start_time(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat), which tells it from a later one with its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def descendants(roots: Iterable[int]) -> dict[int, str]:
    """The roots and every process below them, each with its start time."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(Path(entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: dict[int, str] = {}
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if (started := start_time(pid)) is not None and pid not in found:
            found[pid] = started
            todo += children.get(pid, [])
    return found


def alive(started: dict[int, str]) -> list[int]:
    return [pid for pid, when in started.items() if start_time(pid) == when]


def groups_alive(groups: Iterable[int]) -> list[int]:
    """The groups (each component leads its own) that still have a process, zombies included."""
    left = []
    for group in groups:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            continue
        left.append(group)
    return left


def processes(pids: Iterable[int]) -> str:
    listing = subprocess.run(
        ["ps", "-o", "pid,ppid,pgid,stat,etime,cmd", "-p", ",".join(map(str, pids)), "-g", ",".join(map(str, pids))],
        capture_output=True,
        text=True,
        check=False,
    )
    return listing.stdout


@pytest.fixture(scope="session")
def artifacts() -> Path:
    directory = Path(os.environ.get("E2E_ARTIFACTS_DIR") or Path(__file__).parent / "artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture
def page(browser: Any, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (not logged in); a screenshot of where it stood if the test failed."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        if request.node.stash.get(CALL_FAILED, False):
            path = artifacts / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', request.node.name)}-failure.png"
            try:
                tab.screenshot(path=str(path), full_page=True)
                print(f"\nscreenshot of the failure: {path}")
            except Exception as error:  # the page may be gone; the test's own error matters more
                print(f"\nno failure screenshot: {error}")
        context.close()
