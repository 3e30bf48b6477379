"""The jobs of one account and region: what SubmitJob and array or multi-node parents add, by id.

SubmitJob, the parents' children and the scheduler all read and grow the same table, so it lives apart from
each of them; the engine's lock guards it (every caller holds it).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from moto.batch.models import batch_backends

from airflow_batch_plus.local.model import LocalJob


class JobTable:
    """Every job of one account and region by id, with the ARN and submission number each new job gets."""

    def __init__(self, account_id: str, region_name: str, on_enter: Callable[[LocalJob], None] | None = None) -> None:
        self.account_id = account_id
        self.region_name = region_name
        # What each job added here tells of its state changes (the engine's job events), children included.
        self.on_enter = on_enter
        self.jobs: dict[str, LocalJob] = {}
        self._seq = itertools.count()

    @property
    def backend(self) -> Any:
        """moto's Batch backend of this account and region: the queues, compute environments and job definitions
        jobs name (moto keeps those; the local Batch keeps jobs). Looked up on each use: a reset of moto's backends
        (mock_aws starting) replaces the object."""
        return batch_backends[self.account_id][self.region_name]

    def job_arn(self, job_id: str) -> str:
        return f"arn:aws:batch:{self.region_name}:{self.account_id}:job/{job_id}"

    def next_seq(self) -> int:
        """The next submission number: ListJobs orders and pages a queue's jobs by it."""
        return next(self._seq)

    def add(self, job: LocalJob) -> None:
        job.on_enter = self.on_enter
        self.jobs[job.job_id] = job
