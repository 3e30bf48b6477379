"""Reading a DAG run's outcome from a whole Airflow and its local Batch: task states, the run's jobs, and
every numbered job line in its task logs (worker and triggerer parts). Shared by the restart and HA
matrices (tests/e2e/test_restarts.py, tests/e2e/test_ha.py).
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections import Counter
from typing import Any

from conftest import Airflow  # tests/e2e/conftest.py

MAP_INDEX = re.compile(r"map_index=(\d+)")
DAG_TAG, MAP_INDEX_TAG = "airflow-batch-plus:dag-id", "airflow-batch-plus:map-index"


def start(airflow: Airflow, dag_id: str) -> str:
    return airflow.supervisor.trigger(dag_id, deadline=time.monotonic() + 120)


def task_instances(airflow: Airflow, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    run = urllib.parse.quote(run_id, safe="")
    listed = airflow.api(f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances?limit=100")
    return list(listed["task_instances"])


def task_states(airflow: Airflow, dag_id: str, run_id: str) -> dict[int, str]:
    return {int(ti["map_index"]): str(ti["state"]) for ti in task_instances(airflow, dag_id, run_id)}


def wait_until(what: str, condition: Any, timeout: float) -> Any:
    """Poll `condition` every half second until it is truthy (its value is returned) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.5)
    return value


def wait_for_run(airflow: Airflow, dag_id: str, run_id: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    run = urllib.parse.quote(run_id, safe="")
    while True:
        airflow.supervisor.check_alive()
        state = str(airflow.api(f"/api/v2/dags/{dag_id}/dagRuns/{run}")["state"])
        if state not in ("queued", "running") or time.monotonic() > deadline:
            return state
        time.sleep(1)


def task_log_events(airflow: Airflow, run_id: str, attempt: int | None = None) -> list[tuple[int, str, str]]:
    """(map index, log file name, event) of every structured log line in the run's task logs."""
    found = []
    logs = airflow.supervisor.settings.state_dir / "airflow" / "logs"
    for path in sorted(logs.rglob("*")):
        if not path.is_file() or f"run_id={run_id}" not in str(path) or not (index := MAP_INDEX.search(str(path))):
            continue
        if attempt is not None and f"attempt={attempt}." not in path.name:
            continue
        for raw in path.read_text(errors="replace").splitlines():
            try:
                event = str(json.loads(raw).get("event", ""))
            except ValueError:
                continue
            found.append((int(index.group(1)), path.name, event))
    return found


def logged_lines(airflow: Airflow, run_id: str, line: re.Pattern[str], attempt: int | None = None) -> Counter[Any]:
    """(map index, line number) -> how often the run's task logs show job line `line` (numbered by its group)."""
    seen: Counter[tuple[int, int]] = Counter()
    for index, _, event in task_log_events(airflow, run_id, attempt):
        for number in line.findall(event):
            seen[(index, int(number))] += 1
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


def run_jobs(airflow: Airflow, dag_id: str) -> list[dict[str, Any]]:
    """Every job of `dag_id` in the local Batch, described (its tags name its DAG and map index)."""
    listed = [job["jobId"] for job in airflow.jobs_named("")]
    described = []
    for chunk in range(0, len(listed), 100):
        described += airflow.batch.describe_jobs(jobs=listed[chunk : chunk + 100])["jobs"]
    return [job for job in described if job["tags"].get(DAG_TAG) == dag_id]


def check_outcome(
    airflow: Airflow,
    dag_id: str,
    run_id: str,
    *,
    tasks: int,
    lines: int,
    line: re.Pattern[str],
    attempt: int | None = None,
    max_repeated: int = 0,
    one_read_repeated: int = 0,
) -> dict[str, Any]:
    """Every task succeeded with its job, one job each, none stopped, every line logged (in `attempt`'s
    log if given: a retry that follows its job logs its lines from the start, in a log of its own), and
    at most `max_repeated` lines logged more than once, or, with `one_read_repeated`, per task at most
    that many consecutive lines logged twice (one read's lines, whose cursor save a restart cut off).
    Returns the counts."""
    state = wait_for_run(airflow, dag_id, run_id)
    assert state == "success", f"the run ended {state}; its task logs end with:\n{log_tails(airflow, run_id)}"
    assert task_states(airflow, dag_id, run_id) == dict.fromkeys(range(tasks), "success")
    described = run_jobs(airflow, dag_id)
    assert sorted(Counter(job["tags"][MAP_INDEX_TAG] for job in described).items()) == [
        (str(index), 1) for index in range(tasks)
    ], "one job per task: " + str(
        [(job["tags"][MAP_INDEX_TAG], job["status"], job.get("statusReason")) for job in described]
    )
    stopped = [job["jobId"] for job in described if job["status"] != "SUCCEEDED"]
    assert not stopped, f"jobs stopped: {stopped}"
    seen = logged_lines(airflow, run_id, line, attempt)
    expected = {(index, number) for index in range(tasks) for number in range(1, lines + 1)}
    missing = expected - set(seen)
    repeated = sum(count - 1 for count in seen.values() if count > 1)
    assert not missing, f"missing {sorted(missing)}"
    twice = sorted(key for key, count in seen.items() if count > 1)
    if one_read_repeated:
        assert all(count <= 2 for count in seen.values()), f"lines logged more than twice: {seen.most_common(3)}"
        for index in range(tasks):
            numbers = [number for task, number in twice if task == index]
            one_run = numbers == list(range(numbers[0], numbers[0] + len(numbers))) if numbers else True
            assert one_run and len(numbers) <= one_read_repeated, (
                f"task {index}: lines {numbers} repeated, not one read's (at most {one_read_repeated} in a row)"
            )
    else:
        assert repeated <= max_repeated, f"{repeated} lines repeated: {twice}"
    return {"jobs": len(described), "stopped": len(stopped), "lines": len(seen), "repeated": repeated}
