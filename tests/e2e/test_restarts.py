"""The restart matrix in a whole Airflow (the demo supervisor's api-server, scheduler, dag-processor and
triggerer on 127.0.0.1) while Batch jobs run: each restart leaves every task in its job's state, every
job submitted once and not stopped by the restart, and every job line in the task logs exactly once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections import Counter
from typing import Any

import pytest
from conftest import Airflow  # tests/e2e/conftest.py

# A triggerer that died without saying so is replaced once its heartbeat is this old (Airflow: 30 s).
# Three jobs printing twice a second are read once a second each: a cursor save after every read needs 3
# saves a second, over the default budget of 2, so the test raises it (docs/reliability.md#restarts).
AIRFLOW_EXTRA_ENV = {
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
    "AIRFLOW__BATCH_PLUS__LOG_CURSOR_SAVES_PER_SECOND": "10",
}
TASKS, LINES = 3, 40  # as in dags/restart_dags.py
LINE = re.compile(r"restart line-(\d+)")
MAP_INDEX = re.compile(r"map_index=(\d+)")
DAG_TAG, MAP_INDEX_TAG = "airflow-batch-plus:dag-id", "airflow-batch-plus:map-index"


def start(airflow: Airflow, dag_id: str) -> str:
    return airflow.supervisor.trigger(dag_id, deadline=time.monotonic() + 120)


def task_states(airflow: Airflow, dag_id: str, run_id: str) -> dict[int, str]:
    listed = airflow.api(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
    return {int(ti["map_index"]): str(ti["state"]) for ti in listed["task_instances"]}


def wait_until(what: str, condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.5)


def wait_for_run(airflow: Airflow, dag_id: str, run_id: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while True:
        airflow.supervisor.check_alive()
        state = str(airflow.api(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])
        if state not in ("queued", "running") or time.monotonic() > deadline:
            return state
        time.sleep(1)


def logged_lines(airflow: Airflow, run_id: str, attempt: int | None = None) -> Counter[tuple[int, int]]:
    """(map index, line number) -> how often the run's task logs (worker and triggerer parts) show it."""
    seen: Counter[tuple[int, int]] = Counter()
    logs = airflow.supervisor.settings.state_dir / "airflow" / "logs"
    for path in logs.rglob("*"):
        if not path.is_file() or f"run_id={run_id}" not in str(path) or not (index := MAP_INDEX.search(str(path))):
            continue
        if attempt is not None and f"attempt={attempt}." not in path.name:
            continue
        for raw in path.read_text(errors="replace").splitlines():
            try:
                event = str(json.loads(raw).get("event", ""))
            except ValueError:
                continue
            for number in LINE.findall(event):
                seen[(int(index.group(1)), int(number))] += 1
    return seen


def log_tails(airflow: Airflow, run_id: str, lines: int = 15) -> str:
    logs = airflow.supervisor.settings.state_dir / "airflow" / "logs"
    parts = []
    for path in sorted(logs.rglob("*")):
        if path.is_file() and f"run_id={run_id}" in str(path):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.relative_to(logs)}\n" + "\n".join(line[:300] for line in tail))
    scheduler = airflow.supervisor.components["scheduler"].log_path.read_text(errors="replace").splitlines()
    return "\n".join(parts) + "\n--- scheduler\n" + "\n".join(line[:300] for line in scheduler[-lines:])


def check_outcome(airflow: Airflow, dag_id: str, run_id: str, attempt: int | None = None) -> dict[str, Any]:
    """Every task succeeded with its job, one job each, none stopped, every line logged once (in `attempt`'s
    log if given: a retry that follows its job logs its lines from the start, in a log of its own)."""
    state = wait_for_run(airflow, dag_id, run_id)
    assert state == "success", f"the run ended {state}; its task logs end with:\n{log_tails(airflow, run_id)}"
    assert task_states(airflow, dag_id, run_id) == dict.fromkeys(range(TASKS), "success")
    listed = [job["jobId"] for job in airflow.jobs_named("")]
    described = [job for job in airflow.batch.describe_jobs(jobs=listed)["jobs"] if job["tags"].get(DAG_TAG) == dag_id]
    assert sorted(Counter(job["tags"][MAP_INDEX_TAG] for job in described).items()) == [
        (str(index), 1) for index in range(TASKS)
    ], "one job per task"
    assert {job["status"] for job in described} == {"SUCCEEDED"}, "no job stopped by the restart"
    seen = logged_lines(airflow, run_id, attempt)
    expected = {(index, number) for index in range(TASKS) for number in range(1, LINES + 1)}
    missing, repeated = expected - set(seen), {key: count for key, count in seen.items() if count > 1}
    assert not missing and not repeated, f"missing {sorted(missing)}, repeated {repeated}"
    return {"jobs": len(described), "lines": sum(seen.values())}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_the_triggerer_restarting_mid_run_repeats_and_loses_no_line_and_stops_no_job(
    airflow: Airflow, signum: int
) -> None:
    dag_id = f"batch_restart_triggerer_{signal.Signals(signum).name.lower()}"
    run_id = start(airflow, dag_id)
    wait_until("every task deferred", lambda: set(task_states(airflow, dag_id, run_id).values()) == {"deferred"}, 120)
    wait_until("lines logged", lambda: len(logged_lines(airflow, run_id)) >= TASKS * 8, 60)
    # How long the triggerer took to stop is printed, not asserted: on 2 busy cores a SIGTERMed triggerer
    # sometimes outlives the 10 s grace and is SIGKILLed (cause not found; docs/reliability.md#restarts).
    airflow.supervisor.restart("triggerer", signum)
    check_outcome(airflow, dag_id, run_id)


def test_the_scheduler_restarting_mid_run_orphans_nothing(airflow: Airflow) -> None:
    dag_id = "batch_restart_scheduler"
    run_id = start(airflow, dag_id)
    wait_until("every task deferred", lambda: set(task_states(airflow, dag_id, run_id).values()) == {"deferred"}, 120)
    airflow.supervisor.restart("scheduler", signal.SIGTERM)
    check_outcome(airflow, dag_id, run_id)


def test_a_worker_killed_mid_wait_is_retried_and_the_retry_follows_the_same_job(airflow: Airflow) -> None:
    """SIGKILL: no on_kill, no cleanup, the job runs on. The retry must follow it, not submit another."""
    dag_id = "batch_restart_worker_sigkill"
    run_id = start(airflow, dag_id)
    wait_until("every task running", lambda: set(task_states(airflow, dag_id, run_id).values()) == {"running"}, 120)
    wait_until("lines logged", lambda: len(logged_lines(airflow, run_id)) >= TASKS * 4, 60)
    listed = airflow.api(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
    for ti in listed:
        os.kill(int(ti["pid"]), signal.SIGKILL)  # the task's own process, which the demo's scheduler started
    check_outcome(airflow, dag_id, run_id, attempt=2)
    listed = airflow.api(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
    assert {int(ti["try_number"]) for ti in listed} == {2}


def test_a_job_printing_its_secret_shows_stars_in_the_triggerers_task_log_and_failure(airflow: Airflow) -> None:
    """The triggerer is another process than the worker that masked the value at render time."""
    dag_id, secret = "batch_secret_in_triggerer", "tok-e2e-5ecret-never-print"  # as in dags/restart_dags.py
    run_id = start(airflow, dag_id)
    assert wait_for_run(airflow, dag_id, run_id) == "failed"  # the job exits 3: its last lines are in the error
    logs = airflow.supervisor.settings.state_dir / "airflow" / "logs"
    text = "".join(
        path.read_text(errors="replace")
        for path in logs.rglob("*")
        if path.is_file() and f"run_id={run_id}" in str(path)
    )
    assert "my token is ***" in text and "still ***" in text
    assert secret not in text
