"""BatchLogsHook against the local Batch: every stream of a job, read together, once, in order."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from airflow_batch_plus.hooks.batch import BatchHook
from airflow_batch_plus.hooks.logs import BatchLogsHook, LogCursor
from airflow_batch_plus.jobs import JobSnapshot, LogStream
from airflow_batch_plus.local import LocalBatch
from airflow_batch_plus.testing.calls import CallCounter


def run_job(batch_hook: BatchHook, local_batch: LocalBatch, script: str, **fields: Any) -> JobSnapshot:
    """Submit `script` and wait for the job (and an array's children) to end."""
    assert local_batch.env is not None
    request = {
        "jobName": "logs",
        "jobQueue": local_batch.env.queue_name,
        "jobDefinition": local_batch.env.job_definition_name,
        "containerOverrides": {"command": ["sh", "-c", script], **fields.pop("containerOverrides", {})},
        **fields,
    }
    job_id = batch_hook.submit_job(request).job_id
    deadline = time.monotonic() + 20
    while not (snapshot := batch_hook.describe_job(job_id)).is_done:
        assert time.monotonic() < deadline, f"job {job_id} is still {snapshot.status}"
        time.sleep(0.05)
    return snapshot


def streams_of(batch_hook: BatchHook, job: JobSnapshot) -> list[LogStream]:
    children = batch_hook.describe_jobs(job.child_job_ids()).jobs.values()
    return (
        [stream for child in children for stream in child.log_streams] if job.is_array_parent else list(job.log_streams)
    )


def test_a_jobs_lines_are_read_once_and_in_order(
    batch_hook: BatchHook, logs_hook: BatchLogsHook, local_batch: LocalBatch
) -> None:
    job = run_job(batch_hook, local_batch, "for i in $(seq 1 50); do echo line-$i; done")
    cursor = LogCursor()
    read = logs_hook.read_new(job.log_streams, cursor)
    assert [line.message for line in read] == [f"line-{i}" for i in range(1, 51)]
    for line in read:
        cursor.mark(line)
    assert logs_hook.read_new(job.log_streams, cursor) == []  # nothing twice


def test_every_attempt_of_a_retried_job_is_read_and_labelled(
    batch_hook: BatchHook, logs_hook: BatchLogsHook, local_batch: LocalBatch
) -> None:
    job = run_job(batch_hook, local_batch, "echo try-$AWS_BATCH_JOB_ATTEMPT; exit 1", retryStrategy={"attempts": 2})
    lines = logs_hook.read_new(job.log_streams, LogCursor())
    assert [line.render() for line in lines] == ["attempt 1 try-1", "attempt 2 try-2"]


def test_an_arrays_children_are_read_together_and_labelled_with_their_index(
    batch_hook: BatchHook, logs_hook: BatchLogsHook, local_batch: LocalBatch, calls: CallCounter
) -> None:
    job = run_job(batch_hook, local_batch, "echo child-$AWS_BATCH_JOB_ARRAY_INDEX", arrayProperties={"size": 3})
    streams = streams_of(batch_hook, job)
    calls.clear()
    lines = logs_hook.read_new(streams, LogCursor())
    assert sorted(line.render() for line in lines) == ["[0] child-0", "[1] child-1", "[2] child-2"]
    assert calls.calls["FilterLogEvents"] == 1


def make_streams(local_batch: LocalBatch, group: str, count: int) -> list[LogStream]:
    logs: Any = local_batch.client("logs")
    logs.create_log_group(logGroupName=group)
    streams = [LogStream(group, f"s{index:03d}") for index in range(count)]
    for stream in streams:
        logs.create_log_stream(logGroupName=group, logStreamName=stream.name)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream.name,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": stream.name}],
        )
    return streams


def test_250_streams_of_one_group_take_3_filter_log_events_calls(
    logs_hook: BatchLogsHook, local_batch: LocalBatch, calls: CallCounter
) -> None:
    streams = make_streams(local_batch, "/many", 250)
    calls.clear()
    lines = logs_hook.read_new(streams, LogCursor())
    assert sorted(line.message for line in lines) == sorted(stream.name for stream in streams)
    asked = [len(params["logStreamNames"]) for name, params in calls.requests if name == "FilterLogEvents"]
    assert asked == [100, 100, 50]


def test_streams_of_two_groups_are_read_with_a_call_per_group(
    logs_hook: BatchLogsHook, local_batch: LocalBatch, calls: CallCounter
) -> None:
    streams = make_streams(local_batch, "/one", 2) + make_streams(local_batch, "/two", 2)
    calls.clear()
    assert len(logs_hook.read_new(streams, LogCursor())) == 4
    assert sorted(params["logGroupName"] for name, params in calls.requests if name == "FilterLogEvents") == [
        "/one",
        "/two",
    ]


def test_a_stream_or_group_that_does_not_exist_yet_has_no_lines_yet(
    logs_hook: BatchLogsHook, local_batch: LocalBatch
) -> None:
    later = LogStream("/later", "not-yet")
    cursor = LogCursor()
    assert logs_hook.read_new([later], cursor) == []  # no group
    logs: Any = local_batch.client("logs")
    logs.create_log_group(logGroupName="/later")
    assert logs_hook.read_new([later], cursor) == []  # group, no stream
    logs.create_log_stream(logGroupName="/later", logStreamName="not-yet")
    logs.put_log_events(
        logGroupName="/later",
        logStreamName="not-yet",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "hi"}],
    )
    assert [line.message for line in logs_hook.read_new([later], cursor)] == ["hi"]


def test_tail_gives_the_last_lines_for_a_failure_message(
    batch_hook: BatchHook, logs_hook: BatchLogsHook, local_batch: LocalBatch
) -> None:
    job = run_job(batch_hook, local_batch, "for i in $(seq 1 30); do echo line-$i; done; exit 2")
    assert [line.message for line in logs_hook.tail(job.log_streams, 3)] == ["line-28", "line-29", "line-30"]
    assert logs_hook.tail([LogStream("/nowhere", "none")], 3) == []


def test_override_environment_values_never_reach_a_log_record(
    batch_hook: BatchHook, logs_hook: BatchLogsHook, local_batch: LocalBatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    secret = "s3cr3t-token-value-0042"
    caplog.set_level(logging.DEBUG)
    job = run_job(
        batch_hook,
        local_batch,
        "echo the job ran",
        containerOverrides={"environment": [{"name": "API_TOKEN", "value": secret}]},
    )
    logs_hook.read_new(job.log_streams, LogCursor())
    assert caplog.records, "nothing was logged at DEBUG: the test would prove nothing"
    ours = [record for record in caplog.records if record.name.startswith("airflow_batch_plus")]
    assert ours and not [record for record in ours if secret in record.getMessage()]
    leaked = [record.name for record in caplog.records if secret in str(redact(record.getMessage()))]
    assert leaked == []
