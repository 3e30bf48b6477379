"""A retry runs the job definition revision its first try ran, even after a newer one was registered.

The operator runs up to its deferral against the in-process local Batch, with a task instance and a
task state store of its own (what Airflow hands `execute`), so each test reads which revision the job
that try submitted runs, from Batch itself.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_batch_plus.local import LocalBatch
from airflow_batch_plus.operators.batch import BatchSubmitJobOperator
from airflow_batch_plus.reattach import STATE_KEY


class Store:
    """The task state store: one task instance's records, kept across its tries (not across a clear)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


def context(try_number: int, max_tries: int = 2, store: Store | None = None) -> Any:
    ti = SimpleNamespace(
        dag_id="pinning",
        task_id="job",
        run_id="manual__1",
        map_index=-1,
        try_number=try_number,
        max_tries=max_tries,
        start_date=datetime.now(UTC),
        xcom_push=lambda key, value: None,
    )
    return {"ti": ti} if store is None else {"ti": ti, "task_state_store": store}


def run_try(context: Any, reference: str = "local-job", **options: Any) -> dict[str, Any]:
    """One try of a task whose job fails, up to its deferral; the job it submitted, described."""
    operator = BatchSubmitJobOperator(
        task_id="job",
        job_queue="local-queue",
        job_definition=reference,
        container_overrides={"command": ["sh", "-c", "exit 1"]},
        aws_conn_id=None,
        region_name="us-east-1",
        deferrable=True,
        **options,
    )
    with pytest.raises(TaskDeferred):
        operator.execute(context)
    assert operator.job_id is not None
    return finished(operator.hook.client, operator.job_id)


def finished(batch: Any, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
        if job["status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
            return dict(job)
        time.sleep(0.05)


def register_revision(local_batch: LocalBatch) -> str:
    batch = local_batch.client("batch")
    (latest,) = batch.describe_job_definitions(jobDefinitions=["local-job"])["jobDefinitions"][-1:]
    spec = {key: latest[key] for key in ("type", "containerProperties", "platformCapabilities")}
    return str(batch.register_job_definition(jobDefinitionName="local-job", **spec)["jobDefinitionArn"])


def revision(job: dict[str, Any]) -> str:
    return str(job["jobDefinition"]).rsplit("/", 1)[-1]


def test_the_first_try_resolves_the_name_to_its_latest_revision_and_records_it(
    local_batch: LocalBatch, capfd: pytest.CaptureFixture[str]
) -> None:
    second = register_revision(local_batch)
    store = Store()
    job = run_try(context(1, store=store))
    assert job["jobDefinition"] == second
    assert store.values[STATE_KEY]["job_definition"] == second
    assert "Job definition local-job: running revision local-job:2" in capfd.readouterr().out  # the task log


def test_a_retry_runs_the_revision_the_first_try_ran_after_a_newer_one_was_registered(
    local_batch: LocalBatch, capfd: pytest.CaptureFixture[str]
) -> None:
    store = Store()
    first = run_try(context(1, store=store))
    assert (first["status"], revision(first)) == ("FAILED", "local-job:1")
    register_revision(local_batch)  # revision 2, while the task waits for its retry
    capfd.readouterr()
    retry = run_try(context(2, store=store))
    assert retry["jobId"] != first["jobId"]  # the failed job is not followed: a new one runs...
    assert revision(retry) == "local-job:1"  # ...on the revision the first try ran
    assert "running revision local-job:1, which try 1 ran" in capfd.readouterr().out  # the task log


def test_without_a_task_state_store_a_retry_reads_the_revision_from_its_earlier_job(local_batch: LocalBatch) -> None:
    first = run_try(context(1))
    register_revision(local_batch)
    retry = run_try(context(2))  # found by its name and tags; its DescribeJobs jobDefinition says the revision
    assert (revision(first), revision(retry)) == ("local-job:1", "local-job:1")


def test_without_reattach_a_retry_still_runs_the_recorded_revision(local_batch: LocalBatch) -> None:
    store = Store()
    run_try(context(1, store=store), reattach=False)
    register_revision(local_batch)
    assert revision(run_try(context(2, store=store), reattach=False)) == "local-job:1"


def test_a_cleared_task_runs_the_latest_revision(local_batch: LocalBatch) -> None:
    store = Store()  # Airflow 3.3 keeps it through a clear
    run_try(context(1, store=store))
    register_revision(local_batch)
    cleared = run_try(context(2, max_tries=3, store=store))  # a clear raises max_tries
    assert revision(cleared) == "local-job:2"


def test_an_exact_revision_is_run_as_given_on_every_try(local_batch: LocalBatch) -> None:
    register_revision(local_batch)
    store = Store()
    first = run_try(context(1, store=store), reference="local-job:1")
    register_revision(local_batch)
    retry = run_try(context(2, store=store), reference="local-job:1")
    assert (revision(first), revision(retry)) == ("local-job:1", "local-job:1")


def test_a_retry_that_follows_the_live_job_names_the_revision_it_runs(
    local_batch: LocalBatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def deferred_try(try_number: int) -> str | None:
        operator = BatchSubmitJobOperator(
            task_id="job",
            job_queue="local-queue",
            job_definition="local-job",
            container_overrides={"command": ["sh", "-c", "sleep 30"]},
            aws_conn_id=None,
            region_name="us-east-1",
            deferrable=True,
        )
        with pytest.raises(TaskDeferred):
            operator.execute(context(try_number, store=store))
        return operator.job_id

    store = Store()
    first = deferred_try(1)
    register_revision(local_batch)
    capfd.readouterr()
    assert deferred_try(2) == first  # the worker died; the retry follows the same, live job
    assert f"Batch job {first} runs job definition local-job:1" in capfd.readouterr().out
    local_batch.client("batch").terminate_job(jobId=first, reason="test over")
