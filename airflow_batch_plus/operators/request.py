"""The SubmitJob request of `BatchSubmitJobOperator`: which operator field is which SubmitJob member, and
the checks and the build of the request, once at DAG parse (what is already known) and once rendered.

Apart from the operator so the mapping of fields to members is one table that the operator, its checks
and tests/unit/operators/test_submit_job_fields.py (which holds it against botocore's model) all read.
Cheap to import: the service-model checks (validation.py, botocore) load when a request is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_batch_plus.jobs import check_job_name
from airflow_batch_plus.ownership import derived_job_name, job_tags

SUBMIT_JOB_FIELDS: Mapping[str, str] = {
    "array_properties": "arrayProperties",
    "depends_on": "dependsOn",
    "parameters": "parameters",
    "container_overrides": "containerOverrides",
    "node_overrides": "nodeOverrides",
    "ecs_properties_override": "ecsPropertiesOverride",
    "eks_properties_override": "eksPropertiesOverride",
    "retry_strategy": "retryStrategy",
    "job_timeout": "timeout",
    "propagate_tags": "propagateTags",
    "share_identifier": "shareIdentifier",
    "scheduling_priority_override": "schedulingPriorityOverride",
    "consumable_resource_properties": "consumableResourcePropertiesOverride",
}
"""The operator fields passed to SubmitJob as they are: field name -> SubmitJob member (botocore's name).

tests/unit/operators/test_submit_job_fields.py holds this table and `SUBMIT_JOB_MEMBERS_BUILT` against
botocore's model of SubmitJob: a member a newer botocore adds fails that test until it is mapped here or
listed there with its reason."""

SUBMIT_JOB_MEMBERS_BUILT: Mapping[str, str] = {
    "jobName": "`job_name`, checked; by default derived from the task (`ownership.derived_job_name`), for reattach",
    "jobQueue": "`job_queue`, as given",
    "jobDefinition": "`job_definition`, pinned to one revision at the first try, which retries reuse",
    "tags": "`tags` merged with the task's own tags (dag, task, run, map index, try), which reattach reads",
}
"""SubmitJob members the operator builds rather than passes through, each with how."""

OVERRIDE_MEMBERS = ("containerOverrides", "nodeOverrides", "ecsPropertiesOverride", "eksPropertiesOverride")
"""The members whose environment values are masked (in rendered fields, in the log) and never printed."""


def optional_fields(operator: object) -> dict[str, Any]:
    """SubmitJob's optional fields by their API names, as `operator` holds them (None when not given)."""
    return {member: getattr(operator, field) for field, member in SUBMIT_JOB_FIELDS.items()}


def overrides(operator: object) -> dict[str, Any]:
    """The override members of `operator` by their API names: what masking and the trigger look through."""
    return {member: value for member, value in optional_fields(operator).items() if member in OVERRIDE_MEMBERS}


def is_dynamic(value: Any) -> bool:
    """Whether Airflow fills `value` in at run time: a Jinja string anywhere inside, or an XCom reference."""
    if isinstance(value, str):
        return any(marker in value for marker in ("{{", "{%", "{#"))
    if isinstance(value, Mapping):
        return any(is_dynamic(key) or is_dynamic(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(is_dynamic(item) for item in value)
    return not isinstance(value, int | float | bool | type(None))


def refuse_known_bad(job_name: str | None, fields: Mapping[str, Any]) -> None:
    """At DAG parse, refuse the request fields already known to be wrong (those holding no template).

    `fields` is `optional_fields(operator)`. A templated or XCom-fed field is checked once rendered,
    before submission (`build`), like everything else.
    """
    from airflow_batch_plus.validation import check_submit_job_rules

    if job_name and not is_dynamic(job_name):
        check_job_name(job_name, "job_name")
    check_submit_job_rules({key: value for key, value in fields.items() if value and not is_dynamic(value)})


def build(
    ti: Any,
    *,
    job_name: str | None,
    job_queue: str,
    job_definition: str,
    fields: Mapping[str, Any],
    tags: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The SubmitJob request of task instance `ti` from the rendered fields, checked against Batch's
    service model: named after the task unless `job_name` is given, and tagged with the task's own tags
    beside `tags`, both of which a retry's reattach reads.

    :raises ValueError: a field Batch would refuse (`BatchRequestError` lists every one).
    """
    from airflow_batch_plus.validation import validate_submit_job

    name = check_job_name(job_name, "job_name") if job_name else derived_job_name(ti)
    request = {
        "jobName": name,
        "jobQueue": job_queue,
        "jobDefinition": job_definition,
        **{key: value for key, value in fields.items() if value is not None},
        "tags": job_tags(ti, tags),
    }
    validate_submit_job(request)
    return request
