"""Conformance: ListJobs as the boto3 reference (seed 003) describes it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import assert_conforms, submit, wait_for

from airflow_batch_plus.local import LocalBatch, LocalBatchConfig


@pytest.fixture
def batch(batch_client: Any) -> Any:
    return batch_client


def _names(answer: dict[str, Any]) -> list[str]:
    return [item["jobName"] for item in answer["jobSummaryList"]]


@pytest.mark.parametrize(
    "scope",
    [{}, {"jobQueue": "local-queue", "arrayJobId": "x"}, {"jobQueue": "local-queue", "multiNodeJobId": "y"}],
)
def test_exactly_one_scope(batch: Any, scope: dict[str, str]) -> None:
    with pytest.raises(ClientError, match="exactly one of jobQueue, arrayJobId or multiNodeJobId"):
        batch.list_jobs(**scope)


def test_without_status_only_running_jobs_are_listed(local_batch: LocalBatch, batch: Any) -> None:
    running = submit(local_batch, "sleep 30", jobName="running")
    finished = submit(local_batch, "true", jobName="finished")
    wait_for(batch, running, "RUNNING")
    wait_for(batch, finished)
    assert _names(batch.list_jobs(jobQueue="local-queue")) == ["running"]
    assert _names(batch.list_jobs(jobQueue="local-queue", jobStatus="SUCCEEDED")) == ["finished"]
    batch.terminate_job(jobId=running, reason="cleanup")


def test_filters_ignore_job_status_and_return_every_status_newest_first(local_batch: LocalBatch, batch: Any) -> None:
    failed = submit(local_batch, "exit 1", jobName="nightly-a")
    wait_for(batch, failed)
    succeeded = submit(local_batch, "true", jobName="nightly-b")
    wait_for(batch, succeeded)
    answer = batch.list_jobs(
        jobQueue="local-queue", jobStatus="RUNNING", filters=[{"name": "JOB_NAME", "values": ["nightly*"]}]
    )
    assert _names(answer) == ["nightly-b", "nightly-a"]
    assert [item["status"] for item in answer["jobSummaryList"]] == ["SUCCEEDED", "FAILED"]
    assert answer["jobSummaryList"][1]["container"] == {"exitCode": 1}
    assert_conforms("ListJobs", answer)


def test_job_name_filter_is_case_insensitive_with_a_trailing_star(local_batch: LocalBatch, batch: Any) -> None:
    for name in ("Test1", "test10", "other"):
        submit(local_batch, jobName=name)

    def listed(value: str) -> list[str]:
        return sorted(
            _names(batch.list_jobs(jobQueue="local-queue", filters=[{"name": "JOB_NAME", "values": [value]}]))
        )

    assert listed("test1") == ["Test1"]
    assert listed("test1*") == ["Test1", "test10"]


def test_job_definition_filter_by_name_prefix_and_exact_revision_arn(local_batch: LocalBatch, batch: Any) -> None:
    container = {
        "image": "local",
        "command": ["true"],
        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
    }
    revisions = [
        batch.register_job_definition(jobDefinitionName=name, type="container", containerProperties=container)
        for name in ("jd1", "jd1", "jd1A")
    ]
    for index, revision in enumerate(revisions):
        batch.submit_job(jobName=f"job{index}", jobQueue="local-queue", jobDefinition=revision["jobDefinitionArn"])

    def listed(value: str) -> list[str]:
        return sorted(
            _names(batch.list_jobs(jobQueue="local-queue", filters=[{"name": "JOB_DEFINITION", "values": [value]}]))
        )

    assert listed("jd1") == ["job0", "job1"]
    assert listed("jd1*") == ["job0", "job1", "job2"]
    assert listed(revisions[1]["jobDefinitionArn"]) == ["job1"]


def test_created_at_filters_take_epoch_milliseconds(local_batch: LocalBatch, batch: Any) -> None:
    submit(local_batch, jobName="early")
    time.sleep(0.05)
    boundary = str(int(time.time() * 1000))
    time.sleep(0.05)
    submit(local_batch, jobName="late")
    before = batch.list_jobs(jobQueue="local-queue", filters=[{"name": "BEFORE_CREATED_AT", "values": [boundary]}])
    after = batch.list_jobs(jobQueue="local-queue", filters=[{"name": "AFTER_CREATED_AT", "values": [boundary]}])
    assert (_names(before), _names(after)) == (["early"], ["late"])


def test_one_filter_at_a_time(batch: Any) -> None:
    filters = [{"name": "JOB_NAME", "values": ["a"]}, {"name": "JOB_DEFINITION", "values": ["b"]}]
    with pytest.raises(ClientError, match="Only one filter"):
        batch.list_jobs(jobQueue="local-queue", filters=filters)
    with pytest.raises(ClientError, match="Invalid filter name"):
        batch.list_jobs(jobQueue="local-queue", filters=[{"name": "JOB_COLOUR", "values": ["a"]}])


@pytest.mark.parametrize("local_batch_config", [LocalBatchConfig(submitted_seconds=60)])
def test_max_results_and_next_token_page_through_everything(local_batch: LocalBatch, batch: Any) -> None:
    for index in range(25):
        submit(local_batch, jobName=f"page-{index:02d}")
    request: dict[str, Any] = {"jobQueue": "local-queue", "jobStatus": "SUBMITTED", "maxResults": 10}
    pages = []
    while True:
        answer = batch.list_jobs(**request)
        pages.append(_names(answer))
        if "nextToken" not in answer:
            break
        request["nextToken"] = answer["nextToken"]
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [name for page in pages for name in page] == [f"page-{index:02d}" for index in reversed(range(25))]
    paginator = batch.get_paginator("list_jobs")
    found = [
        item["jobName"]
        for page in paginator.paginate(jobQueue="local-queue", jobStatus="SUBMITTED", PaginationConfig={"PageSize": 7})
        for item in page["jobSummaryList"]
    ]
    assert len(found) == 25


def test_a_page_token_survives_jobs_changing_status(local_batch: LocalBatch, batch: Any) -> None:
    ids = [submit(local_batch, "sleep 30", jobName=f"j{index}") for index in range(4)]
    for job_id in ids:
        wait_for(batch, job_id, "RUNNING")
    first = batch.list_jobs(jobQueue="local-queue", maxResults=2)
    batch.terminate_job(jobId=first["jobSummaryList"][-1]["jobId"], reason="between pages")
    wait_for(batch, first["jobSummaryList"][-1]["jobId"])
    second = batch.list_jobs(jobQueue="local-queue", maxResults=2, nextToken=first["nextToken"])
    assert _names(first) + _names(second) == ["j3", "j2", "j1", "j0"]
    batch.terminate_jobs(jobs=ids, reason="cleanup")


def test_array_children_are_listed_by_array_job_id_not_by_queue(local_batch: LocalBatch, batch: Any) -> None:
    parent = submit(local_batch, "true", jobName="fan", arrayProperties={"size": 3})
    wait_for(batch, parent)
    children = batch.list_jobs(arrayJobId=parent, jobStatus="SUCCEEDED")["jobSummaryList"]
    assert [item["jobId"] for item in children] == [f"{parent}:{index}" for index in range(3)]
    assert [item["arrayProperties"] for item in children] == [{"index": index} for index in range(3)]
    queue = batch.list_jobs(jobQueue="local-queue", jobStatus="SUCCEEDED")["jobSummaryList"]
    assert [item["jobId"] for item in queue] == [parent]
    assert queue[0]["arrayProperties"] == {"size": 3}


def test_the_queue_may_be_named_by_its_arn(local_batch: LocalBatch, batch: Any) -> None:
    assert local_batch.env is not None
    job_id = submit(local_batch, "true", jobName="by-arn")
    wait_for(batch, job_id)
    listed = batch.list_jobs(jobQueue=local_batch.env.queue_arn, jobStatus="SUCCEEDED")["jobSummaryList"]
    assert [item["jobId"] for item in listed] == [job_id]


def test_array_children_without_a_status_are_listed_while_running(local_batch: LocalBatch, batch: Any) -> None:
    """ListJobs by arrayJobId defaults to RUNNING, like a queue listing: running children show, finished ones do not."""
    parent = submit(local_batch, "sleep 30", jobName="fan", arrayProperties={"size": 2})
    wait_for(batch, parent, "PENDING")
    for index in range(2):
        wait_for(batch, f"{parent}:{index}", "RUNNING")
    children = batch.list_jobs(arrayJobId=parent)["jobSummaryList"]
    assert [(item["jobId"], item["status"]) for item in children] == [
        (f"{parent}:{index}", "RUNNING") for index in range(2)
    ]
    batch.terminate_job(jobId=parent, reason="cleanup")
    wait_for(batch, parent)
    assert batch.list_jobs(arrayJobId=parent)["jobSummaryList"] == []
