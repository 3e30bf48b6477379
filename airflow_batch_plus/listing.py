"""ListJobs requests, built and checked before anything is sent.

Batch quietly misreads some ListJobs requests (with a filter it ignores `jobStatus` and returns every
status), so the hook's `list_jobs` arguments become a request here, refused with a clear error where
Batch would refuse or misread it: not exactly one of a queue, an array job and a multi-node job, two
filters, a filter beside a status, a status Batch does not have. Out of the hook because it is pure
logic, not a call: nothing here needs a client (validation loads botocore's model only when it checks).
The one-filter rule itself is `jobs.list_jobs_filter`, which the kill switch also asks at DAG parse.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_batch_plus.jobs import LIST_JOBS_FILTERS, JobStatus, list_jobs_filter
from airflow_batch_plus.validation import validate_request


def list_jobs_request(
    *,
    job_queue: str | None = None,
    array_job_id: str | None = None,
    multi_node_job_id: str | None = None,
    status: JobStatus | str | None = None,
    job_name: str | None = None,
    job_definition: str | None = None,
    created_before: datetime | int | None = None,
    created_after: datetime | int | None = None,
) -> dict[str, Any]:
    """The ListJobs request for these arguments, refused with a clear error if Batch would refuse it."""
    scopes = {"job_queue": job_queue, "array_job_id": array_job_id, "multi_node_job_id": multi_node_job_id}
    given_scopes = [name for name, value in scopes.items() if value]
    if len(given_scopes) != 1:
        raise ValueError(
            f"ListJobs needs exactly one of job_queue, array_job_id, multi_node_job_id; got {given_scopes or 'none'}"
        )
    filters = filter_values(
        {
            "job_name": job_name,
            "job_definition": job_definition,
            "created_before": created_before,
            "created_after": created_after,
        }
    )
    filter_name = list_jobs_filter(filters, status)
    request: dict[str, Any] = {
        {"job_queue": "jobQueue", "array_job_id": "arrayJobId", "multi_node_job_id": "multiNodeJobId"}[
            given_scopes[0]
        ]: scopes[given_scopes[0]]
    }
    if status is not None:
        try:
            request["jobStatus"] = JobStatus(str(status).upper()).value
        except ValueError:
            choices = ", ".join(member.value for member in JobStatus)
            raise ValueError(f"status={status!r} is not a Batch job status: use one of {choices}") from None
    if filter_name is not None:
        value = filters[filter_name]
        text = str(int(value.timestamp() * 1000)) if isinstance(value, datetime) else str(value)
        request["filters"] = [{"name": LIST_JOBS_FILTERS[filter_name], "values": [text]}]
    validate_request("ListJobs", request)
    return request


def filter_values(filters: Mapping[str, Any]) -> dict[str, Any]:
    """`filters` with an empty value read as no filter (None): the hook's reading; the kill switch refuses an
    empty name or definition instead, since dropping it would widen what it stops."""
    return {name: None if value == "" else value for name, value in filters.items()}
