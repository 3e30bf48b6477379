"""SubmitJob: checks a request against AWS Batch's rules and moto's job definitions and queues, then adds the job.

Every check runs before anything is added, so a refused request leaves no job, tag or submission number behind.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

from moto.batch.exceptions import ClientException

from airflow_batch_plus.local import rules
from airflow_batch_plus.local.job_table import JobTable
from airflow_batch_plus.local.model import LocalJob

MIN_ATTEMPT_SECONDS = 60


def submit_job(table: JobTable, request: Mapping[str, Any]) -> LocalJob:
    """The job a SubmitJob request makes, added to `table` (the caller holds the engine's lock)."""
    name = str(request.get("jobName") or "")
    if not rules.JOB_NAME.match(name):
        raise ClientException(
            f"jobName '{name}' is invalid: up to 128 letters, numbers, hyphens and underscores, "
            "starting with a letter or number"
        )
    definition = _job_definition(table.backend, str(request.get("jobDefinition") or ""))
    queue = _job_queue(table.backend, str(request.get("jobQueue") or ""))
    array_size = (request.get("arrayProperties") or {}).get("size")
    if array_size is not None and not 2 <= int(array_size) <= 10_000:
        raise ClientException("arrayProperties.size must be between 2 and 10000")
    depends_on = _validate_dependencies(table.jobs, request.get("dependsOn") or [], array_size)
    timeout = request.get("timeout") or definition.timeout or None
    if timeout and int(timeout.get("attemptDurationSeconds", MIN_ATTEMPT_SECONDS)) < MIN_ATTEMPT_SECONDS:
        raise ClientException("timeout.attemptDurationSeconds must be at least 60 seconds")
    retry_strategy = request.get("retryStrategy") or definition.retry_strategy or None
    if retry_strategy and not 1 <= int(retry_strategy.get("attempts", 1)) <= 10:
        raise ClientException("retryStrategy.attempts must be between 1 and 10")
    container, node_properties, node_overrides = _job_shape(definition, request)
    ecs_properties, eks_properties = _task_shape(definition, request)
    job_id = str(uuid.uuid4())
    propagate = request.get("propagateTags")
    job = LocalJob(
        job_id=job_id,
        job_arn=table.job_arn(job_id),
        name=name,
        queue_arn=queue.arn,
        queue_name=queue.name,
        job_definition_arn=definition.arn,
        job_definition_name=definition.name,
        seq=table.next_seq(),
        container=container,
        parameters={**(definition.parameters or {}), **(request.get("parameters") or {})},
        depends_on=depends_on,
        retry_strategy=retry_strategy,
        timeout=timeout,
        tags=dict(request.get("tags") or {}),
        propagate_tags=bool(definition.propagate_tags if propagate is None else propagate),
        platform_capabilities=list(definition.platform_capabilities or ["EC2"]),
        share_identifier=request.get("shareIdentifier"),
        scheduling_priority=request.get("schedulingPriorityOverride"),
        array_size=int(array_size) if array_size is not None else None,
        node_properties=node_properties,
        ecs_properties=ecs_properties,
        eks_properties=eks_properties,
    )
    job.vcpus = job_vcpus(job)
    job.node_overrides = node_overrides
    table.add(job)
    if job.tags:
        table.backend.tag_resource(job.job_arn, job.tags)
    return job


def job_vcpus(job: LocalJob) -> float:
    """The vCPUs a job holds on its compute environment while it starts and runs (array children and nodes too)."""
    if job.ecs_properties is not None:
        return rules.ecs_vcpus(job.ecs_properties)
    if job.eks_properties is not None:
        return rules.eks_vcpus(job.eks_properties)
    return rules.vcpus_of(job.container or {})


def _job_definition(backend: Any, identifier: str) -> Any:
    if identifier.startswith("arn:"):
        found = backend.get_job_definition_by_arn(identifier)
    elif ":" in identifier:
        name, _, revision = identifier.rpartition(":")
        found = backend.get_job_definition_by_name_revision(name, revision) if revision.isdigit() else None
    else:
        active = [jd for jd in backend._job_definitions.values() if jd.name == identifier and jd.status == "ACTIVE"]
        found = max(active, key=lambda jd: jd.revision) if active else None
    if found is None or found.status != "ACTIVE":
        raise ClientException(f"Job definition {identifier} does not exist or is not ACTIVE")
    kinds = (found.container_properties, found.node_properties, _ecs_of(found), found.eks_properties)
    if all(kind is None for kind in kinds):
        raise ClientException(f"Job definition {identifier} has no container, node, ECS or EKS properties")
    return found


def _job_queue(backend: Any, identifier: str) -> Any:
    queue = backend.get_job_queue(identifier)
    if queue is None:
        raise ClientException(f"Job queue {identifier} does not exist")
    return queue


def _validate_dependencies(
    jobs: Mapping[str, LocalJob], depends_on: list[dict[str, str]], array_size: Any
) -> list[dict[str, str]]:
    if len(depends_on) > 20:
        raise ClientException("A job can depend on at most 20 jobs")
    for dependency in depends_on:
        kind = dependency.get("type")
        target = dependency.get("jobId")
        if kind == "SEQUENTIAL":
            if array_size is None or target:
                raise ClientException("A SEQUENTIAL dependency is for array jobs and takes no jobId")
            continue
        if not target or target not in jobs:
            raise ClientException(f"Dependency job {target} does not exist")
        if kind == "N_TO_N":
            other = jobs[target]
            if array_size is None or other.array_size != int(array_size):
                raise ClientException("An N_TO_N dependency needs two array jobs of the same size")
    return [dict(dependency) for dependency in depends_on]


def _job_shape(
    definition: Any, request: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[dict[str, Any]]]:
    """(container, nodeProperties, node overrides) of a new job, overrides applied where they belong."""
    if _ecs_of(definition) is not None or definition.eks_properties is not None:
        return None, None, []
    if definition.node_properties is None:
        container = copy.deepcopy(definition.container_properties)
        return rules.apply_container_overrides(container, request.get("containerOverrides")), None, []
    if request.get("arrayProperties"):
        raise ClientException("Multi-node parallel jobs cannot be array jobs")
    node_properties = copy.deepcopy(definition.node_properties)
    overrides = request.get("nodeOverrides") or {}
    if overrides.get("numNodes"):
        node_properties["numNodes"] = int(overrides["numNodes"])
    return None, node_properties, list(overrides.get("nodePropertyOverrides") or [])


def _task_shape(definition: Any, request: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(ecsProperties, eksProperties) of a new job, SubmitJob's ecsPropertiesOverride / eksPropertiesOverride
    applied; an override for another kind of job definition is ignored, as containerOverrides is for these."""
    ecs, eks = _ecs_of(definition), definition.eks_properties
    try:
        if ecs is not None:
            return rules.apply_ecs_overrides(copy.deepcopy(ecs), request.get("ecsPropertiesOverride")), None
        if eks is not None:
            return None, rules.apply_eks_overrides(copy.deepcopy(eks), request.get("eksPropertiesOverride"))
    except ValueError as error:
        raise ClientException(str(error)) from None
    return None, None


def _ecs_of(definition: Any) -> dict[str, Any] | None:
    """A job definition's ecsProperties: moto does not know them; the local Batch's RegisterJobDefinition keeps them
    on the definition (api.py)."""
    return getattr(definition, "ecs_properties", None)
