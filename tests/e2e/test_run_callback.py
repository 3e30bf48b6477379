"""`stop_batch_jobs` as a DAG's `on_failure_callback` in a whole Airflow (the demo supervisor's api-server,
scheduler, dag-processor and triggerer): the scheduler fails the run at its `dagrun_timeout`, the DAG
processor runs the callback, and the callback finds the jobs from what the tasks recorded, although
their queue is a template the DAG file does not spell out.
"""

from __future__ import annotations

import time

from conftest import Airflow  # tests/e2e/conftest.py
from runs import MAP_INDEX_TAG, log_tails, run_jobs, start, task_states, wait_for_run, wait_until

DAG_ID = "batch_run_timeout_templated_queue"  # tests/e2e/dags/callback_dags.py
TASKS = 2


def test_a_run_past_its_dagrun_timeout_has_its_kept_jobs_stopped_though_the_queue_is_a_template(
    airflow: Airflow,
) -> None:
    run_id = start(airflow, DAG_ID)
    wait_until(
        "both mapped tasks deferred on a RUNNING job",
        lambda: (
            set(task_states(airflow, DAG_ID, run_id).values()) == {"deferred"}
            and [job["status"] for job in run_jobs(airflow, DAG_ID)] == ["RUNNING"] * TASKS
        ),
        120,
    )
    recorded = {airflow.batch_job_id(DAG_ID, run_id, map_index=index) for index in range(TASKS)}
    assert wait_for_run(airflow, DAG_ID, run_id) == "failed"  # the run's dagrun_timeout (30 s)
    deadline = time.monotonic() + 90  # the DAG processor runs the callback on its next loop
    while (jobs := run_jobs(airflow, DAG_ID)) and any(job["status"] != "FAILED" for job in jobs):
        assert time.monotonic() < deadline, (
            f"jobs left: {[(job['jobId'], job['status']) for job in jobs]}\n{log_tails(airflow, run_id)}"
        )
        time.sleep(1)
    assert {job["jobId"] for job in jobs} == recorded
    # Found from the tasks' `batch_job_id` XComs, read through the Task SDK in the DAG processor.
    logs = airflow.supervisor.settings.state_dir / "airflow" / "logs" / "dag_processor"  # per DAG file
    processor_log = "".join(path.read_text(errors="replace") for path in logs.rglob("callback_dags.py.log"))
    (found,) = [line for line in processor_log.splitlines() if f"Task job of {DAG_ID} run {run_id} recorded" in line]
    assert all(job_id in found for job_id in recorded), found
    assert sorted(job["tags"][MAP_INDEX_TAG] for job in jobs) == [str(index) for index in range(TASKS)]
    for job in jobs:  # stopped by the run's callback, not by its task (which keeps its job)
        assert job["statusReason"].startswith(f"Stopped by Airflow: dag {DAG_ID}, run {run_id} failed"), job
