"""Pure Batch rules used by the local engine: no state, no I/O, so each is easy to test on its own."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_REF = re.compile(r"Ref::([A-Za-z0-9_\-]+)")
JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,127}$")
DEFAULT_LOG_GROUP = "/aws/batch/job"


def substitute_refs(command: Sequence[str], parameters: Mapping[str, str]) -> list[str]:
    """Replace `Ref::name` placeholders as Batch does; unknown names stay literal, like on AWS."""
    return [_REF.sub(lambda m: parameters.get(m.group(1), m.group(0)), arg) for arg in command]


def pattern_matches(pattern: str, value: str | None) -> bool:
    """evaluateOnExit patterns: exact match, or a prefix match when the pattern ends with `*`."""
    if value is None:
        return False
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def should_retry(
    retry_strategy: Mapping[str, Any] | None,
    attempts_made: int,
    exit_code: int | None,
    container_reason: str | None,
    status_reason: str | None,
) -> bool:
    """Decide whether a failed attempt runs again.

    The first evaluateOnExit rule whose given conditions all match decides (RETRY or EXIT); when no rule
    matches, the job retries while attempts remain (AWS's documented default).
    """
    attempts = int((retry_strategy or {}).get("attempts") or 1)
    if attempts_made >= attempts:
        return False
    for rule in (retry_strategy or {}).get("evaluateOnExit") or []:
        checks = [
            ("onExitCode", None if exit_code is None else str(exit_code)),
            ("onReason", container_reason),
            ("onStatusReason", status_reason),
        ]
        if all(pattern_matches(rule[key], value) for key, value in checks if key in rule):
            return str(rule.get("action", "")).upper() == "RETRY"
    return True


def vcpus_of(container: Mapping[str, Any]) -> float:
    """vCPUs a container asks for: resourceRequirements VCPU first, the legacy `vcpus` field, else 1."""
    for requirement in container.get("resourceRequirements") or []:
        if requirement.get("type") == "VCPU":
            return float(requirement["value"])
    if container.get("vcpus"):
        return float(container["vcpus"])
    return 1.0


def merge_named(base: Sequence[Mapping[str, Any]], override: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    """Merge override entries into base by `key` (environment by name, resources by type), keeping order."""
    merged = {entry[key]: dict(entry) for entry in base}
    for entry in override:
        merged[entry[key]] = dict(entry)
    return list(merged.values())


def apply_container_overrides(container: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The container a job runs: the job definition's, with SubmitJob's containerOverrides applied."""
    result = dict(container)
    overrides = overrides or {}
    if overrides.get("command"):
        result["command"] = list(overrides["command"])
    if overrides.get("environment"):
        result["environment"] = merge_named(result.get("environment") or [], overrides["environment"], "name")
    if overrides.get("resourceRequirements"):
        result["resourceRequirements"] = merge_named(
            result.get("resourceRequirements") or [], overrides["resourceRequirements"], "type"
        )
    for legacy in ("vcpus", "memory", "instanceType"):
        if overrides.get(legacy) is not None:
            result[legacy] = overrides[legacy]
    return result


def log_target(container: Mapping[str, Any], job_definition_name: str, task_id: str) -> tuple[str, str]:
    """(log group, log stream) the awslogs driver would write to for this container and ECS task."""
    options = (container.get("logConfiguration") or {}).get("options") or {}
    group = options.get("awslogs-group", DEFAULT_LOG_GROUP)
    prefix = options.get("awslogs-stream-prefix", job_definition_name)
    return group, f"{prefix}/default/{task_id}"


def parse_node_range(target_nodes: str, num_nodes: int) -> range:
    """`targetNodes` of a multi-node job: "n", "a:b", "a:" or ":b", both ends inclusive."""
    if ":" not in target_nodes:
        index = int(target_nodes)
        return range(index, index + 1)
    start, _, end = target_nodes.partition(":")
    return range(int(start) if start else 0, (int(end) if end else num_nodes - 1) + 1)


def filter_matches(name: str, value: str, job: Mapping[str, Any]) -> bool:
    """One ListJobs filter against a job's name, definition ARN and createdAt (epoch ms)."""
    if name == "JOB_NAME":
        job_name = str(job["jobName"]).lower()
        wanted = value.lower()
        return job_name.startswith(wanted[:-1]) if wanted.endswith("*") else job_name == wanted
    if name == "JOB_DEFINITION":
        definition_arn = str(job["jobDefinition"])
        if value.startswith("arn:"):
            return definition_arn == value
        definition_name = definition_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]
        return definition_name.startswith(value[:-1]) if value.endswith("*") else definition_name == value
    if name == "BEFORE_CREATED_AT":
        return int(job["createdAt"]) < int(value)
    if name == "AFTER_CREATED_AT":
        return int(job["createdAt"]) > int(value)
    raise ValueError(f"unknown ListJobs filter {name!r}")


LIST_FILTERS = ("JOB_NAME", "JOB_DEFINITION", "BEFORE_CREATED_AT", "AFTER_CREATED_AT")
