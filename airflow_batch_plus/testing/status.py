"""Waiting for a Batch job to reach a status, the way a test looks at what Batch holds."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any


def wait_for_status(batch_client: Any, job_id: str, statuses: Collection[str], timeout: float) -> dict[str, Any]:
    """Poll DescribeJobs every 50 ms until the job is in one of `statuses`, or `timeout` seconds have passed.

    Returns the job as last described either way: a test asserts on its status, and one that expects a job
    to stay where it is (still RUNNING after a second) waits the same way.
    """
    deadline = time.monotonic() + timeout
    while True:
        job = batch_client.describe_jobs(jobs=[job_id])["jobs"][0]
        if job["status"] in statuses or time.monotonic() > deadline:
            return dict(job)
        time.sleep(0.05)
