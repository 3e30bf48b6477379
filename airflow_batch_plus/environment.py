"""Where a Batch job's environment variables sit, in a SubmitJob request's overrides and in a DescribeJobs item.

A container, each ECS container, each EKS container and init container, and each node override's: every
kind of job Batch adds brings places of its own, so they are walked here once, and masking, validation
and snapshots all read this one walk. A module of its own, out of the job model (jobs.py), because it is
about requests as much as jobs: validation checks the names, the operator and the hook mask the values.
Pure, no I/O, only the standard library: cheap for the operator to import at DAG parse.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Where environment variables sit: in a SubmitJob request's overrides, and in a DescribeJobs item.
_REQUEST_ENVIRONMENT_FIELDS = ("containerOverrides", "ecsPropertiesOverride", "eksPropertiesOverride")
_DESCRIBED_ENVIRONMENT_FIELDS = ("container", "ecsProperties", "eksProperties")


@dataclass(frozen=True)
class EnvironmentHolder:
    """One mapping that carries environment variables (a container, an ECS container, an EKS container),
    with its path in the request or item, as a validation message names it."""

    kind: str  # "container", "ecs" or "eks"
    path: str
    fields: Mapping[str, Any]

    @property
    def key(self) -> str:
        """EKS containers call their variables `env`; the others call them `environment`."""
        return "env" if self.kind == "eks" else "environment"

    @property
    def variables_path(self) -> str:
        return f"{self.path}.{self.key}"

    @property
    def variables(self) -> list[Any]:
        """The holder's variables as given (not checked); none unless they are a list."""
        return _items(self.fields.get(self.key))


def environment_holders(spec: Mapping[str, Any], *, described: bool = False) -> Iterator[EnvironmentHolder]:
    """Every place a SubmitJob request's overrides set environment variables (or, `described`, where a
    DescribeJobs item lists them): the container, each ECS container, each EKS container and init
    container, then each node override's container, ECS containers and EKS containers.

    The one walk of these shapes: masking, validation and snapshots all read it, so a place added here
    is masked, checked and kept alike. Parts not shaped as Batch documents them (not a mapping, not a
    list) are skipped: validation reports those by their shape, and they carry no variables.
    """
    container, ecs, eks = _DESCRIBED_ENVIRONMENT_FIELDS if described else _REQUEST_ENVIRONMENT_FIELDS
    yield from _holders_in(spec, "", container, ecs, eks)
    if not described:
        nodes = _mapping(spec.get("nodeOverrides")).get("nodePropertyOverrides")
        for index, node in enumerate(_items(nodes)):
            if isinstance(node, Mapping):
                yield from _holders_in(node, f"nodeOverrides.nodePropertyOverrides[{index}].", container, ecs, eks)


def environment_variables(spec: Mapping[str, Any], *, described: bool = False) -> Iterator[tuple[Any, Any]]:
    """(name, value) of each variable `environment_holders` finds, as given: either may be None."""
    for holder in environment_holders(spec, described=described):
        for variable in holder.variables:
            if isinstance(variable, Mapping):
                yield variable.get("name"), variable.get("value")


def override_environment_values(request: Mapping[str, Any]) -> list[str]:
    """The environment values a SubmitJob request overrides, wherever they sit (container, node, ECS, EKS)."""
    return [str(value) for _, value in environment_variables(request) if value]


def override_environment_names(request: Mapping[str, Any]) -> list[str]:
    """The names of the environment variables a SubmitJob request overrides (their values may be secrets)."""
    return sorted({str(name) for name, value in environment_variables(request) if value and name})


def described_environment(item: Mapping[str, Any]) -> dict[str, str]:
    """Every environment variable of a DescribeJobs item: its container, its ECS containers, its EKS containers."""
    return {
        str(name): str(value)
        for name, value in environment_variables(item, described=True)
        if name and value is not None
    }


def _holders_in(
    spec: Mapping[str, Any], prefix: str, container: str, ecs: str, eks: str
) -> Iterator[EnvironmentHolder]:
    if isinstance(spec.get(container), Mapping):
        yield EnvironmentHolder("container", f"{prefix}{container}", spec[container])
    for task_index, task in enumerate(_items(_mapping(spec.get(ecs)).get("taskProperties"))):
        for index, ecs_container in enumerate(_items(_mapping(task).get("containers"))):
            if isinstance(ecs_container, Mapping):
                path = f"{prefix}{ecs}.taskProperties[{task_index}].containers[{index}]"
                yield EnvironmentHolder("ecs", path, ecs_container)
    pod = _mapping(_mapping(spec.get(eks)).get("podProperties"))
    for kind in ("containers", "initContainers"):
        for index, eks_container in enumerate(_items(pod.get(kind))):
            if isinstance(eks_container, Mapping):
                yield EnvironmentHolder("eks", f"{prefix}{eks}.podProperties.{kind}[{index}]", eks_container)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []
