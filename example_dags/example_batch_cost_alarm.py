"""A budget alarm stops the spending: cancel what is queued at once, terminate what runs if the alarm holds.

The AWS blog's policy, event-driven: a CloudWatch alarm (on `EstimatedCharges`, say) or an AWS Budgets
notification publishes to an SNS topic that delivers to an SQS queue; `CostAlarmTrigger`, the watcher of the
asset `batch_cost_alarm`, long-polls that queue in the triggerer, and each alarm entering ALARM becomes an
asset event that runs this DAG (unpause it first). Messages it cannot read are refused in the triggerer's
log and stop nothing; an alarm back to OK stops nothing either.

1. `read_alarms` reads the alarm(s) from the run's `triggering_asset_events` and words the stop reason.
2. `cancel_queued` cancels every job of `JOB_QUEUES` that has not started (SUBMITTED, PENDING, RUNNABLE):
   they end FAILED without costing a cent; running jobs are left alone.
3. `grace` waits `GRACE` in the triggerer: time to raise the budget, or for the alarm to clear.
4. `still_in_alarm` asks CloudWatch (DescribeAlarms) or Budgets (DescribeNotificationsForBudget) whether
   the alarm still holds; if not, the run ends here and running jobs go on.
5. `terminate_running` terminates what is left, running jobs included.

Every stopped job records `Stopped by Airflow cost alarm: CloudWatch alarm <name>; ...` as its reason.
Narrow the stop to jobs carrying a tag with `TAGS = {"team": "ml"}`; set `DRY_RUN = True` to only log what
would be stopped. The queue URL and the grace come from the environment (the demo sets the queue's):
`BATCH_PLUS_COST_ALARM_QUEUE_URL`, `BATCH_PLUS_COST_ALARM_GRACE_SECONDS`. See docs/cost-alarms.md.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.sensors.time_delta import WaitSensor
from airflow.sdk import DAG, Asset, AssetWatcher, chain, task

from airflow_batch_plus.operators.stop import BatchStopJobsOperator
from airflow_batch_plus.triggers.cost_alarm import CostAlarmTrigger

QUEUE_URL = os.environ.get(
    "BATCH_PLUS_COST_ALARM_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/batch-cost-alarms"
)
GRACE = timedelta(seconds=int(os.environ.get("BATCH_PLUS_COST_ALARM_GRACE_SECONDS", "600")))
JOB_QUEUES = ["local-queue"]
TAGS: dict[str, str] | None = None
DRY_RUN = False
AWS_CONN_ID = "aws_default"

cost_alarm = Asset(
    "batch_cost_alarm",
    watchers=[
        AssetWatcher(
            name="batch_cost_alarm_queue", trigger=CostAlarmTrigger(queue_url=QUEUE_URL, aws_conn_id=AWS_CONN_ID)
        )
    ],
)

with DAG(
    dag_id="example_batch_cost_alarm",
    schedule=[cost_alarm],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["airflow-batch-plus", "example"],
):

    @task
    def read_alarms(triggering_asset_events: Any = None, dag_run: Any = None) -> dict[str, Any]:
        from airflow_batch_plus.alarms import alarm_stop_reason, alarms_from_asset_events

        events = [event for events in (triggering_asset_events or {}).values() for event in events]
        alarms = alarms_from_asset_events(events)
        if not alarms:
            raise ValueError("this run has no cost alarm: it runs on the batch_cost_alarm asset's events only")
        run = (dag_run.dag_id, dag_run.run_id)
        return {
            "alarms": [alarm.to_dict() for alarm in alarms],
            "cancel_reason": alarm_stop_reason(alarms, *run, "cancelled before starting"),
            "terminate_reason": alarm_stop_reason(alarms, *run, f"terminated: still in ALARM after {GRACE}"),
        }

    @task.short_circuit
    def still_in_alarm(read: dict[str, Any]) -> bool:
        from airflow_batch_plus.alarms import CostAlarm
        from airflow_batch_plus.hooks.alarm_state import AlarmStateHook

        hook = AlarmStateHook(aws_conn_id=AWS_CONN_ID)
        verdicts = [hook.still_in_alarm(CostAlarm.from_dict(alarm)) for alarm in read["alarms"]]
        for still, why in verdicts:
            print(f"{why}: {'terminating running jobs' if still else 'leaving running jobs alone'}")
        return any(still for still, _ in verdicts)

    alarms = read_alarms()
    scope: dict[str, Any] = {"job_queue": JOB_QUEUES, "tags": TAGS, "dry_run": DRY_RUN, "aws_conn_id": AWS_CONN_ID}
    chain(
        alarms,
        BatchStopJobsOperator(
            task_id="cancel_queued",
            stop_policy="cancel",
            reason="{{ ti.xcom_pull(task_ids='read_alarms')['cancel_reason'] }}",
            **scope,
        ),
        WaitSensor(task_id="grace", time_to_wait=GRACE, deferrable=True),
        still_in_alarm(alarms),
        BatchStopJobsOperator(
            task_id="terminate_running",
            stop_policy="terminate",
            reason="{{ ti.xcom_pull(task_ids='read_alarms')['terminate_reason'] }}",
            **scope,
        ),
    )
