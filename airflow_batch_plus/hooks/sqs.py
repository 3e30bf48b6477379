"""SqsHook: reads and deletes the messages of an SQS queue, for job state events and budget alarms.

Both arrive the same way: EventBridge (Batch's "Batch Job State Change" events) or SNS (a CloudWatch
alarm, an AWS Budgets notification) delivers them to a queue, and a reader long-polls it. The hook
only moves messages; what a message means is read by `job_events.py` and `alarms.py`, which are pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airflow_batch_plus.hooks.base import BaseBatchPlusHook, chunked

MAX_MESSAGES_PER_RECEIVE = 10  # SQS's limit for ReceiveMessage and DeleteMessageBatch
MAX_WAIT_SECONDS = 20  # SQS's longest long poll


@dataclass(frozen=True)
class QueueMessage:
    """One message as received: its body, and the receipt handle that deletes it."""

    message_id: str
    receipt_handle: str
    body: str


class SqsHook(BaseBatchPlusHook):
    """An SQS queue's messages through the amazon provider's `aws` connection."""

    default_client_type = "sqs"

    @property
    def client(self) -> Any:
        return self.conn

    def receive(self, queue_url: str, wait_seconds: int = MAX_WAIT_SECONDS) -> list[QueueMessage]:
        """Up to 10 messages, waiting up to `wait_seconds` for the first (a long poll: an empty queue costs
        one call per `wait_seconds`, not a busy loop)."""
        answer = self.client.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=MAX_MESSAGES_PER_RECEIVE,
            WaitTimeSeconds=max(0, min(wait_seconds, MAX_WAIT_SECONDS)),
        )
        return [
            QueueMessage(message["MessageId"], message["ReceiptHandle"], message.get("Body", ""))
            for message in answer.get("Messages", ())
        ]

    def delete(self, queue_url: str, messages: Iterable[QueueMessage]) -> list[str]:
        """Delete consumed messages, 10 a call; the ids SQS could not delete (they come back once their
        visibility timeout ends, and are read again: every reader here takes a message twice safely)."""
        failed: list[str] = []
        for chunk in chunked(list(messages), MAX_MESSAGES_PER_RECEIVE):
            entries = [
                {"Id": str(index), "ReceiptHandle": message.receipt_handle} for index, message in enumerate(chunk)
            ]
            answer = self.client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
            failed += [chunk[int(entry["Id"])].message_id for entry in answer.get("Failed", ())]
        return failed
