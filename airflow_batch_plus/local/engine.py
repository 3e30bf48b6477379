"""The local Batch scheduler: moves jobs through their states, runs them, and applies stop requests.

Queues, compute environments and job definitions stay in moto's own Batch backend; this engine owns
jobs, because moto without Docker can only fail or instantly succeed them.
"""

from __future__ import annotations

import copy
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from moto.batch.exceptions import ClientException

from airflow_batch_plus.local import rules, stopping
from airflow_batch_plus.local.cloudwatch import LogSink
from airflow_batch_plus.local.config import LocalBatchConfig
from airflow_batch_plus.local.job_table import JobTable
from airflow_batch_plus.local.listing import check_list_request, list_page
from airflow_batch_plus.local.model import Attempt, ContainerRun, LocalJob, now_ms
from airflow_batch_plus.local.placement import place, release
from airflow_batch_plus.local.process import JobProcess, LineSink
from airflow_batch_plus.local.submission import job_vcpus, submit_job

MAX_DESCRIBE = 100
ESSENTIAL_EXITED = "Essential container in task exited"
DEPENDENCY_FAILED = "Dependent Job failed"
TIMED_OUT = "Job attempt duration exceeded timeout"
FAILED_TO_START = "Task failed to start"
ARRAY_CHILD_FAILED = "Array Child Job failed"
# EKS jobs: the pod ends when every container has; the local Batch's own wording (AWS's is not documented).
POD_SUCCEEDED = "Pod completed: every container exited with code 0"
POD_FAILED = "Pod failed: a container exited with a non-zero code"


class LocalBatchEngine:
    """All jobs of one account and region; a daemon thread advances them every `tick_seconds`."""

    def __init__(self, account_id: str, region_name: str, config: LocalBatchConfig):
        self.account_id = account_id
        self.region_name = region_name
        self.config = config
        self._lock = threading.RLock()
        self._table = JobTable(account_id, region_name)
        self._sink = LogSink(account_id, region_name)
        self._workdir = tempfile.TemporaryDirectory(prefix="local-batch-")
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
        self._workdir.cleanup()

    def processes(self) -> list[int]:
        """PIDs of the job processes alive now (for tests and the demo)."""
        with self._lock:
            return [process.pid for job in self._table.jobs.values() for process in job.live_processes()]

    def pod_log(self, pod_name: str, container: str) -> list[str]:
        """What an EKS job's pod container printed (`kubectl logs <pod> -c <container>` on AWS): never CloudWatch."""
        path = Path(self._workdir.name, "pods", pod_name, f"{container}.log")
        with self._lock:
            return path.read_text().splitlines() if path.exists() else []

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
            self._start_attempt(job)
        elif job.status == "RUNNING":
            self._watch_attempt(job)

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

    def _start_attempt(self, job: LocalJob) -> None:
        if job.ecs_properties is not None:
            self._start_task(job)
            return
        if job.eks_properties is not None:
            self._start_pod(job)
            return
        assert job.container is not None
        task_id = uuid.uuid4().hex
        group, stream = rules.log_target(job.container, job.job_definition_name, task_id)
        attempt = Attempt(
            task_arn=f"arn:aws:ecs:{self.region_name}:{self.account_id}:task/local-batch/{task_id}",
            log_stream_name=stream,
            started_at=now_ms(),
        )
        job.current, job.log_group = attempt, group
        self._sink.open_stream(group, stream)
        command = rules.substitute_refs(job.container.get("command") or [], job.parameters)
        try:
            if not command:
                raise FileNotFoundError("the container has no command")
            job.process = JobProcess(
                command,
                self._job_environment(job),
                self._workdir.name,
                lambda line, at: self._sink.write(group, stream, line, at),
            )
        except OSError as error:
            attempt.container_reason = f"CannotStartContainerError: {error}"
            self._end_attempt(job, exit_code=None, reason=FAILED_TO_START)
            return
        self._running(job, attempt)

    def _running(self, job: LocalJob, attempt: Attempt) -> None:
        job.started_at = attempt.started_at
        job.sigterm_at = None
        duration = (job.timeout or {}).get("attemptDurationSeconds")
        job.attempt_deadline = (
            time.monotonic() + float(duration) * self.config.attempt_duration_scale if duration else None
        )
        job.enter("RUNNING")

    def _start_task(self, job: LocalJob) -> None:
        """An ECS-properties job's attempt: one ECS task, each container a process with its own log stream."""
        assert job.ecs_properties is not None
        task_id = uuid.uuid4().hex
        attempt = Attempt(
            task_arn=f"arn:aws:ecs:{self.region_name}:{self.account_id}:task/local-batch/{task_id}",
            log_stream_name="",
            started_at=now_ms(),
        )
        for spec in rules.ecs_task(job.ecs_properties).get("containers") or []:
            name = rules.ecs_container_name(spec)
            group, stream = rules.log_target(spec, job.job_definition_name, task_id, name)
            self._sink.open_stream(group, stream)
            attempt.containers.append(
                ContainerRun(name, spec, rules.is_essential(spec), log_group=group, log_stream_name=stream)
            )
        job.current = attempt
        for run in attempt.containers:
            variables = self._job_environment(job, run.spec.get("environment"))
            argv = rules.substitute_refs(run.spec.get("command") or [], job.parameters)
            if not self._launch(job, run, argv, variables):
                return
        self._running(job, attempt)

    def _start_pod(self, job: LocalJob) -> None:
        """An EKS-properties job's attempt: one pod; its init containers run one after the other, then its
        containers together. Their output goes to the pod's logs (`pod_log`), not CloudWatch, as on EKS."""
        assert job.eks_properties is not None
        pod = job.eks_properties.get("podProperties") or {}
        attempt = Attempt(
            task_arn="",
            log_stream_name="",
            started_at=now_ms(),
            pod_name=f"aws-batch.{uuid.uuid4()}",
            pod_namespace=(pod.get("metadata") or {}).get("namespace") or rules.DEFAULT_EKS_NAMESPACE,
            node_name=socket.gethostname(),
        )
        for key, runs in (("initContainers", attempt.init_containers), ("containers", attempt.containers)):
            runs.extend(ContainerRun(rules.eks_container_name(spec), spec) for spec in pod.get(key) or [])
        job.current = attempt
        if self._advance_pod(job, attempt):
            self._running(job, attempt)

    def _advance_pod(self, job: LocalJob, attempt: Attempt) -> bool:
        """Start what the pod runs next: the next init container once the one before exited 0, then every
        container. False if a container could not start (the attempt has then ended)."""
        if job.sigterm_at is not None:
            return True  # a pod being stopped starts nothing more
        for run in attempt.init_containers:
            if not run.started:
                return self._launch_eks(job, run)
            if not run.exited or run.exit_code != 0:
                return True
        waiting = [run for run in attempt.containers if not run.started]
        return all(self._launch_eks(job, run) for run in waiting)

    def _launch_eks(self, job: LocalJob, run: ContainerRun) -> bool:
        variables = self._job_environment(job, run.spec.get("env"))
        argv = rules.eks_argv(run.spec, variables, job.parameters)
        run.container_id = uuid.uuid4().hex
        return self._launch(job, run, argv, variables)

    def _launch(self, job: LocalJob, run: ContainerRun, argv: list[str], variables: dict[str, str]) -> bool:
        """Start one container's process. If it cannot start, stop the attempt's others and end the attempt."""
        run.started = True
        try:
            if not argv:
                raise FileNotFoundError("the container has no command")
            run.process = JobProcess(argv, variables, self._workdir.name, self._container_sink(job, run))
        except OSError as error:
            run.reason = f"CannotStartContainerError: {error}"
            attempt = job.current
            assert attempt is not None
            attempt.container_reason = run.reason
            for other in attempt.runs():
                if other.process is not None:
                    other.process.kill()
                    other.process = None
                    other.exit_code = 137
            self._end_attempt(job, exit_code=None, reason=FAILED_TO_START)
            return False
        return True

    def _container_sink(self, job: LocalJob, run: ContainerRun) -> LineSink:
        """Where a container's lines go: its CloudWatch stream (ECS), or its pod's log file (EKS)."""
        if run.log_group is not None and run.log_stream_name is not None:
            group, stream = run.log_group, run.log_stream_name
            return lambda line, at: self._sink.write(group, stream, line, at)
        assert job.current is not None and job.current.pod_name is not None
        directory = Path(self._workdir.name, "pods", job.current.pod_name)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{run.name}.log"

        def write(line: str, at: int) -> None:
            with path.open("a") as log:
                log.write(line + "\n")

        return write

    def _job_environment(self, job: LocalJob, environment: Any = None) -> dict[str, str]:
        """A container's variables: its own (job definition and overrides), then Batch's AWS_BATCH_* ones."""
        if environment is None and job.container is not None:
            environment = job.container.get("environment")
        variables = {item["name"]: str(item.get("value", "")) for item in environment or []}
        variables.update(
            {
                "AWS_BATCH_JOB_ID": job.job_id,
                "AWS_BATCH_JOB_ATTEMPT": str(len(job.attempts) + 1),
                "AWS_BATCH_JQ_NAME": job.queue_name,
                "AWS_BATCH_CE_NAME": job.compute_environment or "",
            }
        )
        if job.array_index is not None:
            variables["AWS_BATCH_JOB_ARRAY_INDEX"] = str(job.array_index)
        if job.node_index is not None and job.node_properties is not None:
            variables["AWS_BATCH_JOB_NODE_INDEX"] = str(job.node_index)
            variables["AWS_BATCH_JOB_NUM_NODES"] = str(job.node_properties.get("numNodes", 1))
            variables["AWS_BATCH_JOB_MAIN_NODE_INDEX"] = str(job.node_properties.get("mainNode", 0))
        return variables

    def _watch_attempt(self, job: LocalJob) -> None:
        now = time.monotonic()
        if job.attempt_deadline is not None and now >= job.attempt_deadline and job.sigterm_at is None:
            job.timed_out = True
            stopping.send_sigterm(job)
        if job.sigterm_at is not None and now - job.sigterm_at >= self.config.terminate_grace_seconds:
            for process in job.live_processes():
                process.signal(signal.SIGKILL)
        if job.process is None:
            self._watch_containers(job)
            return
        exit_code = job.process.exit_code()
        if exit_code is None:
            return
        job.process = None
        if job.terminate_reason is not None:
            self._end_attempt(job, exit_code, job.terminate_reason, stopped=True)
        elif job.timed_out:
            self._end_attempt(job, exit_code, TIMED_OUT, stopped=True)
        else:
            self._end_attempt(job, exit_code, ESSENTIAL_EXITED)

    def _watch_containers(self, job: LocalJob) -> None:
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
        if job.eks_properties is not None and not self._advance_pod(job, attempt):
            return
        if any(run.process is not None for run in attempt.runs()):
            return
        if job.eks_properties is not None and job.sigterm_at is None and not self._pod_done(attempt):
            return
        code, reason = self._task_outcome(job, attempt)
        if job.terminate_reason is not None:
            self._end_attempt(job, code, job.terminate_reason, stopped=True)
        elif job.timed_out:
            self._end_attempt(job, code, TIMED_OUT, stopped=True)
        else:
            self._end_attempt(job, code, reason)

    @staticmethod
    def _pod_done(attempt: Attempt) -> bool:
        """Every container exited, or an init container failed (then the pod's containers never start)."""
        if any(run.exited and run.exit_code != 0 for run in attempt.init_containers):
            return True
        return all(run.exited for run in attempt.runs())

    @staticmethod
    def _task_outcome(job: LocalJob, attempt: Attempt) -> tuple[int | None, str]:
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

    def _end_attempt(self, job: LocalJob, exit_code: int | None, reason: str, stopped: bool = False) -> None:
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
