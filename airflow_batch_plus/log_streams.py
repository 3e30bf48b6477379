"""Where a Batch job's output is: its CloudWatch log streams, as one DescribeJobs item names them.

Finding them is the longest part of reading a DescribeJobs item: a container job names its stream on
`container` and on each attempt, an ECS job on each container of each task (each in its own log group),
and an array child or a node carries its index. `JobSnapshot.from_describe` (jobs.py) calls these to
fill `Attempt.log_streams` and `JobSnapshot.log_streams`, which the Logs hook, the console links and
the triggers then read, never the raw item. Pure and without I/O, like the job model; `LogStream`,
`DEFAULT_LOG_GROUP` and `log_group_of` are also importable from `airflow_batch_plus.jobs`, where the
job model has always offered them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LOG_GROUP = "/aws/batch/job"


@dataclass(frozen=True)
class LogStream:
    """One CloudWatch log stream of a job. `label` says whose it is (attempt, node, container, child)."""

    group: str
    name: str
    label: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        """One string for the stream, used as a cursor's key (log group names cannot contain '|')."""
        return f"{self.group}|{self.name}"

    def to_dict(self) -> dict[str, str]:
        return {"group": self.group, "name": self.name, "label": self.label}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogStream:
        return cls(group=data["group"], name=data["name"], label=data.get("label", ""))


def log_group_of(log_configuration: Mapping[str, Any] | None) -> str:
    """The CloudWatch log group a container writes to: its awslogs group, else Batch's default."""
    if log_configuration and log_configuration.get("logDriver", "awslogs") == "awslogs":
        group = (log_configuration.get("options") or {}).get("awslogs-group")
        if group:
            return str(group)
    return DEFAULT_LOG_GROUP


def attempt_log_streams(attempt: Mapping[str, Any], job: Mapping[str, Any]) -> tuple[LogStream, ...]:
    """The streams one item of a DescribeJobs item's `attempts` names: its container's, then each ECS
    container's (labelled by name). The groups are the job's: an attempt does not repeat them."""
    container = attempt.get("container") or {}
    streams: list[LogStream] = []
    group = log_group_of((job.get("container") or {}).get("logConfiguration"))
    if container.get("logStreamName"):
        streams.append(LogStream(group, container["logStreamName"]))
    groups = _ecs_container_groups(job)
    for task in attempt.get("taskProperties") or ():
        for task_container in task.get("containers") or ():
            if task_container.get("logStreamName"):
                name = task_container.get("name", "")
                group = groups.get(name, DEFAULT_LOG_GROUP)
                streams.append(LogStream(group, task_container["logStreamName"], name))
    return tuple(streams)


def discover_log_streams(item: Mapping[str, Any], attempts: Sequence[Sequence[LogStream]]) -> tuple[LogStream, ...]:
    """Every stream the item names, oldest attempt first, each once, labelled for a reader. `attempts`
    holds each listed attempt's streams (`attempt_log_streams`), oldest first.

    Streams are taken from DescribeJobs, never built from ids: on AWS they end in the ECS task id.
    The current attempt's stream appears on `container` before it shows in `attempts`.
    """
    labelled: dict[str, LogStream] = {}
    prefix = _owner_label(item)

    def add(stream: LogStream, label: str) -> None:
        if stream.key not in labelled:
            labelled[stream.key] = LogStream(stream.group, stream.name, " ".join(filter(None, [prefix, label])))

    container = item.get("container") or {}
    # The current attempt's streams: the job's container, or each ECS container (labelled by name).
    current: list[LogStream] = []
    if container.get("logStreamName"):
        current.append(LogStream(log_group_of(container.get("logConfiguration")), container["logStreamName"]))
    for task in (item.get("ecsProperties") or {}).get("taskProperties") or ():
        for ecs_container in task.get("containers") or ():
            if ecs_container.get("logStreamName"):
                group = log_group_of(ecs_container.get("logConfiguration"))
                current.append(LogStream(group, ecs_container["logStreamName"], ecs_container.get("name", "")))
    listed = {stream.key for streams in attempts for stream in streams}
    running_unlisted = any(stream.key not in listed for stream in current)
    # Labels stay the same from one snapshot to the next: once a job has a second attempt, every
    # attempt is numbered, including the one still running that `attempts` does not list yet.
    numbered = len(attempts) + running_unlisted > 1
    for number, streams in enumerate(attempts, start=1):
        for stream in streams:
            add(stream, " ".join(filter(None, [f"attempt {number}" if numbered else "", stream.label])))
    for stream in current:
        add(stream, " ".join(filter(None, [f"attempt {len(attempts) + 1}" if numbered else "", stream.label])))
    return tuple(labelled.values())


def _ecs_container_groups(job: Mapping[str, Any]) -> dict[str, str]:
    groups: dict[str, str] = {}
    for task in (job.get("ecsProperties") or {}).get("taskProperties") or ():
        for container in task.get("containers") or ():
            groups[container.get("name", "")] = log_group_of(container.get("logConfiguration"))
    return groups


def _owner_label(item: Mapping[str, Any]) -> str:
    array = item.get("arrayProperties") or {}
    if array.get("index") is not None:
        return f"[{array['index']}]"
    node = item.get("nodeDetails") or {}
    if node.get("nodeIndex") is not None:
        return f"[node {node['nodeIndex']}]"
    return ""
