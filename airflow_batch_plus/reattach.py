"""Whether a task try follows the Batch job an earlier try submitted, or submits a new one. Pure, no I/O.

A retry after a worker crash must follow the job that is still running, not submit a duplicate. A
cleared task must start fresh, yet Airflow 3.3's task state store survives a clear. Airflow raises
a task instance's `max_tries` when it is cleared (to try_number + retries) and never on a retry, so
recording `max_tries` beside the job id tells the two apart. A record from the same or a later try
number is not an earlier try of this task instance either: the run was deleted and made again (as
`dag.test()` does), so that too starts fresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from airflow_batch_plus.jobs import DONE, JobStatus

STATE_KEY = "batch_job"
"""The task state store key of the job a task submitted. Renaming it breaks in-flight retries."""
JOB_ID_XCOM_KEY = "batch_job_id"
"""The XCom of the job a task's current try waits on, pushed before it defers (read by users, and by the
trigger's hand-over guard: triggers/handover.py). Renaming it breaks the guard for deferred tasks."""

TAG_PREFIX = "airflow-batch-plus:"
DAG_ID_TAG = f"{TAG_PREFIX}dag-id"
TASK_ID_TAG = f"{TAG_PREFIX}task-id"
RUN_ID_TAG = f"{TAG_PREFIX}run-id"
MAP_INDEX_TAG = f"{TAG_PREFIX}map-index"
TRY_NUMBER_TAG = f"{TAG_PREFIX}try-number"
MAX_TRIES_TAG = f"{TAG_PREFIX}max-tries"


@dataclass(frozen=True)
class Submission:
    """Which job a task try submitted, and the task's max_tries at the time."""

    job_id: str
    try_number: int
    max_tries: int

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "try_number": self.try_number, "max_tries": self.max_tries}

    @classmethod
    def from_dict(cls, data: Any) -> Submission | None:
        """The record, or None for anything that is not one (an older format, a foreign value)."""
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(str(data["job_id"]), int(data["try_number"]), int(data["max_tries"]))
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


def decide(previous: Submission | None, status: JobStatus | None, try_number: int, max_tries: int) -> Decision:
    """What this try does about the job `previous` records, last seen in `status` (None: Batch lost it)."""
    if previous is None or status is None:
        return Decision.SUBMIT
    if previous.max_tries != max_tries or previous.try_number >= try_number:
        return Decision.SUBMIT  # cleared or made anew since: a fresh start
    if status not in DONE:
        return Decision.REATTACH
    return Decision.ALREADY_SUCCEEDED if status is JobStatus.SUCCEEDED else Decision.SUBMIT
