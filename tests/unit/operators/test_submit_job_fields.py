"""Every SubmitJob member has an operator field or a stated reason, derived from botocore's own model.

A member a newer botocore adds fails `test_every_submit_job_member_is_an_operator_field_or_built` here,
not a user's task. A request with every field filled passes the operator's validation (botocore's
model) and the local Batch's SubmitJob, on the job definition kind each override is for.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import botocore.session
import pytest

from airflow_batch_plus.local import LocalBatch
from airflow_batch_plus.operators.batch import BatchSubmitJobOperator
from airflow_batch_plus.operators.request import SUBMIT_JOB_FIELDS, SUBMIT_JOB_MEMBERS_BUILT
from airflow_batch_plus.validation import validate_submit_job

SUBMIT_JOB = botocore.session.get_session().get_service_model("batch").operation_model("SubmitJob").input_shape

# One override per job definition kind: Batch takes the one that matches the definition.
KIND_OVERRIDES = {
    "container": "containerOverrides",
    "multinode": "nodeOverrides",
    "ecs": "ecsPropertiesOverride",
    "eks": "eksPropertiesOverride",
}
COMMAND = ["sh", "-c", "echo filled"]
# Members AWS refuses with a definition kind whatever their value: multi-node parallel jobs cannot be arrays.
REFUSED_WITH_KIND = {"multinode": {"arrayProperties"}}
ENVIRONMENT = [{"name": "FILLED", "value": "yes"}]
RESOURCES = [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}]


def from_model(shape: Any) -> Any:
    """A value botocore's validator takes for `shape`: its required members, lists and maps of one item."""
    kind = shape.type_name
    if kind == "structure":
        return {name: from_model(member) for name, member in shape.members.items() if name in shape.required_members}
    if kind == "list":
        return [from_model(shape.member)]
    if kind == "map":
        return {"key": from_model(shape.value)}
    if kind == "string":
        return shape.enum[0] if shape.enum else "value"
    if kind in ("integer", "long"):
        return max(1, int(shape.metadata.get("min", 1)))
    if kind == "boolean":
        return True
    raise AssertionError(f"no example value for a {kind} shape ({shape.name}): add one to from_model")


def every_member_filled(depends_on_job: str) -> dict[str, Any]:
    """A value for every optional SubmitJob member: from the model, except where Batch asks more than the
    model says (array size, an existing job to depend on, the attempt duration floor, overrides that run)."""
    values = {name: from_model(member) for name, member in SUBMIT_JOB.members.items()}
    return values | {
        "arrayProperties": {"size": 2},  # 2..10,000, which the model does not say
        "dependsOn": [{"jobId": depends_on_job}],  # a job that exists; N_TO_N needs two arrays
        "containerOverrides": {
            "command": COMMAND,
            "environment": ENVIRONMENT,
            "resourceRequirements": RESOURCES,
        },
        "nodeOverrides": {
            "numNodes": 2,
            "nodePropertyOverrides": [
                {"targetNodes": "0:", "containerOverrides": {"command": COMMAND, "resourceRequirements": RESOURCES}}
            ],
        },
        "ecsPropertiesOverride": {
            "taskProperties": [{"containers": [{"name": "main", "command": COMMAND, "environment": ENVIRONMENT}]}]
        },
        "eksPropertiesOverride": {
            "podProperties": {"containers": [{"name": "main", "command": COMMAND, "env": [{"name": "FILLED"}]}]}
        },
        "retryStrategy": {"attempts": 2, "evaluateOnExit": [{"onExitCode": "1", "action": "RETRY"}]},
        "timeout": {"attemptDurationSeconds": 60},  # at least 60
        "consumableResourcePropertiesOverride": {
            "consumableResourceList": [{"consumableResource": "licenses", "quantity": 1}]
        },
        "tags": {"team": "data"},
    }


def operator_with(values: dict[str, Any], job_definition: str = "local-job", **skip: bool) -> BatchSubmitJobOperator:
    fields = {field: values[member] for field, member in SUBMIT_JOB_FIELDS.items() if not skip.get(member)}
    return BatchSubmitJobOperator(
        task_id="filled",
        job_queue="local-queue",
        job_definition=job_definition,
        tags=values["tags"],
        aws_conn_id=None,
        region_name="us-east-1",
        **fields,
    )


def context() -> Any:
    ti = SimpleNamespace(dag_id="d", task_id="filled", run_id="manual__1", map_index=-1, try_number=1, max_tries=0)
    return {"ti": ti}


def test_every_submit_job_member_is_an_operator_field_or_built() -> None:
    members = set(SUBMIT_JOB.members)
    mapped = set(SUBMIT_JOB_FIELDS.values())
    built = set(SUBMIT_JOB_MEMBERS_BUILT)
    assert not mapped - members, f"mapped to members botocore's SubmitJob lacks: {sorted(mapped - members)}"
    assert not built - members, f"listed as built, yet not SubmitJob members: {sorted(built - members)}"
    assert not mapped & built, f"both mapped and built: {sorted(mapped & built)}"
    assert members - mapped - built == set(), (
        "SubmitJob members with no operator field and no stated reason (add them to SUBMIT_JOB_FIELDS, or to "
        f"SUBMIT_JOB_MEMBERS_BUILT with the reason): {sorted(members - mapped - built)}"
    )
    assert set(SUBMIT_JOB.required_members) <= built


def test_each_mapped_field_is_a_templated_parameter_of_the_operator() -> None:
    parameters = inspect.signature(BatchSubmitJobOperator.__init__).parameters
    for field in SUBMIT_JOB_FIELDS:
        assert field in parameters, field
        assert field in BatchSubmitJobOperator.template_fields, field


def test_consumable_resource_properties_reach_submit_job_under_botocores_member_name() -> None:
    wanted = {"consumableResourceList": [{"consumableResource": "licenses", "quantity": 2}]}
    operator = BatchSubmitJobOperator(
        task_id="t", job_queue="q", job_definition="d", consumable_resource_properties=wanted
    )
    request = operator.build_request(context())  # validated against botocore's model
    assert request["consumableResourcePropertiesOverride"] == wanted


def test_a_request_with_every_field_filled_passes_validation() -> None:
    values = every_member_filled("some-job-id")
    request = operator_with(values).build_request(context())
    assert set(request) == set(SUBMIT_JOB.members)
    for member in SUBMIT_JOB_FIELDS.values():
        assert request[member] == values[member], member
    assert request["tags"]["team"] == "data"
    validate_submit_job(request)


def register(batch: Any, kind: str) -> str:
    """A job definition of `kind` in the local Batch; its name."""
    container = {"image": "local", "command": COMMAND, "resourceRequirements": RESOURCES}
    specs: dict[str, dict[str, Any]] = {
        "container": {"type": "container", "containerProperties": container, "platformCapabilities": ["FARGATE"]},
        "multinode": {
            "type": "multinode",
            "nodeProperties": {
                "numNodes": 2,
                "mainNode": 0,
                "nodeRangeProperties": [{"targetNodes": "0:", "container": container}],
            },
        },
        "ecs": {
            "type": "container",
            "platformCapabilities": ["FARGATE"],
            "ecsProperties": {"taskProperties": [{"containers": [{"name": "main", "essential": True, **container}]}]},
        },
        "eks": {
            "type": "container",
            "eksProperties": {
                "podProperties": {"containers": [{"name": "main", "image": "local", "command": COMMAND}]}
            },
        },
    }
    name = f"filled-{kind}"
    batch.register_job_definition(jobDefinitionName=name, **specs[kind])
    return name


@pytest.mark.parametrize("kind", list(KIND_OVERRIDES))
def test_every_field_filled_is_accepted_by_the_local_batch(kind: str, local_batch: LocalBatch) -> None:
    """Every field, with the one override the definition kind takes (Batch refuses the others), and
    without what AWS refuses for that kind (an array of multi-node parallel jobs)."""
    batch = local_batch.client("batch")
    first = batch.submit_job(jobName="first", jobQueue="local-queue", jobDefinition="local-job")["jobId"]
    others = {member: True for other, member in KIND_OVERRIDES.items() if other != kind}
    others |= dict.fromkeys(REFUSED_WITH_KIND.get(kind, ()), True)
    operator = operator_with(every_member_filled(first), register(batch, kind), **others)
    request = operator.build_request(context())
    assert set(request) == set(SUBMIT_JOB.members) - set(others)
    submitted = operator.hook.submit_job(request)
    (job,) = batch.describe_jobs(jobs=[submitted.job_id])["jobs"]
    assert job["jobDefinition"].split("/")[-1] == f"filled-{kind}:1"
    assert job["tags"]["team"] == "data"
