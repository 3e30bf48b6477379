"""The job model: what a Batch job is, what state it is in, and what stopping it means.

Pure and without I/O, so hooks, triggers, operators and tests all read one definition of a job.
A `JobSnapshot` is parsed once from one DescribeJobs item; everything downstream (waiting, logs, the
stop decision, XCom) reads the snapshot, never the raw dictionary. Two parts of that parsing have
modules of their own: the item's log streams (`log_streams`) and its environment (`environment`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from airflow_batch_plus.environment import described_environment

# `X as X`: re-exported, since the job model has always offered LogStream, DEFAULT_LOG_GROUP and log_group_of.
from airflow_batch_plus.log_streams import DEFAULT_LOG_GROUP as DEFAULT_LOG_GROUP  # noqa: PLC0414
from airflow_batch_plus.log_streams import LogStream as LogStream  # noqa: PLC0414
from airflow_batch_plus.log_streams import attempt_log_streams, discover_log_streams
from airflow_batch_plus.log_streams import log_group_of as log_group_of  # noqa: PLC0414

MAX_REASON_LENGTH = 1024
MAX_JOB_NAME_LENGTH = 128
_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_NOT_IN_JOB_NAME = re.compile(r"[^A-Za-z0-9_-]+")


class JobStatus(StrEnum):
    """A Batch job's status, in the order a job walks through them."""

    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def has_started(self) -> bool:
        """STARTING or RUNNING: CancelJob no longer has any effect, only TerminateJob stops it."""
        return self in STARTED

    @property
    def is_done(self) -> bool:
        return self in DONE


PRE_START: frozenset[JobStatus] = frozenset({JobStatus.SUBMITTED, JobStatus.PENDING, JobStatus.RUNNABLE})
STARTED: frozenset[JobStatus] = frozenset({JobStatus.STARTING, JobStatus.RUNNING})
DONE: frozenset[JobStatus] = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})
LIVE: frozenset[JobStatus] = PRE_START | STARTED
# LIVE in the order a job walks through them, for listing one status at a time (a set has no fixed order).
LIVE_IN_ORDER: tuple[JobStatus, ...] = tuple(status for status in JobStatus if status in LIVE)


class StopPolicy(StrEnum):
    """What to do with a live job when the task that owns it ends early.

    `terminate` stops it whatever its state; `cancel` stops it only if it has not started and lets a
    running one finish (the budget kill switch); `keep` leaves it alone.
    """

    TERMINATE = "terminate"
    CANCEL = "cancel"
    KEEP = "keep"

    @classmethod
    def parse(cls, value: str | StopPolicy, field_name: str = "stop_policy") -> StopPolicy:
        try:
            return cls(str(value).lower())
        except ValueError:
            choices = ", ".join(repr(policy.value) for policy in cls)
            raise ValueError(f"{field_name}={value!r} is not a stop policy: use one of {choices}") from None


class StopAction(StrEnum):
    """The call a stop decision makes: CancelJob(s), TerminateJob(s), or none."""

    CANCEL = "cancel"
    TERMINATE = "terminate"
    NONE = "none"


class StopOutcome(StrEnum):
    """What stopping did to one job, as reported back to the caller."""

    CANCEL_REQUESTED = "cancel_requested"
    TERMINATE_REQUESTED = "terminate_requested"
    ALREADY_DONE = "already_done"
    KEPT = "kept"
    LEFT_RUNNING = "left_running"
    NOT_FOUND = "not_found"
    FAILED = "failed"


def decide_stop(policy: StopPolicy, status: JobStatus | None) -> StopAction:
    """The call that applies `policy` to a job in `status` (None: not known, e.g. not described).

    `terminate` always uses TerminateJob, which cancels a job that has not started: unlike CancelJob it
    cannot be outrun by a job that starts between our look at it and the call.
    """
    if policy is StopPolicy.KEEP or (status is not None and status.is_done):
        return StopAction.NONE
    if policy is StopPolicy.TERMINATE:
        return StopAction.TERMINATE
    if status is not None and status.has_started:
        return StopAction.NONE
    return StopAction.CANCEL


def outcome_without_call(policy: StopPolicy, status: JobStatus | None) -> StopOutcome:
    """What stopping did to a job `decide_stop` makes no call for: it had already ended, `keep` kept it,
    or it had started and `cancel` let it run. Beside the decision, so the two cannot drift apart."""
    if status in DONE:
        return StopOutcome.ALREADY_DONE
    if policy is StopPolicy.KEEP:
        return StopOutcome.KEPT
    return StopOutcome.LEFT_RUNNING


def trim_reason(reason: str) -> str:
    """A stop reason that fits AWS's 1,024 characters (a longer one is a ClientException)."""
    if len(reason) <= MAX_REASON_LENGTH:
        return reason
    marker = " [...]"
    return reason[: MAX_REASON_LENGTH - len(marker)] + marker


def check_job_name(name: str, field_name: str = "jobName") -> str:
    """Return `name` if Batch accepts it as a job name, else raise ValueError saying how to fix it."""
    if not isinstance(name, str) or not _JOB_NAME.fullmatch(name):
        raise ValueError(
            f"{field_name}={name!r} is not a valid Batch job name: use 1 to {MAX_JOB_NAME_LENGTH} letters, "
            "digits, '-' or '_', starting with a letter or digit (make_job_name() builds one from any text)"
        )
    return name


def make_job_name(*parts: object) -> str:
    """A valid, deterministic job name from any parts, e.g. (dag_id, task_id, run_id, map_index).

    The same parts always give the same name, and different parts (even ones that read alike once
    cleaned, or differ only in case) give different names: a short hash of the exact parts ends the
    name. That is what lets a retry find its own job again with ListJobs' JOB_NAME filter.
    """
    if not parts:
        raise ValueError("make_job_name() needs at least one part")
    raw = json.dumps([str(part) for part in parts], ensure_ascii=False)
    digest = hashlib.sha256(raw.encode()).hexdigest()[:10]
    readable = "-".join(_NOT_IN_JOB_NAME.sub("_", str(part)).strip("_-") for part in parts)
    readable = readable.lstrip("_-")[: MAX_JOB_NAME_LENGTH - len(digest) - 1].rstrip("_-")
    return f"{readable}-{digest}" if readable else digest


LIST_JOBS_FILTERS: Mapping[str, str] = {
    "job_name": "JOB_NAME",
    "job_definition": "JOB_DEFINITION",
    "created_before": "BEFORE_CREATED_AT",
    "created_after": "AFTER_CREATED_AT",
}
"""ListJobs' filters: our argument name -> Batch's filter name, in the order errors name them."""


def list_jobs_filter(filters: Mapping[str, Any], status: JobStatus | str | None = None) -> str | None:
    """The one ListJobs filter `filters` gives (argument name -> value; None gives none), or None for none.

    Batch takes one filter at a time, and with one it returns every status and ignores `jobStatus`, so
    more than one filter, or a filter with a `status`, is refused here rather than quietly misread by
    Batch. The hook (each ListJobs request) and the kill switch (at DAG parse) both ask this.
    """
    given = [name for name, value in filters.items() if value is not None]
    if len(given) > 1:
        raise ValueError(f"ListJobs takes one filter at a time; got {', '.join(given)}: keep one")
    if given and status is not None:
        raise ValueError(
            f"status and {given[0]} cannot be combined: with a filter Batch ignores jobStatus and returns "
            "every status; drop one"
        )
    return given[0] if given else None


DESCRIBE_BATCH_SIZE = 100
"""The most job ids one DescribeJobs call takes."""


@dataclass(frozen=True)
class Attempt:
    """One attempt of a job: when it ran, how it ended, and its log streams."""

    started_at: int | None = None
    stopped_at: int | None = None
    exit_code: int | None = None
    reason: str | None = None
    status_reason: str | None = None
    log_streams: tuple[LogStream, ...] = ()


@dataclass(frozen=True)
class JobSnapshot:
    """One job as one DescribeJobs item said it was; times are epoch milliseconds."""

    job_id: str
    job_name: str
    status: JobStatus
    job_arn: str = ""
    job_queue: str = ""
    job_definition: str = ""
    status_reason: str | None = None
    exit_code: int | None = None
    container_reason: str | None = None
    created_at: int | None = None
    started_at: int | None = None
    stopped_at: int | None = None
    attempts: tuple[Attempt, ...] = ()
    array_size: int | None = None
    array_index: int | None = None
    status_summary: Mapping[str, int] = field(default_factory=dict)
    num_nodes: int | None = None
    node_index: int | None = None
    is_main_node: bool | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    log_streams: tuple[LogStream, ...] = ()
    # EKS-properties jobs: their output is in the pod's logs, not CloudWatch. The newest attempt's pod.
    is_eks: bool = False
    pod_name: str | None = None
    pod_namespace: str | None = None
    # The job's environment as DescribeJobs returned it: only for masking values that may be secrets.
    # Never serialised (`to_dict` leaves it out), so it reaches no event, XCom or log.
    environment: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_done(self) -> bool:
        return self.status.is_done

    @property
    def has_started(self) -> bool:
        return self.status.has_started

    @property
    def is_array_parent(self) -> bool:
        return self.array_size is not None

    @property
    def is_multi_node_parent(self) -> bool:
        return self.num_nodes is not None and self.node_index is None

    def child_job_ids(self) -> list[str]:
        """The ids of an array's children (`<id>:<i>`) or a multi-node job's nodes (`<id>#<n>`)."""
        if self.array_size is not None:
            return [f"{self.job_id}:{index}" for index in range(self.array_size)]
        if self.is_multi_node_parent and self.num_nodes is not None:
            return [f"{self.job_id}#{node}" for node in range(self.num_nodes)]
        return []

    def failure_reasons(self) -> list[str]:
        """Why the job ended as it did, as far as Batch says: its statusReason, exit code and container reason,
        and an array's children by status. Each present one, in that order; the operator's and the sensor's
        failure messages both read them here, so a failed task says the same things whichever waited."""
        reasons = []
        if self.status_reason:
            reasons.append(f"statusReason: {self.status_reason}")
        if self.exit_code is not None:
            reasons.append(f"exit code {self.exit_code}")
        if self.container_reason:
            reasons.append(f"container reason: {self.container_reason}")
        if self.is_array_parent:
            reasons.append(f"children: {dict(self.status_summary)}")
        return reasons

    def failure_summary(self) -> str:
        """One line on why the job failed: which job, its status, then `failure_reasons`."""
        return "; ".join([f"Batch job {self.job_id} ({self.job_name}) {self.status.value}", *self.failure_reasons()])

    @classmethod
    def from_describe(cls, item: Mapping[str, Any]) -> JobSnapshot:
        """Parse one item of DescribeJobs' `jobs`."""
        container = item.get("container") or {}
        array = item.get("arrayProperties") or {}
        nodes = item.get("nodeProperties") or {}
        node = item.get("nodeDetails") or {}
        attempts = tuple(_parse_attempt(attempt, item) for attempt in item.get("attempts") or ())
        pod = (item.get("eksProperties") or {}).get("podProperties") or {}
        eks_attempt = (item.get("eksAttempts") or [{}])[-1]
        return cls(
            job_id=item["jobId"],
            job_name=item.get("jobName", ""),
            status=JobStatus(item["status"]),
            job_arn=item.get("jobArn", ""),
            job_queue=item.get("jobQueue", ""),
            job_definition=item.get("jobDefinition", ""),
            status_reason=item.get("statusReason"),
            exit_code=container.get("exitCode", attempts[-1].exit_code if attempts else None),
            container_reason=container.get("reason", attempts[-1].reason if attempts else None),
            created_at=item.get("createdAt"),
            started_at=item.get("startedAt"),
            stopped_at=item.get("stoppedAt"),
            attempts=attempts,
            array_size=array.get("size"),
            array_index=array.get("index"),
            status_summary=dict(array.get("statusSummary") or {}),
            num_nodes=nodes.get("numNodes"),
            node_index=node.get("nodeIndex"),
            is_main_node=node.get("isMainNode"),
            tags=dict(item.get("tags") or {}),
            log_streams=discover_log_streams(item, [attempt.log_streams for attempt in attempts]),
            is_eks="eksProperties" in item,
            pod_name=pod.get("podName") or eks_attempt.get("podName"),
            pod_namespace=(pod.get("metadata") or {}).get("namespace") or eks_attempt.get("podNamespace"),
            environment=described_environment(item),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (what goes to XCom and into trigger events)."""
        return {
            "job_id": self.job_id,
            "job_name": self.job_name,
            "status": self.status.value,
            "job_arn": self.job_arn,
            "job_queue": self.job_queue,
            "job_definition": self.job_definition,
            "status_reason": self.status_reason,
            "exit_code": self.exit_code,
            "container_reason": self.container_reason,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "attempts": [
                {
                    "started_at": attempt.started_at,
                    "stopped_at": attempt.stopped_at,
                    "exit_code": attempt.exit_code,
                    "reason": attempt.reason,
                    "status_reason": attempt.status_reason,
                    "log_streams": [stream.to_dict() for stream in attempt.log_streams],
                }
                for attempt in self.attempts
            ],
            "array_size": self.array_size,
            "array_index": self.array_index,
            "status_summary": dict(self.status_summary),
            "num_nodes": self.num_nodes,
            "node_index": self.node_index,
            "is_main_node": self.is_main_node,
            "tags": dict(self.tags),
            "log_streams": [stream.to_dict() for stream in self.log_streams],
            "is_eks": self.is_eks,
            "pod_name": self.pod_name,
            "pod_namespace": self.pod_namespace,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSnapshot:
        """The inverse of `to_dict`."""
        values = dict(data)
        values["status"] = JobStatus(values["status"])
        values["attempts"] = tuple(
            Attempt(**{**attempt, "log_streams": tuple(LogStream.from_dict(s) for s in attempt["log_streams"])})
            for attempt in values.get("attempts", ())
        )
        values["log_streams"] = tuple(LogStream.from_dict(stream) for stream in values.get("log_streams", ()))
        return cls(**values)


@dataclass(frozen=True)
class JobSummary:
    """One item of ListJobs' `jobSummaryList`: enough to pick jobs, not to follow them."""

    job_id: str
    job_name: str
    status: JobStatus
    job_arn: str = ""
    job_definition: str = ""
    created_at: int | None = None
    started_at: int | None = None
    stopped_at: int | None = None
    status_reason: str | None = None
    exit_code: int | None = None
    array_size: int | None = None
    array_index: int | None = None

    @classmethod
    def from_list_item(cls, item: Mapping[str, Any]) -> JobSummary:
        array = item.get("arrayProperties") or {}
        return cls(
            job_id=item["jobId"],
            job_name=item.get("jobName", ""),
            status=JobStatus(item["status"]),
            job_arn=item.get("jobArn", ""),
            job_definition=item.get("jobDefinition", ""),
            created_at=item.get("createdAt"),
            started_at=item.get("startedAt"),
            stopped_at=item.get("stoppedAt"),
            status_reason=item.get("statusReason"),
            exit_code=(item.get("container") or {}).get("exitCode"),
            array_size=array.get("size"),
            array_index=array.get("index"),
        )


def _parse_attempt(attempt: Mapping[str, Any], job: Mapping[str, Any]) -> Attempt:
    container = attempt.get("container") or {}
    return Attempt(
        started_at=attempt.get("startedAt"),
        stopped_at=attempt.get("stoppedAt"),
        exit_code=container.get("exitCode"),
        reason=container.get("reason"),
        status_reason=attempt.get("statusReason"),
        log_streams=attempt_log_streams(attempt, job),
    )
