"""How an attempt ends, and what its end makes of the job: SUCCEEDED, another attempt, or FAILED.

No processes and no I/O here: the watch on running attempts and the launcher (for an attempt that cannot
start) bring the exit codes; these functions turn them into the statusReason and next state AWS would show.
"""

from __future__ import annotations

from airflow_batch_plus.local import rules
from airflow_batch_plus.local.model import Attempt, LocalJob, now_ms
from airflow_batch_plus.local.placement import release

ESSENTIAL_EXITED = "Essential container in task exited"
TIMED_OUT = "Job attempt duration exceeded timeout"
FAILED_TO_START = "Task failed to start"
# EKS jobs: the pod ends when every container has; the local Batch's own wording (AWS's is not documented).
POD_SUCCEEDED = "Pod completed: every container exited with code 0"
POD_FAILED = "Pod failed: a container exited with a non-zero code"


def end_attempt(job: LocalJob, exit_code: int | None, reason: str, stopped: bool = False) -> None:
    """Record the attempt, then decide: SUCCEEDED, another attempt, or FAILED.

    A stopped attempt (TerminateJob, timeout) fails whatever its exit code and is never retried.
    """
    attempt = job.current
    assert attempt is not None
    attempt.exit_code, attempt.stopped_at, attempt.status_reason = exit_code, now_ms(), reason
    job.attempts.append(attempt)
    job.current = None
    release(job)
    if exit_code == 0 and not stopped:
        job.enter("SUCCEEDED", reason)
    elif (
        not stopped
        and not job.retries_removed
        and rules.should_retry(job.retry_strategy, len(job.attempts), exit_code, attempt.container_reason, reason)
    ):
        job.timed_out = False
        job.enter("RUNNABLE", reason)
    else:
        job.enter("FAILED", reason)


def pod_done(attempt: Attempt) -> bool:
    """Every container exited, or an init container failed (then the pod's containers never start)."""
    if any(run.exited and run.exit_code != 0 for run in attempt.init_containers):
        return True
    return all(run.exited for run in attempt.runs())


def task_outcome(job: LocalJob, attempt: Attempt) -> tuple[int | None, str]:
    """(exit code, statusReason) that decide an ECS or EKS attempt.

    ECS: the essential container whose exit ended the task. EKS: the first container (init containers
    first) that exited non-zero, else 0: a pod fails if any of its containers fails.
    """
    if job.ecs_properties is not None:
        deciding = attempt.ended_by or next((run for run in attempt.containers if run.essential), None)
        return (deciding.exit_code if deciding is not None else None), ESSENTIAL_EXITED
    failed = next((run for run in attempt.runs() if run.exited and run.exit_code != 0), None)
    if failed is None:
        return 0, POD_SUCCEEDED
    return failed.exit_code, POD_FAILED
