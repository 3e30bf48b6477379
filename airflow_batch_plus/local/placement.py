"""Which compute environment a RUNNABLE job starts on, and when it gives its vCPUs back.

A job holds its vCPUs on one environment from STARTING until its attempt ends or it is stopped; a job that
does not fit anywhere stays RUNNABLE, as on AWS when an environment is at its maxvCpus.
"""

from __future__ import annotations

from airflow_batch_plus.local.job_table import JobTable
from airflow_batch_plus.local.model import STARTED, LocalJob


def place(job: LocalJob, table: JobTable) -> str | None:
    """The first compute environment of the job's queue with room for it, as the Batch scheduler picks."""
    queue = table.backend.get_job_queue(job.queue_arn)
    if queue is None or queue.state != "ENABLED":
        return None
    used: dict[str, float] = {}
    for other in table.jobs.values():
        if other.status in STARTED and other.compute_environment:
            used[other.compute_environment] = used.get(other.compute_environment, 0.0) + other.vcpus
    order = sorted(queue.env_order_json, key=lambda item: int(item["order"]))
    for item in order:
        environment = table.backend.get_compute_environment(item["computeEnvironment"])
        if environment is None or environment.state != "ENABLED":
            continue
        resources = environment.compute_resources or {}
        capacity = float(resources["maxvCpus"]) if "maxvCpus" in resources else float("inf")
        if used.get(environment.name, 0.0) + job.vcpus <= capacity:
            return str(environment.name)
    return None


def release(job: LocalJob) -> None:
    """Free the job's vCPUs on its compute environment: its attempt ended, or it was stopped while STARTING."""
    job.compute_environment = None
