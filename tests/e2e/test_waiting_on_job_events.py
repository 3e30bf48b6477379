"""Event-driven waiting in a whole Airflow: the demo started with `--job-events` (`DemoSettings.job_events`)
gives its triggerer a queue of Batch's job state change events; deferred tasks then wake on events, log
every line of their jobs live, each once, and cost DescribeJobs only to start following a job and to
confirm its end, where polling every second would ask every second."""

from __future__ import annotations

import re

from conftest import Airflow  # tests/e2e/conftest.py
from runs import log_tails, logged_lines, run_jobs, start, wait_for_run

DAG_ID = "batch_job_events"  # tests/e2e/dags/job_event_dags.py
DEMO_JOB_EVENTS = True  # read by conftest.run_demo
LINE = re.compile(r"event-job-\d-line-(\d)")


def test_deferred_tasks_wake_on_job_events_and_log_every_line_once(airflow: Airflow) -> None:
    server = airflow.supervisor.batch
    assert server is not None
    triggerer_env = airflow.supervisor.specs["triggerer"].env
    assert triggerer_env["AIRFLOW__BATCH_PLUS__JOB_EVENTS_QUEUE_URL"].endswith("/batch-job-events")
    before = server.calls["describejobs"]
    run_id = start(airflow, DAG_ID)
    assert wait_for_run(airflow, DAG_ID, run_id) == "success", log_tails(airflow, run_id)
    jobs = run_jobs(airflow, DAG_ID)
    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * 3
    assert logged_lines(airflow, run_id, LINE) == {(index, line): 1 for index in range(3) for line in range(1, 7)}
    # Polling each second, the 6 s jobs would cost a DescribeJobs call a second (one call for all three jobs
    # of the shared poller) from their submission to their end; with events: a first look and a confirmed
    # end per job at most, whatever the jobs' length.
    described = server.calls["describejobs"] - before
    assert described <= 2 * len(jobs), f"{described} DescribeJobs calls for {len(jobs)} jobs"
    received = server.calls["ReceiveMessage"]
    assert received >= 1, server.calls
