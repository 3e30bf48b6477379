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


def log_target(
    container: Mapping[str, Any], job_definition_name: str, task_id: str, container_name: str = "default"
) -> tuple[str, str]:
    """(log group, log stream) the awslogs driver would write to for this container and ECS task.

    ECS names a stream `<awslogs-stream-prefix>/<container name>/<task id>`; Batch's prefix defaults to the job
    definition's name, and a containerProperties job's one container is named `default`.
    """
    options = (container.get("logConfiguration") or {}).get("options") or {}
    group = options.get("awslogs-group", DEFAULT_LOG_GROUP)
    prefix = options.get("awslogs-stream-prefix", job_definition_name)
    return group, f"{prefix}/{container_name}/{task_id}"


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


# ----- ECS-properties and EKS-properties jobs ---------------------------------------------------------

DEFAULT_ECS_CONTAINER = "default"
DEFAULT_EKS_CONTAINER = "Default"
DEFAULT_EKS_NAMESPACE = "default"
_K8S_VARIABLE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


def ecs_task(ecs_properties: Mapping[str, Any]) -> dict[str, Any]:
    """The one task of an ecsProperties job (Batch allows exactly one entry in `taskProperties`)."""
    tasks = ecs_properties.get("taskProperties") or []
    if len(tasks) != 1:
        raise ValueError(f"ecsProperties.taskProperties must hold exactly one task, got {len(tasks)}")
    return dict(tasks[0])


def ecs_container_name(container: Mapping[str, Any]) -> str:
    """A task container's name; an unnamed one is `default`, the name Batch gives a containerProperties job's."""
    return str(container.get("name") or DEFAULT_ECS_CONTAINER)


def is_essential(container: Mapping[str, Any]) -> bool:
    """ECS: a container whose `essential` is omitted is essential."""
    return container.get("essential") is not False


def check_ecs_properties(ecs_properties: Mapping[str, Any]) -> None:
    """RegisterJobDefinition's rules for ecsProperties: one task, containers with an image and unique names,
    at least one of them essential. Raises ValueError saying what is wrong."""
    containers = ecs_task(ecs_properties).get("containers") or []
    if not containers:
        raise ValueError("ecsProperties.taskProperties[0].containers must hold at least one container")
    names = [ecs_container_name(container) for container in containers]
    if len(set(names)) != len(names):
        raise ValueError(f"ecsProperties: container names must be unique, got {names}")
    for name, container in zip(names, containers, strict=True):
        if not container.get("image"):
            raise ValueError(f"ecsProperties: container {name!r} must have an image")
    if not any(is_essential(container) for container in containers):
        raise ValueError("ecsProperties: at least one container must be essential")


def _named_override(containers: list[dict[str, Any]], override: Mapping[str, Any], names: list[str], kind: str) -> int:
    """Index of the container an override targets: by name, or the only container when it names none."""
    name = override.get("name")
    if name is None and len(containers) == 1:
        return 0
    if name not in names:
        raise ValueError(f"{kind}: no container named {name!r} in the job definition (containers: {names})")
    return names.index(str(name))


def apply_ecs_overrides(ecs_properties: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ecsProperties a job runs: the definition's, with SubmitJob's ecsPropertiesOverride applied by container
    name (command replaced; environment merged by name, resourceRequirements by type)."""
    task = ecs_task(ecs_properties)
    containers = [dict(container) for container in task.get("containers") or []]
    names = [ecs_container_name(container) for container in containers]
    for task_override in (overrides or {}).get("taskProperties") or []:
        for override in task_override.get("containers") or []:
            index = _named_override(containers, override, names, "ecsPropertiesOverride")
            containers[index] = apply_container_overrides(containers[index], override)
    return {**dict(ecs_properties), "taskProperties": [{**task, "containers": containers}]}


def eks_container_name(container: Mapping[str, Any]) -> str:
    """A pod container's name; an unnamed one is `Default`, as Batch names it."""
    return str(container.get("name") or DEFAULT_EKS_CONTAINER)


def check_eks_properties(eks_properties: Mapping[str, Any]) -> None:
    """Pod containers (and init containers) with an image and names unique in the pod. Raises ValueError."""
    pod = eks_properties.get("podProperties") or {}
    if not pod.get("containers"):
        raise ValueError("eksProperties.podProperties.containers must hold at least one container")
    every = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    names = [eks_container_name(container) for container in every]
    if len(set(names)) != len(names):
        raise ValueError(f"eksProperties: container names must be unique in the pod, got {names}")
    for name, container in zip(names, every, strict=True):
        if not container.get("image"):
            raise ValueError(f"eksProperties: container {name!r} must have an image")


def _apply_eks_container_override(container: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(container)
    if override.get("image"):
        result["image"] = override["image"]
    for key in ("command", "args"):
        if override.get(key):
            result[key] = list(override[key])
    if override.get("env"):
        result["env"] = merge_named(result.get("env") or [], override["env"], "name")
    if override.get("resources"):
        result["resources"] = dict(override["resources"])
    return result


def apply_eks_overrides(eks_properties: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The eksProperties a job runs: the definition's, with SubmitJob's eksPropertiesOverride applied (containers
    and init containers by name; metadata labels and annotations merged, namespace replaced)."""
    pod = dict(eks_properties.get("podProperties") or {})
    pod_override = (overrides or {}).get("podProperties") or {}
    for key in ("initContainers", "containers"):
        containers = [dict(container) for container in pod.get(key) or []]
        names = [eks_container_name(container) for container in containers]
        for override in pod_override.get(key) or []:
            index = _named_override(containers, override, names, f"eksPropertiesOverride {key}")
            containers[index] = _apply_eks_container_override(containers[index], override)
        if containers:
            pod[key] = containers
    metadata_override = pod_override.get("metadata") or {}
    if metadata_override:
        metadata = dict(pod.get("metadata") or {})
        for key in ("labels", "annotations"):
            if metadata_override.get(key):
                metadata[key] = {**(metadata.get(key) or {}), **metadata_override[key]}
        if metadata_override.get("namespace"):
            metadata["namespace"] = metadata_override["namespace"]
        pod["metadata"] = metadata
    return {**dict(eks_properties), "podProperties": pod}


def expand_kubernetes_variables(argument: str, environment: Mapping[str, str]) -> str:
    """Kubernetes' `$(NAME)` expansion in command and args: unknown names stay as written, `$$` is `$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return environment.get(match.group(1), match.group(0))

    return _K8S_VARIABLE.sub(replace, argument)


def eks_argv(container: Mapping[str, Any], environment: Mapping[str, str], parameters: Mapping[str, str]) -> list[str]:
    """A pod container's command line: `command` then `args`, `Ref::` parameters and `$(NAME)` variables applied."""
    argv = substitute_refs([*(container.get("command") or []), *(container.get("args") or [])], parameters)
    return [expand_kubernetes_variables(argument, environment) for argument in argv]


def cpu_quantity(value: Any) -> float:
    """A Kubernetes CPU quantity in vCPUs: "2", "0.5" or "500m"."""
    text = str(value).strip()
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def ecs_vcpus(ecs_properties: Mapping[str, Any]) -> float:
    """vCPUs an ECS task asks for: the sum of its containers' (each at least what `vcpus_of` gives)."""
    return sum(vcpus_of(container) for container in ecs_task(ecs_properties).get("containers") or []) or 1.0


def eks_vcpus(eks_properties: Mapping[str, Any]) -> float:
    """vCPUs a pod asks for: the sum of its containers' cpu limits (else requests); 1 when none says."""
    total = 0.0
    for container in (eks_properties.get("podProperties") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        cpu = (resources.get("limits") or {}).get("cpu") or (resources.get("requests") or {}).get("cpu")
        total += cpu_quantity(cpu) if cpu is not None else 0.0
    return total or 1.0
