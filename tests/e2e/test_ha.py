"""The HA matrix on the demo's HA profile: Postgres, the CeleryExecutor with Redis and two Celery
workers, two triggerers, against the local AWS Batch. Every job's fate is read from the local Batch,
every line from the task logs.

A job is stopped when, and only when, its task ends: a triggerer that stalls past the health-check
threshold and wakes to find its triggers handed to the other (Airflow 3.3 then calls `on_kill` on each,
as for a user action) stops nothing; a triggerer SIGKILLed or restarted in turn stops nothing and loses
no line; a user marking a deferred task failed, or clearing it, stops its job within 5 s, once.

CI runs the profile's shape, the stall and the user action; `make ha-matrix` runs every case (HA_MATRIX=full).
Each case appends its counts to `ha-matrix.json` in the e2e artifacts directory.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import psycopg2
import pytest
import runs  # tests/e2e/runs.py
from conftest import Airflow  # tests/e2e/conftest.py
from runs import start, task_instances, task_log_events, task_states, wait_until

from airflow_batch_plus.demo.settings import CELERY_WORKERS, HA_TRIGGERERS

# A stalled or dead triggerer loses its triggers once its heartbeat is this old. Airflow's default, 30 s, on
# purpose: a triggerer's first Execution API request (its first trigger's cursor read) builds the API's routes,
# about 10 s of CPU in the process that heartbeats, so with 10 s a freshly started triggerer looked dead, its
# triggers went back and forth between the two, and Airflow truncates a trigger's log file when it starts on
# a triggerer it ran on before (docs/deployment.md#limitations). A task whose worker died is retried once its
# heartbeat is 20 s old (default 300 s). The cursor checkpoint's budget covers a save per read of 3 jobs.
THRESHOLD = 30
AIRFLOW_EXTRA_ENV = {
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(THRESHOLD),
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__BATCH_PLUS__LOG_CURSOR_SAVES_PER_SECOND": "10",
}
TASKS, LINES, POLL = 3, 160, 1  # as in dags/ha_dags.py
LINE = re.compile(r"ha line-(\d+)")
STOP_SECONDS = 5
FULL = os.environ.get("HA_MATRIX") == "full"
full_matrix_only = pytest.mark.skipif(not FULL, reason="part of the full HA matrix: `make ha-matrix`")


@pytest.fixture(scope="module")
def airflow(ha_airflow: Airflow) -> Airflow:
    return ha_airflow


def record(artifacts: Path, case: str, counts: dict[str, Any]) -> None:
    """Append a case's counts to the matrix's result file (the closing note and docs read it)."""
    with (artifacts / "ha-matrix.json").open("a") as out:
        out.write(json.dumps({"case": case, **counts, "at": time.time()}) + "\n")
    print(f"\n{case}: {counts}")


def check_outcome(airflow: Airflow, dag_id: str, run_id: str, **options: Any) -> dict[str, Any]:
    return runs.check_outcome(airflow, dag_id, run_id, tasks=TASKS, lines=LINES, line=LINE, **options)


def deferred_and_logging(airflow: Airflow, dag_id: str, run_id: str, tasks: int = TASKS) -> None:
    wait_until("every task deferred", lambda: set(task_states(airflow, dag_id, run_id).values()) == {"deferred"}, 180)
    wait_until("lines logged", lambda: len(runs.logged_lines(airflow, run_id, LINE)) >= tasks * 6, 60)


def triggerers_of(airflow: Airflow, dag_id: str, run_id: str) -> set[int | None]:
    """The triggerer jobs following the run's deferred tasks."""
    return {(ti.get("triggerer_job") or {}).get("id") for ti in task_instances(airflow, dag_id, run_id)}


def on_first_triggerer(airflow: Airflow, dag_id: str) -> tuple[str, int]:
    """Start `dag_id` while only `triggerer` runs, so it holds every trigger; then start `triggerer-2` beside
    it. The run id and the first triggerer's job id."""
    supervisor = airflow.supervisor
    supervisor.stop_component("triggerer-2", signal.SIGTERM)
    run_id = start(airflow, dag_id)
    deferred_and_logging(airflow, dag_id, run_id)
    holders = triggerers_of(airflow, dag_id, run_id)
    assert len(holders) == 1 and None not in holders, holders
    supervisor.start_component("triggerer-2")
    time.sleep(10)  # it starts and heartbeats, so it is alive when the first stops answering
    return run_id, next(iter(holders))  # type: ignore[arg-type]


def taken_over(airflow: Airflow, dag_id: str, run_id: str, old: int, since: float) -> float:
    """Seconds from `since` until no task of the run is followed by triggerer job `old` any more."""
    wait_until(
        "the other triggerer to take the triggers over",
        lambda: old not in triggerers_of(airflow, dag_id, run_id),
        THRESHOLD + 60,
    )
    return round(time.monotonic() - since, 1)


def query(airflow: Airflow, sql: str) -> list[tuple[Any, ...]]:
    """Rows from the profile's Postgres (the metadata database itself, not the REST API)."""
    assert airflow.supervisor.postgres is not None
    connection = psycopg2.connect(airflow.supervisor.postgres.dsn())
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        connection.close()


def test_every_part_runs_on_127_0_0_1_with_celery_on_redis_and_the_metadata_in_postgres(airflow: Airflow) -> None:
    supervisor = airflow.supervisor
    assert set(supervisor.pids) == {"api-server", "scheduler", "dag-processor", *HA_TRIGGERERS, *CELERY_WORKERS}
    supervisor.check_alive()
    assert supervisor.celery_workers_answering() == set(CELERY_WORKERS)
    env = supervisor.env
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"].startswith("postgresql+asyncpg://airflow:")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:")
    assert not [key for key in env if "CONNECT_ARGS" in key], "the SQLite wait is not for Postgres"
    servers = supervisor.server_pids
    assert set(servers) == {"postgres", "redis"}
    pids = {pid for pid in servers.values()} | {
        child.pid for pid in servers.values() for child in psutil.Process(pid).children(recursive=True)
    }
    addresses = {
        (connection.laddr.ip, connection.pid)
        for connection in psutil.net_connections(kind="inet")
        if connection.pid in pids and connection.status == psutil.CONN_LISTEN
    }
    assert {ip for ip, _ in addresses} == {"127.0.0.1"}
    assert {pid for _, pid in addresses} == set(servers.values())
    if os.geteuid() == 0:
        assert psutil.Process(servers["postgres"]).username() == "postgres"
        assert psutil.Process(servers["redis"]).username() == "redis"
    assert query(airflow, "SELECT current_database()") == [("airflow",)]


def test_a_stalled_triggerer_waking_after_the_hand_over_stops_no_job(airflow: Airflow, artifacts: Path) -> None:
    """SIGSTOP past the threshold (a long GC pause, a frozen container, a partition), then SIGCONT."""
    dag_id = "batch_ha_triggerer_stall"
    run_id, first = on_first_triggerer(airflow, dag_id)
    stalled = time.monotonic()
    airflow.supervisor.pause("triggerer")
    try:
        took = taken_over(airflow, dag_id, run_id, first, stalled)
        time.sleep(3)  # the other triggerer follows the jobs and logs their lines
    finally:
        airflow.supervisor.resume("triggerer")
    woke = time.monotonic()
    # The woken triggerer finds its triggers gone and cancels them: Airflow 3.3 calls on_kill on each.
    wait_until(
        "the woken triggerer to cancel the handed-over triggers (Airflow calls on_kill on each)",
        lambda: on_kills(airflow, run_id) >= TASKS,
        60,
    )
    counts = check_outcome(airflow, dag_id, run_id, max_repeated=TASKS * 10)
    # Each Celery worker reports its component's name as its host name: Celery workers ran every task.
    assert {ti["hostname"] for ti in task_instances(airflow, dag_id, run_id)} <= set(CELERY_WORKERS)
    record(
        artifacts,
        "triggerer stalls past the threshold, then wakes",
        {**counts, "stalled_s": round(woke - stalled, 1), "taken_over_after_s": took},
    )


def on_kills(airflow: Airflow, run_id: str) -> int:
    """How many times the triggerers called a trigger's on_kill for the run (logged in its task logs)."""
    return sum(
        "Trigger cancelled by user action, invoking on_kill" in event for *_, event in task_log_events(airflow, run_id)
    )


def test_a_user_action_while_two_triggerers_run_stops_each_job_within_5_s_once(
    airflow: Airflow, artifacts: Path
) -> None:
    dag_id = "batch_ha_user_action"
    run_id = start(airflow, dag_id)
    deferred_and_logging(airflow, dag_id, run_id, tasks=2)
    jobs = {
        int(ti["map_index"]): str(airflow.batch_job_id(dag_id, run_id, map_index=int(ti["map_index"])))
        for ti in task_instances(airflow, dag_id, run_id)
    }
    stops_before = stop_calls(airflow)
    api, run = airflow.supervisor.api(), urllib.parse.quote(run_id, safe="")

    asked = time.monotonic()
    assert api.call("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances/job/0", {"new_state": "failed"})
    marked_failed = stopped_within(airflow, jobs[0], asked)

    asked = time.monotonic()
    body = {"dry_run": False, "dag_run_id": run_id, "task_ids": [["job", 1]], "only_failed": False}
    assert api.call("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", body) is not None
    cleared = stopped_within(airflow, jobs[1], asked)

    time.sleep(3)  # a second stop would come from the other triggerer's copy, or a second on_kill
    assert stop_calls(airflow) - stops_before == 2, "one stop request per job"
    stops_logged = Counter(
        job
        for _, _, event in task_log_events(airflow, run_id)
        for job in jobs.values()
        if f"Batch job {job}: terminate" in event
    )
    assert stops_logged == {jobs[0]: 1, jobs[1]: 1}, stops_logged
    record(
        artifacts,
        "a user marks one deferred task failed and clears another",
        {"marked_failed_stopped_after_s": marked_failed, "cleared_stopped_after_s": cleared, "stop_requests": 2},
    )
    # The cleared task's next try submitted a job of its own: end it (and with it, the run).
    wait_until("the cleared task to run again", lambda: task_states(airflow, dag_id, run_id).get(1) == "deferred", 120)
    api.call("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances/job/1", {"new_state": "failed"})


def stop_calls(airflow: Airflow) -> int:
    assert airflow.supervisor.batch is not None
    calls = airflow.supervisor.batch.calls
    return sum(calls[action] for action in ("terminatejob", "terminatejobs", "canceljob", "canceljobs"))


def stopped_within(airflow: Airflow, job: str, since: float) -> float:
    """Seconds from `since` until `job` is FAILED with our stop reason; at most STOP_SECONDS."""
    described = wait_until(
        f"job {job} stopped", lambda: (found := airflow.job(job))["status"] == "FAILED" and found, 30
    )
    took = round(time.monotonic() - since, 1)
    assert described["statusReason"].startswith("Stopped by Airflow: "), described["statusReason"]
    assert "the task was killed in Airflow while deferred" in described["statusReason"]
    assert took <= STOP_SECONDS, f"stopped {took} s after the user's action"
    return took


@full_matrix_only
def test_a_sigkilled_triggerers_jobs_are_taken_over_and_followed_to_their_end(
    airflow: Airflow, artifacts: Path
) -> None:
    dag_id = "batch_ha_triggerer_sigkill"
    run_id, first = on_first_triggerer(airflow, dag_id)
    killed = time.monotonic()
    airflow.supervisor.stop_component("triggerer", signal.SIGKILL)
    took = taken_over(airflow, dag_id, run_id, first, killed)
    airflow.supervisor.start_component("triggerer")
    # Its last heartbeat was at most a heartbeat before the kill; the other triggerer looks every second.
    assert took <= THRESHOLD + POLL + 2, f"taken over {took} s after the kill"
    counts = check_outcome(airflow, dag_id, run_id, max_repeated=TASKS * 10)
    record(artifacts, "a triggerer is SIGKILLed", {**counts, "taken_over_after_s": took})


@full_matrix_only
def test_a_rolling_restart_of_both_triggerers_stops_and_loses_nothing(airflow: Airflow, artifacts: Path) -> None:
    dag_id = "batch_ha_rolling_restart"
    run_id = start(airflow, dag_id)
    deferred_and_logging(airflow, dag_id, run_id)
    took = {}
    for name in ("triggerer", "triggerer-2"):
        took[name] = airflow.supervisor.stop_component(name, signal.SIGTERM)
        airflow.supervisor.start_component(name)
        time.sleep(8)  # the new one heartbeats and takes triggers before the next is stopped
    counts = check_outcome(airflow, dag_id, run_id, max_repeated=TASKS * 10)
    record(artifacts, "rolling restart of both triggerers", {**counts, "stop_seconds": took})


@full_matrix_only
def test_a_sigkilled_celery_worker_s_task_is_retried_and_reattaches_to_its_job(
    airflow: Airflow, artifacts: Path
) -> None:
    dag_id, tasks = "batch_ha_worker_sigkill", 2
    run_id = start(airflow, dag_id)
    wait_until("every task running", lambda: set(task_states(airflow, dag_id, run_id).values()) == {"running"}, 180)
    wait_until("lines logged", lambda: len(runs.logged_lines(airflow, run_id, LINE)) >= tasks * 4, 60)
    pids = [int(ti["pid"]) for ti in task_instances(airflow, dag_id, run_id)]
    workers = {worker_of(airflow, pid) for pid in pids}
    for worker in workers:
        airflow.supervisor.stop_component(worker, signal.SIGKILL)  # the worker and the task processes in it
        airflow.supervisor.start_component(worker)
    counts = runs.check_outcome(airflow, dag_id, run_id, tasks=tasks, lines=LINES, line=LINE, attempt=2)
    assert {int(ti["try_number"]) for ti in task_instances(airflow, dag_id, run_id)} == {2}
    record(
        artifacts, "a Celery worker is SIGKILLed while its task waits", {**counts, "workers_killed": sorted(workers)}
    )


def worker_of(airflow: Airflow, pid: int) -> str:
    """The Celery worker component whose process tree holds task process `pid`."""
    for name, component_pid in airflow.supervisor.pids.items():
        if name.startswith("celery-worker"):
            tree = {child.pid for child in psutil.Process(component_pid).children(recursive=True)}
            if pid in tree | {component_pid}:
                return name
    raise AssertionError(f"task process {pid} is in no Celery worker")
