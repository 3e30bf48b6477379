"""AlarmStateHook against the local Batch's CloudWatch and Budgets (moto): whether an alarm still holds."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_batch_plus.alarms import AlarmSource, CostAlarm
from airflow_batch_plus.hooks.alarm_state import AlarmStateHook
from airflow_batch_plus.local.bootstrap import cost_alarm_resources

ACCOUNT = "123456789012"
TOPIC = "arn:aws:sns:us-east-1:123456789012:batch-cost-alarms"


@pytest.fixture
def hook(local_batch: Any) -> AlarmStateHook:
    return AlarmStateHook(aws_conn_id=None, region_name="us-east-1")


def cloudwatch_alarm(name: str) -> CostAlarm:
    return CostAlarm(AlarmSource.CLOUDWATCH, name, "ALARM", region="us-east-1")


def test_a_cloudwatch_alarm_holds_while_cloudwatch_says_alarm(local_batch: Any, hook: AlarmStateHook) -> None:
    name = cost_alarm_resources(local_batch.client).alarm_name
    cloudwatch = local_batch.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="over")
    assert hook.still_in_alarm(cloudwatch_alarm(name)) == (True, f"CloudWatch alarm {name} is ALARM")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="budget raised")
    assert hook.still_in_alarm(cloudwatch_alarm(name)) == (False, f"CloudWatch alarm {name} is OK")


def test_an_alarm_cloudwatch_does_not_know_does_not_hold(hook: AlarmStateHook) -> None:
    still, why = hook.still_in_alarm(cloudwatch_alarm("deleted-alarm"))
    assert not still and "no longer has this alarm" in why


def budget(local_batch: Any, name: str, state: str | None) -> CostAlarm:
    notification: dict[str, Any] = {
        "NotificationType": "ACTUAL",
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": 80.0,
        "ThresholdType": "PERCENTAGE",
    }
    if state is not None:
        notification["NotificationState"] = state
    local_batch.client("budgets").create_budget(
        AccountId=ACCOUNT,
        Budget={"BudgetName": name, "BudgetLimit": {"Amount": "100", "Unit": "USD"}, "TimeUnit": "MONTHLY",
                "BudgetType": "COST"},
        NotificationsWithSubscribers=[
            {"Notification": notification, "Subscribers": [{"SubscriptionType": "SNS", "Address": TOPIC}]}
        ],
    )  # fmt: skip
    return CostAlarm(AlarmSource.BUDGETS, name, "ALARM", account_id=ACCOUNT, alert_type="ACTUAL")


@pytest.mark.parametrize(("state", "still"), [("ALARM", True), ("OK", False), (None, True)])
def test_a_budget_holds_unless_its_notification_is_back_to_ok(
    local_batch: Any, hook: AlarmStateHook, state: str | None, still: bool
) -> None:
    verdict, why = hook.still_in_alarm(budget(local_batch, f"b-{state}", state))
    assert verdict is still, why


def test_a_budget_budgets_does_not_know_does_not_hold(hook: AlarmStateHook) -> None:
    alarm = CostAlarm(AlarmSource.BUDGETS, "gone", "ALARM", account_id=ACCOUNT, alert_type="ACTUAL")
    still, why = hook.still_in_alarm(alarm)
    assert not still and "no such budget" in why
