"""Exit paths of docs/operators.md's table that need a whole Airflow (the demo's "sqlite" profile: scheduler,
LocalExecutor workers, triggerer, API server): a user marking failed or success, or clearing, a task that
waits in a worker (`deferrable=False`) or deferred, through the REST API as the UI does; a job sensor in
reschedule mode marked failed between pokes; a DAG run that times out (`dagrun_timeout`) while its jobs
run; and a task's worker SIGKILLed without the task's process on its last try. Every job's fate is read
from the local Batch: its final status and the statusReason that says who stopped it and why.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from typing import Any

import pytest
from conftest import Airflow, descendants  # tests/e2e/conftest.py
from runs import start, wait_for_run, wait_until

from airflow_batch_plus.demo.airflow_api import AirflowApi

# CI runs a user's action on a task waiting in a worker and the dagrun_timeout; `make exit-paths` runs every
# case (EXIT_PATHS=full). The deferred user action is in CI through tests/e2e/test_ha.py and
# tests/integration/test_trigger_in_triggerer.py, the sensor through tests/integration/test_exit_paths_in_airflow.py.
FULL = os.environ.get("EXIT_PATHS") == "full"
full_only = pytest.mark.skipif(not FULL, reason="part of the full exit-path run: `make exit-paths`")

KILLED_IN_WORKER = "the task was killed in the worker"
KILLED_WHILE_DEFERRED = "the task was killed in Airflow while deferred"
# A worker learns of a user's action at its next heartbeat to the API server, then signals the task.
STOP_SECONDS = 30


def states(airflow: Airflow, dag_id: str, run_id: str) -> dict[str, str]:
    """task id -> state, for a DAG of plain (unmapped) tasks."""
    run = urllib.parse.quote(run_id, safe="")
    listed = airflow.api(f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances?limit=100")["task_instances"]
    return {str(ti["task_id"]): str(ti["state"]) for ti in listed}


def running_job(airflow: Airflow, dag_id: str, run_id: str, task_id: str) -> str | None:
    """The job id task `task_id` recorded, once that job is RUNNING."""
    job_id = airflow.batch_job_id(dag_id, run_id, task_id)
    return job_id if job_id is not None and airflow.job(job_id)["status"] == "RUNNING" else None


def stopped(airflow: Airflow, job_id: str, since: float, timeout: float = STOP_SECONDS) -> tuple[dict[str, Any], float]:
    """The job once FAILED (as every stop ends it), and the seconds from `since` it took."""
    job = wait_until(
        f"job {job_id} stopped", lambda: (found := airflow.job(job_id))["status"] == "FAILED" and found, timeout
    )
    return job, round(time.monotonic() - since, 1)


def patch_state(api: AirflowApi, dag_id: str, run_id: str, task_id: str, state: str) -> None:
    run = urllib.parse.quote(run_id, safe="")
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances/{task_id}"
    assert api.call("PATCH", path, {"new_state": state}) is not None, f"could not mark {task_id} {state}"


def clear(api: AirflowApi, dag_id: str, run_id: str, task_id: str) -> None:
    body = {"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id], "only_failed": False}
    assert api.call("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", body) is not None, f"could not clear {task_id}"


def start_with_conf(airflow: Airflow, dag_id: str, conf: dict[str, Any]) -> str:
    """Trigger `dag_id` (unpaused on creation) with `conf` once the DAG processor has loaded it; the run id."""
    api = airflow.supervisor.api()
    wait_until(f"{dag_id} loaded", lambda: api.call("GET", f"/api/v2/dags/{dag_id}") is not None, 120)
    run = api.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
    assert run is not None, f"could not trigger {dag_id}"
    return str(run["dag_run_id"])


def submit_elsewhere(airflow: Airflow, name: str) -> str:
    response = airflow.batch.submit_job(
        jobName=name,
        jobQueue="local-queue",
        jobDefinition="local-job",
        containerOverrides={"command": ["sh", "-c", "echo started; sleep 600"]},
    )
    return str(response["jobId"])


@full_only
def test_a_job_sensor_in_reschedule_mode_marked_failed_between_pokes_leaves_the_job_running(airflow: Airflow) -> None:
    """The sensor did not submit the job it waits on, so nothing of it stops the job (no process even runs
    between pokes: the task instance is UP_FOR_RESCHEDULE)."""
    api = airflow.supervisor.api()
    watched = submit_elsewhere(airflow, "watched-by-a-rescheduled-sensor")
    try:
        dag_id = "batch_exit_sensor_reschedule"
        run_id = start_with_conf(airflow, dag_id, {"job_id": watched})
        wait_until(
            "the sensor to wait between pokes",
            lambda: states(airflow, dag_id, run_id).get("wait") == "up_for_reschedule",
            120,
        )
        assert airflow.job(watched)["status"] == "RUNNING"
        patch_state(api, dag_id, run_id, "wait", "failed")
        assert wait_for_run(airflow, dag_id, run_id, timeout=60) == "failed"
        assert states(airflow, dag_id, run_id) == {"wait": "failed"}
        time.sleep(5)  # anything that stopped it would have had the time to
        job = airflow.job(watched)
        assert (job["status"], job.get("statusReason")) == ("RUNNING", None)
    finally:
        airflow.batch.terminate_job(jobId=watched, reason="test cleanup")
    stopped(airflow, watched, time.monotonic())  # its vCPU back before the next test


@pytest.mark.parametrize(
    ("dag_id", "waiting", "why"),
    [
        ("batch_exit_worker_user_action", "running", KILLED_IN_WORKER),
        pytest.param("batch_exit_deferred_user_action", "deferred", KILLED_WHILE_DEFERRED, marks=full_only),
    ],
    ids=["in_worker", "deferred"],
)
def test_marking_a_waiting_task_failed_or_success_or_clearing_it_applies_the_stop_policy(
    airflow: Airflow, dag_id: str, waiting: str, why: str
) -> None:
    """Marked failed, marked success, cleared: a task waiting in a worker (`deferrable=False`) is signalled
    by its worker at the next heartbeat and the operator's `on_kill` stops its job; a deferred task's
    trigger is cancelled by the triggerer and its `on_kill` does. Each with the default policy (terminate);
    with stop_policy="keep" the job runs on. A cleared task's next try runs a job of its own."""
    api = airflow.supervisor.api()
    run_id = start(airflow, dag_id)
    tasks = ("marked_failed", "marked_success", "cleared", "kept")
    jobs = {
        task: wait_until(f"{task}'s job running", lambda task=task: running_job(airflow, dag_id, run_id, task), 120)
        for task in tasks
    }
    try:
        wait_until(
            f"every task {waiting}", lambda: states(airflow, dag_id, run_id) == dict.fromkeys(tasks, waiting), 60
        )
        took = {}
        for task, action in (("marked_failed", "failed"), ("marked_success", "success"), ("cleared", "clear")):
            asked = time.monotonic()
            if action == "clear":
                clear(api, dag_id, run_id, task)
            else:
                patch_state(api, dag_id, run_id, task, action)
            job, took[task] = stopped(airflow, jobs[task], asked)
            reason = job["statusReason"]
            assert reason.startswith(f"Stopped by Airflow: dag {dag_id}, task {task}, run {run_id}, try 1: "), reason
            assert why in reason, reason
        print(f"\n{dag_id}: seconds from the user's action to the job FAILED: {took}")

        patch_state(api, dag_id, run_id, "kept", "failed")
        wait_until("kept to be failed", lambda: states(airflow, dag_id, run_id)["kept"] == "failed", 60)
        time.sleep(5)  # the task was signalled or its trigger cancelled, and on_kill ran, by now
        job = airflow.job(jobs["kept"])
        assert (job["status"], job.get("statusReason")) == ("RUNNING", None)

        # The cleared task runs again with a job of its own (a clear starts fresh); marking it failed stops that.
        second = wait_until(
            "the cleared task's next try to wait on its own job",
            lambda: (
                (job_id := running_job(airflow, dag_id, run_id, "cleared")) != jobs["cleared"]
                and states(airflow, dag_id, run_id)["cleared"] == waiting
                and job_id
            ),
            120,
        )
        asked = time.monotonic()
        patch_state(api, dag_id, run_id, "cleared", "failed")
        job, _ = stopped(airflow, second, asked)
        assert job["statusReason"].startswith(f"Stopped by Airflow: dag {dag_id}, task cleared, run {run_id}, try 2: ")
        assert why in job["statusReason"]
        assert wait_for_run(airflow, dag_id, run_id, timeout=60) == "failed"
        assert states(airflow, dag_id, run_id) == {
            "marked_failed": "failed",
            "marked_success": "success",
            "cleared": "failed",
            "kept": "failed",
        }
        assert airflow.job(jobs["kept"])["status"] == "RUNNING"  # nothing stopped it since
    finally:
        airflow.batch.terminate_job(jobId=jobs["kept"], reason="test cleanup")
    stopped(airflow, jobs["kept"], time.monotonic())  # its vCPU back before the next test


def test_a_dagrun_timeout_stops_the_jobs_through_the_tasks_own_exit_paths_or_the_run_callback(
    airflow: Airflow,
) -> None:
    """Airflow fails a timed-out run and sets its unfinished tasks to skipped: the worker signals the task
    waiting there (the operator's `on_kill`), the triggerer cancels the deferred task's trigger (its
    `on_kill`), each applying the task's stop policy. Tasks that keep their jobs leave them to the run's
    `on_failure_callback=stop_batch_jobs`."""
    runs = {
        dag_id: start(airflow, dag_id) for dag_id in ("batch_exit_dagrun_timeout", "batch_exit_dagrun_timeout_callback")
    }
    jobs = {}
    for dag_id, run_id in runs.items():
        for task in ("in_worker", "deferred"):
            jobs[dag_id, task] = wait_until(
                f"{dag_id}.{task}'s job running", lambda d=dag_id, r=run_id, t=task: running_job(airflow, d, r, t), 120
            )
        # Both jobs run, one task in a worker and one deferred, while the run does: the run's timeout ends them.
        wait_until(
            f"{dag_id}'s tasks waiting",
            lambda d=dag_id, r=run_id: states(airflow, d, r) == {"in_worker": "running", "deferred": "deferred"},
            30,
        )
    for dag_id, run_id in runs.items():
        assert wait_for_run(airflow, dag_id, run_id, timeout=120) == "failed"
        assert states(airflow, dag_id, run_id) == {"in_worker": "skipped", "deferred": "skipped"}

    own = "batch_exit_dagrun_timeout"
    for task, why in (("in_worker", KILLED_IN_WORKER), ("deferred", KILLED_WHILE_DEFERRED)):
        job, _ = stopped(airflow, jobs[own, task], time.monotonic())
        assert f"dag {own}, task {task}, run {runs[own]}" in job["statusReason"], job["statusReason"]
        assert why in job["statusReason"], job["statusReason"]

    by_callback = "batch_exit_dagrun_timeout_callback"
    for task in ("in_worker", "deferred"):
        job, _ = stopped(airflow, jobs[by_callback, task], time.monotonic(), timeout=60)
        reason = job["statusReason"]
        assert reason.startswith(f"Stopped by Airflow: dag {by_callback}, run {runs[by_callback]} failed"), reason
        assert "killed" not in reason, reason  # not the task's own exit path: it keeps its job


@full_only
def test_the_last_try_of_a_task_whose_worker_died_without_it_stops_its_job(airflow: Airflow) -> None:
    """The process that supervises a task (here a LocalExecutor worker; a Celery worker alike, see test_ha.py)
    is SIGKILLed and the task's own process, in a process group of its own, lives on. Its next log line
    breaks; with no retry to come (retries=0), the operator applies the stop policy on its way out."""
    import psutil

    dag_id = "batch_exit_worker_dies_last_try"
    run_id = start(airflow, dag_id)
    job_id = wait_until("the job running", lambda: running_job(airflow, dag_id, run_id, "job"), 120)
    wait_until("the task running", lambda: states(airflow, dag_id, run_id) == {"job": "running"}, 60)
    task = psutil.Process(int(airflow.task_instance(dag_id, run_id)["pid"]))
    worker = task.parent()
    assert worker is not None and worker.pid in descendants([airflow.supervisor.pids["scheduler"]]), worker
    assert os.getpgid(task.pid) != os.getpgid(worker.pid)  # the task's group: a signal to the worker's misses it
    asked = time.monotonic()
    worker.kill()
    job, took = stopped(airflow, job_id, asked)
    print(f"\nthe orphaned last try stopped its job {took} s after its worker was SIGKILLed")
    reason = job["statusReason"]
    assert reason.startswith(f"Stopped by Airflow: dag {dag_id}, task job, run {run_id}, try 1: "), reason
    assert "the task failed in the worker" in reason, reason
    task.wait(timeout=30)  # and the orphan ends


def worker_runs(airflow: Airflow, dag_id: str, run_id: str, task_id: str) -> dict[int, int]:
    """try number -> how many times a worker ran the task in that try (the task runner says once per run
    that it parsed the DAG file; the triggerer's parts of the log are files of their own)."""
    logs = airflow.supervisor.settings.state_dir / "airflow" / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
    runs = {}
    for path in sorted((logs / f"task_id={task_id}").glob("attempt=*.log")):
        if ".trigger." in path.name:
            continue
        events = [json.loads(line).get("event") for line in path.read_text().splitlines() if line.startswith("{")]
        runs[int(path.name.split("=")[1].split(".")[0])] = events.count("Worker startup parse complete")
    return runs


def xcom(airflow: Airflow, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
    run = urllib.parse.quote(run_id, safe="")
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances/{task_id}/xcomEntries/{key}"
    return airflow.api(f"{path}?deserialize=true&stringify=false")["value"]


def test_a_deferred_task_whose_job_ended_is_ended_by_its_trigger_with_its_xcoms_and_retries(airflow: Airflow) -> None:
    """end_from_trigger's default: the triggerer ends the task when the job ends, and no worker runs it a
    second time; a failure is retried as a worker's would be. `end_from_trigger=False` resumes in a worker."""
    dag_id = "batch_end_in_triggerer"
    run_id = start(airflow, dag_id)
    assert wait_for_run(airflow, dag_id, run_id, timeout=240) == "failed"  # fails_twice fails, on its second try
    assert states(airflow, dag_id, run_id) == {"succeeds": "success", "fails_twice": "failed", "resumes": "success"}
    assert airflow.task_instance(dag_id, run_id, "fails_twice")["try_number"] == 2
    assert worker_runs(airflow, dag_id, run_id, "succeeds") == {1: 1}  # submitted, deferred, ended by the trigger
    assert worker_runs(airflow, dag_id, run_id, "fails_twice") == {1: 1, 2: 1}
    assert worker_runs(airflow, dag_id, run_id, "resumes") == {1: 2}  # submitted, deferred, resumed
    for task_id in ("succeeds", "resumes"):  # the same XComs whichever process ended the task
        job_id = airflow.batch_job_id(dag_id, run_id, task_id)
        result = xcom(airflow, dag_id, run_id, task_id, "return_value")
        assert (result["job_id"], result["status"]) == (job_id, "SUCCEEDED")
        (link,) = xcom(airflow, dag_id, run_id, task_id, "batch_log_links")
        assert link["stream"] == airflow.job(str(job_id))["container"]["logStreamName"]
        said = airflow.task_log_events(dag_id, run_id, task_id)
        assert [said.count(f"ending line-{i}") for i in range(1, 5)] == [1, 1, 1, 1], said
        assert said.count(f"Batch job {job_id} SUCCEEDED") == 1, said
    said = airflow.task_log_events(dag_id, run_id, "fails_twice")
    assert said.count("Task failed: ") == 2 and "exit code 3" in said and "about to fail" in said, said
    assert len(airflow.jobs_named(f"{dag_id}-fails_twice")) == 2  # each try its own job
