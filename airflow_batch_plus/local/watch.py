"""A RUNNING job, each tick: its timeout, the SIGKILL after a stop's grace period, its processes' exits.

The attempt ends once its processes have: a container job's one process, or every container of an ECS task
or EKS pod (a pod also starts its next init container or its containers here, as the ones before exit).
"""

from __future__ import annotations

import signal
import time

from airflow_batch_plus.local import stopping
from airflow_batch_plus.local.launcher import AttemptLauncher
from airflow_batch_plus.local.model import LocalJob
from airflow_batch_plus.local.outcome import ESSENTIAL_EXITED, TIMED_OUT, end_attempt, pod_done, task_outcome


def watch_running(job: LocalJob, launcher: AttemptLauncher, terminate_grace_seconds: float) -> None:
    """One look at a RUNNING job: time it out, escalate its stop to SIGKILL, or end its attempt once it exited."""
    now = time.monotonic()
    if job.attempt_deadline is not None and now >= job.attempt_deadline and job.sigterm_at is None:
        job.timed_out = True
        stopping.send_sigterm(job)
    if job.sigterm_at is not None and now - job.sigterm_at >= terminate_grace_seconds:
        for process in job.live_processes():
            process.signal(signal.SIGKILL)
    if job.process is None:
        _watch_containers(job, launcher)
        return
    exit_code = job.process.exit_code()
    if exit_code is None:
        return
    job.process = None
    _end_watched(job, exit_code, ESSENTIAL_EXITED)


def _watch_containers(job: LocalJob, launcher: AttemptLauncher) -> None:
    """An ECS task or EKS pod: collect each container's exit; end the attempt once all have exited."""
    attempt = job.current
    assert attempt is not None
    for run in attempt.runs():
        if run.process is None:
            continue
        code = run.process.exit_code()
        if code is None:
            continue
        run.process, run.exit_code = None, code
        if job.ecs_properties is not None and run.essential and attempt.ended_by is None:
            attempt.ended_by = run  # as ECS does: an essential container's exit stops the task's others
            stopping.send_sigterm(job)
    if job.eks_properties is not None and not launcher.advance_pod(job, attempt):
        return
    if any(run.process is not None for run in attempt.runs()):
        return
    if job.eks_properties is not None and job.sigterm_at is None and not pod_done(attempt):
        return
    code, reason = task_outcome(job, attempt)
    _end_watched(job, code, reason)


def _end_watched(job: LocalJob, exit_code: int | None, reason: str) -> None:
    """End the attempt whose processes have exited: a TerminateJob's reason or the timeout outranks the exit's
    own, and either makes it a stopped attempt (failed, never retried)."""
    if job.terminate_reason is not None:
        end_attempt(job, exit_code, job.terminate_reason, stopped=True)
    elif job.timed_out:
        end_attempt(job, exit_code, TIMED_OUT, stopped=True)
    else:
        end_attempt(job, exit_code, reason)
