"""The job model: statuses, the stop decision, stop reasons, job names, and JobSnapshot parsed from DescribeJobs.

`jobs.py` is the one place that decides what a job is and what stopping it means (design §2-§3), so
its tests are pure and exhaustive: the stop decision for every policy and status against the AWS
CancelJob/TerminateJob contract in the seeds, and job names checked by hypothesis against the AWS
naming rules. Every DescribeJobs/ListJobs item used here is first checked against botocore's own
output shape, so the snapshots are parsed from items AWS could really return.
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
    Attempt,
    JobSnapshot,
    JobStatus,
    JobSummary,
    LogStream,
    StopAction,
    StopOutcome,
    StopPolicy,
    check_job_name,
    decide_stop,
    list_jobs_filter,
    log_group_of,
    make_job_name,
    outcome_without_call,
    trim_reason,
)

_BATCH = botocore.session.get_session().get_service_model("batch")
JOB_DETAIL = _BATCH.operation_model("DescribeJobs").output_shape.members["jobs"].member
JOB_SUMMARY = _BATCH.operation_model("ListJobs").output_shape.members["jobSummaryList"].member
# AWS: up to 128 letters (upper and lower case), numbers, hyphens and underscores; starts with a letter or number.
AWS_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
HYPOTHESIS = settings(max_examples=200, deadline=None)

ARN = "arn:aws:batch:us-east-1:123456789012"
QUEUE = f"{ARN}:job-queue/etl"
DEFINITION = f"{ARN}:job-definition/etl:3"
T0 = 1_700_000_000_000  # Batch returns times as epoch milliseconds


def shape_errors(item: dict[str, Any], shape: Any = JOB_DETAIL) -> str:
    report = ParamValidator().validate(item, shape)
    return report.generate_report() if report.has_errors() else ""


def real(item: dict[str, Any], shape: Any = JOB_DETAIL) -> dict[str, Any]:
    """`item`, after checking botocore's model accepts it as a JobDetail (or `shape`)."""
    errors = shape_errors(item, shape)
    assert not errors, errors
    return item


def job(**fields: Any) -> dict[str, Any]:
    """A DescribeJobs item: the required members of JobDetail, then `fields`."""
    base = {
        "jobArn": f"{ARN}:job/j-1",
        "jobName": "nightly",
        "jobId": "j-1",
        "jobQueue": QUEUE,
        "status": "RUNNING",
        "jobDefinition": DEFINITION,
        "createdAt": T0,
        "startedAt": T0 + 500,  # a required member of JobDetail in botocore's model, even before a start
        "dependsOn": [],
    }
    return real({**base, **fields})


# --- Statuses ---------------------------------------------------------------------------------


def test_the_seven_statuses_split_into_pre_start_started_and_done() -> None:
    assert [status.value for status in JobStatus] == [
        "SUBMITTED",
        "PENDING",
        "RUNNABLE",
        "STARTING",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
    ]
    assert {JobStatus.SUBMITTED, JobStatus.PENDING, JobStatus.RUNNABLE} == PRE_START
    assert {JobStatus.STARTING, JobStatus.RUNNING} == STARTED
    assert {JobStatus.SUCCEEDED, JobStatus.FAILED} == DONE
    assert set(JobStatus) == PRE_START | STARTED | DONE
    assert not (PRE_START & STARTED) and not (STARTED & DONE) and not (PRE_START & DONE)
    assert LIVE == PRE_START | STARTED


@pytest.mark.parametrize(
    ("status", "has_started", "is_done"),
    [
        ("SUBMITTED", False, False),
        ("PENDING", False, False),
        ("RUNNABLE", False, False),
        ("STARTING", True, False),
        ("RUNNING", True, False),
        ("SUCCEEDED", False, True),
        ("FAILED", False, True),
    ],
    ids=["submitted", "pending", "runnable", "starting", "running", "succeeded", "failed"],
)
def test_a_status_knows_whether_the_job_has_started_or_is_done(status: str, has_started: bool, is_done: bool) -> None:
    assert (JobStatus(status).has_started, JobStatus(status).is_done) == (has_started, is_done)
    snapshot = JobSnapshot.from_describe(job(status=status))
    assert (snapshot.has_started, snapshot.is_done) == (has_started, is_done)


# --- Stop policy and the stop decision ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("terminate", StopPolicy.TERMINATE),
        ("cancel", StopPolicy.CANCEL),
        ("keep", StopPolicy.KEEP),
        ("CANCEL", StopPolicy.CANCEL),
        ("Keep", StopPolicy.KEEP),
        (StopPolicy.TERMINATE, StopPolicy.TERMINATE),
        (StopPolicy.CANCEL, StopPolicy.CANCEL),
        (StopPolicy.KEEP, StopPolicy.KEEP),
    ],
    ids=["terminate", "cancel", "keep", "upper-case", "title-case", "enum-terminate", "enum-cancel", "enum-keep"],
)
def test_stop_policy_parses_its_names_and_its_own_values(value: str | StopPolicy, expected: StopPolicy) -> None:
    assert StopPolicy.parse(value) is expected


@pytest.mark.parametrize("value", ["kill", "", "none", "stop", "terminated", "cancel!"], ids=repr)
def test_an_unknown_stop_policy_is_refused_naming_the_field_and_every_choice(value: str) -> None:
    with pytest.raises(ValueError) as error:
        StopPolicy.parse(value)
    assert str(error.value) == (f"stop_policy={value!r} is not a stop policy: use one of 'terminate', 'cancel', 'keep'")


def test_the_stop_policy_error_names_the_field_the_caller_gives() -> None:
    with pytest.raises(ValueError, match=r"^on_timeout='kill' is not a stop policy"):
        StopPolicy.parse("kill", field_name="on_timeout")


T, C, K = StopPolicy.TERMINATE, StopPolicy.CANCEL, StopPolicy.KEEP
TERMINATE, CANCEL, NOTHING = StopAction.TERMINATE, StopAction.CANCEL, StopAction.NONE

# Design §3 and the seeds: CancelJob cancels SUBMITTED/PENDING/RUNNABLE jobs and has no effect on
# STARTING/RUNNING ones; TerminateJob stops any live job (it cancels one that has not started); a
# done job needs nothing; `keep` never calls anything. With the status unknown, `terminate` still
# terminates and `cancel` cancels: CancelJob is harmless to a job that has started.
STOP_TABLE: list[tuple[StopPolicy, JobStatus | None, StopAction]] = [
    (T, JobStatus.SUBMITTED, TERMINATE),
    (T, JobStatus.PENDING, TERMINATE),
    (T, JobStatus.RUNNABLE, TERMINATE),
    (T, JobStatus.STARTING, TERMINATE),
    (T, JobStatus.RUNNING, TERMINATE),
    (T, JobStatus.SUCCEEDED, NOTHING),
    (T, JobStatus.FAILED, NOTHING),
    (T, None, TERMINATE),
    (C, JobStatus.SUBMITTED, CANCEL),
    (C, JobStatus.PENDING, CANCEL),
    (C, JobStatus.RUNNABLE, CANCEL),
    (C, JobStatus.STARTING, NOTHING),
    (C, JobStatus.RUNNING, NOTHING),
    (C, JobStatus.SUCCEEDED, NOTHING),
    (C, JobStatus.FAILED, NOTHING),
    (C, None, CANCEL),
    (K, JobStatus.SUBMITTED, NOTHING),
    (K, JobStatus.PENDING, NOTHING),
    (K, JobStatus.RUNNABLE, NOTHING),
    (K, JobStatus.STARTING, NOTHING),
    (K, JobStatus.RUNNING, NOTHING),
    (K, JobStatus.SUCCEEDED, NOTHING),
    (K, JobStatus.FAILED, NOTHING),
    (K, None, NOTHING),
]


@pytest.mark.parametrize(
    ("policy", "status", "expected"),
    STOP_TABLE,
    ids=[f"{policy.value}-{status.value if status else 'unknown'}" for policy, status, _ in STOP_TABLE],
)
def test_decide_stop_follows_the_cancel_and_terminate_contract(
    policy: StopPolicy, status: JobStatus | None, expected: StopAction
) -> None:
    assert decide_stop(policy, status) is expected


def test_the_stop_table_covers_every_policy_and_every_status() -> None:
    covered = {(policy, status) for policy, status, _ in STOP_TABLE}
    assert covered == {(policy, status) for policy in StopPolicy for status in [*JobStatus, None]}


# What stopping did to a job for which the decision is no call: an ended job is already done whatever
# the policy, `keep` kept a live (or unknown) one, and `cancel` left a started one running.
ENDED, KEPT, LEFT = StopOutcome.ALREADY_DONE, StopOutcome.KEPT, StopOutcome.LEFT_RUNNING
NO_CALL_TABLE: dict[tuple[StopPolicy, JobStatus | None], StopOutcome] = {
    (T, JobStatus.SUCCEEDED): ENDED,
    (T, JobStatus.FAILED): ENDED,
    (C, JobStatus.STARTING): LEFT,
    (C, JobStatus.RUNNING): LEFT,
    (C, JobStatus.SUCCEEDED): ENDED,
    (C, JobStatus.FAILED): ENDED,
    (K, JobStatus.SUBMITTED): KEPT,
    (K, JobStatus.PENDING): KEPT,
    (K, JobStatus.RUNNABLE): KEPT,
    (K, JobStatus.STARTING): KEPT,
    (K, JobStatus.RUNNING): KEPT,
    (K, JobStatus.SUCCEEDED): ENDED,
    (K, JobStatus.FAILED): ENDED,
    (K, None): KEPT,
}


@pytest.mark.parametrize(
    ("policy", "status", "expected"),
    [(policy, status, outcome) for (policy, status), outcome in NO_CALL_TABLE.items()],
    ids=[f"{policy.value}-{status.value if status else 'unknown'}" for policy, status in NO_CALL_TABLE],
)
def test_a_stop_that_makes_no_call_says_why(
    policy: StopPolicy, status: JobStatus | None, expected: StopOutcome
) -> None:
    assert outcome_without_call(policy, status) is expected


def test_the_no_call_table_covers_every_decision_to_make_no_call() -> None:
    assert set(NO_CALL_TABLE) == {(policy, status) for policy, status, action in STOP_TABLE if action is NOTHING}


# --- Stop reasons -----------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 1023, 1024], ids=lambda n: f"{n}-chars")
@pytest.mark.parametrize("char", ["a", "é", "🙂", "中"], ids=["ascii", "accent", "emoji", "cjk"])
def test_a_reason_that_fits_is_kept_exactly(length: int, char: str) -> None:
    reason = char * length
    assert trim_reason(reason) == reason


@pytest.mark.parametrize("length", [1025, 1030, 5000], ids=lambda n: f"{n}-chars")
@pytest.mark.parametrize("char", ["a", "é", "🙂", "中"], ids=["ascii", "accent", "emoji", "cjk"])
def test_a_longer_reason_is_trimmed_to_exactly_1024_characters_with_a_marker(length: int, char: str) -> None:
    reason = char * length
    trimmed = trim_reason(reason)
    assert len(trimmed) == 1024
    assert trimmed == reason[:1018] + " [...]"


@HYPOTHESIS
@given(st.text(max_size=2000))
def test_any_reason_is_trimmed_to_a_valid_string_of_at_most_1024_characters(reason: str) -> None:
    trimmed = trim_reason(reason)
    assert len(trimmed) <= 1024
    trimmed.encode("utf-8")  # never half a character
    if len(reason) <= 1024:
        assert trimmed == reason
    else:
        assert trimmed.startswith(reason[:1018]) and trimmed.endswith(" [...]") and len(trimmed) == 1024


# --- Job names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["a", "Z", "7", "A1", "9-lives", "etl_nightly-2", "ends-", "ends_", "x" * 128, "a" + "-_" * 63 + "b"],
    ids=[
        "letter",
        "upper",
        "digit",
        "mixed",
        "digit-first",
        "dash-underscore",
        "ends-dash",
        "ends-us",
        "128",
        "128-mix",
    ],
)
def test_valid_job_names_are_returned_unchanged(name: str) -> None:
    assert AWS_JOB_NAME.fullmatch(name)
    assert check_job_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "-leading-dash", "_leading_underscore", "has space", "dots.not.allowed", "slash/no", "x" * 129, "ünïcode",
     "tab\t", "new\nline", "colon:3", "٣digits"],
    ids=["empty", "leading-dash", "leading-underscore", "space", "dot", "slash", "129-chars", "non-ascii-letter",
         "tab", "newline", "colon", "non-ascii-digit"],
)  # fmt: skip
def test_invalid_job_names_are_refused_naming_the_field_and_the_fix(name: str) -> None:
    assert not AWS_JOB_NAME.fullmatch(name)
    with pytest.raises(ValueError) as error:
        check_job_name(name)
    message = str(error.value)
    assert message.startswith(f"jobName={name!r} is not a valid Batch job name: use 1 to 128 letters")
    assert "starting with a letter or digit" in message and "make_job_name()" in message
    with pytest.raises(ValueError, match=r"^job_name="):
        check_job_name(name, "job_name")


@pytest.mark.parametrize("name", [None, 7, b"bytes"], ids=["none", "int", "bytes"])
def test_a_job_name_that_is_not_a_string_is_refused(name: Any) -> None:
    with pytest.raises(ValueError, match=r"^jobName=.* is not a valid Batch job name"):
        check_job_name(name)


PARTS = st.lists(st.one_of(st.text(max_size=300), st.integers()), min_size=1, max_size=5)


@HYPOTHESIS
@given(PARTS)
def test_make_job_name_always_makes_a_valid_name_and_the_same_one_each_time(parts: list[object]) -> None:
    name = make_job_name(*parts)
    assert len(name) <= 128
    assert AWS_JOB_NAME.fullmatch(name), name
    assert check_job_name(name) == name
    assert make_job_name(*parts) == name
    assert make_job_name(*[str(part) for part in parts]) == name  # an int part and its text are one part


@st.composite
def look_alike_parts(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """Two different part lists that are likely to clean to the same readable name."""
    first = draw(st.lists(st.text(alphabet="aA.-_ /:é1", max_size=140), min_size=1, max_size=4))
    second = list(first)
    index = draw(st.integers(0, len(first) - 1))
    change = draw(st.sampled_from(["swapcase", "punctuation", "append", "split"]))
    part = second[index]
    if change == "swapcase":
        second[index] = part.swapcase()
    elif change == "punctuation":
        second[index] = part.translate(str.maketrans(".-_ /:", "_/: .-"))
    elif change == "append":
        second[index] = part + draw(st.sampled_from(["_", "-", ".", " ", "a"]))
    else:
        cut = draw(st.integers(0, len(part)))
        second[index : index + 1] = [part[:cut], part[cut:]]
    return first, second


@HYPOTHESIS
@given(look_alike_parts())
def test_different_parts_make_different_names_even_ignoring_case(pair: tuple[list[str], list[str]]) -> None:
    first, second = pair
    if first != second:
        # ListJobs' JOB_NAME filter ignores case, so names must differ case-insensitively.
        assert make_job_name(*first).lower() != make_job_name(*second).lower()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (["a.b"], ["a_b"]),
        (["a b"], ["a_b"]),
        (["Etl"], ["etl"]),
        (["a", "b"], ["a-b"]),
        (["a-", "b"], ["a", "-b"]),
        (["x" * 200, "1"], ["x" * 200, "2"]),
        (["dag", "task", "run", -1], ["dag", "task", "run", 0]),
        ([""], ["_"]),
    ],
    ids=["dot-underscore", "space-underscore", "case", "split", "dash-moves", "cut-off-tail", "map-index", "empty"],
)
def test_parts_that_read_alike_still_make_different_names(first: list[object], second: list[object]) -> None:
    assert make_job_name(*first).lower() != make_job_name(*second).lower()


def test_a_job_name_reads_like_its_parts_and_ends_in_a_hash() -> None:
    name = make_job_name("etl", "load.orders", "manual__2026-01-01T00:00:00+00:00", -1)
    assert re.fullmatch(r"etl-load_orders-manual__2026-01-01T00_00_00_00_00-1-[0-9a-f]{10}", name), name


def test_a_job_name_from_long_parts_is_cut_to_128_characters_keeping_the_hash() -> None:
    name = make_job_name("d" * 100, "t" * 100)
    assert len(name) == 128
    assert re.fullmatch(r"d{100}-t{16}-[0-9a-f]{10}", name), name


def test_a_job_name_needs_at_least_one_part() -> None:
    with pytest.raises(ValueError, match="at least one part"):
        make_job_name()


# --- JobSnapshot from DescribeJobs items ------------------------------------------------------

CONTAINER_RETRIED = job(
    status="FAILED",
    statusReason="Essential container in task exited",
    startedAt=T0 + 20_000,
    stoppedAt=T0 + 30_000,
    tags={"team": "data", "airflow:dag_id": "etl"},
    container={"image": "etl:1", "exitCode": 3, "reason": "OutOfMemoryError", "logStreamName": "etl/default/b"},
    attempts=[
        {
            "container": {"exitCode": 1, "reason": "first try", "logStreamName": "etl/default/a"},
            "startedAt": T0 + 1_000,
            "stoppedAt": T0 + 9_000,
            "statusReason": "Essential container in task exited",
        },
        {
            "container": {"exitCode": 3, "reason": "OutOfMemoryError", "logStreamName": "etl/default/b"},
            "startedAt": T0 + 20_000,
            "stoppedAt": T0 + 30_000,
        },
    ],
)
RETRY_RUNNING = job(
    container={"image": "etl:1", "logStreamName": "etl/default/second"},
    attempts=[
        {"container": {"exitCode": 1, "logStreamName": "etl/default/first"}, "startedAt": T0, "stoppedAt": T0 + 1}
    ],
)
ARRAY_PARENT = job(
    status="PENDING",
    arrayProperties={"size": 4, "statusSummary": {"RUNNING": 2, "SUCCEEDED": 1, "FAILED": 1}},
)
ARRAY_CHILD = job(
    jobId="j-1:3",
    jobArn=f"{ARN}:job/j-1:3",
    arrayProperties={"index": 3},
    container={"image": "etl:1", "logStreamName": "etl/default/c3-second"},
    attempts=[{"container": {"exitCode": 137, "logStreamName": "etl/default/c3-first"}, "startedAt": T0}],
)
MULTI_NODE_PARENT = job(
    status="RUNNING",
    nodeProperties={
        "numNodes": 3,
        "mainNode": 0,
        "nodeRangeProperties": [{"targetNodes": "0:", "container": {"image": "mpi:1"}}],
    },
)
MULTI_NODE_NODE = job(
    jobId="j-1#2",
    jobArn=f"{ARN}:job/j-1#2",
    nodeProperties={"numNodes": 3, "mainNode": 0, "nodeRangeProperties": []},
    nodeDetails={"nodeIndex": 2, "isMainNode": False},
    container={"image": "mpi:1", "logStreamName": "mpi/default/node2"},
)
SIDECAR_LOGS = {"logDriver": "awslogs", "options": {"awslogs-group": "/etl/sidecars"}}
ECS_DONE = job(
    status="SUCCEEDED",
    stoppedAt=T0 + 9_000,
    ecsProperties={
        "taskProperties": [
            {
                "containers": [
                    {
                        "name": "main",
                        "image": "etl:1",
                        "essential": True,
                        "logStreamName": "ecs/main/t1",
                        "exitCode": 0,
                    },
                    {
                        "name": "sidecar",
                        "image": "fluent:1",
                        "essential": False,
                        "logStreamName": "ecs/sidecar/t1",
                        "logConfiguration": SIDECAR_LOGS,
                        "exitCode": 0,
                    },
                ]
            }
        ]
    },
    attempts=[
        {
            "startedAt": T0 + 1_000,
            "stoppedAt": T0 + 9_000,
            "taskProperties": [
                {
                    "containerInstanceArn": f"{ARN}:container-instance/c",
                    "taskArn": f"{ARN}:task/t1",
                    "containers": [
                        {"name": "main", "exitCode": 0, "logStreamName": "ecs/main/t1"},
                        {"name": "sidecar", "exitCode": 0, "logStreamName": "ecs/sidecar/t1"},
                    ],
                }
            ],
        }
    ],
)
ECS_RETRY_RUNNING = job(
    ecsProperties={
        "taskProperties": [
            {
                "containers": [
                    {"name": "main", "image": "etl:1", "logStreamName": "ecs/main/t2"},
                    {
                        "name": "sidecar",
                        "image": "fluent:1",
                        "logStreamName": "ecs/sidecar/t2",
                        "logConfiguration": SIDECAR_LOGS,
                    },
                ]
            }
        ]
    },
    attempts=[
        {
            "taskProperties": [
                {
                    "containers": [
                        {"name": "main", "exitCode": 1, "logStreamName": "ecs/main/t1"},
                        {"name": "sidecar", "exitCode": 0, "logStreamName": "ecs/sidecar/t1"},
                    ]
                }
            ]
        }
    ],
)
CUSTOM_GROUP = job(
    status="SUCCEEDED",
    container={
        "image": "etl:1",
        "exitCode": 0,
        "logStreamName": "etl/default/only",
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/team/etl"}},
    },
    attempts=[{"container": {"exitCode": 0, "logStreamName": "etl/default/only"}}],
)
RUNNABLE = job(status="RUNNABLE", statusReason="waiting for capacity", container={"image": "etl:1"})

FIXTURES = {
    "container-retried": CONTAINER_RETRIED,
    "retry-running": RETRY_RUNNING,
    "array-parent": ARRAY_PARENT,
    "array-child": ARRAY_CHILD,
    "multi-node-parent": MULTI_NODE_PARENT,
    "multi-node-node": MULTI_NODE_NODE,
    "ecs-done": ECS_DONE,
    "ecs-retry-running": ECS_RETRY_RUNNING,
    "custom-group": CUSTOM_GROUP,
    "runnable": RUNNABLE,
}


def streams_of(snapshot: JobSnapshot) -> list[tuple[str, str, str]]:
    return [(stream.group, stream.name, stream.label) for stream in snapshot.log_streams]


@pytest.mark.parametrize("item", FIXTURES.values(), ids=FIXTURES.keys())
def test_every_fixture_is_a_job_detail_botocore_accepts(item: dict[str, Any]) -> None:
    assert shape_errors(item) == ""


@pytest.mark.parametrize(
    "broken",
    [
        {**RUNNABLE, "createdAt": "2026-01-01"},
        {key: value for key, value in RUNNABLE.items() if key != "jobQueue"},
        {**RUNNABLE, "attempts": [{"container": {"exitCode": "0"}}]},
        {**RUNNABLE, "arrayProperties": {"statusSummary": {"RUNNING": "2"}}},
    ],
    ids=["time-as-text", "no-queue", "exit-code-as-text", "summary-count-as-text"],
)
def test_the_fixture_check_refuses_an_item_aws_could_not_return(broken: dict[str, Any]) -> None:
    assert shape_errors(broken) != ""


def test_a_failed_container_job_with_a_retry_has_every_field_and_both_attempts_streams() -> None:
    snapshot = JobSnapshot.from_describe(CONTAINER_RETRIED)
    first = LogStream(DEFAULT_LOG_GROUP, "etl/default/a")
    second = LogStream(DEFAULT_LOG_GROUP, "etl/default/b")
    assert snapshot == JobSnapshot(
        job_id="j-1",
        job_name="nightly",
        status=JobStatus.FAILED,
        job_arn=f"{ARN}:job/j-1",
        job_queue=QUEUE,
        job_definition=DEFINITION,
        status_reason="Essential container in task exited",
        exit_code=3,
        container_reason="OutOfMemoryError",
        created_at=T0,
        started_at=T0 + 20_000,
        stopped_at=T0 + 30_000,
        attempts=(
            Attempt(T0 + 1_000, T0 + 9_000, 1, "first try", "Essential container in task exited", (first,)),
            Attempt(T0 + 20_000, T0 + 30_000, 3, "OutOfMemoryError", None, (second,)),
        ),
        array_size=None,
        array_index=None,
        status_summary={},
        num_nodes=None,
        node_index=None,
        is_main_node=None,
        tags={"team": "data", "airflow:dag_id": "etl"},
        log_streams=(first, second),
    )
    assert streams_of(snapshot) == [
        (DEFAULT_LOG_GROUP, "etl/default/a", "attempt 1"),
        (DEFAULT_LOG_GROUP, "etl/default/b", "attempt 2"),
    ]
    assert [stream.label for attempt in snapshot.attempts for stream in attempt.log_streams] == ["", ""]
    assert snapshot.is_done and not snapshot.has_started
    assert not snapshot.is_array_parent and not snapshot.is_multi_node_parent and snapshot.child_job_ids() == []


def test_a_running_retry_is_labelled_attempt_2_before_batch_lists_it_in_attempts() -> None:
    snapshot = JobSnapshot.from_describe(RETRY_RUNNING)
    assert streams_of(snapshot) == [
        (DEFAULT_LOG_GROUP, "etl/default/first", "attempt 1"),
        (DEFAULT_LOG_GROUP, "etl/default/second", "attempt 2"),
    ]
    assert snapshot.has_started and not snapshot.is_done
    assert len(snapshot.attempts) == 1


def test_a_job_with_one_attempt_has_an_unnumbered_stream_in_its_custom_awslogs_group() -> None:
    snapshot = JobSnapshot.from_describe(CUSTOM_GROUP)
    assert streams_of(snapshot) == [("/team/etl", "etl/default/only", "")]
    assert snapshot.attempts[0].log_streams == (LogStream("/team/etl", "etl/default/only"),)
    assert (snapshot.exit_code, snapshot.status) == (0, JobStatus.SUCCEEDED)


@pytest.mark.parametrize(
    ("log_configuration", "group"),
    [
        (None, DEFAULT_LOG_GROUP),
        ({}, DEFAULT_LOG_GROUP),
        ({"logDriver": "awslogs"}, DEFAULT_LOG_GROUP),
        ({"logDriver": "awslogs", "options": {"awslogs-region": "eu-west-1"}}, DEFAULT_LOG_GROUP),
        ({"logDriver": "awslogs", "options": {"awslogs-group": "/team/etl"}}, "/team/etl"),
        ({"options": {"awslogs-group": "/team/etl"}}, "/team/etl"),
        ({"logDriver": "splunk", "options": {"awslogs-group": "/x"}}, DEFAULT_LOG_GROUP),
    ],
    ids=["none", "empty", "awslogs-no-options", "awslogs-no-group", "awslogs-group", "no-driver", "other-driver"],
)
def test_log_group_of_is_the_awslogs_group_else_batchs_default(
    log_configuration: dict[str, Any] | None, group: str
) -> None:
    assert DEFAULT_LOG_GROUP == "/aws/batch/job"
    assert log_group_of(log_configuration) == group


def test_an_array_parent_knows_its_size_its_children_and_their_summary() -> None:
    snapshot = JobSnapshot.from_describe(ARRAY_PARENT)
    assert snapshot.is_array_parent and not snapshot.is_multi_node_parent
    assert (snapshot.array_size, snapshot.array_index, snapshot.status) == (4, None, JobStatus.PENDING)
    assert snapshot.status_summary == {"RUNNING": 2, "SUCCEEDED": 1, "FAILED": 1}
    assert snapshot.child_job_ids() == ["j-1:0", "j-1:1", "j-1:2", "j-1:3"]
    assert (snapshot.attempts, snapshot.log_streams, snapshot.exit_code) == ((), (), None)


def test_an_array_child_labels_each_attempts_stream_with_its_index() -> None:
    snapshot = JobSnapshot.from_describe(ARRAY_CHILD)
    assert (snapshot.job_id, snapshot.array_index, snapshot.array_size) == ("j-1:3", 3, None)
    assert not snapshot.is_array_parent and snapshot.child_job_ids() == []
    assert streams_of(snapshot) == [
        (DEFAULT_LOG_GROUP, "etl/default/c3-first", "[3] attempt 1"),
        (DEFAULT_LOG_GROUP, "etl/default/c3-second", "[3] attempt 2"),
    ]
    assert snapshot.attempts[0].exit_code == 137


def test_a_multi_node_parent_lists_its_nodes() -> None:
    snapshot = JobSnapshot.from_describe(MULTI_NODE_PARENT)
    assert snapshot.is_multi_node_parent and not snapshot.is_array_parent
    assert (snapshot.num_nodes, snapshot.node_index, snapshot.is_main_node) == (3, None, None)
    assert snapshot.child_job_ids() == ["j-1#0", "j-1#1", "j-1#2"]
    assert snapshot.log_streams == ()


def test_a_node_of_a_multi_node_job_labels_its_stream_with_its_node_index() -> None:
    snapshot = JobSnapshot.from_describe(MULTI_NODE_NODE)
    assert (snapshot.job_id, snapshot.num_nodes, snapshot.node_index, snapshot.is_main_node) == ("j-1#2", 3, 2, False)
    assert not snapshot.is_multi_node_parent and snapshot.child_job_ids() == []
    assert streams_of(snapshot) == [(DEFAULT_LOG_GROUP, "mpi/default/node2", "[node 2]")]


def test_an_ecs_job_has_a_stream_per_container_labelled_by_name_in_its_own_group() -> None:
    snapshot = JobSnapshot.from_describe(ECS_DONE)
    expected = [
        (DEFAULT_LOG_GROUP, "ecs/main/t1", "main"),
        ("/etl/sidecars", "ecs/sidecar/t1", "sidecar"),
    ]
    assert streams_of(snapshot) == expected
    (attempt,) = snapshot.attempts
    assert [(s.group, s.name, s.label) for s in attempt.log_streams] == expected
    assert (attempt.started_at, attempt.stopped_at) == (T0 + 1_000, T0 + 9_000)
    assert (snapshot.status, snapshot.stopped_at) == (JobStatus.SUCCEEDED, T0 + 9_000)


def test_a_retried_ecs_job_numbers_its_attempts_and_names_its_containers() -> None:
    snapshot = JobSnapshot.from_describe(ECS_RETRY_RUNNING)
    assert streams_of(snapshot) == [
        (DEFAULT_LOG_GROUP, "ecs/main/t1", "attempt 1 main"),
        ("/etl/sidecars", "ecs/sidecar/t1", "attempt 1 sidecar"),
        (DEFAULT_LOG_GROUP, "ecs/main/t2", "attempt 2 main"),
        ("/etl/sidecars", "ecs/sidecar/t2", "attempt 2 sidecar"),
    ]
    assert snapshot.attempts[0].exit_code is None  # ECS attempts carry exit codes per container


def test_a_runnable_job_has_no_attempts_no_stream_and_no_exit_code() -> None:
    snapshot = JobSnapshot.from_describe(RUNNABLE)
    assert (snapshot.status, snapshot.status_reason) == (JobStatus.RUNNABLE, "waiting for capacity")
    assert (snapshot.attempts, snapshot.log_streams) == ((), ())
    assert (snapshot.exit_code, snapshot.container_reason, snapshot.stopped_at) == (None, None, None)
    assert not snapshot.has_started and not snapshot.is_done


def test_labels_stay_the_same_from_one_snapshot_to_the_next() -> None:
    before = JobSnapshot.from_describe(RETRY_RUNNING)
    finished = job(
        status="FAILED",
        container={"exitCode": 2, "logStreamName": "etl/default/second"},
        attempts=[
            *RETRY_RUNNING["attempts"],
            {"container": {"exitCode": 2, "logStreamName": "etl/default/second"}, "startedAt": T0 + 2},
        ],
    )
    after = JobSnapshot.from_describe(finished)
    assert streams_of(before) == streams_of(after)


# --- JSON round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("item", FIXTURES.values(), ids=FIXTURES.keys())
def test_a_snapshot_survives_a_json_round_trip_with_its_labels(item: dict[str, Any]) -> None:
    snapshot = JobSnapshot.from_describe(item)
    again = JobSnapshot.from_dict(json.loads(json.dumps(snapshot.to_dict())))
    assert again == snapshot
    assert again.to_dict() == snapshot.to_dict()
    assert streams_of(again) == streams_of(snapshot)
    assert [stream.key for stream in again.log_streams] == [stream.key for stream in snapshot.log_streams]
    assert [[s.label for s in a.log_streams] for a in again.attempts] == [
        [s.label for s in a.log_streams] for a in snapshot.attempts
    ]


def test_a_log_stream_has_one_key_and_compares_by_group_and_name_not_label() -> None:
    stream = LogStream("/aws/batch/job", "etl/default/a", "[2] attempt 1")
    assert stream.key == "/aws/batch/job|etl/default/a"
    assert stream == LogStream("/aws/batch/job", "etl/default/a")
    assert stream != LogStream("/team/etl", "etl/default/a")
    again = LogStream.from_dict(json.loads(json.dumps(stream.to_dict())))
    assert (again, again.label, again.key) == (stream, "[2] attempt 1", stream.key)
    assert LogStream.from_dict({"group": "g", "name": "n"}).label == ""


# --- ListJobs summaries -----------------------------------------------------------------------


def test_a_list_jobs_item_becomes_a_summary_with_every_field() -> None:
    item = real(
        {
            "jobArn": f"{ARN}:job/j-2",
            "jobId": "j-2",
            "jobName": "nightly",
            "createdAt": T0,
            "status": "FAILED",
            "statusReason": "Essential container in task exited",
            "startedAt": T0 + 1_000,
            "stoppedAt": T0 + 2_000,
            "container": {"exitCode": 2, "reason": "boom"},
            "arrayProperties": {"size": 4},
            "jobDefinition": DEFINITION,
        },
        JOB_SUMMARY,
    )
    assert JobSummary.from_list_item(item) == JobSummary(
        job_id="j-2",
        job_name="nightly",
        status=JobStatus.FAILED,
        job_arn=f"{ARN}:job/j-2",
        job_definition=DEFINITION,
        created_at=T0,
        started_at=T0 + 1_000,
        stopped_at=T0 + 2_000,
        status_reason="Essential container in task exited",
        exit_code=2,
        array_size=4,
        array_index=None,
    )


def test_a_minimal_list_jobs_item_of_an_array_child_becomes_a_summary() -> None:
    item = real(
        {"jobId": "j-2:7", "jobName": "nightly", "status": "RUNNABLE", "arrayProperties": {"index": 7}}, JOB_SUMMARY
    )
    summary = JobSummary.from_list_item(item)
    assert summary == JobSummary(job_id="j-2:7", job_name="nightly", status=JobStatus.RUNNABLE, array_index=7)
    assert (summary.exit_code, summary.array_size, summary.job_arn) == (None, None, "")


def test_a_snapshot_keeps_the_jobs_environment_for_masking_but_never_serialises_it() -> None:
    item = {
        "jobId": "j-1",
        "jobName": "n",
        "status": "RUNNING",
        "container": {"environment": [{"name": "TOKEN", "value": "s3cr3t-value"}]},
        "ecsProperties": {"taskProperties": [{"containers": [{"environment": [{"name": "ECS", "value": "e-value"}]}]}]},
    }
    snapshot = JobSnapshot.from_describe(item)
    assert snapshot.environment == {"TOKEN": "s3cr3t-value", "ECS": "e-value"}
    assert "s3cr3t-value" not in repr(snapshot) and "s3cr3t-value" not in str(snapshot.to_dict())
    assert JobSnapshot.from_dict(snapshot.to_dict()).environment == {}


def test_a_failure_summary_names_the_job_then_each_reason_batch_gave_in_order() -> None:
    failed = JobSnapshot(
        job_id="job-1",
        job_name="etl",
        status=JobStatus.FAILED,
        status_reason="Essential container in task exited",
        exit_code=3,
        container_reason="OutOfMemoryError",
    )
    assert failed.failure_summary() == (
        "Batch job job-1 (etl) FAILED; statusReason: Essential container in task exited; exit code 3; "
        "container reason: OutOfMemoryError"
    )
    array = JobSnapshot(
        job_id="job-2", job_name="fan", status=JobStatus.FAILED, array_size=3, status_summary={"FAILED": 2}
    )
    assert array.failure_reasons() == ["children: {'FAILED': 2}"]
    assert JobSnapshot(job_id="job-3", job_name="n", status=JobStatus.FAILED).failure_summary() == (
        "Batch job job-3 (n) FAILED"
    )


def test_list_jobs_takes_one_filter_and_no_status_beside_it() -> None:
    assert list_jobs_filter({"job_name": None, "created_after": None}, "RUNNING") is None
    assert list_jobs_filter({"job_name": None, "created_after": 5}) == "created_after"
    with pytest.raises(ValueError, match=r"^ListJobs takes one filter at a time; got job_name, created_after: keep"):
        list_jobs_filter({"job_name": "a*", "job_definition": None, "created_after": 5})
    with pytest.raises(ValueError, match=r"^status and job_definition cannot be combined: with a filter Batch ignores"):
        list_jobs_filter({"job_definition": "d"}, JobStatus.RUNNING)
