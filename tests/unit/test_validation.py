"""Requests are checked against botocore's Batch service model before anything is sent.

Each bad request must fail with a message that names the field by its path and says what to do,
every problem at once, and never a value (an environment value may be a secret).
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_batch_plus.validation import BatchRequestError, validate_request, validate_submit_job

GOOD = {"jobName": "nightly", "jobQueue": "q", "jobDefinition": "etl:3"}
SECRET = "s3cr3t-value-that-must-never-print"


def request(**fields: Any) -> dict[str, Any]:
    return {**GOOD, **fields}


BAD_SUBMITS: list[tuple[str, dict[str, Any], str]] = [
    ("missing-queue", {"jobName": "n", "jobDefinition": "d"}, "jobQueue: required, and missing"),
    ("missing-definition", {"jobName": "n", "jobQueue": "q"}, "jobDefinition: required, and missing"),
    ("missing-name", {"jobQueue": "q", "jobDefinition": "d"}, "jobName: required, and missing"),
    ("name-with-space", request(jobName="my job"), "jobName='my job' is not a valid Batch job name"),
    ("name-too-long", request(jobName="a" * 129), "use 1 to 128 letters"),
    ("name-leading-dash", request(jobName="-x"), "starting with a letter or digit"),
    ("unknown-field", request(jobname="typo"), "jobname: not a field here; use one of:"),
    ("queue-not-a-string", request(jobQueue=7), "jobQueue: expected a string, got int"),
    (
        "command-not-a-list",
        request(containerOverrides={"command": "echo hi"}),
        "containerOverrides.command: expected a list",
    ),
    (
        "env-not-a-list",
        request(containerOverrides={"environment": {"A": "b"}}),
        "containerOverrides.environment: expected a list",
    ),
    (
        "env-value-not-a-string",
        request(containerOverrides={"environment": [{"name": "A", "value": 5}]}),
        "containerOverrides.environment[0].value: expected a string",
    ),
    (
        "deprecated-vcpus",
        request(containerOverrides={"vcpus": 2}),
        "containerOverrides.vcpus: deprecated and ignored by Batch; use containerOverrides.resourceRequirements",
    ),
    ("deprecated-memory", request(containerOverrides={"memory": 512}), "containerOverrides.memory: deprecated"),
    (
        "reserved-env-name",
        request(containerOverrides={"environment": [{"name": "AWS_BATCH_JOB_ID", "value": "x"}]}),
        "names starting with AWS_BATCH are reserved",
    ),
    ("array-of-one", request(arrayProperties={"size": 1}), "arrayProperties.size: must be from 2 to 10000, got 1"),
    (
        "array-too-big",
        request(arrayProperties={"size": 10_001}),
        "arrayProperties.size: must be from 2 to 10000, got 10001",
    ),
    (
        "array-size-a-string",
        request(arrayProperties={"size": "3"}),
        "arrayProperties.size: expected an integer, got str",
    ),
    (
        "too-many-dependencies",
        request(dependsOn=[{"jobId": f"j{i}"} for i in range(21)]),
        "dependsOn: at most 20 jobs, got 21",
    ),
    (
        "dependency-without-id",
        request(dependsOn=[{"type": "N_TO_N"}]),
        "dependsOn[0].jobId: required (the id of the job to wait for)",
    ),
    (
        "attempt-duration-59",
        request(timeout={"attemptDurationSeconds": 59}),
        "timeout.attemptDurationSeconds: must be at least 60, got 59",
    ),
    ("retry-attempts-0", request(retryStrategy={"attempts": 0}), "retryStrategy.attempts: must be from 1 to 10, got 0"),
    (
        "retry-attempts-11",
        request(retryStrategy={"attempts": 11}),
        "retryStrategy.attempts: must be from 1 to 10, got 11",
    ),
    ("tags-not-strings", request(tags={"team": 1}), "tags.team: expected a string, got int"),
    ("parameters-not-a-mapping", request(parameters=["a"]), "parameters: expected a mapping, got list"),
    (
        "priority-not-an-int",
        request(schedulingPriorityOverride="high"),
        "schedulingPriorityOverride: expected an integer, got str",
    ),
    ("propagate-tags-not-a-bool", request(propagateTags="yes"), "propagateTags: expected"),
]


@pytest.mark.parametrize(
    ("request_", "expected"), [(r, e) for _, r, e in BAD_SUBMITS], ids=[i for i, _, _ in BAD_SUBMITS]
)
def test_a_bad_submit_is_refused_naming_the_field_and_the_fix(request_: dict[str, Any], expected: str) -> None:
    with pytest.raises(BatchRequestError) as error:
        validate_submit_job(request_)
    assert expected in str(error.value), str(error.value)
    assert any(expected in problem for problem in error.value.problems)
    assert str(error.value).startswith("SubmitJob request is invalid; nothing was sent:")


def test_every_problem_is_reported_at_once() -> None:
    bad = {"jobName": "bad name", "jobQueue": 1, "arrayProperties": {"size": 1}, "retryStrategy": {"attempts": 0}}
    with pytest.raises(BatchRequestError) as error:
        validate_submit_job(bad)
    fields = [problem.split(":")[0].split("=")[0] for problem in error.value.problems]
    assert set(fields) >= {"jobDefinition", "jobQueue", "jobName", "arrayProperties.size", "retryStrategy.attempts"}


@pytest.mark.parametrize(
    "good",
    [
        GOOD,
        request(
            arrayProperties={"size": 10_000},
            dependsOn=[{"jobId": "j1", "type": "N_TO_N"}] * 20,
            parameters={"date": "2026-01-01"},
            containerOverrides={
                "command": ["python", "job.py"],
                "environment": [{"name": "TOKEN", "value": SECRET}],
                "resourceRequirements": [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "4096"}],
            },
            retryStrategy={"attempts": 10, "evaluateOnExit": [{"onExitCode": "137", "action": "RETRY"}]},
            timeout={"attemptDurationSeconds": 60},
            tags={"team": "data"},
            propagateTags=True,
            shareIdentifier="blue",
            schedulingPriorityOverride=5,
        ),
    ],
    ids=["minimal", "every-common-field"],
)
def test_good_requests_pass(good: dict[str, Any]) -> None:
    validate_submit_job(good)


def test_a_secret_environment_value_never_appears_in_the_error() -> None:
    bad = request(
        jobQueue=None,
        containerOverrides={"vcpus": 1, "environment": [{"name": "TOKEN", "value": SECRET}, {"name": "N", "value": 7}]},
        tags={"leak": 3},
    )
    with pytest.raises(BatchRequestError) as error:
        validate_submit_job(bad)
    for text in (str(error.value), repr(error.value), *error.value.problems):
        assert SECRET not in text
    bad_type = request(containerOverrides={"environment": [{"name": "TOKEN", "value": [SECRET]}]})
    with pytest.raises(BatchRequestError) as error:
        validate_submit_job(bad_type)
    assert SECRET not in str(error.value)


def test_other_operations_are_checked_against_their_own_shapes() -> None:
    validate_request("ListJobs", {"jobQueue": "q", "filters": [{"name": "JOB_NAME", "values": ["x*"]}]})
    with pytest.raises(BatchRequestError, match=r"ListJobs request is invalid(.|\n)*maxResults: expected an integer"):
        validate_request("ListJobs", {"jobQueue": "q", "maxResults": "10"})
    with pytest.raises(BatchRequestError, match=r"jobs: expected a list"):
        validate_request("CancelJobs", {"jobs": "j-1", "reason": "r"})
