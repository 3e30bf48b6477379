"""BatchJobTrigger on ECS-properties and EKS-properties jobs of the local Batch.

ECS: every container's lines, each attempt's, are logged live, labelled by attempt and container. EKS: the
output is in the pod's logs, not CloudWatch: the trigger says so once, naming the pod, and waits as for any job.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import structlog.testing
from test_trigger import run, trigger

from airflow_batch_plus.jobs import JobSnapshot
from airflow_batch_plus.local import LocalBatch

# Attempt 1: both containers print, then the essential one fails (so the job retries). Attempt 2 waits for
# the gate, which the test opens only once the trigger has logged attempt 1's lines of both containers:
# the job can only succeed if those lines were logged while it was still running.
MAIN = """
echo main-try-$AWS_BATCH_JOB_ATTEMPT
if [ "$AWS_BATCH_JOB_ATTEMPT" = 1 ]; then sleep 0.5; exit 1; fi
for i in $(seq 1 400); do [ -e "$GATE" ] && { echo main-after-gate; exit 0; }; sleep 0.05; done
exit 9
"""
SIDE = "echo side-try-$AWS_BATCH_JOB_ATTEMPT; sleep 30"


def submit_ecs(local_batch: LocalBatch, gate: Path) -> str:
    assert local_batch.env is not None
    batch = local_batch.client("batch")
    batch.register_job_definition(
        jobDefinitionName="ecs-trigger",
        type="container",
        ecsProperties={
            "taskProperties": [
                {
                    "containers": [
                        {"name": "main", "image": "local", "command": ["sh", "-c", MAIN]},
                        {"name": "side", "image": "local", "command": ["sh", "-c", SIDE], "essential": False},
                    ]
                }
            ]
        },
    )
    override = {
        "taskProperties": [{"containers": [{"name": "main", "environment": [{"name": "GATE", "value": str(gate)}]}]}]
    }
    return str(
        batch.submit_job(
            jobName="ecs-trigger",
            jobQueue=local_batch.env.queue_name,
            jobDefinition="ecs-trigger",
            retryStrategy={"attempts": 2},
            ecsPropertiesOverride=override,
        )["jobId"]
    )


def messages(entries: list[dict[str, Any]]) -> list[str]:
    """The job lines logged, without their label (a label numbers attempts only once there are two)."""
    return [str(entry["event"]).rsplit(" ", 1)[-1] for entry in list(entries)]


def open_gate_when_logged(entries: list[dict[str, Any]], wanted: set[str], gate: Path) -> threading.Thread:
    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if wanted <= set(messages(entries)):
                gate.touch()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_every_container_and_every_attempt_of_an_ecs_job_is_logged_live(
    local_batch: LocalBatch, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    job_id = submit_ecs(local_batch, gate)
    with structlog.testing.capture_logs() as entries:
        watcher = open_gate_when_logged(entries, {"main-try-1", "side-try-1"}, gate)
        event = run(trigger(job_id))
    watcher.join(timeout=1)
    assert gate.exists(), "attempt 1's lines were not logged while the job ran"
    assert event["status"] == "success"
    logged = [str(entry["event"]) for entry in entries]
    # Labelled by container; by attempt too once the job has a second one.
    assert {"main main-try-1", "side side-try-1"} <= set(logged) or {
        "attempt 1 main main-try-1",
        "attempt 1 side side-try-1",
    } <= set(logged)
    for line in ["attempt 2 main main-try-2", "attempt 2 main main-after-gate", "attempt 2 side side-try-2"]:
        assert line in logged, line
    lines = messages(entries)
    for message in ["main-try-1", "side-try-1", "main-try-2", "main-after-gate", "side-try-2"]:
        assert lines.count(message) == 1, message
    snapshot = JobSnapshot.from_dict(event["job"])
    assert {stream.label for stream in snapshot.log_streams} == {
        "attempt 1 main",
        "attempt 1 side",
        "attempt 2 main",
        "attempt 2 side",
    }


def submit_eks(local_batch: LocalBatch, script: str, **fields: Any) -> str:
    assert local_batch.env is not None
    batch = local_batch.client("batch")
    batch.register_job_definition(
        jobDefinitionName="eks-trigger",
        type="container",
        eksProperties={
            "podProperties": {"containers": [{"name": "app", "image": "local", "command": ["sh", "-c", script]}]}
        },
    )
    return str(
        batch.submit_job(
            jobName="eks-trigger", jobQueue=local_batch.env.queue_name, jobDefinition="eks-trigger", **fields
        )["jobId"]
    )


def test_an_eks_job_is_followed_and_the_log_says_once_where_its_output_is(local_batch: LocalBatch) -> None:
    job_id = submit_eks(local_batch, '[ "$AWS_BATCH_JOB_ATTEMPT" = 2 ] || exit 1', retryStrategy={"attempts": 2})
    with structlog.testing.capture_logs() as entries:
        event = run(trigger(job_id))
    assert event["status"] == "success"
    notes = [str(entry["event"]) for entry in entries if "EKS job" in str(entry["event"])]
    assert len(notes) == 1, notes  # once, although the job ran two pods
    job = local_batch.client("batch").describe_jobs(jobs=[job_id])["jobs"][0]
    pods = [attempt["podName"] for attempt in job["eksAttempts"]]
    assert len(pods) == 2
    # The pod named is the first the trigger saw running (a quick first attempt may come and go between looks).
    assert any(
        notes[0]
        == (
            f"EKS job {job_id}: its output is in the pod's logs (kubectl logs {pod} -n default --all-containers), "
            "not CloudWatch. A retry runs in a new pod: DescribeJobs' eksAttempts names each"
        )
        for pod in pods
    ), notes


def test_an_eks_job_that_never_ran_a_pod_still_says_where_output_would_be(local_batch: LocalBatch) -> None:
    job_id = submit_eks(local_batch, "true")
    local_batch.client("batch").cancel_job(jobId=job_id, reason="never mind")
    with structlog.testing.capture_logs() as entries:
        event = run(trigger(job_id))
    assert event["status"] == "failed"
    notes = [str(entry["event"]) for entry in entries if "EKS job" in str(entry["event"])]
    assert notes == [
        f"EKS job {job_id}: its output is in its pods' logs (kubectl logs <pod> -n <namespace>), not CloudWatch. "
        "DescribeJobs names each pod (eksProperties.podProperties.podName, eksAttempts)"
    ]


def test_terminating_a_followed_eks_job_stops_its_pod(local_batch: LocalBatch) -> None:
    job_id = submit_eks(local_batch, "sleep 30")
    batch = local_batch.client("batch")

    def stop_when_running() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] == "RUNNING":
                batch.terminate_job(jobId=job_id, reason="enough")
                return
            time.sleep(0.05)

    stopper = threading.Thread(target=stop_when_running, daemon=True)
    stopper.start()
    event = run(trigger(job_id))
    stopper.join(timeout=1)
    assert event["status"] == "failed"
    assert JobSnapshot.from_dict(event["job"]).status_reason == "enough"
    assert local_batch.engine.processes() == []
