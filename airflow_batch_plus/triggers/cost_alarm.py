"""CostAlarmTrigger: an asset watcher's trigger that fires when a cost alarm reaches an SQS queue.

Used as `AssetWatcher(name=..., trigger=CostAlarmTrigger(queue_url=...))` on an `Asset`, which a DAG is
scheduled on: each alarm becomes an asset event (its `extra["payload"]` is `CostAlarm.to_dict()`) and the
DAG's run reads it from `triggering_asset_events` (`alarms.alarms_from_asset_events`).

It long-polls the queue through `SqsHook` in a thread of its own (triggers/queue_reading.py: boto3 blocks,
and neither the triggerer's event loop nor the threads its other triggers share may wait on a quiet queue),
so an idle queue costs three ReceiveMessage calls a minute. Only an alarm entering
ALARM fires; an alarm back to OK or INSUFFICIENT_DATA is logged and dropped (the DAG asks CloudWatch itself
whether the alarm still holds before terminating anything), and a message that is no alarm we can read is
refused with a log line naming why and what it was: nothing is stopped over it. Every message read is
deleted once its event is handed to the triggerer, refused ones included (they would only come back every
visibility timeout). The triggerer persists the event after this; a triggerer killed in between loses it,
as Airflow's own event triggers do: docs/cost-alarms.md says so.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_batch_plus.alarms import UnreadableAlarm, parse_alarm_message
from airflow_batch_plus.aws_settings import check_botocore_config
from airflow_batch_plus.triggers.queue_reading import RECEIVE_WAIT_SECONDS, QueueReading

if TYPE_CHECKING:
    from airflow_batch_plus.hooks.sqs import QueueMessage, SqsHook

log = logging.getLogger(__name__)


class CostAlarmTrigger(BaseEventTrigger):
    """Fires once for each cost alarm entering ALARM that arrives on `queue_url`.

    :param queue_url: the SQS queue an SNS topic delivers the alarms to (CloudWatch alarm actions, AWS
        Budgets notifications), with or without raw message delivery.
    :param aws_conn_id: the amazon provider's `aws` connection to read the queue with.
    :param region_name: the queue's region (else the connection's).
    :param botocore_config: botocore.config.Config's arguments as a dict.
    :param wait_seconds: the long poll's wait, 1 to 20 seconds.
    """

    def __init__(
        self,
        *,
        queue_url: str,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        botocore_config: dict[str, Any] | None = None,
        wait_seconds: int = RECEIVE_WAIT_SECONDS,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if not isinstance(queue_url, str) or not queue_url.strip():
            raise ValueError(f"queue_url={queue_url!r}: give the SQS queue URL the alarms are delivered to")
        if not isinstance(wait_seconds, int) or not 1 <= wait_seconds <= RECEIVE_WAIT_SECONDS:
            raise ValueError(f"wait_seconds={wait_seconds!r}: give 1 to {RECEIVE_WAIT_SECONDS} (SQS's long poll)")
        self.queue_url = queue_url
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.botocore_config = check_botocore_config(botocore_config)
        self.wait_seconds = wait_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "queue_url": self.queue_url,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "botocore_config": self.botocore_config,
                "wait_seconds": self.wait_seconds,
            },
        )

    def make_hook(self) -> SqsHook:
        from airflow_batch_plus.hooks.sqs import SqsHook

        return SqsHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, config=self.botocore_config)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        queue = QueueReading(self.queue_url, self.make_hook, what="cost alarms", wait_seconds=self.wait_seconds)
        log.info("Waiting for cost alarms on %s", self.queue_url)
        while (messages := await queue.receive()) is not None:
            for message in messages:
                payload = self.read(message)
                if payload is not None:
                    yield TriggerEvent(payload)  # type: ignore[no-untyped-call]
            if messages:  # refused ones too: they would only come back every visibility timeout
                await queue.delete(messages)

    def read(self, message: QueueMessage) -> dict[str, Any] | None:
        """The event payload of one message, or None (logged) if it must not stop anything."""
        try:
            alarm = parse_alarm_message(message.body)
        except UnreadableAlarm as why:
            log.warning(
                "Refused message %s from %s: %s. Nothing is stopped over it; it is deleted",
                message.message_id,
                self.queue_url,
                why,
            )
            return None
        if not alarm.is_alarm:
            log.info("%s is %s: nothing to stop (message %s)", alarm.label, alarm.state, message.message_id)
            return None
        log.info("%s is in ALARM (%s): firing (message %s)", alarm.label, alarm.reason, message.message_id)
        return {**alarm.to_dict(), "message_id": message.message_id}
