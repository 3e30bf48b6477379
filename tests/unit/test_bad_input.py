"""Bad input, table-driven: every case is refused with an error naming the field and the fix, before anything is sent.

Two moments. *Parse*: the value is written in the DAG file, so constructing the operator (what the DAG
processor does) raises and the DAG shows an import error; no hook is built, no AWS call is possible.
*Before submission*: the value comes from a template or XCom, so it is known only once rendered;
`build_request` (the first thing `execute` does, before any AWS call) refuses it, and `execute` turns
that into a failure that does not retry (tests/integration cover that path through a real task).
docs/reliability.md lists this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator
from airflow_batch_plus.operators.stop import BatchStopJobsOperator
from airflow_batch_plus.sensors.batch import BatchJobQueueSensor, BatchJobSensor

REQUIRED: dict[str, Any] = {"task_id": "job", "job_queue": "q", "job_definition": "d"}
CONTEXT: dict[str, Any] = {
    "ti": SimpleNamespace(dag_id="dag", task_id="job", run_id="run", map_index=-1, try_number=1, max_tries=0)
}


@dataclass(frozen=True)
class Case:
    name: str
    moment: str  # "parse" or "before submission"
    attempt: Callable[[], object]
    field: str
    fix: str


def submit(**arguments: Any) -> Callable[[], object]:
    return lambda: BatchSubmitJobOperator(**{**REQUIRED, **arguments})


def rendered(**fields: Any) -> Callable[[], object]:
    """A valid operator whose fields render to `fields` (templates or XCom), then the request is built."""

    def attempt() -> object:
        operator = BatchSubmitJobOperator(**REQUIRED)
        for name, value in fields.items():
            setattr(operator, name, value)
        return operator.build_request(CONTEXT)

    return attempt


def stop(**arguments: Any) -> Callable[[], object]:
    return lambda: BatchStopJobsOperator(**{"task_id": "stop", **arguments})


ENV = "containerOverrides.environment[0].name"
PARSE, BEFORE = "parse", "before submission"
CASES = [
    # Job names
    Case("name-too-long", PARSE, submit(job_name="j" * 129), "job_name=", "1 to 128"),
    Case("name-with-a-space", PARSE, submit(job_name="nightly load"), "job_name=", "letters, digits, '-' or '_'"),
    Case("name-starting-with-dash", PARSE, submit(job_name="-load"), "job_name=", "starting with a letter or digit"),
    Case("name-with-a-dot", PARSE, submit(job_name="load.v2"), "job_name=", "make_job_name()"),
    Case("name-rendered-invalid", BEFORE, rendered(job_name="run 2026-01-01"), "job_name=", "letters, digits"),
    # Waiting and stopping arguments
    Case("poll-interval-zero", PARSE, submit(poll_interval=0), "poll_interval", "positive number of seconds"),
    Case("poll-interval-negative", PARSE, submit(poll_interval=-5), "poll_interval", "positive number of seconds"),
    Case("unknown-stop-policy", PARSE, submit(stop_policy="kill"), "stop_policy", "use one of"),
    Case("max-runnable-negative", PARSE, submit(max_runnable_time=-1), "max_runnable_time", "positive duration"),
    Case("max-runnable-zero", PARSE, submit(max_runnable_time=timedelta(0)), "max_runnable_time", "positive duration"),
    Case("tolerated-not-a-number", PARSE, submit(tolerated_failures="some"), "tolerated_failures", "percentage"),
    Case("tolerated-negative", PARSE, submit(tolerated_failures=-1), "tolerated_failures", "percentage"),
    Case("tolerated-over-100-percent", PARSE, submit(tolerated_failures="150%"), "tolerated_failures", "percentage"),
    # Arrays and dependencies
    Case("array-of-one", PARSE, submit(array_properties={"size": 1}), "arrayProperties.size", "single job"),
    Case("array-too-big", PARSE, submit(array_properties={"size": 10_001}), "arrayProperties.size", "2 to 10000"),
    Case(
        "array-size-rendered-as-text",
        BEFORE,
        rendered(array_properties={"size": "4"}),
        "arrayProperties.size",
        "expected an integer",
    ),
    Case("depends-on-without-job-id", PARSE, submit(depends_on=[{"type": "N_TO_N"}]), "dependsOn[0].jobId", "required"),
    Case(
        "depends-on-21-jobs",
        PARSE,
        submit(depends_on=[{"jobId": f"j{index}"} for index in range(21)]),
        "dependsOn",
        "at most 20",
    ),
    Case(
        "depends-on-unknown-type",
        BEFORE,
        rendered(depends_on=[{"jobId": "j1", "type": "ALL"}]),
        "dependsOn[0].type",
        "N_TO_N",
    ),
    Case("depends-on-not-a-list", BEFORE, rendered(depends_on={"jobId": "j1"}), "dependsOn", "expected a list"),
    # Overrides
    Case("deprecated-vcpus", PARSE, submit(container_overrides={"vcpus": 2}), "containerOverrides.vcpus", "VCPU"),
    Case(
        "deprecated-memory",
        PARSE,
        submit(container_overrides={"memory": 2048}),
        "containerOverrides.memory",
        "MEMORY",
    ),
    Case(
        "reserved-environment-name",
        PARSE,
        submit(container_overrides={"environment": [{"name": "AWS_BATCH_X", "value": "v"}]}),
        ENV,
        "choose another name",
    ),
    Case(
        "reserved-name-in-node-overrides",
        PARSE,
        submit(
            node_overrides={
                "nodePropertyOverrides": [
                    {"targetNodes": "0:", "containerOverrides": {"environment": [{"name": "AWS_BATCH_Y"}]}}
                ]
            }
        ),
        "nodeOverrides.nodePropertyOverrides[0].containerOverrides.environment[0].name",
        "reserved",
    ),
    Case(
        "reserved-name-in-ecs-override",
        PARSE,
        submit(
            ecs_properties_override={
                "taskProperties": [{"containers": [{"environment": [{"name": "AWS_BATCH_Z", "value": "v"}]}]}]
            }
        ),
        "ecsPropertiesOverride.taskProperties[0].containers[0].environment[0].name",
        "reserved",
    ),
    Case(
        "command-as-a-string",
        BEFORE,
        rendered(container_overrides={"command": "echo hi"}),
        "containerOverrides.command",
        "expected a list",
    ),
    Case(
        "misspelt-override-field",
        BEFORE,
        rendered(container_overrides={"comand": ["echo"]}),
        "containerOverrides.comand",
        "command",
    ),
    Case(
        "resource-value-as-number",
        BEFORE,
        rendered(container_overrides={"resourceRequirements": [{"type": "VCPU", "value": 2}]}),
        "containerOverrides.resourceRequirements[0].value",
        "expected a string",
    ),
    Case(
        "environment-as-a-mapping",
        BEFORE,
        rendered(container_overrides={"environment": {"TOKEN": "x"}}),
        "containerOverrides.environment",
        "expected a list",
    ),
    # Other request fields
    Case("timeout-under-60-s", PARSE, submit(job_timeout={"attemptDurationSeconds": 30}), "timeout", "at least 60"),
    Case("retry-attempts-zero", PARSE, submit(retry_strategy={"attempts": 0}), "retryStrategy.attempts", "1 to 10"),
    Case("retry-attempts-eleven", PARSE, submit(retry_strategy={"attempts": 11}), "retryStrategy.attempts", "1 to 10"),
    Case("share-identifier-not-text", BEFORE, rendered(share_identifier=5), "shareIdentifier", "expected a string"),
    Case(
        "unknown-resource-type",
        BEFORE,
        rendered(container_overrides={"resourceRequirements": [{"type": "CPU", "value": "2"}]}),
        "containerOverrides.resourceRequirements[0].type",
        "GPU, VCPU, MEMORY",
    ),
    Case("propagate-tags-as-text", BEFORE, rendered(propagate_tags="yes"), "propagateTags", "expected a boolean"),
    Case(
        "priority-as-text",
        BEFORE,
        rendered(scheduling_priority_override="high"),
        "schedulingPriorityOverride",
        "expected an integer",
    ),
    Case("queue-rendered-empty", BEFORE, rendered(job_queue=None), "jobQueue", "expected a string"),
    Case(
        "parameters-not-text", BEFORE, rendered(parameters={"date": 20260101}), "parameters.date", "expected a string"
    ),
    # The kill switch operator
    Case("stop-keep-policy", PARSE, stop(job_ids=["j1"], stop_policy="keep"), "stop_policy='keep'", "'cancel'"),
    Case("stop-unknown-policy", PARSE, stop(job_ids=["j1"], stop_policy="kill"), "stop_policy", "use one of"),
    Case("stop-neither-queue-nor-ids", PARSE, stop(), "job_queue", "job_ids"),
    Case("stop-queue-and-ids", PARSE, stop(job_queue="q", job_ids=["j1"]), "job_queue", "not both"),
    Case(
        "stop-two-filters",
        PARSE,
        stop(job_queue="q", job_name="etl*", job_definition="d"),
        "job_name, job_definition",
        "keep one",
    ),
    Case("stop-filter-with-ids", PARSE, stop(job_ids=["j1"], job_name="etl*"), "job_name", "give job_queue"),
    Case("stop-empty-name-filter", PARSE, stop(job_queue="q", job_name=""), "job_name=''", "leave the filter out"),
    Case("stop-empty-date-filter", PARSE, stop(job_queue="q", created_after=""), "created_after", "every live job"),
    Case("stop-empty-id-list", PARSE, stop(job_ids=[]), "job_ids=[]", "give the ids"),
    Case("stop-empty-tags", PARSE, stop(job_queue="q", tags={}), "tags={}", "every job of the queue"),
    Case("stop-tags-not-strings", PARSE, stop(job_queue="q", tags={"team": 1}), "tags=", "{'team': 'ml'}"),
    Case("stop-empty-queue-list", PARSE, stop(job_queue=[]), "job_queue=[]", "non-empty list"),
    Case("stop-blank-queue-in-list", PARSE, stop(job_queue=["q", " "]), "job_queue=", "non-empty list"),
    # Sensors
    Case("sensor-empty-job-id", PARSE, lambda: BatchJobSensor(task_id="s", job_id=""), "job_id", "give the id"),
    Case(
        "sensor-poll-interval-zero",
        PARSE,
        lambda: BatchJobSensor(task_id="s", job_id="j1", poll_interval=0),
        "poll_interval",
        "positive",
    ),
    Case(
        "queue-sensor-unknown-wait",
        PARSE,
        lambda: BatchJobQueueSensor(task_id="s", job_queue="q", wait_for="empty"),
        "wait_for='empty'",
        "ready",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_refused_naming_the_field_and_the_fix(case: Case) -> None:
    with pytest.raises(ValueError) as error:  # BatchRequestError is a ValueError
        case.attempt()
    message = str(error.value)
    assert case.field in message, message
    assert case.fix in message, message


def test_the_table_has_at_least_forty_distinct_cases_at_both_moments() -> None:
    assert len({case.name for case in CASES}) == len(CASES) >= 40
    assert {case.moment for case in CASES} == {PARSE, BEFORE}


def test_templated_and_xcom_fields_are_left_for_after_rendering() -> None:
    """A field Airflow fills in at run time cannot be judged at parse: it must not be refused there."""
    operator = BatchSubmitJobOperator(
        **REQUIRED,
        job_name="{{ dag_run.conf['name'] }}",
        array_properties={"size": "{{ params.shards }}"},
        container_overrides={"environment": [{"name": "{{ params.var }}", "value": "x"}]},
        retry_strategy={"attempts": "{{ params.attempts }}"},
    )
    assert operator.job_name == "{{ dag_run.conf['name'] }}"
