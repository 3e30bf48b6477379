"""Whether a task try follows the Batch job an earlier try submitted, or submits a new one. Pure, no I/O.

A retry after a worker crash must follow the job that is still running, not submit a duplicate. A
cleared task must start fresh, yet Airflow 3.3's task state store survives a clear. Airflow raises
a task instance's `max_tries` when it is cleared (to try_number + retries) and never on a retry, so
recording `max_tries` beside the job id tells the two apart. A record from the same or a later try
number is not an earlier try of this task instance either: the run was deleted and made again (as
`dag.test()` does), so that too starts fresh.

The same rule pins the job definition: a retry runs the revision its earlier try ran (`pinned_revision`),
a cleared or re-made task resolves the name afresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from airflow_batch_plus.jobs import DONE, JobStatus
from airflow_batch_plus.ownership import MAX_TRIES_TAG, TRY_NUMBER_TAG

STATE_KEY = "batch_job"
"""The task state store key of the job a task submitted. Renaming it breaks in-flight retries."""
JOB_ID_XCOM_KEY = "batch_job_id"
"""The XCom of the job a task's current try waits on, pushed before it defers (read by users, and by the
trigger's hand-over guard: triggers/handover.py). Renaming it breaks the guard for deferred tasks."""


@dataclass(frozen=True)
class Submission:
    """Which job a task try submitted, the task's max_tries at the time, and the exact job definition
    revision (an ARN or `name:revision`) it ran, when known."""

    job_id: str
    try_number: int
    max_tries: int
    job_definition: str | None = None

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"job_id": self.job_id, "try_number": self.try_number, "max_tries": self.max_tries}
        if self.job_definition:
            record["job_definition"] = self.job_definition
        return record

    @classmethod
    def from_dict(cls, data: Any) -> Submission | None:
        """The record, or None for anything that is not one (an older format, a foreign value)."""
        if not isinstance(data, Mapping):
            return None
        try:
            definition = data.get("job_definition")
            return cls(
                str(data["job_id"]),
                int(data["try_number"]),
                int(data["max_tries"]),
                str(definition) if definition else None,
            )
        except (KeyError, TypeError, ValueError):
            return None

    @classmethod
    def from_tags(cls, job_id: str, tags: Mapping[str, str]) -> Submission | None:
        """The record a job's tags carry (for when the task state store kept nothing)."""
        try:
            return cls(job_id, int(tags[TRY_NUMBER_TAG]), int(tags[MAX_TRIES_TAG]))
        except (KeyError, ValueError):
            return None


class Decision(StrEnum):
    REATTACH = "reattach"  # follow the earlier try's live job
    ALREADY_SUCCEEDED = "already_succeeded"  # the earlier try's job succeeded after the worker died
    SUBMIT = "submit"  # submit a new job


def is_earlier_try(previous: Submission | None, try_number: int, max_tries: int) -> bool:
    """Whether `previous` is an earlier try of this very task instance (not cleared or made anew since)."""
    return previous is not None and previous.max_tries == max_tries and previous.try_number < try_number


def decide(previous: Submission | None, status: JobStatus | None, try_number: int, max_tries: int) -> Decision:
    """What this try does about the job `previous` records, last seen in `status` (None: Batch lost it)."""
    if previous is None or status is None:
        return Decision.SUBMIT
    if not is_earlier_try(previous, try_number, max_tries):
        return Decision.SUBMIT  # cleared or made anew since: a fresh start
    if status not in DONE:
        return Decision.REATTACH
    return Decision.ALREADY_SUCCEEDED if status is JobStatus.SUCCEEDED else Decision.SUBMIT


def job_definition_name(reference: str) -> str:
    """The job definition's name in a bare name, `name:revision` or ARN (`...:job-definition/name:revision`)."""
    name = reference.split(":job-definition/", 1)[1] if reference.startswith("arn:") else reference
    base, _, revision = name.rpartition(":")
    return base if base and revision.isdigit() else name


def revision_label(job_definition: str) -> str:
    """`name:revision` of an ARN (`arn:...:job-definition/name:revision`), or the reference as it is: how
    the task log names the revision a try runs."""
    return job_definition.rsplit(":job-definition/", 1)[-1]


def is_exact_revision(reference: str) -> bool:
    """Whether `reference` names one revision (an ARN or `name:revision`) rather than a bare name."""
    return reference.startswith("arn:") or job_definition_name(reference) != reference


def pinned_revision(
    previous: Submission | None, ran: str | None, reference: str, try_number: int, max_tries: int
) -> str | None:
    """The revision this try reuses, or None to resolve `reference` afresh.

    `ran` is what the earlier try's job ran (its DescribeJobs `jobDefinition`, else the record's). A retry
    of the same task instance reuses it when the task still names that job definition by its bare name;
    an exact reference (`name:revision`, ARN) is what the DAG asks for on every try, and a cleared or
    re-made task starts fresh, as it does for the job itself.
    """
    if not ran or is_exact_revision(reference) or not is_earlier_try(previous, try_number, max_tries):
        return None
    return ran if job_definition_name(ran) == reference else None
