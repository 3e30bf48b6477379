"""BatchJobTrigger inside Airflow's own TriggerRunner: a user's action on a deferred task stops the job.

The triggerer cancels a trigger with a "user action" message when a deferred task is marked failed or
success, or cleared, and only then calls `on_kill`; on its own shutdown it cancels without one. These
tests drive that real code path (`TriggerRunner.run_trigger` / `cancel_triggers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from airflow_batch_plus.testing.status import wait_for_status
from airflow_batch_plus.triggers.batch import BatchJobTrigger

LONG_JOB = ["sh", "-c", "echo started; sleep 60"]
DONE = {"SUCCEEDED", "FAILED"}


def submit(batch: Any, name: str) -> str:
    job_id: str = batch.submit_job(
        jobName=name, jobQueue="local-queue", jobDefinition="local-job", containerOverrides={"command": LONG_JOB}
    )["jobId"]
    return job_id


async def run_then_cancel(batch: Any, trigger: BatchJobTrigger, *, user_action: bool) -> None:
    """Run `trigger` in a TriggerRunner until its job runs, then cancel it as the triggerer would."""
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    runner = TriggerRunner()
    task = asyncio.create_task(runner.run_trigger(1, trigger))
    runner.triggers[1] = {"task": task, "name": "batch", "events": 0, "is_watcher": False}
    deadline = time.monotonic() + 20
    while (await asyncio.to_thread(wait_for_status, batch, trigger.job_id, {"RUNNING"}, 0.5))["status"] != "RUNNING":
        assert time.monotonic() < deadline, "the job never started"
    if user_action:
        runner.to_cancel.append(1)
        await runner.cancel_triggers()
    else:  # the triggerer shutting down or handing the trigger to another triggerer
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(("policy", "expected"), [("terminate", "FAILED"), ("cancel", "RUNNING"), ("keep", "RUNNING")])
def test_a_user_action_on_a_deferred_task_applies_the_stop_policy(batch: Any, policy: str, expected: str) -> None:
    job_id = submit(batch, f"user-kill-{policy}")
    trigger = BatchJobTrigger(
        job_id, aws_conn_id=None, region_name="us-east-1", poll_interval=0.2, stop_policy=policy, stop_reason="Test"
    )
    asyncio.run(run_then_cancel(batch, trigger, user_action=True))
    job = wait_for_status(batch, job_id, DONE, timeout=10 if expected == "FAILED" else 1)
    assert job["status"] == expected
    if expected == "FAILED":
        assert job["statusReason"].startswith("Test: the task was killed in Airflow while deferred")


def test_a_triggerer_restart_leaves_the_job_running(batch: Any) -> None:
    job_id = submit(batch, "triggerer-restart")
    trigger = BatchJobTrigger(job_id, aws_conn_id=None, region_name="us-east-1", poll_interval=0.2)
    asyncio.run(run_then_cancel(batch, trigger, user_action=False))
    assert wait_for_status(batch, job_id, DONE, timeout=1)["status"] == "RUNNING"
