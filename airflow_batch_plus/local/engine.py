"""The local Batch of one account and region: its job API, each call under one lock, and the thread that ticks it.

Queues, compute environments and job definitions stay in moto's own Batch backend; this engine owns
jobs, because moto without Docker can only fail or instantly succeed them. The rules live beside it:
submission.py checks and makes jobs, listing.py lists them, stopping.py applies stop requests and
job_table.py holds them; each tick, scheduler.py moves them on (with placement.py and parents.py),
launcher.py starts their attempts, watch.py watches the running ones and outcome.py ends them. Each state
change is also a "Batch Job State Change" event for EventBridge (events.py), sent once the lock is released.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from moto.batch.exceptions import ClientException

from airflow_batch_plus.local import stopping
from airflow_batch_plus.local.config import LocalBatchConfig
from airflow_batch_plus.local.events import JobEvents
from airflow_batch_plus.local.job_table import JobTable
from airflow_batch_plus.local.launcher import AttemptLauncher
from airflow_batch_plus.local.listing import check_list_request, list_page
from airflow_batch_plus.local.model import LocalJob
from airflow_batch_plus.local.scheduler import Scheduler
from airflow_batch_plus.local.submission import submit_job

MAX_DESCRIBE = 100


class LocalBatchEngine:
    """All jobs of one account and region; a daemon thread advances them every `tick_seconds`."""

    def __init__(self, account_id: str, region_name: str, config: LocalBatchConfig):
        self.account_id = account_id
        self.region_name = region_name
        self.config = config
        self._lock = threading.RLock()
        self._events = JobEvents(account_id, region_name)
        self._table = JobTable(account_id, region_name, on_enter=self._events.record)
        self._launcher = AttemptLauncher(account_id, region_name, config)
        self._scheduler = Scheduler(self._table, config, self._launcher)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"local-batch-{region_name}", daemon=True)
        self._thread.start()

    # ----- API -----------------------------------------------------------------------------------

    def submit_job(self, request: Mapping[str, Any]) -> LocalJob:
        """SubmitJob: validate everything first, so a bad request leaves nothing behind."""
        with self._lock:
            return submit_job(self._table, request)

    def describe_jobs(self, job_ids: Sequence[str]) -> list[dict[str, Any]]:
        """DescribeJobs: at most 100 ids; ids that do not exist are left out, as AWS does."""
        if len(job_ids) > MAX_DESCRIBE:
            raise ClientException(f"Up to {MAX_DESCRIBE} job IDs can be described at a time, got {len(job_ids)}")
        with self._lock:
            return [self._table.jobs[job_id].describe() for job_id in job_ids if job_id in self._table.jobs]

    def list_jobs(self, request: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        """ListJobs with the rules of the API reference: one scope, status or one filter, pages."""
        scope = check_list_request(request)
        with self._lock:
            return list_page(self._table.jobs, request, scope)

    def cancel(self, job_id: str, reason: str) -> None:
        """CancelJob: fails a job that has not started; a started one runs on, without retries."""
        with self._changing():
            stopping.cancel(stopping.job_to_stop(self._table.jobs, job_id, reason), reason)

    def terminate(self, job_id: str, reason: str) -> None:
        """TerminateJob: cancels a job that has not started; SIGTERM, then SIGKILL, to a running one."""
        with self._changing():
            stopping.terminate(stopping.job_to_stop(self._table.jobs, job_id, reason), reason)

    def cancel_jobs(self, job_ids: Sequence[str], reason: str) -> list[str]:
        """CancelJobs: up to 50 ids in one call; ids that do not exist count as done, as on AWS."""
        with self._changing():
            for job in stopping.jobs_to_stop(self._table.jobs, job_ids, reason):
                stopping.cancel(job, reason)
            return list(job_ids)

    def terminate_jobs(self, job_ids: Sequence[str], reason: str) -> list[str]:
        """TerminateJobs: up to 50 ids in one call; ids that do not exist count as done, as on AWS."""
        with self._changing():
            for job in stopping.jobs_to_stop(self._table.jobs, job_ids, reason):
                stopping.terminate(job, reason)
            return list(job_ids)

    def shutdown(self) -> None:
        """Stop the scheduler and SIGKILL every job process, so none outlives the local Batch."""
        self._stopping.set()
        self._thread.join(timeout=5)
        with self._lock:
            for job in self._table.jobs.values():
                for process in job.live_processes():
                    process.kill()
                job.process = None
                for run in job.current.runs() if job.current is not None else []:
                    run.process = None
        self._launcher.cleanup()
        self._events.flush()

    def processes(self) -> list[int]:
        """PIDs of the job processes alive now (for tests and the demo)."""
        with self._lock:
            return [process.pid for job in self._table.jobs.values() for process in job.live_processes()]

    def pod_log(self, pod_name: str, container: str) -> list[str]:
        """What an EKS job's pod container printed (`kubectl logs <pod> -c <container>` on AWS): never CloudWatch."""
        with self._lock:
            return self._launcher.pod_log(pod_name, container)

    # ----- the scheduler's thread ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.wait(self.config.tick_seconds):
            self.tick()

    def tick(self) -> None:
        """Advance every job one step; parents last, so they see their children's new states."""
        with self._changing():
            self._scheduler.tick()

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """The lock, for a call that may change jobs' states: their events go out once it is released (in the
        order they happened), so EventBridge and its targets never run under it."""
        try:
            with self._lock:
                yield
        finally:
            self._events.flush()
