"""Conformance: dependsOn (plain, N_TO_N, SEQUENTIAL), array jobs and multi-node parallel jobs."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from conftest import assert_conforms, describe, log_messages, submit, wait_for

from airflow_batch_plus.local import LocalBatch


@pytest.fixture
def batch(batch_client: Any) -> Any:
    return batch_client


def _children(batch: Any, parent: str, size: int) -> list[dict[str, Any]]:
    jobs = batch.describe_jobs(jobs=[f"{parent}:{index}" for index in range(size)])["jobs"]
    return sorted(jobs, key=lambda job: job["arrayProperties"]["index"])


def test_a_job_waits_for_its_dependency_to_succeed(local_batch: LocalBatch, batch: Any) -> None:
    first = submit(local_batch, "sleep 0.3")
    second = submit(local_batch, "true", dependsOn=[{"jobId": first}])
    wait_for(batch, first, "RUNNING")
    assert describe(batch, second)["status"] == "PENDING"
    done_first, done_second = wait_for(batch, first), wait_for(batch, second)
    assert done_second["status"] == "SUCCEEDED"
    assert done_second["startedAt"] >= done_first["stoppedAt"]
    assert done_second["dependsOn"] == [{"jobId": first}]


def test_a_failed_dependency_fails_the_dependent_job(local_batch: LocalBatch, batch: Any) -> None:
    first = submit(local_batch, "exit 1")
    second = submit(local_batch, "echo never", dependsOn=[{"jobId": first}])
    job = wait_for(batch, second)
    assert (job["status"], job["statusReason"], job["attempts"]) == ("FAILED", "Dependent Job failed", [])


def test_array_children_get_their_index_and_the_parent_a_summary(local_batch: LocalBatch, batch: Any) -> None:
    parent = submit(local_batch, "echo index=$AWS_BATCH_JOB_ARRAY_INDEX", arrayProperties={"size": 3})
    job = wait_for(batch, parent)
    assert job["status"] == "SUCCEEDED"
    assert job["arrayProperties"]["size"] == 3
    assert job["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3
    logs = local_batch.client("logs")
    for index, child in enumerate(_children(batch, parent, 3)):
        assert child["jobId"] == f"{parent}:{index}"
        assert child["arrayProperties"] == {"index": index}
        assert log_messages(logs, child["container"]["logStreamName"]) == [f"index={index}"]
    assert_conforms("DescribeJobs", batch.describe_jobs(jobs=[parent, f"{parent}:0"]))


def test_array_parent_only_takes_submitted_pending_and_final_states(local_batch: LocalBatch, batch: Any) -> None:
    parent = submit(local_batch, "sleep 0.2", arrayProperties={"size": 2})
    seen = set()
    while (status := describe(batch, parent)["status"]) not in {"SUCCEEDED", "FAILED"}:
        seen.add(status)
        time.sleep(0.005)
    assert seen <= {"SUBMITTED", "PENDING"}


def test_one_failed_child_fails_the_array_parent(local_batch: LocalBatch, batch: Any) -> None:
    parent = submit(local_batch, 'test "$AWS_BATCH_JOB_ARRAY_INDEX" != 1', arrayProperties={"size": 3})
    job = wait_for(batch, parent)
    assert job["status"] == "FAILED"
    summary = job["arrayProperties"]["statusSummary"]
    assert (summary["SUCCEEDED"], summary["FAILED"]) == (2, 1)


def test_sequential_array_children_run_one_after_another(local_batch: LocalBatch, batch: Any) -> None:
    parent = submit(local_batch, "sleep 0.05", arrayProperties={"size": 3}, dependsOn=[{"type": "SEQUENTIAL"}])
    wait_for(batch, parent)
    children = _children(batch, parent, 3)
    for before, after in itertools.pairwise(children):
        assert after["startedAt"] >= before["stoppedAt"]


def test_n_to_n_child_waits_for_the_same_index_and_inherits_its_failure(local_batch: LocalBatch, batch: Any) -> None:
    first = submit(
        local_batch,
        'sleep 0.$AWS_BATCH_JOB_ARRAY_INDEX; test "$AWS_BATCH_JOB_ARRAY_INDEX" != 1',
        arrayProperties={"size": 3},
    )
    second = submit(local_batch, "true", arrayProperties={"size": 3}, dependsOn=[{"jobId": first, "type": "N_TO_N"}])
    wait_for(batch, second)
    firsts, seconds = _children(batch, first, 3), _children(batch, second, 3)
    assert [child["status"] for child in seconds] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert seconds[1]["statusReason"] == "Dependent Job failed"
    for index in (0, 2):
        assert seconds[index]["startedAt"] >= firsts[index]["stoppedAt"]


def test_n_to_n_needs_arrays_of_the_same_size(local_batch: LocalBatch, batch: Any) -> None:
    first = submit(local_batch, arrayProperties={"size": 2})
    with pytest.raises(batch.exceptions.ClientException, match="same size"):
        submit(local_batch, arrayProperties={"size": 3}, dependsOn=[{"jobId": first, "type": "N_TO_N"}])


def test_multi_node_job_runs_every_node_and_follows_the_main_node(local_batch: LocalBatch, batch: Any) -> None:
    batch.register_job_definition(
        jobDefinitionName="mnp",
        type="multinode",
        nodeProperties={
            "numNodes": 2,
            "mainNode": 0,
            "nodeRangeProperties": [
                {
                    "targetNodes": "0:",
                    "container": {
                        "image": "local",
                        "command": [
                            "sh",
                            "-c",
                            "sleep 0.2; echo node $AWS_BATCH_JOB_NODE_INDEX of $AWS_BATCH_JOB_NUM_NODES",
                        ],
                        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
                    },
                }
            ],
        },
    )
    parent = batch.submit_job(
        jobName="mnp", jobQueue="local-queue", jobDefinition="mnp", nodeOverrides={"numNodes": 3}
    )["jobId"]
    job = wait_for(batch, parent)
    assert job["status"] == "SUCCEEDED"
    nodes = batch.describe_jobs(jobs=[f"{parent}#{index}" for index in range(3)])["jobs"]
    assert [node["nodeDetails"]["nodeIndex"] for node in nodes] == [0, 1, 2]
    assert nodes[0]["nodeDetails"]["isMainNode"] is True
    main_lines = log_messages(local_batch.client("logs"), nodes[0]["container"]["logStreamName"])
    assert main_lines == ["node 0 of 3"]
    listed = batch.list_jobs(multiNodeJobId=parent, jobStatus="SUCCEEDED")["jobSummaryList"]
    assert f"{parent}#0" in [item["jobId"] for item in listed]
    assert_conforms("DescribeJobs", batch.describe_jobs(jobs=[parent, f"{parent}#0"]))


def test_a_job_depending_on_an_array_parent_waits_for_every_child(local_batch: LocalBatch, batch: Any) -> None:
    slow_on_index_1 = '[ "$AWS_BATCH_JOB_ARRAY_INDEX" = 1 ] && sleep 0.5; true'
    array = submit(local_batch, slow_on_index_1, arrayProperties={"size": 2})
    after = submit(local_batch, "true", dependsOn=[{"jobId": array}])
    job = wait_for(batch, after)
    slowest = describe(batch, f"{array}:1")
    assert (job["status"], slowest["status"]) == ("SUCCEEDED", "SUCCEEDED")
    assert job["startedAt"] >= slowest["stoppedAt"]
