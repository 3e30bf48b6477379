"""The three-job tour of the local AWS Batch: one succeeds, one is cancelled, one is terminated.

It talks to a `LocalBatchServer` over HTTP with plain boto3, as any user code would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_batch_plus.local.config import LocalBatchConfig
from airflow_batch_plus.local.runtime import LocalBatchServer

TOUR_CONFIG = LocalBatchConfig(
    submitted_seconds=0.3,
    pending_seconds=0.3,
    runnable_seconds=0.5,
    starting_seconds=0.5,
    terminate_grace_seconds=5.0,
    tick_seconds=0.05,
)
HELLO = 'for i in 1 2 3 4 5 6; do echo "hello line $i of 6"; sleep 0.5; done; echo done'
WORKER = (
    "trap 'echo \"caught SIGTERM: saving a checkpoint and exiting\"; exit 143' TERM; "
    "echo 'worker started'; i=0; while true; do i=$((i+1)); echo \"working on item $i\"; sleep 0.4; done"
)
QUEUED = "echo 'this line is never printed: the job is cancelled before it starts'"


@dataclass
class Tracked:
    label: str
    job_id: str
    status: str = ""
    runnable_since: float | None = None
    log_token: str | None = None
    stream: str | None = None
    acted: bool = False
    lines: list[str] = field(default_factory=list)


def run_tour(port: int = 0, say: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Run the tour and return each job's final DescribeJobs item, by label."""
    with LocalBatchServer(port=port, config=TOUR_CONFIG) as server:
        assert server.local_batch is not None
        # Names of its own: moto's state lives as long as the process, and a queue of the default names
        # made earlier in it (by a test, say) would be reused with its own capacity.
        env = server.local_batch.bootstrap(
            max_vcpus=2, queue_name="demo-queue", compute_environment_name="demo-ce", job_definition_name="demo-job"
        )
        batch, logs = server.local_batch.client("batch"), server.local_batch.client("logs")
        say(f"Local AWS Batch at {server.endpoint_url} (queue {env.queue_name!r}, capacity 2 vCPUs)")
        say(
            "Submitting three jobs; the third asks for both vCPUs, so it waits in RUNNABLE while 'worker' runs"
            " (and 'worker' runs until the third is cancelled).\n"
        )

        def submit(label: str, script: str, vcpus: int = 1) -> Tracked:
            job_id = batch.submit_job(
                jobName=f"demo-{label}",
                jobQueue=env.queue_name,
                jobDefinition=env.job_definition_name,
                containerOverrides={
                    "command": ["sh", "-c", script],
                    "resourceRequirements": [{"type": "VCPU", "value": str(vcpus)}],
                },
            )["jobId"]
            return Tracked(label, job_id)

        jobs = [submit("hello", HELLO), submit("worker", WORKER), submit("queued", QUEUED, vcpus=2)]
        by_label = {job.label: job for job in jobs}
        final: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 60
        while len(final) < len(jobs) and time.monotonic() < deadline:
            for detail in batch.describe_jobs(jobs=[job.job_id for job in jobs])["jobs"]:
                job = next(job for job in jobs if job.job_id == detail["jobId"])
                _follow_logs(logs, job, detail, say)
                _show_transition(job, detail, say)
                if detail["status"] in ("SUCCEEDED", "FAILED") and job.label not in final:
                    final[job.label] = detail
            _act(batch, by_label, say)
            time.sleep(0.2)
        say("\nSummary:")
        for label, detail in final.items():
            exit_code = detail.get("container", {}).get("exitCode", "-")
            say(f"  {label:7} {detail['status']:9} exit={exit_code!s:4} reason: {detail.get('statusReason', '')}")
        return final


def _show_transition(job: Tracked, detail: dict[str, Any], say: Callable[[str], None]) -> None:
    if detail["status"] == job.status:
        return
    job.status = detail["status"]
    if job.status == "RUNNABLE":
        job.runnable_since = time.monotonic()
    reason = f" ({detail['statusReason']})" if detail.get("statusReason") else ""
    say(f"[{job.label}] {job.status}{reason}")


def _follow_logs(logs: Any, job: Tracked, detail: dict[str, Any], say: Callable[[str], None]) -> None:
    stream = detail.get("container", {}).get("logStreamName")
    if not stream:
        return
    if stream != job.stream:
        job.stream, job.log_token = stream, None
    request: dict[str, Any] = {"logGroupName": "/aws/batch/job", "logStreamName": stream, "startFromHead": True}
    if job.log_token:
        request["nextToken"] = job.log_token
    try:
        page = logs.get_log_events(**request)
    except logs.exceptions.ResourceNotFoundException:
        return
    for event in page["events"]:
        job.lines.append(event["message"])
        say(f"    {job.label} | {event['message']}")
    job.log_token = page["nextForwardToken"]


def _act(batch: Any, jobs: dict[str, Tracked], say: Callable[[str], None]) -> None:
    """Cancel 'queued' once it has waited a second, and terminate 'worker' once 'queued' is seen cancelled:
    while 'worker' holds one of the two vCPUs, 'queued' (asking for two) cannot start, however slow this
    loop is."""
    queued, worker = jobs["queued"], jobs["worker"]
    if not queued.acted and queued.runnable_since and time.monotonic() - queued.runnable_since > 1.0:
        queued.acted = True
        say("--> CancelJob on 'queued' (it has not started, so it is cancelled)")
        batch.cancel_job(jobId=queued.job_id, reason="Cancelled by the demo while RUNNABLE")
    if not worker.acted and queued.status == "FAILED" and worker.status == "RUNNING" and len(worker.lines) >= 4:
        worker.acted = True
        say("--> TerminateJob on 'worker' (it is running: SIGTERM now, SIGKILL after the grace period)")
        batch.terminate_job(jobId=worker.job_id, reason="Terminated by the demo while RUNNING")
