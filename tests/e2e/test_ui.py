"""The Airflow UI in headless Chromium, as a user walks it, against the demo's whole Airflow and local
AWS Batch (one for the module, see conftest.py): trigger a DAG and watch the job's CloudWatch lines
arrive in the task's log view while the job runs; mark a deferred task failed, and clear one, and see
the trigger's `on_kill` stop the Batch job with our reason.

The three user actions (trigger, mark failed, clear) go through the UI only; the REST API is read for
the job id (XCom `batch_job_id`) and task states, boto3 for the job's status in the local Batch.
Screenshots go to tests/e2e/artifacts/ (or `$E2E_ARTIFACTS_DIR`).
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Locator, Page, expect

if TYPE_CHECKING:
    from conftest import Airflow

TICK = re.compile(r"\btick (\d+)\b")
STOP_SECONDS = 30


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; fail saying what never happened and the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s (last seen: {value!r})")
        time.sleep(interval)


def submitted_job(airflow: Airflow, dag_id: str, run_id: str) -> str:
    return wait_for(  # type: ignore[no-any-return]
        f"{dag_id} {run_id}: the job id in XCom batch_job_id", lambda: airflow.batch_job_id(dag_id, run_id), 90
    )


def log_in(page: Page, airflow: Airflow, path: str = "") -> None:
    """Open `path` of the UI; Airflow sends us to its login form first (we fill in the login the demo
    generated), then back to `path`."""
    page.goto(f"{airflow.url}{path}")
    page.get_by_label("Username").fill(airflow.login.username)
    page.get_by_label("Password").fill(airflow.login.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda address: "/auth/login" not in address)


def trigger(page: Page, dag_id: str) -> str:
    """Trigger the open DAG with the Trigger button and its dialog; return the new run's id."""
    # The DAG's own page (its name in the breadcrumb), not the list, where every DAG has a Trigger button.
    expect(page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name=dag_id)).to_be_visible()
    button = page.get_by_test_id("trigger-dag-button")
    expect(button).to_have_count(1)
    button.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Trigger Dag - {dag_id}")
    dialog.get_by_role("button", name="Trigger", exact=True).click()
    # The UI moves to the new run's page.
    page.wait_for_url(re.compile(rf"/dags/{dag_id}/runs/[^/]+$"), timeout=30_000)
    run_id = urllib.parse.unquote(page.url.rsplit("/runs/", 1)[1])
    assert run_id.startswith("manual__"), run_id
    return run_id


def open_task_instance(page: Page, dag_id: str, run_id: str, task_id: str = "job") -> None:
    """Click the run's cell of the task in the grid: the task instance's page, on its Logs tab."""
    page.get_by_test_id(f"grid-{run_id}-{task_id}").click()
    page.wait_for_url(f"**/dags/{dag_id}/runs/**/tasks/{task_id}")
    expect(log_view(page)).to_be_visible()


def log_view(page: Page) -> Locator:
    return page.get_by_test_id("virtualized-list")


def ticks(log: Locator) -> list[int]:
    return [int(number) for number in TICK.findall(log.inner_text())]


def task_state(page: Page) -> Locator:
    """The state badge next to the task's name in the task instance's header."""
    return page.get_by_test_id("header-card").get_by_test_id("state-badge")


def wait_until_deferred_and_logging(page: Page) -> None:
    """The task waits in the triggerer, and its trigger already copies the job's lines into the log view:
    the trigger runs in the triggerer, so a user action now reaches its on_kill."""
    expect(task_state(page)).to_have_text("Deferred", timeout=90_000)
    expect(log_view(page)).to_contain_text(TICK, timeout=90_000)


def wait_stopped_by_airflow(airflow: Airflow, job_id: str, dag_id: str, run_id: str) -> dict[str, Any]:
    try:
        job = wait_for(
            f"job {job_id} FAILED in the local Batch",
            lambda: (job := airflow.job(job_id))["status"] == "FAILED" and job,
            timeout=STOP_SECONDS,
        )
    except AssertionError as failure:
        told = airflow.task_log_events(dag_id, run_id, skip=TICK)
        raise AssertionError(
            f"{failure}; the job is {airflow.job(job_id)['status']}; the task's logs said:\n{told}"
        ) from None
    reason = job.get("statusReason", "")
    assert reason.startswith(f"Stopped by Airflow: dag {dag_id}, task job, run {run_id}, try 1: "), reason
    return job  # type: ignore[no-any-return]


def screenshot(page: Page, artifacts: Path, name: str) -> None:
    log_view(page).hover()  # no grid tooltip over the page
    path = artifacts / name
    page.screenshot(path=str(path))
    print(f"\nscreenshot: {path}")


def test_the_jobs_lines_appear_in_the_log_view_while_it_runs(airflow: Airflow, page: Page, artifacts: Path) -> None:
    dag_id = "ui_live_logs"
    log_in(page, airflow)
    page.get_by_role("link", name="Dags", exact=True).click()
    page.get_by_role("link", name=dag_id, exact=True).first.click()
    page.wait_for_url(f"**/dags/{dag_id}")

    run_id = trigger(page, dag_id)
    open_task_instance(page, dag_id, run_id)
    job_id = submitted_job(airflow, dag_id, run_id)

    log = log_view(page)
    expect(log).to_contain_text(TICK, timeout=90_000)
    first = max(ticks(log), default=0)
    assert airflow.job(job_id)["status"] == "RUNNING"
    # More lines arrive in the open page, no reload, while the job goes on.
    latest = wait_for(
        f"tick {first + 3} or later in the log view (first saw tick {first})",
        lambda: (newest := max(ticks(log), default=0)) >= first + 3 and newest,
        timeout=30,
    )
    job = airflow.job(job_id)
    assert job["status"] == "RUNNING", f"tick {latest} is in the log view but the job is {job['status']}"
    assert latest < 60, "the job printed all its ticks: the lines were not seen while it ran"
    screenshot(page, artifacts, "ui-1-live-logs.png")


def test_marking_a_deferred_task_failed_stops_its_job(airflow: Airflow, page: Page, artifacts: Path) -> None:
    dag_id = "ui_mark_failed"
    log_in(page, airflow, f"/dags/{dag_id}")
    run_id = trigger(page, dag_id)
    open_task_instance(page, dag_id, run_id)
    job_id = submitted_job(airflow, dag_id, run_id)
    wait_until_deferred_and_logging(page)
    assert airflow.job(job_id)["status"] == "RUNNING"

    page.get_by_role("button", name="Mark Task Instance as...").click()
    page.get_by_role("menuitem", name="Failed", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Mark Task Instance as failed")
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog).to_be_hidden()

    wait_stopped_by_airflow(airflow, job_id, dag_id, run_id)
    expect(task_state(page)).to_have_text("Failed")
    assert airflow.task_instance(dag_id, run_id)["state"] == "failed"
    screenshot(page, artifacts, "ui-2-mark-failed.png")


def test_clearing_a_deferred_task_stops_its_job(airflow: Airflow, page: Page, artifacts: Path) -> None:
    dag_id = "ui_clear"
    log_in(page, airflow, f"/dags/{dag_id}")
    run_id = trigger(page, dag_id)
    open_task_instance(page, dag_id, run_id)
    job_id = submitted_job(airflow, dag_id, run_id)
    wait_until_deferred_and_logging(page)
    assert airflow.job(job_id)["status"] == "RUNNING"

    page.get_by_role("button", name=re.compile(r"\bclear\b", re.IGNORECASE)).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Clear Task Instance")
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog).to_be_hidden()

    wait_stopped_by_airflow(airflow, job_id, dag_id, run_id)
    # A cleared task starts afresh: try 2 submits a new job rather than following the stopped one.
    new_jobs = wait_for(
        "try 2 submitting a new job",
        lambda: [job for job in airflow.jobs_named(f"{dag_id}-job-") if job["jobId"] != job_id],
        timeout=60,
    )
    assert len(new_jobs) == 1, new_jobs
    assert airflow.task_instance(dag_id, run_id)["try_number"] == 2
    # The open page shows both tries now.
    expect(page.get_by_test_id("log-attempt-select-button-2")).to_be_visible()
    expect(page.get_by_test_id("log-attempt-select-button-1")).to_be_visible()
    screenshot(page, artifacts, "ui-3-clear.png")
