"""A relayed line carries the job's own time (its CloudWatch timestamp) into the task log, not the relay's."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog.testing

from airflow_batch_plus.hooks.logs import LogLine
from airflow_batch_plus.jobs import LogStream
from airflow_batch_plus.local import LocalBatch
from airflow_batch_plus.triggers.batch import BatchJobTrigger
from airflow_batch_plus.triggers.line_clock import LineClock

STREAM = LogStream("/aws/batch/job", "job/default/task")


def test_lines_of_one_millisecond_are_a_microsecond_apart_in_order() -> None:
    """Airflow's log view drops a line identical to the one before it, time included: two blank lines
    printed in the same millisecond must not read as one."""
    clock = LineClock()
    stamps = [clock.timestamp(LogLine(STREAM, ms, "", str(index))) for index, ms in enumerate([1_000, 1_000, 5_250])]
    assert stamps == ["1970-01-01T00:00:01.000000Z", "1970-01-01T00:00:01.000001Z", "1970-01-01T00:00:05.250000Z"]


def test_each_line_is_logged_with_the_time_the_job_printed_it(local_batch: LocalBatch) -> None:
    """Ten lines printed over ten seconds used to show one timestamp (the relay's); here three lines are
    printed 0.4 s apart and each is logged with its own CloudWatch timestamp."""
    assert local_batch.env is not None
    batch = local_batch.client("batch")
    job_id = batch.submit_job(
        jobName="dated-lines",
        jobQueue=local_batch.env.queue_name,
        jobDefinition=local_batch.env.job_definition_name,
        containerOverrides={"command": ["sh", "-c", "for i in 1 2 3; do echo tick-$i; sleep 0.4; done"]},
    )["jobId"]
    trigger = BatchJobTrigger(job_id, aws_conn_id=None, region_name="us-east-1", poll_interval=0.2)

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    with structlog.testing.capture_logs() as entries:
        event = asyncio.run(asyncio.wait_for(first_event(), timeout=60))
    assert event["status"] == "success"
    logged = {
        str(entry["event"]): entry.get("timestamp") for entry in entries if str(entry["event"]).startswith("tick-")
    }

    stream = batch.describe_jobs(jobs=[job_id])["jobs"][0]["container"]["logStreamName"]
    printed = local_batch.client("logs").get_log_events(logGroupName="/aws/batch/job", logStreamName=stream)["events"]
    clock = LineClock()
    expected = {
        item["message"]: clock.timestamp(LogLine(STREAM, item["timestamp"], item["message"], str(index)))
        for index, item in enumerate(printed)
    }
    assert logged == expected
    assert sorted(set(expected.values())) == list(expected.values())  # three distinct, increasing times
