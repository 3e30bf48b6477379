"""BatchStopJobsOperator's `tags` filter and list of queues, against the local Batch.

ListJobs cannot filter by tag: the operator lists each queue's live jobs and reads their tags from
DescribeJobs, so only jobs carrying every tag given are stopped, whatever their queue.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from airflow_batch_plus.local import LocalBatch
from airflow_batch_plus.operators.stop import BatchStopJobsOperator
from airflow_batch_plus.testing.status import wait_for_status

CONTEXT: dict[str, Any] = {
    "ti": SimpleNamespace(dag_id="dag", task_id="stop", run_id="run", map_index=-1, try_number=1, max_tries=0)
}
LONG = ["sh", "-c", "sleep 60"]


def submit(batch: Any, name: str, tags: dict[str, str], vcpus: str = "1") -> str:
    job_id: str = batch.submit_job(
        jobName=name,
        jobQueue="local-queue",
        jobDefinition="local-job",
        tags=tags,
        containerOverrides={"command": LONG, "resourceRequirements": [{"type": "VCPU", "value": vcpus}]},
    )["jobId"]
    return job_id


def test_only_jobs_carrying_every_tag_are_stopped(local_batch: LocalBatch) -> None:
    batch = local_batch.client("batch")
    ml = submit(batch, "ml-running", {"team": "ml", "env": "prod"})
    ml_queued = submit(batch, "ml-queued", {"team": "ml", "env": "prod"}, vcpus="1024")
    ml_dev = submit(batch, "ml-dev", {"team": "ml", "env": "dev"})
    other = submit(batch, "web", {"team": "web"})
    for job_id in (ml, ml_dev, other):
        wait_for_status(batch, job_id, {"RUNNING"}, timeout=20)

    operator = BatchStopJobsOperator(
        task_id="stop",
        job_queue=["local-queue", "local-queue"],  # a queue named twice is listed once
        tags={"team": "ml", "env": "prod"},
        stop_policy="terminate",
        reason="Stopped by the test",
        aws_conn_id=None,
        region_name="us-east-1",
    )
    result = operator.execute(CONTEXT)  # type: ignore[arg-type]
    assert result["matched"] == 2
    assert sorted(job_id for ids in result["job_ids"].values() for job_id in ids) == sorted([ml, ml_queued])
    for job_id in (ml, ml_queued):
        assert wait_for_status(batch, job_id, {"FAILED"}, timeout=20)["statusReason"] == "Stopped by the test"
    described = {job["jobId"]: job["status"] for job in batch.describe_jobs(jobs=[ml_dev, other])["jobs"]}
    assert described == {ml_dev: "RUNNING", other: "RUNNING"}


def test_a_dry_run_with_tags_only_lists(local_batch: LocalBatch) -> None:
    batch = local_batch.client("batch")
    job_id = submit(batch, "ml-queued", {"team": "ml"}, vcpus="1024")
    wait_for_status(batch, job_id, {"RUNNABLE"}, timeout=20)
    operator = BatchStopJobsOperator(
        task_id="stop", job_queue="local-queue", tags={"team": "ml"}, dry_run=True, aws_conn_id=None
    )
    assert operator.execute(CONTEXT)["job_ids"] == {"would cancel": [job_id]}  # type: ignore[arg-type]
    assert batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] == "RUNNABLE"


def test_tags_narrow_explicit_job_ids_too(local_batch: LocalBatch) -> None:
    batch = local_batch.client("batch")
    mine = submit(batch, "a", {"team": "ml"}, vcpus="1024")
    theirs = submit(batch, "b", {"team": "web"}, vcpus="1024")
    operator = BatchStopJobsOperator(
        task_id="stop", job_ids=[mine, theirs], tags={"team": "ml"}, dry_run=True, aws_conn_id=None
    )
    result = operator.execute(CONTEXT)  # type: ignore[arg-type]
    assert [job_id for ids in result["job_ids"].values() for job_id in ids] == [mine]
