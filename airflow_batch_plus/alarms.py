"""Cost alarms as they arrive from SQS: a CloudWatch alarm's state change or an AWS Budgets notification.

Both reach the queue through SNS. The SQS body is then SNS's notification JSON (`Type: Notification`, the
publisher's text in `Message`), or, with the subscription's raw message delivery, that text alone. What the
text is differs by publisher (docs/cost-alarms.md#the-messages-we-read, with sources):

- CloudWatch publishes JSON: `AlarmName`, `NewStateValue` (`ALARM`, `OK`, `INSUFFICIENT_DATA`),
  `NewStateReason`, `StateChangeTime`, `AlarmArn`, `AWSAccountId`, `Trigger`, ...
- AWS Budgets publishes English prose, one `Field: value` line each for `Budget Name`, `Alert Type`
  (`ACTUAL` or `FORECASTED`), `Alert Threshold`, `<type> Amount`, after a line `AWS Account <id>`.
  Budgets has no OK message: a notification means the threshold was crossed.

Anything else is refused with the reason (`UnreadableAlarm`): the kill switch must never stop jobs over a
message it cannot read. Pure: no I/O, cheap to import (the trigger and the DAG's tasks use it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

CLOUDWATCH_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
BUDGET_ALERT_TYPES = ("ACTUAL", "FORECASTED")
ALARM = "ALARM"
_BUDGET_FIELD = re.compile(r"^[ \t]*([A-Za-z ]+?)[ \t]*:[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_BUDGET_ACCOUNT = re.compile(r"^\s*AWS Account\s+(\d{12})\s*$", re.MULTILINE)
_SHOWN = 120  # characters of an unreadable body a refusal quotes


class AlarmSource(StrEnum):
    CLOUDWATCH = "cloudwatch"
    BUDGETS = "budgets"


class UnreadableAlarm(ValueError):
    """A message that is not a cost alarm we can read; its text says why."""


@dataclass(frozen=True)
class CostAlarm:
    """One alarm notification, reduced to what the kill switch needs to decide and to say why it stopped jobs.

    `name` is the CloudWatch alarm's name or the budget's. `state` is the CloudWatch alarm's new state; a
    Budgets notification is always `ALARM` (Budgets only notifies on crossing a threshold). `region` comes from
    the alarm's ARN (the message's `Region` is a display name like "US East (N. Virginia)").
    """

    source: AlarmSource
    name: str
    state: str
    reason: str = ""
    account_id: str | None = None
    region: str | None = None
    alert_type: str | None = None  # Budgets: ACTUAL or FORECASTED
    threshold: str | None = None  # Budgets: "> $80.00" as the message says it
    amount: str | None = None  # Budgets: the actual or forecasted amount
    at: str | None = None  # when the state changed (CloudWatch) or SNS published it

    @property
    def is_alarm(self) -> bool:
        return self.state == ALARM

    @property
    def label(self) -> str:
        """How a stop reason names it: `CloudWatch alarm X` or `AWS Budgets budget X (ACTUAL)`."""
        if self.source is AlarmSource.CLOUDWATCH:
            return f"CloudWatch alarm {self.name}"
        return f"AWS Budgets budget {self.name} ({self.alert_type})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: a trigger event's payload, an asset event's `extra`, an XCom."""
        return {**asdict(self), "source": self.source.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostAlarm:
        try:
            name, state = data["name"], data["state"]
            if not isinstance(name, str) or not name or not isinstance(state, str):
                raise TypeError("name and state must be strings")
            optional = {key: _optional(data.get(key)) for key in _OPTIONAL}
            return cls(AlarmSource(data["source"]), name, state, str(data.get("reason") or ""), **optional)
        except (KeyError, TypeError, ValueError) as error:
            raise UnreadableAlarm(f"not a cost alarm's payload ({error}): {_shown(data)}") from None


def parse_alarm_message(body: str) -> CostAlarm:
    """The alarm an SQS message body carries: SNS's notification JSON or a raw delivery, from CloudWatch or
    Budgets. Raises `UnreadableAlarm` naming what is wrong with anything else."""
    if not isinstance(body, str) or not body.strip():
        raise UnreadableAlarm("an empty message")
    text, published_at = _unwrap_sns(body)
    if text.lstrip().startswith("{"):
        return _cloudwatch(text, published_at)
    if "Budget Name:" in text:
        return _budgets(text, published_at)
    raise UnreadableAlarm(f"neither a CloudWatch alarm (JSON) nor an AWS Budgets notification: {_shown(text)}")


def _unwrap_sns(body: str) -> tuple[str, str | None]:
    """The publisher's text and SNS's timestamp; a body that is not SNS's JSON is a raw delivery."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return body, None  # raw delivery of a prose message (Budgets)
    if not isinstance(envelope, dict):
        raise UnreadableAlarm(f"JSON, but not an object: {_shown(body)}")
    if "Type" not in envelope:
        return body, None  # raw delivery of a JSON message (CloudWatch)
    if envelope["Type"] != "Notification":
        raise UnreadableAlarm(f"an SNS {envelope['Type']!r} message, not a Notification")
    message = envelope.get("Message")
    if not isinstance(message, str) or not message.strip():
        raise UnreadableAlarm("an SNS Notification without a Message")
    timestamp = envelope.get("Timestamp")
    return message, timestamp if isinstance(timestamp, str) else None


def _cloudwatch(text: str, published_at: str | None) -> CostAlarm:
    try:
        message = json.loads(text)
    except ValueError:
        raise UnreadableAlarm(f"starts like JSON but is not: {_shown(text)}") from None
    if not isinstance(message, dict) or "AlarmName" not in message or "NewStateValue" not in message:
        raise UnreadableAlarm(f"JSON without AlarmName and NewStateValue, so not a CloudWatch alarm: {_shown(text)}")
    name, state = message["AlarmName"], message["NewStateValue"]
    if not isinstance(name, str) or not name.strip():
        raise UnreadableAlarm(f"a CloudWatch alarm without a name: AlarmName={name!r}")
    if state not in CLOUDWATCH_STATES:
        raise UnreadableAlarm(f"CloudWatch alarm {name}: NewStateValue={state!r} is none of {CLOUDWATCH_STATES}")
    arn = message.get("AlarmArn")
    arn_parts = arn.split(":") if isinstance(arn, str) else []
    account = message.get("AWSAccountId")
    return CostAlarm(
        source=AlarmSource.CLOUDWATCH,
        name=name,
        state=state,
        reason=str(message.get("NewStateReason") or ""),
        account_id=str(account) if account else (arn_parts[4] if len(arn_parts) > 4 else None),
        region=arn_parts[3] if len(arn_parts) > 3 and arn_parts[3] else None,
        at=str(message.get("StateChangeTime") or published_at or "") or None,
    )


def _budgets(text: str, published_at: str | None) -> CostAlarm:
    fields = {key.strip(): value for key, value in _BUDGET_FIELD.findall(text)}
    name = fields.get("Budget Name", "")
    if not name:
        raise UnreadableAlarm(f"an AWS Budgets notification without a budget name: {_shown(text)}")
    alert_type = fields.get("Alert Type", "").upper()
    if alert_type not in BUDGET_ALERT_TYPES:
        raise UnreadableAlarm(
            f"AWS Budgets budget {name}: Alert Type {fields.get('Alert Type')!r} is none of {BUDGET_ALERT_TYPES}"
        )
    threshold = fields.get("Alert Threshold") or None
    amount = fields.get(f"{alert_type} Amount") or None
    account = _BUDGET_ACCOUNT.search(text)
    why = f"{alert_type} cost {amount or 'unknown'} is over the alert threshold ({threshold or 'unknown'})"
    return CostAlarm(
        source=AlarmSource.BUDGETS,
        name=name,
        state=ALARM,
        reason=why,
        account_id=account.group(1) if account else None,
        alert_type=alert_type,
        threshold=threshold,
        amount=amount,
        at=published_at,
    )


_OPTIONAL = ("account_id", "region", "alert_type", "threshold", "amount", "at")


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)


def alarms_from_asset_events(events: Iterable[Any]) -> list[CostAlarm]:
    """The alarms of a DAG run's triggering asset events, oldest first, one per alarm (its latest).

    The triggerer records each trigger event as an asset event whose `extra` is
    `{"from_trigger": True, "payload": <the event's payload>}`; several alarms may queue one run. An event
    that is not one of ours (a manual asset event, another watcher's) is refused, not guessed at.
    """
    latest: dict[tuple[str, str], CostAlarm] = {}
    for event in events:
        extra = getattr(event, "extra", None) if not isinstance(event, Mapping) else event.get("extra")
        payload = extra.get("payload") if isinstance(extra, Mapping) else None
        if not isinstance(payload, Mapping):
            raise UnreadableAlarm(f"an asset event without a cost alarm payload: extra={_shown(extra)}")
        alarm = CostAlarm.from_dict(payload)
        latest.pop((alarm.source.value, alarm.name), None)
        latest[(alarm.source.value, alarm.name)] = alarm
    return list(latest.values())


def alarm_stop_reason(alarms: Iterable[CostAlarm], dag_id: str, run_id: str, step: str) -> str:
    """What Batch records on each job the cost alarm DAG stops: which alarm, which run, which step."""
    names = ", ".join(alarm.label for alarm in alarms) or "an unnamed cost alarm"
    return f"Stopped by Airflow cost alarm: {names}; {step}; dag {dag_id}, run {run_id}"[:1024]


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
