"""The job state machine: each tick moves every job one step, SUBMITTED to PENDING to RUNNABLE to STARTING to
RUNNING, as the configured dwell times, dependencies and compute environment capacity allow.

Parents go last in a tick, so an array or multi-node parent sees its children's new states in the same tick.
"""

from __future__ import annotations

from airflow_batch_plus.local.config import LocalBatchConfig
from airflow_batch_plus.local.job_table import JobTable
from airflow_batch_plus.local.launcher import AttemptLauncher
from airflow_batch_plus.local.model import LocalJob
from airflow_batch_plus.local.parents import advance_parent
from airflow_batch_plus.local.placement import place
from airflow_batch_plus.local.watch import watch_running

DEPENDENCY_FAILED = "Dependent Job failed"


class Scheduler:
    """Advances the jobs of one table; the engine's thread calls `tick` under the engine's lock."""

    def __init__(self, table: JobTable, config: LocalBatchConfig, launcher: AttemptLauncher):
        self._table = table
        self._config = config
        self._launcher = launcher

    def tick(self) -> None:
        """Advance every job one step; parents last, so they see their children's new states."""
        live = [job for job in self._table.jobs.values() if not job.done]
        for job in sorted(live, key=lambda job: (job.is_parent, job.seq)):
            if job.is_parent:
                advance_parent(job, self._table, self._config.submitted_seconds)
            else:
                self._advance(job)

    def _advance(self, job: LocalJob) -> None:
        config = self._config
        if job.status == "SUBMITTED" and job.dwell() >= config.submitted_seconds:
            job.enter("PENDING")
        elif job.status == "PENDING":
            dependencies = self._dependencies(job)
            if not all(dependency.done for dependency in dependencies):
                return
            if job.cancel_reason is not None:
                job.enter("FAILED", job.cancel_reason)
            elif any(dependency.status == "FAILED" for dependency in dependencies):
                job.enter("FAILED", DEPENDENCY_FAILED)
            elif job.dwell() >= config.pending_seconds:
                job.enter("RUNNABLE")
        elif job.status == "RUNNABLE" and job.dwell() >= config.runnable_seconds:
            environment = place(job, self._table)
            if environment is not None:
                job.compute_environment = environment
                job.enter("STARTING")
        elif job.status == "STARTING" and job.dwell() >= config.starting_seconds:
            self._launcher.start(job)
        elif job.status == "RUNNING":
            watch_running(job, self._launcher, config.terminate_grace_seconds)

    def _dependencies(self, job: LocalJob) -> list[LocalJob]:
        """The jobs a PENDING job waits for: its dependsOn jobs, an N_TO_N's same-index child, and for a
        SEQUENTIAL array child the child before it."""
        found: list[LocalJob] = []
        for dependency in job.depends_on:
            if dependency.get("type") == "SEQUENTIAL":
                if job.parent is not None and job.array_index:
                    found.append(job.parent.children[job.array_index - 1])
                continue
            other = self._table.jobs.get(dependency.get("jobId", ""))
            if other is None:
                continue
            if dependency.get("type") == "N_TO_N" and job.array_index is not None and other.children:
                found.append(other.children[job.array_index])
            else:
                found.append(other)
        return found
