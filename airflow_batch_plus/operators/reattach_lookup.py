"""The I/O side of reattach.py for one try of `BatchSubmitJobOperator`: what an earlier try left, and what
this try leaves for the next.

reattach.py decides (pure, no I/O); this reads what it decides on, from the task state store and Batch
(DescribeJobs, ListJobs by the job's deterministic name, DescribeJobDefinitions to pin a revision), and
writes this try's record. Apart from the operator so the operator reads as the task's lifecycle and the
lookups as one piece. Cheap to import: the Batch hook is handed in, made only when a call is due.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_batch_plus.ownership import is_mine
from airflow_batch_plus.reattach import (
    JOB_ID_XCOM_KEY,
    STATE_KEY,
    Decision,
    Submission,
    decide,
    is_exact_revision,
    pinned_revision,
    revision_label,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import Logger

    from airflow_batch_plus.hooks.batch import BatchHook
    from airflow_batch_plus.jobs import JobSnapshot


class ReattachLookup:
    """The lookups of one task try: `context` is the try's, `hook` makes (or returns) its Batch hook, `log`
    is the task log, where each finding is said, since a retry that follows or pins is worth knowing."""

    def __init__(self, context: Context, hook: Callable[[], BatchHook], log: Logger) -> None:
        self.context = context
        self.hook = hook
        self.log = log

    def earlier_try(
        self, request: Mapping[str, Any], *, reattach: bool
    ) -> tuple[Submission | None, JobSnapshot | None]:
        """What an earlier try of this task recorded, and its job as Batch describes it now (None: not found).

        With `reattach=False` only the task state store is read (for the pinned job definition): no Batch call.
        """
        ti = self.context["ti"]
        store = self.context.get("task_state_store")
        previous = Submission.from_dict(store.get(STATE_KEY)) if store is not None else None
        if not reattach:
            return previous, None
        snapshot: JobSnapshot | None = None
        if previous is not None:
            found = self.hook().describe_jobs([previous.job_id]).jobs
            snapshot = found.get(previous.job_id)
        elif ti.try_number > 1:  # a first try has no earlier try to follow: no ListJobs call for it
            previous, snapshot = self._find_by_name(request)
        return previous, snapshot

    def job_to_follow(self, previous: Submission | None, snapshot: JobSnapshot | None) -> JobSnapshot | None:
        """The live (or succeeded) job an earlier try of this task submitted, to follow instead of submitting."""
        ti = self.context["ti"]
        decision = decide(previous, snapshot.status if snapshot else None, ti.try_number, ti.max_tries)
        if decision is Decision.SUBMIT or snapshot is None:
            if previous is not None:
                self.log.info(
                    "Submitting a new Batch job: try %s (max_tries %s) recorded job %s (%s); this is try %s "
                    "(max_tries %s)",
                    previous.try_number,
                    previous.max_tries,
                    previous.job_id,
                    snapshot.status.value if snapshot else "not found in Batch",
                    ti.try_number,
                    ti.max_tries,
                )
            return None
        self.log.info(
            "Following Batch job %s (%s) that try %s submitted, instead of submitting another (%s)",
            snapshot.job_id,
            snapshot.status.value,
            previous.try_number if previous else "?",
            decision.value,
        )
        return snapshot

    def _find_by_name(self, request: Mapping[str, Any]) -> tuple[Submission | None, JobSnapshot | None]:
        """No record survived: look for this task's job by its deterministic name and tags."""
        ti = self.context["ti"]
        mine = [
            snapshot
            for snapshot in self.hook().jobs_named(request["jobQueue"], request["jobName"])
            if is_mine(snapshot.tags, ti.dag_id, ti.run_id, task=ti)
        ]
        if not mine:
            return None, None
        newest = max(mine, key=lambda snapshot: snapshot.created_at or 0)
        return Submission.from_tags(newest.job_id, newest.tags), newest

    def pin_job_definition(
        self, request: Mapping[str, Any], previous: Submission | None, earlier_job: JobSnapshot | None
    ) -> str:
        """The exact job definition revision this try submits: a retry runs what the first try ran.

        A bare name is resolved to its latest ACTIVE revision (an ARN) at the first try. A retry of the
        same task instance reuses that revision even if a newer one was registered since, like a retry
        of any other task re-runs the same code: the revision is read from the earlier try's job itself
        (its DescribeJobs `jobDefinition`, found through the task state store record or, when none
        survived, by the job's deterministic name and tags), else from the record, which keeps it beside
        the job id. Not XCom, which Airflow clears at every new try, nor a Variable, which outlives the
        task instance and is shared. A cleared task starts fresh and resolves the name again (Airflow's
        "run it again as the DAG now says"), by the same rule that makes it submit a new job. A
        `name:revision` or ARN is exact already: every try runs it as given, without a lookup.
        """
        ti = self.context["ti"]
        reference = str(request["jobDefinition"])
        ran = (earlier_job.job_definition if earlier_job is not None else "") or (
            previous.job_definition if previous is not None else None
        )
        pinned = pinned_revision(previous, ran, reference, ti.try_number, ti.max_tries)
        if pinned is not None:
            self.log.info(
                "Job definition %s: running revision %s, which try %s ran (a retry runs what the first try "
                "ran; clear the task to run the latest revision)",
                reference,
                revision_label(pinned),
                previous.try_number if previous is not None else "?",
            )
            return pinned
        if is_exact_revision(reference):
            self.log.info("Job definition %s: running revision %s, as given", reference, revision_label(reference))
            return reference
        resolved = self.hook().resolve_job_definition(reference)
        self.log.info(
            "Job definition %s: running revision %s (its latest ACTIVE revision, %s); retries of this try "
            "run this revision",
            reference,
            revision_label(resolved),
            resolved,
        )
        return resolved

    def record(self, job_id: str, job_definition: str | None = None) -> None:
        """Remember the job before waiting: in the task state store (for retries, with the revision it runs)
        and in XCom (for users)."""
        ti = self.context["ti"]
        ti.xcom_push(key=JOB_ID_XCOM_KEY, value=job_id)
        store = self.context.get("task_state_store")
        if store is not None:
            store.set(STATE_KEY, Submission(job_id, ti.try_number, ti.max_tries, job_definition).to_dict())
