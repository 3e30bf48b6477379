"""The local Batch scheduler: moves jobs through their states, runs them, and applies stop requests.

Queues, compute environments and job definitions stay in moto's own Batch backend; this engine owns
jobs, because moto without Docker can only fail or instantly succeed them.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from moto.batch.exceptions import ClientException

from airflow_batch_plus.local import rules, stopping
from airflow_batch_plus.local.config import LocalBatchConfig
from airflow_batch_plus.local.job_table import JobTable
from airflow_batch_plus.local.launcher import AttemptLauncher
from airflow_batch_plus.local.listing import check_list_request, list_page
from airflow_batch_plus.local.model import LocalJob
from airflow_batch_plus.local.placement import place
from airflow_batch_plus.local.submission import job_vcpus, submit_job
from airflow_batch_plus.local.watch import watch_running

MAX_DESCRIBE = 100
DEPENDENCY_FAILED = "Dependent Job failed"
ARRAY_CHILD_FAILED = "Array Child Job failed"


class LocalBatchEngine:
    """All jobs of one account and region; a daemon thread advances them every `tick_seconds`."""

    def __init__(self, account_id: str, region_name: str, config: LocalBatchConfig):
        self.account_id = account_id
        self.region_name = region_name
        self.config = config
        self._lock = threading.RLock()
        self._table = JobTable(account_id, region_name)
        self._launcher = AttemptLauncher(account_id, region_name, config)
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
        with self._lock:
            stopping.cancel(stopping.job_to_stop(self._table.jobs, job_id, reason), reason)

    def terminate(self, job_id: str, reason: str) -> None:
        """TerminateJob: cancels a job that has not started; SIGTERM, then SIGKILL, to a running one."""
        with self._lock:
            stopping.terminate(stopping.job_to_stop(self._table.jobs, job_id, reason), reason)

    def cancel_jobs(self, job_ids: Sequence[str], reason: str) -> list[str]:
        """CancelJobs: up to 50 ids in one call; ids that do not exist count as done, as on AWS."""
        with self._lock:
            for job in stopping.jobs_to_stop(self._table.jobs, job_ids, reason):
                stopping.cancel(job, reason)
            return list(job_ids)

    def terminate_jobs(self, job_ids: Sequence[str], reason: str) -> list[str]:
        """TerminateJobs: up to 50 ids in one call; ids that do not exist count as done, as on AWS."""
        with self._lock:
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

    def processes(self) -> list[int]:
        """PIDs of the job processes alive now (for tests and the demo)."""
        with self._lock:
            return [process.pid for job in self._table.jobs.values() for process in job.live_processes()]

    def pod_log(self, pod_name: str, container: str) -> list[str]:
        """What an EKS job's pod container printed (`kubectl logs <pod> -c <container>` on AWS): never CloudWatch."""
        with self._lock:
            return self._launcher.pod_log(pod_name, container)

    # ----- the scheduler -------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.wait(self.config.tick_seconds):
            self.tick()

    def tick(self) -> None:
        """Advance every job one step; parents last, so they see their children's new states."""
        with self._lock:
            live = [job for job in self._table.jobs.values() if not job.done]
            for job in sorted(live, key=lambda job: (job.is_parent, job.seq)):
                if job.is_parent:
                    self._advance_parent(job)
                else:
                    self._advance(job)

    def _advance(self, job: LocalJob) -> None:
        config = self.config
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
            watch_running(job, self._launcher, self.config.terminate_grace_seconds)

    def _dependencies(self, job: LocalJob) -> list[LocalJob]:
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

    # ----- array and multi-node parents -------------------------------------------------------------

    def _advance_parent(self, job: LocalJob) -> None:
        if job.status == "SUBMITTED":
            if job.dwell() >= self.config.submitted_seconds:
                self._spawn_children(job)
                job.enter("PENDING")
            return
        if job.is_multi_node_parent:
            self._advance_multi_node(job)
            return
        if all(child.done for child in job.children):
            if job.cancel_reason is not None:
                job.enter("FAILED", job.cancel_reason)
            elif all(child.status == "SUCCEEDED" for child in job.children):
                job.enter("SUCCEEDED", "All child jobs succeeded")
            else:
                job.enter("FAILED", ARRAY_CHILD_FAILED)

    def _advance_multi_node(self, job: LocalJob) -> None:
        assert job.node_properties is not None
        main = job.children[int(job.node_properties.get("mainNode", 0))]
        if main.done:
            for node in job.children:
                stopping.terminate(node, "Main node exited")
            if all(node.done for node in job.children):
                job.attempts = list(main.attempts)
                job.enter(main.status, job.cancel_reason or main.status_reason)
        elif main.status != job.status:
            job.started_at = main.started_at
            job.enter(main.status)

    def _spawn_children(self, job: LocalJob) -> None:
        if job.is_array_parent:
            assert job.array_size is not None
            for index in range(job.array_size):
                self._add_child(job, f"{job.job_id}:{index}", job.container, array_index=index)
            return
        assert job.node_properties is not None
        num_nodes = int(job.node_properties.get("numNodes", 1))
        for index in range(num_nodes):
            container: dict[str, Any] = {}
            for node_range in job.node_properties.get("nodeRangeProperties") or []:
                if index in rules.parse_node_range(str(node_range["targetNodes"]), num_nodes):
                    container = copy.deepcopy(node_range.get("container") or {})
            for override in job.node_overrides:
                if index in rules.parse_node_range(str(override["targetNodes"]), num_nodes):
                    container = rules.apply_container_overrides(container, override.get("containerOverrides"))
            self._add_child(job, f"{job.job_id}#{index}", container, node_index=index)

    def _add_child(
        self,
        parent: LocalJob,
        job_id: str,
        container: dict[str, Any] | None,
        array_index: int | None = None,
        node_index: int | None = None,
    ) -> None:
        depends_on = parent.depends_on if node_index is None else []
        child = LocalJob(
            job_id=job_id,
            job_arn=self._table.job_arn(job_id),
            name=parent.name,
            queue_arn=parent.queue_arn,
            queue_name=parent.queue_name,
            job_definition_arn=parent.job_definition_arn,
            job_definition_name=parent.job_definition_name,
            seq=self._table.next_seq(),
            container=copy.deepcopy(container),
            parameters=parent.parameters,
            ecs_properties=copy.deepcopy(parent.ecs_properties),
            eks_properties=copy.deepcopy(parent.eks_properties),
            depends_on=depends_on,
            retry_strategy=parent.retry_strategy,
            timeout=parent.timeout,
            tags=parent.tags,
            propagate_tags=parent.propagate_tags,
            platform_capabilities=parent.platform_capabilities,
            share_identifier=parent.share_identifier,
            scheduling_priority=parent.scheduling_priority,
            array_index=array_index,
            node_properties=parent.node_properties if node_index is not None else None,
            node_index=node_index,
            parent=parent,
            status="PENDING",
            retries_removed=parent.retries_removed,
        )
        child.vcpus = job_vcpus(child)
        parent.children.append(child)
        self._table.add(child)
