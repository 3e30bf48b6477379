"""CancelJob, TerminateJob and their bulk forms: what a stop request does to a job in each state.

Cancelling fails a job that has not started and lets a started one run on, without retries. Terminating
also stops a running attempt: SIGTERM to every process now, SIGKILL after the grace period (sent by the
watch on running attempts, each tick). A parent passes the request on to each of its children. Neither is
ever retried.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping, Sequence

from moto.batch.exceptions import ClientException

from airflow_batch_plus.local.model import PRE_START, STARTED, LocalJob
from airflow_batch_plus.local.placement import release

MAX_REASON = 1024
MAX_BULK_STOP = 50


def job_to_stop(jobs: Mapping[str, LocalJob], job_id: str, reason: str) -> LocalJob:
    """The job CancelJob or TerminateJob names; an unknown id is an error, unlike in the bulk forms."""
    _check_reason(reason)
    job = jobs.get(job_id)
    if job is None:
        raise ClientException(f"Job {job_id} does not exist")
    return job


def jobs_to_stop(jobs: Mapping[str, LocalJob], job_ids: Sequence[str], reason: str) -> list[LocalJob]:
    """The jobs CancelJobs or TerminateJobs name that exist: ids that do not count as done, as on AWS."""
    _check_reason(reason)
    if not 1 <= len(job_ids) <= MAX_BULK_STOP:
        raise ClientException(f"jobs takes 1 to {MAX_BULK_STOP} job IDs, got {len(job_ids)}")
    return [jobs[job_id] for job_id in job_ids if job_id in jobs]


def _check_reason(reason: str) -> None:
    if len(reason) > MAX_REASON:
        raise ClientException(f"reason is {len(reason)} characters long; the limit is {MAX_REASON}")


def cancel(job: LocalJob, reason: str) -> None:
    """CancelJob on one job: one not yet started fails (a PENDING one once its dependencies finish); a started
    one runs on."""
    if job.done:
        return
    job.retries_removed = True
    if job.is_parent:
        job.cancel_reason = reason
        job.is_cancelled = True
        if job.status == "SUBMITTED":
            job.enter("FAILED", reason)
        for child in job.children:
            cancel(child, reason)
        return
    if job.status in STARTED:
        return
    job.is_cancelled = True
    if job.status == "PENDING":
        job.cancel_reason = reason  # failed once its dependencies finish
    else:
        job.enter("FAILED", reason)


def terminate(job: LocalJob, reason: str) -> None:
    """TerminateJob on one job: as cancel before it starts; a STARTING one fails at once and frees its vCPUs; a
    RUNNING one gets SIGTERM and fails once its processes have exited."""
    if job.done:
        return
    job.retries_removed = True
    job.is_terminated = True
    if job.is_parent:
        job.cancel_reason = reason
        if job.status == "SUBMITTED":
            job.enter("FAILED", reason)
        for child in job.children:
            terminate(child, reason)
        return
    if job.status in PRE_START:
        if job.status == "PENDING":
            job.cancel_reason = reason
        else:
            job.enter("FAILED", reason)
    elif job.status == "STARTING":
        release(job)
        job.enter("FAILED", reason)
    elif job.terminate_reason is None:
        job.terminate_reason = reason
        send_sigterm(job)


def send_sigterm(job: LocalJob) -> None:
    """SIGTERM to every process of the running attempt (each container of an ECS task or EKS pod), once."""
    if job.sigterm_at is not None:
        return
    processes = job.live_processes()
    if processes or job.current is not None:
        job.sigterm_at = time.monotonic()
    for process in processes:
        process.signal(signal.SIGTERM)
