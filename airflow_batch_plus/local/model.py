"""The state of one local Batch job, and how DescribeJobs and ListJobs show it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_batch_plus.local import rules
from airflow_batch_plus.local.process import JobProcess

PRE_START = ("SUBMITTED", "PENDING", "RUNNABLE")
STARTED = ("STARTING", "RUNNING")
DONE = ("SUCCEEDED", "FAILED")
ALL_STATUSES = (*PRE_START, *STARTED, *DONE)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class ContainerRun:
    """One container of an ECS task or an EKS pod in one attempt: its spec (overrides applied), process and end."""

    name: str
    spec: dict[str, Any]
    essential: bool = True
    log_group: str | None = None  # ECS: the CloudWatch stream it writes to; EKS: none (kubectl logs on AWS)
    log_stream_name: str | None = None
    container_id: str | None = None
    process: JobProcess | None = None
    started: bool = False
    exit_code: int | None = None
    reason: str | None = None

    @property
    def exited(self) -> bool:
        """Started and ended (or failed to start)."""
        return self.started and self.process is None

    def describe_ecs(self) -> dict[str, Any]:
        """As one of AttemptTaskContainerDetails (and the run-time part of TaskContainerDetails)."""
        found: dict[str, Any] = {"name": self.name}
        if self.log_stream_name:
            found["logStreamName"] = self.log_stream_name
        if self.exit_code is not None:
            found["exitCode"] = self.exit_code
        if self.reason:
            found["reason"] = self.reason
        return found

    def describe_eks(self) -> dict[str, Any]:
        """As one of EksAttemptContainerDetail (and the run-time part of EksContainerDetail)."""
        found: dict[str, Any] = {"name": self.name}
        if self.container_id:
            found["containerID"] = self.container_id
        if self.exit_code is not None:
            found["exitCode"] = self.exit_code
        if self.reason:
            found["reason"] = self.reason
        return found


@dataclass
class Attempt:
    """One run of a job's container (or ECS task, or EKS pod), as DescribeJobs' `attempts` reports it."""

    task_arn: str
    log_stream_name: str
    started_at: int
    stopped_at: int | None = None
    exit_code: int | None = None
    container_reason: str | None = None
    status_reason: str | None = None
    # ECS-properties jobs: the task's containers. EKS-properties jobs: the pod's, its init containers, its names.
    containers: list[ContainerRun] = field(default_factory=list)
    init_containers: list[ContainerRun] = field(default_factory=list)
    pod_name: str | None = None
    pod_namespace: str | None = None
    node_name: str | None = None
    # ECS: the essential container whose exit ended the task (the others were then stopped).
    ended_by: ContainerRun | None = None

    def runs(self) -> list[ContainerRun]:
        return [*self.init_containers, *self.containers]

    def describe(self) -> dict[str, Any]:
        if self.pod_name is not None:  # EKS jobs report their attempts in eksAttempts
            raise ValueError("an EKS attempt is described by describe_eks()")
        if self.containers:
            result: dict[str, Any] = {
                "taskProperties": [
                    {"taskArn": self.task_arn, "containers": [run.describe_ecs() for run in self.containers]}
                ],
                "startedAt": self.started_at,
            }
            if self.stopped_at is not None:
                result["stoppedAt"] = self.stopped_at
            if self.status_reason:
                result["statusReason"] = self.status_reason
            return result
        container: dict[str, Any] = {"taskArn": self.task_arn, "logStreamName": self.log_stream_name}
        if self.exit_code is not None:
            container["exitCode"] = self.exit_code
        if self.container_reason:
            container["reason"] = self.container_reason
        result = {"container": container, "startedAt": self.started_at}
        if self.stopped_at is not None:
            result["stoppedAt"] = self.stopped_at
        if self.status_reason:
            result["statusReason"] = self.status_reason
        return result

    def describe_eks(self) -> dict[str, Any]:
        """As one item of DescribeJobs' `eksAttempts`."""
        result: dict[str, Any] = {
            "containers": [run.describe_eks() for run in self.containers],
            "podName": self.pod_name,
            "podNamespace": self.pod_namespace,
            "nodeName": self.node_name,
            "startedAt": self.started_at,
        }
        if self.init_containers:
            result["initContainers"] = [run.describe_eks() for run in self.init_containers]
        if self.stopped_at is not None:
            result["stoppedAt"] = self.stopped_at
        if self.status_reason:
            result["statusReason"] = self.status_reason
        return result


@dataclass
class LocalJob:
    """A job, an array parent or child, or a multi-node parent or node.

    The engine mutates it under its lock; `describe()` and `summary()` render the AWS shapes.
    """

    job_id: str
    job_arn: str
    name: str
    queue_arn: str
    queue_name: str
    job_definition_arn: str
    job_definition_name: str
    seq: int
    container: dict[str, Any] | None
    parameters: dict[str, str]
    depends_on: list[dict[str, str]]
    retry_strategy: dict[str, Any] | None
    timeout: dict[str, int] | None
    tags: dict[str, str]
    propagate_tags: bool
    platform_capabilities: list[str]
    share_identifier: str | None = None
    scheduling_priority: int | None = None
    array_size: int | None = None
    array_index: int | None = None
    node_properties: dict[str, Any] | None = None
    node_index: int | None = None
    node_overrides: list[dict[str, Any]] = field(default_factory=list)
    # An ECS-properties or EKS-properties job (overrides applied); `container` is then None.
    ecs_properties: dict[str, Any] | None = None
    eks_properties: dict[str, Any] | None = None
    parent: LocalJob | None = None
    children: list[LocalJob] = field(default_factory=list)
    created_at: int = field(default_factory=now_ms)
    status: str = "SUBMITTED"
    status_reason: str | None = None
    entered_at: float = field(default_factory=time.monotonic)
    started_at: int | None = None
    stopped_at: int | None = None
    attempts: list[Attempt] = field(default_factory=list)
    # What the running attempt holds:
    process: JobProcess | None = None
    current: Attempt | None = None
    log_group: str | None = None
    compute_environment: str | None = None
    vcpus: float = 1.0
    attempt_deadline: float | None = None
    # Stop requests:
    cancel_reason: str | None = None
    terminate_reason: str | None = None
    sigterm_at: float | None = None
    timed_out: bool = False
    retries_removed: bool = False
    is_cancelled: bool = False
    is_terminated: bool = False
    # Told of each state change, as it happens (the job table sets it: the engine's job events).
    on_enter: Callable[[LocalJob], None] | None = field(default=None, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status in DONE

    def live_processes(self) -> list[JobProcess]:
        """Every process of the running attempt: the container's, or each running ECS or EKS container's."""
        found = [self.process] if self.process is not None else []
        if self.current is not None:
            found += [run.process for run in self.current.runs() if run.process is not None]
        return found

    @property
    def is_array_parent(self) -> bool:
        return self.array_size is not None

    @property
    def is_multi_node_parent(self) -> bool:
        return self.node_properties is not None and self.node_index is None

    @property
    def is_parent(self) -> bool:
        return self.is_array_parent or self.is_multi_node_parent

    def enter(self, status: str, reason: str | None = None) -> None:
        """Move to `status`. Every state change goes through here, so `on_enter` sees each one, after the job's
        fields are those of the new state (callers set the rest, e.g. attempts, before they call this)."""
        changed = status != self.status
        self.status = status
        self.entered_at = time.monotonic()
        if reason is not None:
            self.status_reason = reason
        if status in DONE and self.stopped_at is None:
            self.stopped_at = now_ms()
        if changed and self.on_enter is not None:
            self.on_enter(self)

    def dwell(self) -> float:
        return time.monotonic() - self.entered_at

    def status_summary(self) -> dict[str, int]:
        summary = dict.fromkeys(ALL_STATUSES, 0)
        for child in self.children:
            summary[child.status] += 1
        return summary

    def describe(self) -> dict[str, Any]:
        """This job as one item of DescribeJobs' `jobs`."""
        detail: dict[str, Any] = {
            "jobArn": self.job_arn,
            "jobName": self.name,
            "jobId": self.job_id,
            "jobQueue": self.queue_arn,
            "status": self.status,
            "attempts": [] if self.eks_properties else [attempt.describe() for attempt in self.attempts],
            "createdAt": self.created_at,
            "dependsOn": self.depends_on,
            "jobDefinition": self.job_definition_arn,
            "parameters": self.parameters,
            "tags": self.tags,
            "propagateTags": self.propagate_tags,
            "platformCapabilities": self.platform_capabilities,
            "isCancelled": self.is_cancelled,
            "isTerminated": self.is_terminated,
        }
        optional = {
            "statusReason": self.status_reason,
            "startedAt": self.started_at,
            "stoppedAt": self.stopped_at,
            "retryStrategy": self.retry_strategy,
            "timeout": self.timeout,
            "shareIdentifier": self.share_identifier,
            "schedulingPriority": self.scheduling_priority,
        }
        detail.update({key: value for key, value in optional.items() if value is not None})
        if self.container is not None:
            detail["container"] = self._describe_container()
        if self.ecs_properties is not None:
            detail["ecsProperties"] = self._describe_ecs()
        if self.eks_properties is not None:
            detail["eksProperties"] = self._describe_eks()
            detail["eksAttempts"] = [attempt.describe_eks() for attempt in self.attempts]
        if self.array_size is not None:
            detail["arrayProperties"] = {"size": self.array_size, "statusSummary": self.status_summary()}
        elif self.array_index is not None:
            detail["arrayProperties"] = {"index": self.array_index}
        if self.node_properties is not None:
            detail["nodeProperties"] = self.node_properties
            if self.node_index is not None:
                detail["nodeDetails"] = {
                    "nodeIndex": self.node_index,
                    "isMainNode": self.node_index == self.node_properties.get("mainNode", 0),
                }
        return detail

    def _describe_container(self) -> dict[str, Any]:
        assert self.container is not None
        container = {key: value for key, value in self.container.items() if key != "vcpus" or value}
        latest = self.current or (self.attempts[-1] if self.attempts else None)
        if latest is not None:
            container["taskArn"] = latest.task_arn
            container["logStreamName"] = latest.log_stream_name
            if latest.exit_code is not None:
                container["exitCode"] = latest.exit_code
            if latest.container_reason:
                container["reason"] = latest.container_reason
        return container

    def _latest(self) -> Attempt | None:
        return self.current or (self.attempts[-1] if self.attempts else None)

    def _describe_ecs(self) -> dict[str, Any]:
        """ecsProperties as EcsPropertiesDetail: the task's containers with the latest attempt's streams and ends."""
        assert self.ecs_properties is not None
        (task,) = self.ecs_properties["taskProperties"]
        latest = self._latest()
        runs = {run.name: run for run in latest.containers} if latest is not None else {}
        containers = []
        for spec in task.get("containers") or []:
            container = dict(spec)
            run = runs.get(rules.ecs_container_name(spec))
            if run is not None:
                container.update(run.describe_ecs())
            containers.append(container)
        detail = {**task, "containers": containers}
        if latest is not None:
            detail["taskArn"] = latest.task_arn
        return {"taskProperties": [detail]}

    def _describe_eks(self) -> dict[str, Any]:
        """eksProperties as EksPropertiesDetail: the pod's containers with the latest attempt's ends, its names."""
        assert self.eks_properties is not None
        pod = dict(self.eks_properties.get("podProperties") or {})
        latest = self._latest()
        if latest is not None:
            for key, runs in (("containers", latest.containers), ("initContainers", latest.init_containers)):
                by_name = {run.name: run for run in runs}
                containers = []
                for spec in pod.get(key) or []:
                    container = dict(spec)
                    run = by_name.get(rules.eks_container_name(spec))
                    if run is not None:
                        container.update({k: v for k, v in run.describe_eks().items() if k != "containerID"})
                    containers.append(container)
                if containers:
                    pod[key] = containers
            pod["podName"] = latest.pod_name
            pod["nodeName"] = latest.node_name
            pod["metadata"] = {**(pod.get("metadata") or {}), "namespace": latest.pod_namespace}
        return {"podProperties": pod}

    def summary(self) -> dict[str, Any]:
        """This job as one item of ListJobs' `jobSummaryList`."""
        item: dict[str, Any] = {
            "jobArn": self.job_arn,
            "jobId": self.job_id,
            "jobName": self.name,
            "createdAt": self.created_at,
            "status": self.status,
            "jobDefinition": self.job_definition_arn,
        }
        optional = {"statusReason": self.status_reason, "startedAt": self.started_at, "stoppedAt": self.stopped_at}
        item.update({key: value for key, value in optional.items() if value is not None})
        multi_container = self.ecs_properties is not None or self.eks_properties is not None
        latest = self.attempts[-1] if self.attempts and not multi_container else None
        if latest is not None and (latest.exit_code is not None or latest.container_reason):
            container: dict[str, Any] = {}
            if latest.exit_code is not None:
                container["exitCode"] = latest.exit_code
            if latest.container_reason:
                container["reason"] = latest.container_reason
            item["container"] = container
        if self.array_size is not None:
            item["arrayProperties"] = {"size": self.array_size}
        elif self.array_index is not None:
            item["arrayProperties"] = {"index": self.array_index}
        if self.node_properties is not None:
            num_nodes = int(self.node_properties.get("numNodes", 1))
            node: dict[str, Any] = {"numNodes": num_nodes}
            if self.node_index is not None:
                node["nodeIndex"] = self.node_index
                node["isMainNode"] = self.node_index == self.node_properties.get("mainNode", 0)
            item["nodeProperties"] = node
        return item
