"""ECS-properties and EKS-properties jobs through BatchSubmitJobOperator and its trigger in a real Airflow 3.

ECS: the task log shows every container's lines live, labelled by container, and each attempt's lines arrive
through the trigger while the job still runs. EKS: the task waits for the pod and stops it as for any job
(its deadline; a user's action on the deferred task), and its log says once where the output is.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from dag_runs import jobs_named_like, run_dag
from test_trigger_in_triggerer import run_then_cancel

from airflow_batch_plus.local import LocalBatchServer
from airflow_batch_plus.testing.status import wait_for_status
from airflow_batch_plus.triggers.batch import BatchJobTrigger

pytestmark = pytest.mark.usefixtures("airflow_db")

# Attempt 1: both containers print, then the essential one fails, so Batch retries. Attempt 2 waits for a
# gate that the test opens only once the task log has shown attempt 1's lines of both containers: the job
# can only succeed if the trigger relayed them while it still ran.
MAIN = """
echo main-try-$AWS_BATCH_JOB_ATTEMPT
if [ "$AWS_BATCH_JOB_ATTEMPT" = 1 ]; then sleep 0.5; exit 1; fi
for i in $(seq 1 400); do [ -e "$GATE" ] && { echo main-after-gate; exit 0; }; sleep 0.05; done
exit 9
"""
SIDE = "echo side-try-$AWS_BATCH_JOB_ATTEMPT; sleep 30"
EKS_NOTE = "EKS job {job_id}: its output is in the pod's logs (kubectl logs {pod} -n default --all-containers)"


def logged(entries: list[dict[str, Any]]) -> list[str]:
    """What the task log showed (the trigger's and the operator's messages), in order."""
    return [str(entry["event"]) for entry in list(entries)]


def open_gate_once_logged(entries: list[dict[str, Any]], wanted: list[str], gate: Path) -> threading.Thread:
    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = logged(entries)
            if all(any(line.endswith(f" {message}") for line in lines) for message in wanted):
                gate.touch()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_deferred_ecs_job_logs_every_container_and_each_attempt_live(batch: Any, tmp_path: Path) -> None:
    batch.register_job_definition(
        jobDefinitionName="ecs-test",
        type="container",
        ecsProperties={
            "taskProperties": [
                {
                    "containers": [
                        {"name": "main", "image": "local", "command": ["sh", "-c", MAIN]},
                        {"name": "side", "image": "local", "command": ["false"], "essential": False},
                    ]
                }
            ]
        },
    )
    gate = tmp_path / "gate"
    with structlog.testing.capture_logs() as entries:
        watcher = open_gate_once_logged(entries, ["main-try-1", "side-try-1"], gate)
        run = run_dag("batch_deferred_ecs", gate=str(gate), side=SIDE)
    watcher.join(timeout=1)
    lines = logged(entries)
    assert gate.exists(), "attempt 1's lines did not reach the task log while the job ran"
    assert run.state == "success"
    # Every container's lines, labelled by container (and by attempt once there is a second), each once.
    # The two containers print at once, to streams of their own: between streams, any order is the truth.
    first = sorted(line for line in lines if line.endswith(("main-try-1", "side-try-1")))
    assert first in (["main main-try-1", "side side-try-1"], ["attempt 1 main main-try-1", "attempt 1 side side-try-1"])
    for line in ["attempt 2 main main-try-2", "attempt 2 side side-try-2", "attempt 2 main main-after-gate"]:
        assert lines.count(line) == 1, line
    (job,) = jobs_named_like(batch, "batch_deferred_ecs")
    assert (job["status"], len(job["attempts"])) == ("SUCCEEDED", 2)
    (task,) = job["ecsProperties"]["taskProperties"]
    assert task["containers"][1]["command"] == ["sh", "-c", SIDE]  # the rendered ecs_properties_override


def eks_definition(batch: Any) -> None:
    batch.register_job_definition(
        jobDefinitionName="eks-test",
        type="container",
        eksProperties={
            "podProperties": {
                "containers": [{"name": "app", "image": "local", "command": ["sh", "-c"], "args": ["echo default"]}]
            }
        },
    )


def test_a_deferred_eks_job_is_followed_and_the_log_says_once_where_its_output_is(
    batch: Any, batch_server: LocalBatchServer
) -> None:
    eks_definition(batch)
    with structlog.testing.capture_logs() as entries:
        run = run_dag("batch_deferred_eks", script="echo eks-line-$AWS_BATCH_JOB_ATTEMPT; sleep 0.5")
    assert run.state == "success"
    (job,) = jobs_named_like(batch, "batch_deferred_eks")
    assert job["status"] == "SUCCEEDED"
    pod = job["eksProperties"]["podProperties"]["podName"]
    notes = [line for line in logged(entries) if line.startswith("EKS job")]
    assert len(notes) == 1 and notes[0].startswith(EKS_NOTE.format(job_id=job["jobId"], pod=pod)), notes
    assert not any("eks-line" in line for line in logged(entries))  # not in CloudWatch, so not in the task log
    assert batch_server.local_batch is not None
    assert batch_server.local_batch.engine.pod_log(pod, "app") == ["eks-line-1"]  # the rendered override ran


def test_a_deferred_eks_job_is_terminated_when_the_tasks_execution_timeout_passes(
    batch: Any, batch_server: LocalBatchServer
) -> None:
    eks_definition(batch)
    run = run_dag("batch_deferred_eks", script="echo started; sleep 120")
    assert run.state == "failed"
    (job,) = jobs_named_like(batch, "batch_deferred_eks")
    job = wait_for_status(batch, job["jobId"], {"SUCCEEDED", "FAILED"}, timeout=20)
    assert job["status"] == "FAILED" and job["isTerminated"]
    assert "execution_timeout" in job["statusReason"]
    assert batch_server.local_batch is not None
    assert batch_server.local_batch.engine.processes() == []


def test_a_user_action_on_a_deferred_eks_task_terminates_its_pod(batch: Any, batch_server: LocalBatchServer) -> None:
    eks_definition(batch)
    job_id = batch.submit_job(
        jobName="eks-user-kill",
        jobQueue="local-queue",
        jobDefinition="eks-test",
        eksPropertiesOverride={"podProperties": {"containers": [{"name": "app", "args": ["sleep 60"]}]}},
    )["jobId"]
    trigger = BatchJobTrigger(job_id, aws_conn_id=None, region_name="us-east-1", poll_interval=0.2, stop_reason="Test")
    asyncio.run(run_then_cancel(batch, trigger, user_action=True))
    job = wait_for_status(batch, job_id, {"SUCCEEDED", "FAILED"}, timeout=10)
    assert job["status"] == "FAILED"
    assert job["statusReason"].startswith("Test: the task was killed in Airflow while deferred")
    assert batch_server.local_batch is not None
    assert batch_server.local_batch.engine.processes() == []
