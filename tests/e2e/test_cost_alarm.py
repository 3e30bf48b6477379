"""A cost alarm stops the spending, in a whole Airflow and its local Batch: `aws cloudwatch set-alarm-state`
on the demo's alarm publishes to its SNS topic, which delivers to its SQS queue; `CostAlarmTrigger` (the
asset watcher of example_batch_cost_alarm, in the triggerer) fires, and the DAG cancels the queued job at
once and terminates the running one after the grace, as the alarm still holds. An alarm back to OK within
the grace leaves running jobs alone, and a message that is no alarm stops nothing.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from conftest import Airflow  # tests/e2e/conftest.py
from runs import wait_until

DAG_ID = "example_batch_cost_alarm"
GRACE_SECONDS = 20
LONG = ["sh", "-c", "sleep 600"]
AIRFLOW_EXTRA_ENV = {"BATCH_PLUS_COST_ALARM_GRACE_SECONDS": str(GRACE_SECONDS)}


def client(airflow: Airflow, service: str) -> Any:
    assert airflow.supervisor.batch is not None
    server = airflow.supervisor.batch
    return boto3.client(
        service,
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=server.key.access_key_id,
        aws_secret_access_key=server.key.secret_access_key,
    )


def submit(airflow: Airflow, name: str, vcpus: str = "1") -> str:
    job_id: str = airflow.batch.submit_job(
        jobName=name,
        jobQueue="local-queue",
        jobDefinition="local-job",
        containerOverrides={"command": LONG, "resourceRequirements": [{"type": "VCPU", "value": vcpus}]},
    )["jobId"]
    return job_id


def status(airflow: Airflow, job_id: str) -> str:
    return str(airflow.job(job_id)["status"])


def runs(airflow: Airflow) -> list[dict[str, Any]]:
    listed = airflow.api(f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100")["dag_runs"]
    return sorted(listed, key=lambda run: str(run["run_after"]))


def task_states(airflow: Airflow, run_id: str) -> dict[str, str]:
    listed = airflow.api(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
    return {str(ti["task_id"]): str(ti["state"]) for ti in listed}


def triggerer_log(airflow: Airflow) -> str:
    return airflow.supervisor.components["triggerer"].log_path.read_text(errors="replace")


def set_alarm(airflow: Airflow, state: str) -> None:
    alarm = airflow.supervisor.cost_alarm
    assert alarm is not None
    client(airflow, "cloudwatch").set_alarm_state(AlarmName=alarm.alarm_name, StateValue=state, StateReason="e2e")


def test_an_alarm_cancels_queued_jobs_at_once_then_terminates_running_ones_after_the_grace(airflow: Airflow) -> None:
    alarm = airflow.supervisor.cost_alarm
    assert alarm is not None
    airflow.supervisor.api().call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    wait_until("the asset watcher polls the queue", lambda: "Waiting for cost alarms on" in triggerer_log(airflow), 120)

    client(airflow, "sqs").send_message(QueueUrl=alarm.queue_url, MessageBody="spend less, please")
    wait_until("the unreadable message is refused", lambda: "Refused message" in triggerer_log(airflow), 60)
    assert runs(airflow) == [], "a message that is no alarm started a run"

    running = submit(airflow, "cost-running")
    queued = submit(airflow, "cost-queued", vcpus="1024")  # more than the queue has: RUNNABLE for ever
    both = ("RUNNING", "RUNNABLE")
    wait_until("one job running, one queued", lambda: (status(airflow, running), status(airflow, queued)) == both, 60)

    set_alarm(airflow, "ALARM")
    alarmed = time.monotonic()
    wait_until("the queued job cancelled", lambda: status(airflow, queued) == "FAILED", 90)
    cancelled_after = time.monotonic() - alarmed
    assert status(airflow, running) == "RUNNING", "the running job was stopped before the grace"
    reason = airflow.job(queued)["statusReason"]
    assert reason.startswith(f"Stopped by Airflow cost alarm: CloudWatch alarm {alarm.alarm_name}; cancelled"), reason

    wait_until("the running job terminated", lambda: status(airflow, running) == "FAILED", 120)
    terminated_after = time.monotonic() - alarmed
    assert terminated_after - cancelled_after >= GRACE_SECONDS - 2, (cancelled_after, terminated_after)
    reason = airflow.job(running)["statusReason"]
    assert f"CloudWatch alarm {alarm.alarm_name}; terminated: still in ALARM" in reason, reason
    (run,) = runs(airflow)
    wait_until("the run done", lambda: task_states(airflow, run["dag_run_id"])["terminate_running"] == "success", 60)
    print(f"\ncancelled {cancelled_after:.1f} s after the alarm, terminated {terminated_after:.1f} s after it")


def test_an_alarm_back_to_ok_within_the_grace_leaves_running_jobs_alone(airflow: Airflow) -> None:
    set_alarm(airflow, "OK")
    wait_until("the OK is read and dropped", lambda: "is OK: nothing to stop" in triggerer_log(airflow), 60)
    running = submit(airflow, "cost-survivor")
    wait_until("the job running", lambda: status(airflow, running) == "RUNNING", 60)
    before = len(runs(airflow))

    set_alarm(airflow, "ALARM")
    run = wait_until("a second run", lambda: runs(airflow)[before:] and runs(airflow)[before], 60)
    run_id = run["dag_run_id"]
    wait_until("the cancel step done", lambda: task_states(airflow, run_id).get("cancel_queued") == "success", 60)
    set_alarm(airflow, "OK")  # the budget was raised: within the grace
    wait_until(
        "the run done",
        lambda: task_states(airflow, run_id).get("terminate_running") in ("skipped", "success", "failed"),
        GRACE_SECONDS + 90,
    )
    assert task_states(airflow, run_id)["terminate_running"] == "skipped"
    assert task_states(airflow, run_id)["still_in_alarm"] == "success"
    assert status(airflow, running) == "RUNNING"
    airflow.batch.terminate_job(jobId=running, reason="e2e cleanup")
