"""Batch requests are checked against botocore's service model, and AWS's documented rules, before anything is sent.

A bad request must fail at once, listing every problem, each naming its field by its path and saying
what to do; and since an environment value may be a secret, no value may ever appear in the error.
botocore's own validation prints values and stops at the first request, which is why these checks exist.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_batch_plus.validation import BatchRequestError, validate_request, validate_submit_job

GOOD: dict[str, Any] = {"jobName": "nightly", "jobQueue": "etl", "jobDefinition": "etl:3"}
SECRET = "s3cr3t-value-that-must-never-print"


def request(**fields: Any) -> dict[str, Any]:
    return {**GOOD, **fields}


def env(*variables: tuple[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "value": value} for name, value in variables]


def problems_of(params: dict[str, Any]) -> list[str]:
    with pytest.raises(BatchRequestError) as error:
        validate_submit_job(params)
    return error.value.problems


# (id, request, field path the problem starts with, what the problem must say: what is wrong and the fix)
BAD_SUBMITS: list[tuple[str, dict[str, Any], str, str]] = [
    ("missing-queue", {"jobName": "n", "jobDefinition": "d"}, "jobQueue", "jobQueue: required, and missing"),
    ("missing-definition", {"jobName": "n", "jobQueue": "q"}, "jobDefinition", "jobDefinition: required, and missing"),
    ("missing-name", {"jobQueue": "q", "jobDefinition": "d"}, "jobName", "jobName: required, and missing"),
    ("empty", {}, "job", "required, and missing"),
    ("name-with-space", request(jobName="my job"), "jobName", "jobName='my job' is not a valid Batch job name"),
    ("name-empty", request(jobName=""), "jobName", "use 1 to 128 letters, digits, '-' or '_'"),
    ("name-too-long", request(jobName="a" * 129), "jobName", "use 1 to 128 letters"),
    ("name-leading-dash", request(jobName="-x"), "jobName", "starting with a letter or digit (make_job_name()"),
    ("name-not-a-string", request(jobName=5), "jobName", "jobName: expected a string, got int"),
    ("unknown-field", request(jobname="typo"), "jobname", "jobname: not a field here; use one of: jobName, jobQueue"),
    (
        "unknown-nested-field",
        request(containerOverrides={"cmd": ["x"]}),
        "containerOverrides.cmd",
        "containerOverrides.cmd: not a field here; use one of: ",
    ),
    ("queue-not-a-string", request(jobQueue=7), "jobQueue", "jobQueue: expected a string, got int"),
    ("queue-none", request(jobQueue=None), "jobQueue", "jobQueue: expected a string, got NoneType"),
    (
        "command-not-a-list",
        request(containerOverrides={"command": "echo hi"}),
        "containerOverrides.command",
        "containerOverrides.command: expected a list, got str",
    ),
    (
        "command-item-not-a-string",
        request(containerOverrides={"command": ["sleep", 5]}),
        "containerOverrides.command[1]",
        "containerOverrides.command[1]: expected a string, got int",
    ),
    (
        "env-not-a-list",
        request(containerOverrides={"environment": {"A": "b"}}),
        "containerOverrides.environment",
        "containerOverrides.environment: expected a list, got dict",
    ),
    (
        "env-value-not-a-string",
        request(containerOverrides={"environment": env(("A", 5))}),
        "containerOverrides.environment[0].value",
        "containerOverrides.environment[0].value: expected a string, got int",
    ),
    (
        "deprecated-vcpus",
        request(containerOverrides={"vcpus": 2}),
        "containerOverrides.vcpus",
        "containerOverrides.vcpus: deprecated and ignored by Batch; use "
        "containerOverrides.resourceRequirements=[{'type': 'VCPU', 'value': '...'}]",
    ),
    (
        "deprecated-memory",
        request(containerOverrides={"memory": 512}),
        "containerOverrides.memory",
        "containerOverrides.memory: deprecated and ignored by Batch; use "
        "containerOverrides.resourceRequirements=[{'type': 'MEMORY', 'value': '...'}]",
    ),
    (
        "reserved-env-name",
        request(containerOverrides={"environment": env(("OK", "x"), ("AWS_BATCH_JOB_ID", "x"))}),
        "containerOverrides.environment[1].name",
        "containerOverrides.environment[1].name: names starting with AWS_BATCH are reserved by Batch; "
        "choose another name",
    ),
    (
        "reserved-env-name-in-ecs-override",
        request(
            ecsPropertiesOverride={"taskProperties": [{"containers": [{"environment": env(("AWS_BATCHX", "v"))}]}]}
        ),
        "ecsPropertiesOverride.taskProperties[0].containers[0].environment[0].name",
        "names starting with AWS_BATCH are reserved by Batch; choose another name",
    ),
    (
        "deprecated-vcpus-in-node-override",
        request(nodeOverrides={"nodePropertyOverrides": [{"targetNodes": "0:", "containerOverrides": {"vcpus": 4}}]}),
        "nodeOverrides.nodePropertyOverrides[0].containerOverrides.vcpus",
        "deprecated and ignored by Batch; use nodeOverrides.nodePropertyOverrides[0].containerOverrides."
        "resourceRequirements",
    ),
    (
        "array-of-one",
        request(arrayProperties={"size": 1}),
        "arrayProperties.size",
        "arrayProperties.size: must be from 2 to 10000, got 1; submit a single job without arrayProperties",
    ),
    (
        "array-too-big",
        request(arrayProperties={"size": 10_001}),
        "arrayProperties.size",
        "arrayProperties.size: must be from 2 to 10000, got 10001",
    ),
    (
        "array-size-a-string",
        request(arrayProperties={"size": "3"}),
        "arrayProperties.size",
        "arrayProperties.size: expected an integer, got str",
    ),
    (
        "too-many-dependencies",
        request(dependsOn=[{"jobId": f"j{i}"} for i in range(21)]),
        "dependsOn",
        "dependsOn: at most 20 jobs, got 21",
    ),
    (
        "dependency-without-id",
        request(dependsOn=[{"jobId": "j0"}, {"type": "N_TO_N"}]),
        "dependsOn[1].jobId",
        "dependsOn[1].jobId: required (the id of the job to wait for)",
    ),
    (
        "dependencies-not-a-list",
        request(dependsOn="j-1"),
        "dependsOn",
        "dependsOn: expected a list, got str",
    ),
    (
        "attempt-duration-59",
        request(timeout={"attemptDurationSeconds": 59}),
        "timeout.attemptDurationSeconds",
        "timeout.attemptDurationSeconds: must be at least 60, got 59",
    ),
    (
        "retry-attempts-0",
        request(retryStrategy={"attempts": 0}),
        "retryStrategy.attempts",
        "retryStrategy.attempts: must be from 1 to 10, got 0",
    ),
    (
        "retry-attempts-11",
        request(retryStrategy={"attempts": 11}),
        "retryStrategy.attempts",
        "retryStrategy.attempts: must be from 1 to 10, got 11",
    ),
    ("tags-not-strings", request(tags={"team": 1}), "tags.team", "tags.team: expected a string, got int"),
    (
        "parameters-not-a-mapping",
        request(parameters=["a"]),
        "parameters",
        "parameters: expected a mapping, got list",
    ),
    (
        "priority-not-an-int",
        request(schedulingPriorityOverride="high"),
        "schedulingPriorityOverride",
        "schedulingPriorityOverride: expected an integer, got str",
    ),
    (
        "propagate-tags-not-a-bool",
        request(propagateTags="yes"),
        "propagateTags",
        "propagateTags: expected a boolean, got str",
    ),
]


@pytest.mark.parametrize(
    ("params", "field", "expected"),
    [(params, field, expected) for _, params, field, expected in BAD_SUBMITS],
    ids=[name for name, *_ in BAD_SUBMITS],
)
def test_a_bad_submit_is_refused_naming_the_field_and_the_fix(
    params: dict[str, Any], field: str, expected: str
) -> None:
    with pytest.raises(BatchRequestError) as error:
        validate_submit_job(params)
    message = str(error.value)
    assert message.startswith("SubmitJob request is invalid; nothing was sent:\n  - "), message
    assert error.value.operation == "SubmitJob"
    assert [problem for problem in error.value.problems if problem.startswith(field) and expected in problem], (
        error.value.problems
    )
    assert all(f"  - {problem}" in message for problem in error.value.problems)
    assert "<class" not in message and " or a list" not in message  # types read as words, once


def test_the_table_has_at_least_twenty_distinct_bad_requests() -> None:
    assert len({name for name, *_ in BAD_SUBMITS}) == len(BAD_SUBMITS) >= 20


def test_every_problem_in_a_request_is_reported_at_once() -> None:
    bad = {
        "jobName": "bad name",
        "jobQueue": 1,
        "arrayProperties": {"size": 1},
        "retryStrategy": {"attempts": 0},
        "timeout": {"attemptDurationSeconds": 30},
        "containerOverrides": {"memory": 512, "environment": env(("AWS_BATCH_X", "v"))},
        "dependsOn": [{"type": "SEQUENTIAL"}],
        "colour": "blue",
    }
    problems = problems_of(bad)
    fields = sorted(problem.split(":")[0].split("=")[0] for problem in problems)
    assert fields == sorted(
        [
            "jobDefinition",
            "colour",
            "jobQueue",
            "jobName",
            "containerOverrides.memory",
            "containerOverrides.environment[0].name",
            "arrayProperties.size",
            "dependsOn[0].jobId",
            "timeout.attemptDurationSeconds",
            "retryStrategy.attempts",
        ]
    )


@pytest.mark.parametrize(
    "good",
    [
        GOOD,
        request(
            arrayProperties={"size": 10_000},
            dependsOn=[{"jobId": "j1", "type": "N_TO_N"}] * 20,
            parameters={"date": "2026-01-01"},
            containerOverrides={
                "command": ["python", "job.py", "Ref::date"],
                "environment": env(("TOKEN", SECRET), ("AWS_REGION_HINT", "x")),
                "resourceRequirements": [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "4096"}],
                "instanceType": "m5.large",
            },
            retryStrategy={"attempts": 10, "evaluateOnExit": [{"onExitCode": "137", "action": "RETRY"}]},
            timeout={"attemptDurationSeconds": 60},
            tags={"team": "data"},
            propagateTags=True,
            shareIdentifier="blue",
            schedulingPriorityOverride=5,
        ),
        request(arrayProperties={"size": 2}, retryStrategy={"attempts": 1}, dependsOn=[]),
        request(
            nodeOverrides={
                "numNodes": 2,
                "nodePropertyOverrides": [
                    {
                        "targetNodes": "0:",
                        "containerOverrides": {"resourceRequirements": [{"type": "VCPU", "value": "4"}]},
                    }
                ],
            }
        ),
        request(
            ecsPropertiesOverride={
                "taskProperties": [{"containers": [{"name": "main", "environment": env(("TOKEN", SECRET))}]}]
            }
        ),
    ],
    ids=["minimal", "every-common-field", "smallest-limits", "node-overrides", "ecs-overrides"],
)
def test_good_requests_pass(good: dict[str, Any]) -> None:
    validate_submit_job(good)
    validate_request("SubmitJob", good)


SECRET_LEAKS: list[tuple[str, dict[str, Any]]] = [
    (
        "wrong-types-elsewhere",
        request(
            jobQueue=None, tags={"leak": 3}, containerOverrides={"vcpus": 1, "environment": env(("TOKEN", SECRET))}
        ),
    ),
    ("value-in-a-list", request(containerOverrides={"environment": env(("TOKEN", [SECRET]))})),
    ("value-in-a-mapping", request(containerOverrides={"environment": env(("TOKEN", {"v": SECRET}))})),
    ("reserved-name", request(containerOverrides={"environment": env(("AWS_BATCH_TOKEN", SECRET))})),
    ("misspelt-value-key", request(containerOverrides={"environment": [{"name": "TOKEN", "valu": SECRET}]})),
    ("environment-as-mapping", request(containerOverrides={"environment": {"TOKEN": SECRET}})),
    (
        "ecs-override",
        request(
            ecsPropertiesOverride={
                "taskProperties": [{"containers": [{"environment": [{"name": "AWS_BATCH_T", "value": [SECRET]}]}]}]
            }
        ),
    ),
    ("command-item", request(containerOverrides={"command": ["--token", SECRET, 5]})),
]


@pytest.mark.parametrize("params", [params for _, params in SECRET_LEAKS], ids=[name for name, _ in SECRET_LEAKS])
def test_a_secret_environment_value_never_appears_in_the_error(params: dict[str, Any]) -> None:
    with pytest.raises(BatchRequestError) as error:
        validate_submit_job(params)
    texts = [str(error.value), repr(error.value), *map(str, error.value.args), *error.value.problems]
    assert error.value.problems
    for text in texts:
        assert SECRET not in text
        assert SECRET[:10] not in text


def test_other_operations_are_checked_against_their_own_shapes() -> None:
    validate_request("ListJobs", {"jobQueue": "q", "filters": [{"name": "JOB_NAME", "values": ["x*"]}]})
    validate_request("TerminateJob", {"jobId": "j-1", "reason": "stopped by Airflow"})
    with pytest.raises(BatchRequestError) as error:
        validate_request("ListJobs", {"jobQueue": "q", "maxResults": "10", "filter": []})
    assert str(error.value).startswith("ListJobs request is invalid; nothing was sent:")
    unknown, wrong_type = sorted(error.value.problems)
    assert wrong_type == "maxResults: expected an integer, got str"
    assert unknown.startswith("filter: not a field here; use one of: ") and unknown.endswith(", filters")
    with pytest.raises(BatchRequestError) as error:
        validate_request("CancelJob", {"jobId": "j-1"})
    assert error.value.problems == ["reason: required, and missing"]


def test_validate_request_applies_only_the_model_and_not_submit_job_rules() -> None:
    validate_request("SubmitJob", request(arrayProperties={"size": 1}, containerOverrides={"vcpus": 2}))
    with pytest.raises(BatchRequestError):
        validate_submit_job(request(arrayProperties={"size": 1}))
