"""CloudWatch alarm actions for the local Batch: an alarm changing state publishes to its SNS topics.

moto's SetAlarmState records the new state and stops there; CloudWatch on AWS also runs the alarm's actions
for that state (`AlarmActions` on ALARM, `OKActions` on OK, `InsufficientDataActions`), publishing its JSON
notification to each SNS topic. The local Batch does the same, so `aws cloudwatch set-alarm-state` against it
reaches an SQS queue subscribed to the topic, as on AWS, and the cost alarm DAG can be tried and tested
without an AWS account (docs/cost-alarms.md). Only a change of state notifies, as on AWS; an action that is
not an SNS topic is ignored, and a failed publish is logged, never raised into SetAlarmState.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend
from moto.sns.models import sns_backends

log = logging.getLogger(__name__)

_originals: dict[str, Any] = {}  # moto's SetAlarmState while ours is installed


def alarm_notification(alarm: Any, account_id: str, old_state: str) -> dict[str, Any]:
    """The message CloudWatch publishes for `alarm`'s new state (docs/cost-alarms.md shows its source)."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description or None,
        "AWSAccountId": account_id,
        "AlarmConfigurationUpdatedTimestamp": _iso(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _iso(alarm.state_updated_timestamp),
        "Region": alarm.region_name,
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": {
            "MetricName": alarm.metric_name,
            "Namespace": alarm.namespace,
            "StatisticType": "Statistic",
            "Statistic": str(alarm.statistic or "").upper(),
            "Unit": alarm.unit,
            "Dimensions": [{"value": item.value, "name": item.name} for item in alarm.dimensions],
            "Period": alarm.period,
            "EvaluationPeriods": alarm.evaluation_periods,
            "ComparisonOperator": alarm.comparison_operator,
            "Threshold": alarm.threshold,
        },
    }


def _iso(moment: Any) -> str:
    if not isinstance(moment, datetime):
        moment = datetime.now(UTC)
    if moment.tzinfo is None:  # moto keeps naive UTC times
        moment = moment.replace(tzinfo=UTC)
    return str(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f"))[:-3] + "+0000"


def _set_alarm_state(self: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
    alarm = self.alarms.get(alarm_name)
    old_state = alarm.state_value if alarm is not None else None
    _originals["set_alarm_state"](self, alarm_name, reason, reason_data, state_value)
    alarm = self.alarms[alarm_name]
    if old_state == alarm.state_value or not alarm.actions_enabled:
        return
    actions = {
        "ALARM": alarm.alarm_actions,
        "OK": alarm.ok_actions,
        "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
    }[alarm.state_value]
    message = json.dumps(alarm_notification(alarm, self.account_id, str(old_state)))
    subject = f'{alarm.state_value}: "{alarm.name}" in {alarm.region_name}'[:99]
    for arn in actions:
        parts = str(arn).split(":")
        if len(parts) < 6 or parts[2] != "sns":
            continue
        try:
            sns_backends[parts[4]][parts[3]].publish(message, arn=arn, subject=subject)
        except Exception:
            log.exception("Could not publish alarm %s's %s notification to %s", alarm.name, alarm.state_value, arn)


def install() -> None:
    """Run alarm actions from now on (idempotent)."""
    if "set_alarm_state" not in _originals:
        _originals["set_alarm_state"] = CloudWatchBackend.set_alarm_state
        CloudWatchBackend.set_alarm_state = _set_alarm_state  # type: ignore[method-assign]


def uninstall() -> None:
    if "set_alarm_state" in _originals:
        CloudWatchBackend.set_alarm_state = _originals.pop("set_alarm_state")  # type: ignore[method-assign]
