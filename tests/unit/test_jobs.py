"""The job model: statuses, the stop decision, job names, and JobSnapshot parsed from DescribeJobs items.

Pure code, so pure tests; the DescribeJobs items used here are first checked against botocore's own
JobDetail shape, so they are items AWS could really return.
"""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_batch_plus.jobs import (
    DEFAULT_LOG_GROUP,
    DONE,
    LIVE,
    PRE_START,
    STARTED,
    JobSnapshot,
    JobStatus,
    JobSummary,
    LogStream,
    StopAction,
    StopPolicy,
    check_job_name,
    decide_stop,
    log_group_of,
    make_job_name,
    trim_reason,
)

_BATCH = botocore.session.get_session().get_service_model("batch")
JOB_DETAIL = _BATCH.operation_model("DescribeJobs").output_shape.members["jobs"].member
JOB_SUMMARY = _BATCH.operation_model("ListJobs").output_shape.members["jobSummaryList"].member
AWS_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def real(item: dict[str, Any], shape: Any = JOB_DETAIL) -> dict[str, Any]:
    """`item`, after checking botocore would accept it as a JobDetail (or `shape`)."""
    report = ParamValidator().validate(item, shape)
    assert not report.has_errors(), report.generate_report()
    return item


def job(**fields: Any) -> dict[str, Any]:
    base = {
        "jobArn": "arn:aws:batch:us-east-1:123456789012:job/j-1",
        "jobName": "nightly",
        "jobId": "j-1",
        "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/q",
        "status": "RUNNING",
        "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/etl:3",
        "createdAt": 1_700_000_000_000,
        "startedAt": 1_700_000_000_500,  # required by the JobDetail shape, even before a job starts
        "dependsOn": [],
    }
    return real({**base, **fields})


# Statuses and the stop decision


def test_statuses_split_into_pre_start_started_and_done() -> None:
    assert set(JobStatus) == PRE_START | STARTED | DONE
    assert not (PRE_START & STARTED) and not (STARTED & DONE) and not (PRE_START & DONE)
    assert LIVE == PRE_START | STARTED
    assert [status for status in JobStatus if status.has_started] == [JobStatus.STARTING, JobStatus.RUNNING]
    assert [status for status in JobStatus if status.is_done] == [JobStatus.SUCCEEDED, JobStatus.FAILED]


# The contract of design §3: cancel has no effect once a job started; terminate stops any live job.
EXPECTED_ACTIONS = {
    StopPolicy.TERMINATE: {**dict.fromkeys(LIVE, StopAction.TERMINATE), **dict.fromkeys(DONE, StopAction.NONE)},
    StopPolicy.CANCEL: {
        **dict.fromkeys(PRE_START, StopAction.CANCEL),
        **dict.fromkeys(STARTED, StopAction.NONE),
        **dict.fromkeys(DONE, StopAction.NONE),
    },
    StopPolicy.KEEP: dict.fromkeys(JobStatus, StopAction.NONE),
}


@pytest.mark.parametrize("policy", list(StopPolicy))
@pytest.mark.parametrize("status", list(JobStatus))
def test_decide_stop_follows_the_cancel_and_terminate_contract(policy: StopPolicy, status: JobStatus) -> None:
    assert decide_stop(policy, status) is EXPECTED_ACTIONS[policy][status]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (StopPolicy.TERMINATE, StopAction.TERMINATE),
        (StopPolicy.CANCEL, StopAction.CANCEL),
        (StopPolicy.KEEP, StopAction.NONE),
    ],
)
def test_an_unknown_status_gets_the_call_that_is_safe_in_every_state(policy: StopPolicy, expected: StopAction) -> None:
    assert decide_stop(policy, None) is expected


@pytest.mark.parametrize("value", ["terminate", "CANCEL", "Keep", StopPolicy.KEEP])
def test_stop_policy_parses_names_in_any_case(value: str) -> None:
    assert StopPolicy.parse(value).value == str(value).lower()


def test_an_unknown_stop_policy_names_the_field_and_the_choices() -> None:
    with pytest.raises(
        ValueError, match=r"stop_policy='kill' is not a stop policy: use one of 'terminate', 'cancel', 'keep'"
    ):
        StopPolicy.parse("kill")


@pytest.mark.parametrize(("length", "kept"), [(0, 0), (1024, 1024), (1025, 1024), (5000, 1024)])
def test_reasons_are_trimmed_to_what_batch_accepts(length: int, kept: int) -> None:
    reason = "é" * length
    trimmed = trim_reason(reason)
    assert len(trimmed) == kept
    assert trimmed == reason or trimmed.endswith(" [...]")


# Job names


@pytest.mark.parametrize("name", ["a", "A1", "9-lives", "etl_nightly-2", "x" * 128])
def test_valid_job_names_pass(name: str) -> None:
    assert check_job_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "-leading-dash", "_leading_underscore", "has space", "dots.not.allowed", "x" * 129, "ünïcode"]
)
def test_invalid_job_names_are_refused_naming_the_field_and_the_fix(name: str) -> None:
    with pytest.raises(ValueError, match=r"job_name=.* is not a valid Batch job name: use 1 to 128 letters") as error:
        check_job_name(name, "job_name")
    assert "make_job_name()" in str(error.value)


parts = st.lists(st.one_of(st.text(max_size=300), st.integers()), min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(parts)
def test_make_job_name_always_makes_a_valid_deterministic_name(given_parts: list[object]) -> None:
    name = make_job_name(*given_parts)
    assert AWS_JOB_NAME.fullmatch(name), name
    assert check_job_name(name) == name
    assert make_job_name(*given_parts) == name


@settings(max_examples=300, deadline=None)
@given(parts, parts)
def test_different_parts_make_different_names(first: list[object], second: list[object]) -> None:
    if [str(part) for part in first] != [str(part) for part in second]:
        assert make_job_name(*first) != make_job_name(*second)


def test_job_names_read_like_their_parts() -> None:
    name = make_job_name("etl", "load.orders", "manual__2026-01-01T00:00:00+00:00", -1)
    assert name.startswith("etl-load_orders-manual__2026-01-01T00_00_00_00_00-1-")
    assert make_job_name("Etl") != make_job_name("etl")


# JobSnapshot


def test_a_container_job_with_a_retry_has_every_field_and_both_attempts_streams() -> None:
    item = job(
        status="FAILED",
        statusReason="Essential container in task exited",
        startedAt=1_700_000_001_000,
        stoppedAt=1_700_000_009_000,
        tags={"team": "data"},
        container={"exitCode": 3, "reason": "OOM?", "logStreamName": "etl/default/b"},
        attempts=[
            {
                "container": {"exitCode": 1, "logStreamName": "etl/default/a"},
                "startedAt": 1,
                "stoppedAt": 2,
                "statusReason": "first",
            },
            {"container": {"exitCode": 3, "logStreamName": "etl/default/b"}, "startedAt": 3, "stoppedAt": 4},
        ],
    )
    snapshot = JobSnapshot.from_describe(item)
    assert (snapshot.job_id, snapshot.job_name, snapshot.status) == ("j-1", "nightly", JobStatus.FAILED)
    assert (snapshot.exit_code, snapshot.container_reason, snapshot.status_reason) == (
        3,
        "OOM?",
        "Essential container in task exited",
    )
    assert (snapshot.created_at, snapshot.started_at, snapshot.stopped_at) == (
        1_700_000_000_000,
        1_700_000_001_000,
        1_700_000_009_000,
    )
    assert snapshot.job_definition.endswith("etl:3") and snapshot.job_queue.endswith("job-queue/q")
    assert [attempt.exit_code for attempt in snapshot.attempts] == [1, 3]
    assert snapshot.attempts[0].status_reason == "first"
    assert [(stream.name, stream.label) for stream in snapshot.log_streams] == [
        ("etl/default/a", "attempt 1"),
        ("etl/default/b", "attempt 2"),
    ]
    assert all(stream.group == DEFAULT_LOG_GROUP for stream in snapshot.log_streams)
    assert snapshot.tags == {"team": "data"}
    assert snapshot.is_done and not snapshot.has_started and not snapshot.is_array_parent


def test_a_running_retry_attempt_is_labelled_before_batch_lists_it_in_attempts() -> None:
    item = job(
        container={"logStreamName": "etl/default/second"},
        attempts=[{"container": {"exitCode": 1, "logStreamName": "etl/default/first"}}],
    )
    labels = [(stream.name, stream.label) for stream in JobSnapshot.from_describe(item).log_streams]
    assert labels == [("etl/default/first", "attempt 1"), ("etl/default/second", "attempt 2")]


def test_a_custom_awslogs_group_is_used_for_the_streams() -> None:
    log_configuration = {"logDriver": "awslogs", "options": {"awslogs-group": "/team/etl"}}
    item = job(container={"logStreamName": "s", "logConfiguration": log_configuration})
    (stream,) = JobSnapshot.from_describe(item).log_streams
    assert (stream.group, stream.name, stream.label) == ("/team/etl", "s", "")
    assert log_group_of(None) == DEFAULT_LOG_GROUP
    assert log_group_of({"logDriver": "splunk", "options": {"awslogs-group": "/x"}}) == DEFAULT_LOG_GROUP


def test_an_array_parent_knows_its_children_and_their_summary() -> None:
    item = job(status="PENDING", arrayProperties={"size": 3, "statusSummary": {"RUNNING": 2, "SUCCEEDED": 1}})
    snapshot = JobSnapshot.from_describe(item)
    assert snapshot.is_array_parent
    assert snapshot.child_job_ids() == ["j-1:0", "j-1:1", "j-1:2"]
    assert snapshot.status_summary == {"RUNNING": 2, "SUCCEEDED": 1}
    assert snapshot.log_streams == ()


def test_an_array_child_labels_its_stream_with_its_index() -> None:
    item = job(jobId="j-1:3", arrayProperties={"index": 3}, container={"logStreamName": "etl/default/c3"})
    snapshot = JobSnapshot.from_describe(item)
    assert (snapshot.array_index, snapshot.is_array_parent, snapshot.child_job_ids()) == (3, False, [])
    assert [stream.label for stream in snapshot.log_streams] == ["[3]"]


def test_a_multi_node_parent_knows_its_nodes_and_a_node_labels_its_stream() -> None:
    parent = JobSnapshot.from_describe(job(nodeProperties={"numNodes": 2, "mainNode": 0, "nodeRangeProperties": []}))
    assert parent.is_multi_node_parent
    assert parent.child_job_ids() == ["j-1#0", "j-1#1"]
    node = JobSnapshot.from_describe(
        job(jobId="j-1#1", nodeDetails={"nodeIndex": 1, "isMainNode": False}, container={"logStreamName": "n1"})
    )
    assert (node.node_index, node.is_main_node, node.is_multi_node_parent) == (1, False, False)
    assert [stream.label for stream in node.log_streams] == ["[node 1]"]


def test_an_ecs_properties_job_has_a_stream_per_container_in_its_own_group() -> None:
    logs = {"logDriver": "awslogs", "options": {"awslogs-group": "/sidecars"}}
    item = job(
        ecsProperties={
            "taskProperties": [
                {
                    "containers": [
                        {"name": "main", "image": "i", "logStreamName": "main/s"},
                        {"name": "sidecar", "image": "i", "logStreamName": "side/s", "logConfiguration": logs},
                    ]
                }
            ]
        }
    )
    streams = JobSnapshot.from_describe(item).log_streams
    assert [(stream.group, stream.name, stream.label) for stream in streams] == [
        (DEFAULT_LOG_GROUP, "main/s", "main"),
        ("/sidecars", "side/s", "sidecar"),
    ]


def test_a_job_that_has_not_started_has_no_attempts_and_no_stream() -> None:
    snapshot = JobSnapshot.from_describe(job(status="RUNNABLE"))
    assert (snapshot.attempts, snapshot.log_streams, snapshot.exit_code) == ((), (), None)


@pytest.mark.parametrize(
    "item",
    [
        job(
            status="SUCCEEDED",
            container={"exitCode": 0, "logStreamName": "a"},
            attempts=[{"container": {"logStreamName": "a"}}],
        ),
        job(status="PENDING", arrayProperties={"size": 2, "statusSummary": {"RUNNING": 2}}, tags={"k": "v"}),
        job(jobId="x#0", nodeDetails={"nodeIndex": 0, "isMainNode": True}, container={"logStreamName": "n"}),
    ],
    ids=["container", "array-parent", "node"],
)
def test_a_snapshot_survives_a_json_round_trip(item: dict[str, Any]) -> None:
    snapshot = JobSnapshot.from_describe(item)
    again = JobSnapshot.from_dict(json.loads(json.dumps(snapshot.to_dict())))
    assert again == snapshot
    assert [stream.label for stream in again.log_streams] == [stream.label for stream in snapshot.log_streams]


def test_log_streams_compare_by_group_and_name_not_label() -> None:
    assert LogStream("g", "n", "attempt 1") == LogStream("g", "n")
    assert LogStream("g", "n").key == "g|n"
    assert LogStream.from_dict(LogStream("g", "n", "[2]").to_dict()).label == "[2]"


def test_a_list_jobs_item_becomes_a_summary() -> None:
    item = real(
        {
            "jobArn": "arn:aws:batch:us-east-1:1:job/j-2",
            "jobId": "j-2",
            "jobName": "nightly",
            "createdAt": 5,
            "status": "FAILED",
            "statusReason": "boom",
            "container": {"exitCode": 2},
            "arrayProperties": {"size": 4},
            "jobDefinition": "d:1",
        },
        JOB_SUMMARY,
    )
    summary = JobSummary.from_list_item(item)
    assert (summary.job_id, summary.status, summary.exit_code, summary.array_size, summary.status_reason) == (
        "j-2",
        JobStatus.FAILED,
        2,
        4,
        "boom",
    )
