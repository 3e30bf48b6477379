"""Reading cost alarms (airflow_batch_plus/alarms.py): each message shape the queue may carry, and each refusal.

The shapes are those docs/cost-alarms.md cites: SNS's notification JSON around CloudWatch's alarm JSON or
Budgets' prose, and each of those delivered raw (the subscription's RawMessageDelivery).
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_batch_plus.alarms import (
    AlarmSource,
    CostAlarm,
    UnreadableAlarm,
    alarm_stop_reason,
    alarms_from_asset_events,
    parse_alarm_message,
)

CLOUDWATCH = {
    "AlarmName": "batch-estimated-charges",
    "AlarmDescription": None,
    "AWSAccountId": "123456789012",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 datapoint [120.0 (02/12/26 06:00:00)] was greater than the threshold.",
    "StateChangeTime": "2026-12-02T06:00:27.123+0000",
    "Region": "US East (N. Virginia)",
    "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:batch-estimated-charges",
    "OldStateValue": "OK",
    "Trigger": {"MetricName": "EstimatedCharges", "Namespace": "AWS/Billing", "Threshold": 100.0},
}
BUDGETS = (
    "AWS Budget Notification December 02, 2026\n"
    "AWS Account 123456789012\n\n"
    "Dear AWS Customer,\n\n"
    "You requested that we alert you when the ACTUAL Cost associated with your ml-monthly budget is greater "
    "than $80.00 for the current month. The ACTUAL Cost associated with this budget is $93.17. You can find "
    "additional details below and by accessing the AWS Budgets dashboard [1].\n\n"
    "Budget Name: ml-monthly\nBudget Type: Cost\nBudgeted Amount: $100.00\nAlert Type: ACTUAL\n"
    "Alert Threshold: > $80.00\nACTUAL Amount: $93.17\n\n"
    "[1] https://console.aws.amazon.com/billing/home#/budgets\n"
)


def sns(message: str, **extra: Any) -> str:
    """SNS's notification JSON around `message`, as SQS receives it without raw message delivery."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:batch-cost-alarms",
            "Subject": "ALARM: ...",
            "Message": message,
            "Timestamp": "2026-12-02T06:00:27.500Z",
            "SignatureVersion": "1",
            "Signature": "...",
            **extra,
        }
    )


@pytest.mark.parametrize("body", [sns(json.dumps(CLOUDWATCH)), json.dumps(CLOUDWATCH)], ids=["sns", "raw"])
def test_a_cloudwatch_alarm_is_read_through_sns_or_raw(body: str) -> None:
    alarm = parse_alarm_message(body)
    assert alarm.source is AlarmSource.CLOUDWATCH
    assert (alarm.name, alarm.state, alarm.is_alarm) == ("batch-estimated-charges", "ALARM", True)
    assert (alarm.region, alarm.account_id) == ("us-east-1", "123456789012")  # from the ARN, not "US East (...)"
    assert alarm.reason.startswith("Threshold Crossed")
    assert alarm.at == "2026-12-02T06:00:27.123+0000"
    assert alarm.label == "CloudWatch alarm batch-estimated-charges"


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_a_cloudwatch_alarm_leaving_alarm_is_read_but_is_no_alarm(state: str) -> None:
    alarm = parse_alarm_message(sns(json.dumps({**CLOUDWATCH, "NewStateValue": state, "OldStateValue": "ALARM"})))
    assert (alarm.state, alarm.is_alarm) == (state, False)


@pytest.mark.parametrize("body", [sns(BUDGETS), BUDGETS], ids=["sns", "raw"])
def test_a_budgets_notification_is_read_through_sns_or_raw(body: str) -> None:
    alarm = parse_alarm_message(body)
    assert alarm.source is AlarmSource.BUDGETS
    assert (alarm.name, alarm.state, alarm.alert_type) == ("ml-monthly", "ALARM", "ACTUAL")
    assert (alarm.threshold, alarm.amount, alarm.account_id) == ("> $80.00", "$93.17", "123456789012")
    assert alarm.label == "AWS Budgets budget ml-monthly (ACTUAL)"
    assert "over the alert threshold" in alarm.reason


def test_a_forecasted_budgets_notification_names_its_forecast() -> None:
    text = BUDGETS.replace("ACTUAL", "FORECASTED")
    alarm = parse_alarm_message(sns(text))
    assert (alarm.alert_type, alarm.amount) == ("FORECASTED", "$93.17")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("hello", "neither a CloudWatch alarm"),
        ("[1, 2]", "not an object"),
        ('{"Type": "SubscriptionConfirmation", "Message": "You have chosen..."}', "'SubscriptionConfirmation'"),
        ('{"Type": "Notification"}', "without a Message"),
        ('{"Type": "Notification", "Message": ""}', "without a Message"),
        (sns("{not json"), "starts like JSON but is not"),
        (sns(json.dumps({"detail-type": "Batch Job State Change"})), "without AlarmName and NewStateValue"),
        (sns(json.dumps({**CLOUDWATCH, "AlarmName": ""})), "without a name"),
        (sns(json.dumps({**CLOUDWATCH, "NewStateValue": "PANIC"})), "'PANIC' is none of"),
        (sns("Budget Name: \nAlert Type: ACTUAL"), "without a budget name"),
        (sns(BUDGETS.replace("Alert Type: ACTUAL", "Alert Type: SOMETIMES")), "'SOMETIMES' is none of"),
        (sns("Your spending is fine."), "neither a CloudWatch alarm"),
    ],
    ids=[
        "empty",
        "blank",
        "plain-text",
        "json-list",
        "subscription-confirmation",
        "notification-without-message",
        "notification-empty-message",
        "broken-json",
        "other-json",
        "alarm-without-name",
        "unknown-state",
        "budget-without-name",
        "budget-unknown-alert-type",
        "unrelated-prose",
    ],
)
def test_anything_else_is_refused_saying_why(body: str, why: str) -> None:
    with pytest.raises(UnreadableAlarm, match=why.replace("[", r"\[").replace("(", r"\(")):
        parse_alarm_message(body)


def test_a_refusal_quotes_a_long_body_shortened() -> None:
    with pytest.raises(UnreadableAlarm) as refused:
        parse_alarm_message("x" * 10_000)
    assert len(str(refused.value)) < 300


def test_an_alarm_goes_through_a_trigger_event_and_an_asset_event_unchanged() -> None:
    alarm = parse_alarm_message(sns(BUDGETS))
    payload = json.loads(json.dumps({**alarm.to_dict(), "message_id": "m1"}))
    assert CostAlarm.from_dict(payload) == alarm
    events = [SimpleNamespace(extra={"from_trigger": True, "payload": payload})]
    assert alarms_from_asset_events(events) == [alarm]


def test_the_latest_event_of_each_alarm_is_kept_once() -> None:
    first = parse_alarm_message(json.dumps(CLOUDWATCH))
    later = parse_alarm_message(json.dumps({**CLOUDWATCH, "StateChangeTime": "later"}))
    budget = parse_alarm_message(BUDGETS)
    events = [{"extra": {"payload": alarm.to_dict()}} for alarm in (first, budget, later)]
    assert alarms_from_asset_events(events) == [budget, later]


@pytest.mark.parametrize("extra", [None, {}, {"from_trigger": True}, {"payload": {"name": "x"}}])
def test_an_asset_event_that_is_not_a_cost_alarm_is_refused(extra: Any) -> None:
    with pytest.raises(UnreadableAlarm):
        alarms_from_asset_events([SimpleNamespace(extra=extra)])


def test_the_stop_reason_names_the_alarms_the_step_and_the_run() -> None:
    alarms = [parse_alarm_message(json.dumps(CLOUDWATCH)), parse_alarm_message(BUDGETS)]
    reason = alarm_stop_reason(alarms, "example_batch_cost_alarm", "asset_triggered__1", "cancelled before starting")
    assert reason == (
        "Stopped by Airflow cost alarm: CloudWatch alarm batch-estimated-charges, AWS Budgets budget ml-monthly "
        "(ACTUAL); cancelled before starting; dag example_batch_cost_alarm, run asset_triggered__1"
    )
    assert len(alarm_stop_reason(alarms * 100, "d", "r", "s")) == 1024
