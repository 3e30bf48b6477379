"""CostAlarmTrigger: fires once per alarm entering ALARM, refuses what it cannot read, deletes what it read."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from airflow.sdk import Asset, AssetWatcher
from airflow.triggers.base import BaseEventTrigger

from airflow_batch_plus.hooks.sqs import QueueMessage
from airflow_batch_plus.triggers.cost_alarm import CostAlarmTrigger

ALARM = json.dumps({"AlarmName": "spend", "NewStateValue": "ALARM", "NewStateReason": "over"})
OK = json.dumps({"AlarmName": "spend", "NewStateValue": "OK"})
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/batch-cost-alarms"


class FakeSqs:
    """Hands out the batches it was given, then nothing; records deletions."""

    def __init__(self, *batches: list[QueueMessage] | Exception) -> None:
        self.batches = list(batches)
        self.deleted: list[str] = []

    def receive(self, queue_url: str, wait_seconds: int) -> list[QueueMessage]:
        assert queue_url == QUEUE
        if not self.batches:
            return []
        batch = self.batches.pop(0)
        if isinstance(batch, Exception):
            raise batch
        return batch

    def delete(self, queue_url: str, messages: Any) -> list[str]:
        self.deleted += [message.message_id for message in messages]
        return []


def message(message_id: str, body: str) -> QueueMessage:
    return QueueMessage(message_id, f"receipt-{message_id}", body)


async def events_of(trigger: CostAlarmTrigger, count: int, timeout: float = 5) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def take() -> None:
        async for event in trigger.run():
            found.append(event.payload)
            if len(found) == count:
                return

    await asyncio.wait_for(take(), timeout)
    return found


def trigger_with(fake: FakeSqs, monkeypatch: pytest.MonkeyPatch) -> CostAlarmTrigger:
    trigger = CostAlarmTrigger(queue_url=QUEUE, wait_seconds=1)
    monkeypatch.setattr(trigger, "make_hook", lambda: fake)
    return trigger


def test_it_is_an_event_trigger_an_asset_watcher_takes_and_it_round_trips() -> None:
    trigger = CostAlarmTrigger(queue_url=QUEUE, aws_conn_id="aws_budget", region_name="us-east-1")
    assert isinstance(trigger, BaseEventTrigger)
    Asset("batch_cost_alarm", watchers=[AssetWatcher(name="w", trigger=trigger)])
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_batch_plus.triggers.cost_alarm.CostAlarmTrigger"
    assert CostAlarmTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [({"queue_url": ""}, "queue_url"), ({"queue_url": QUEUE, "wait_seconds": 0}, "wait_seconds"),
     ({"queue_url": QUEUE, "botocore_config": "fast"}, "botocore_config")],
)  # fmt: skip
def test_bad_arguments_are_refused_naming_the_field(arguments: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        CostAlarmTrigger(**arguments)


def test_an_alarm_fires_and_everything_read_is_deleted_while_ok_and_unreadable_ones_stop_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeSqs(
        [message("m1", "not an alarm"), message("m2", OK)],
        RuntimeError("throttled"),
        [message("m3", ALARM)],
    )
    trigger = trigger_with(fake, monkeypatch)
    monkeypatch.setattr("airflow_batch_plus.triggers.queue_reading.RETRY_SECONDS", (0.01,))
    with caplog.at_level(logging.INFO, logger="airflow_batch_plus.triggers.cost_alarm"):
        (payload,) = asyncio.run(events_of(trigger, 1))
    assert (payload["name"], payload["state"], payload["source"], payload["message_id"]) == (
        "spend",
        "ALARM",
        "cloudwatch",
        "m3",
    )
    assert fake.deleted[:2] == ["m1", "m2"]  # m3 goes once the event is handed over, on the next turn
    log = caplog.text
    assert "Refused message m1" in log and "Nothing is stopped over it" in log
    assert "CloudWatch alarm spend is OK: nothing to stop" in log
    assert "Could not read cost alarms" in log and "throttled" in log


def test_several_alarms_in_one_receive_fire_one_event_each(monkeypatch: pytest.MonkeyPatch) -> None:
    other = json.dumps({"AlarmName": "gpu-spend", "NewStateValue": "ALARM"})
    fake = FakeSqs([message("m1", ALARM), message("m2", other)])
    payloads = asyncio.run(events_of(trigger_with(fake, monkeypatch), 2))
    assert [payload["name"] for payload in payloads] == ["spend", "gpu-spend"]


def test_a_long_poll_of_a_quiet_queue_leaves_the_loops_shared_threads_to_other_triggers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The trigger waits up to 20 s in each receive of a quiet queue: not in a thread of the loop's default
    executor, which every other trigger's `asyncio.to_thread` shares (one thread here, to show it)."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    quiet = threading.Event()

    class QuietSqs(FakeSqs):
        def receive(self, queue_url: str, wait_seconds: int) -> list[QueueMessage]:
            quiet.wait(wait_seconds)
            return []

    trigger = trigger_with(QuietSqs(), monkeypatch)

    async def scenario() -> float:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(1))
        waiting = asyncio.create_task(events_of(trigger, 1, timeout=10))
        await asyncio.sleep(0.3)  # in its long poll
        started = time.monotonic()
        await asyncio.wait_for(asyncio.to_thread(lambda: None), timeout=5)
        waited = time.monotonic() - started
        quiet.set()
        waiting.cancel()
        return waited

    assert asyncio.run(scenario()) < 0.5
