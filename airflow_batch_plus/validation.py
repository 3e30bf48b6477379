"""Checks of Batch requests before anything is sent, against botocore's own service model.

botocore validates a request too, but only when it is sent, one request at a time, and its messages
print the offending value (an environment variable's secret value included). These checks run at DAG
parse time or before the first call, report every problem at once, name each field by its path and
say how to fix it, and never print a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from airflow_batch_plus.environment import environment_holders
from airflow_batch_plus.jobs import check_job_name

MIN_ARRAY_SIZE = 2
MAX_ARRAY_SIZE = 10_000
MAX_DEPENDENCIES = 20
MIN_ATTEMPT_DURATION_SECONDS = 60


class BatchRequestError(ValueError):
    """A request Batch would refuse. `problems` lists each one as `field: what is wrong, and the fix`."""

    def __init__(self, operation: str, problems: list[str]):
        self.operation = operation
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{operation} request is invalid; nothing was sent:\n{lines}")


@cache
def _service_model() -> Any:
    from airflow_batch_plus.botocore_data import new_session

    return new_session().get_service_model("batch")


def validate_request(operation: str, params: Mapping[str, Any]) -> None:
    """Raise BatchRequestError unless `params` fits `operation`'s input shape in botocore's model."""
    problems = _shape_problems(operation, params)
    if problems:
        raise BatchRequestError(operation, problems)


def validate_submit_job(params: Mapping[str, Any]) -> None:
    """Everything SubmitJob would refuse that can be known before sending it.

    The service model gives field names and types; the rules below are the ones AWS documents but
    the model cannot express (name characters, array sizes, deprecated overrides, limits).
    """
    problems = _shape_problems("SubmitJob", params)
    problems += _submit_job_rules(params)
    if problems:
        raise BatchRequestError("SubmitJob", problems)


def check_submit_job_rules(params: Mapping[str, Any]) -> None:
    """The checks of `validate_submit_job` that need no service model: cheap enough for every DAG parse.

    Loading botocore's Batch model costs about 0.4 s, which every parse of a DAG file would pay; the
    shapes are checked before submission instead. `params` may hold only the fields known at parse.
    """
    problems = _submit_job_rules(params)
    if problems:
        raise BatchRequestError("SubmitJob", problems)


def _shape_problems(operation: str, params: Mapping[str, Any]) -> list[str]:
    from botocore.validate import ParamValidator

    shape = _service_model().operation_model(operation).input_shape
    report = ParamValidator().validate(dict(params), shape)
    # `_errors` holds (kind, field path, details); botocore's own report would print the values.
    return [_describe(kind, path, details) for kind, path, details in report._errors] + _enum_problems(
        params, shape, ""
    )


def _enum_problems(value: Any, shape: Any, path: str) -> list[str]:
    """Values outside a string shape's `enum` in the model, which botocore's validator does not check.

    Only the allowed values are printed, never the given one (it could be a secret in the wrong place).
    """
    if shape.type_name == "string" and shape.enum and isinstance(value, str) and value not in shape.enum:
        return [f"{path.lstrip('.')}: not one of {', '.join(shape.enum)}"]
    if shape.type_name == "structure" and isinstance(value, Mapping):
        return [
            problem
            for name, member in shape.members.items()
            if name in value
            for problem in _enum_problems(value[name], member, f"{path}.{name}")
        ]
    if shape.type_name == "list" and isinstance(value, list | tuple):
        return [
            problem
            for index, item in enumerate(value)
            for problem in _enum_problems(item, shape.member, f"{path}[{index}]")
        ]
    if shape.type_name == "map" and isinstance(value, Mapping):
        return [
            problem for key, item in value.items() for problem in _enum_problems(item, shape.value, f"{path}.{key}")
        ]
    return []


def _describe(kind: str, path: str, details: Mapping[str, Any]) -> str:
    where = path.lstrip(".") or "the request"
    if kind == "missing required field":
        field = f"{where}.{details['required_name']}" if path else details["required_name"]
        return f"{field}: required, and missing"
    if kind == "unknown field":
        valid = ", ".join(details["valid_names"])
        field = f"{where}.{details['unknown_param']}" if path else details["unknown_param"]
        return f"{field}: not a field here; use one of: {valid}"
    if kind == "invalid type":
        valid = " or ".join(dict.fromkeys(_type_name(name) for name in details["valid_types"]))
        return f"{where}: expected {valid}, got {type(details['param']).__name__}"
    if kind == "invalid range":
        return f"{where}: must be at least {details['min_allowed']}"
    if kind == "invalid length":
        return f"{where}: must have at least {details['min_allowed']} item(s) or character(s)"
    if kind in ("more than one input", "empty input"):
        return f"{where}: set exactly one of {', '.join(details['members'])}"
    return f"{where}: {kind}"


_TYPE_NAMES = {
    "str": "a string",
    "int": "an integer",
    "bool": "a boolean",
    "float": "a number",
    "decimal.Decimal": "a number",
    "dict": "a mapping",
    "list": "a list",
    "tuple": "a list",
}


def _type_name(python_type: str) -> str:
    name = python_type.removeprefix("<class '").removesuffix("'>")
    return _TYPE_NAMES.get(name, name)


def _submit_job_rules(params: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    name = params.get("jobName")
    if isinstance(name, str):
        try:
            check_job_name(name)
        except ValueError as error:
            problems.append(str(error))
    for holder in environment_holders(params):
        if holder.kind == "container":
            problems += _deprecated_override_rules(holder.fields, holder.path)
        if holder.kind != "eks":  # EKS `env` names are left to Batch, as they always were
            problems += _environment_rules(holder.variables, holder.variables_path)
    size = (
        (params.get("arrayProperties") or {}).get("size")
        if isinstance(params.get("arrayProperties"), Mapping)
        else None
    )
    if isinstance(size, int) and not MIN_ARRAY_SIZE <= size <= MAX_ARRAY_SIZE:
        problems.append(
            f"arrayProperties.size: must be from {MIN_ARRAY_SIZE} to {MAX_ARRAY_SIZE}, got {size}; "
            "submit a single job without arrayProperties for one"
        )
    depends_on = params.get("dependsOn")
    if isinstance(depends_on, list | tuple) and len(depends_on) > MAX_DEPENDENCIES:
        problems.append(f"dependsOn: at most {MAX_DEPENDENCIES} jobs, got {len(depends_on)}")
    for index, dependency in enumerate(depends_on if isinstance(depends_on, list | tuple) else ()):
        if isinstance(dependency, Mapping) and not dependency.get("jobId"):
            problems.append(f"dependsOn[{index}].jobId: required (the id of the job to wait for)")
    timeout = params.get("timeout")
    duration = timeout.get("attemptDurationSeconds") if isinstance(timeout, Mapping) else None
    if isinstance(duration, int) and duration < MIN_ATTEMPT_DURATION_SECONDS:
        problems.append(
            f"timeout.attemptDurationSeconds: must be at least {MIN_ATTEMPT_DURATION_SECONDS}, got {duration}"
        )
    retry = params.get("retryStrategy")
    attempts = retry.get("attempts") if isinstance(retry, Mapping) else None
    if isinstance(attempts, int) and not 1 <= attempts <= 10:
        problems.append(f"retryStrategy.attempts: must be from 1 to 10, got {attempts}")
    return problems


def _deprecated_override_rules(overrides: Mapping[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    for deprecated, resource in (("vcpus", "VCPU"), ("memory", "MEMORY")):
        if deprecated in overrides:
            problems.append(
                f"{path}.{deprecated}: deprecated and ignored by Batch; use "
                f"{path}.resourceRequirements=[{{'type': '{resource}', 'value': '...'}}]"
            )
    return problems


def _environment_rules(variables: list[Any], path: str) -> list[str]:
    """AWS_BATCH* names are reserved (SubmitJob refuses them); values are never looked at."""
    problems: list[str] = []
    for index, variable in enumerate(variables):
        variable_name = variable.get("name") if isinstance(variable, Mapping) else None
        if isinstance(variable_name, str) and variable_name.startswith("AWS_BATCH"):
            problems.append(
                f"{path}[{index}].name: names starting with AWS_BATCH are reserved by Batch; choose another name"
            )
    return problems
