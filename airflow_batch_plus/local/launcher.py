"""Starts a job's attempt as local processes, one per container, and sends their output where AWS would.

A container job's attempt is one process writing to its CloudWatch stream; an ECS-properties job's is a task
whose containers are processes with a stream each; an EKS-properties job's is a pod whose init containers
run one after the other before its containers start together, writing to the pod's logs, not CloudWatch.
A container that cannot start ends the attempt as AWS does (`Task failed to start`), so retries apply.
"""

from __future__ import annotations

import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from airflow_batch_plus.local import rules
from airflow_batch_plus.local.cloudwatch import LogSink
from airflow_batch_plus.local.config import LocalBatchConfig
from airflow_batch_plus.local.model import Attempt, ContainerRun, LocalJob, now_ms
from airflow_batch_plus.local.outcome import FAILED_TO_START, end_attempt
from airflow_batch_plus.local.process import JobProcess, LineSink


class AttemptLauncher:
    """Starts attempts for one account and region; owns the directory the processes run in and pods log to.

    Every call is made under the engine's lock.
    """

    def __init__(self, account_id: str, region_name: str, config: LocalBatchConfig):
        self._account_id = account_id
        self._region_name = region_name
        self._config = config
        self._sink = LogSink(account_id, region_name)
        self._workdir = tempfile.TemporaryDirectory(prefix="local-batch-")

    def start(self, job: LocalJob) -> None:
        """Start a STARTING job's next attempt; the job is RUNNING after, or its attempt already ended."""
        if job.ecs_properties is not None:
            self._start_task(job)
            return
        if job.eks_properties is not None:
            self._start_pod(job)
            return
        assert job.container is not None
        task_id = uuid.uuid4().hex
        group, stream = rules.log_target(job.container, job.job_definition_name, task_id)
        attempt = Attempt(task_arn=self._task_arn(task_id), log_stream_name=stream, started_at=now_ms())
        job.current, job.log_group = attempt, group
        self._sink.open_stream(group, stream)
        command = rules.substitute_refs(job.container.get("command") or [], job.parameters)
        try:
            if not command:
                raise FileNotFoundError("the container has no command")
            job.process = JobProcess(
                command,
                job_environment(job),
                self._workdir.name,
                lambda line, at: self._sink.write(group, stream, line, at),
            )
        except OSError as error:
            attempt.container_reason = f"CannotStartContainerError: {error}"
            end_attempt(job, exit_code=None, reason=FAILED_TO_START)
            return
        self._running(job, attempt)

    def advance_pod(self, job: LocalJob, attempt: Attempt) -> bool:
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

    def pod_log(self, pod_name: str, container: str) -> list[str]:
        """What an EKS job's pod container printed (`kubectl logs <pod> -c <container>` on AWS): never CloudWatch."""
        path = Path(self._workdir.name, "pods", pod_name, f"{container}.log")
        return path.read_text().splitlines() if path.exists() else []

    def cleanup(self) -> None:
        """Remove the processes' directory and the pods' logs: at shutdown, once every process is gone."""
        self._workdir.cleanup()

    def _task_arn(self, task_id: str) -> str:
        return f"arn:aws:ecs:{self._region_name}:{self._account_id}:task/local-batch/{task_id}"

    def _running(self, job: LocalJob, attempt: Attempt) -> None:
        """The attempt's processes are up: RUNNING, with its timeout's deadline (scaled as the config says)."""
        job.started_at = attempt.started_at
        job.sigterm_at = None
        duration = (job.timeout or {}).get("attemptDurationSeconds")
        job.attempt_deadline = (
            time.monotonic() + float(duration) * self._config.attempt_duration_scale if duration else None
        )
        job.enter("RUNNING")

    def _start_task(self, job: LocalJob) -> None:
        """An ECS-properties job's attempt: one ECS task, each container a process with its own log stream."""
        assert job.ecs_properties is not None
        task_id = uuid.uuid4().hex
        attempt = Attempt(task_arn=self._task_arn(task_id), log_stream_name="", started_at=now_ms())
        for spec in rules.ecs_task(job.ecs_properties).get("containers") or []:
            name = rules.ecs_container_name(spec)
            group, stream = rules.log_target(spec, job.job_definition_name, task_id, name)
            self._sink.open_stream(group, stream)
            attempt.containers.append(
                ContainerRun(name, spec, rules.is_essential(spec), log_group=group, log_stream_name=stream)
            )
        job.current = attempt
        for run in attempt.containers:
            variables = job_environment(job, run.spec.get("environment"))
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
        if self.advance_pod(job, attempt):
            self._running(job, attempt)

    def _launch_eks(self, job: LocalJob, run: ContainerRun) -> bool:
        variables = job_environment(job, run.spec.get("env"))
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
            end_attempt(job, exit_code=None, reason=FAILED_TO_START)
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


def job_environment(job: LocalJob, environment: Any = None) -> dict[str, str]:
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
