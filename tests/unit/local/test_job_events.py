"""Conformance: "Batch Job State Change" events, through EventBridge rules to SQS queues, as AWS Batch sends them.

AWS's user guide (batch_job_events): an event each time a job that was already submitted changes state, none
for the submission itself; `detail` is the job as DescribeJobs returns it; source "aws.batch".
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import replace
from typing import Any

import boto3
import botocore.session
import pytest
from conftest import DONE, assert_shape, describe, submit, wait_for

from airflow_batch_plus.local import LocalBatch, LocalBatchConfig, LocalBatchServer
from airflow_batch_plus.local import events as job_events
from airflow_batch_plus.local.bootstrap import JOB_EVENT_PATTERN

JOB_DETAIL = botocore.session.get_session().get_service_model("batch").shape_for("JobDetail")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
FAST = LocalBatchConfig.fast()
SLOW_SUBMITTED = replace(FAST, submitted_seconds=30)
TRAP_TERM = "trap 'exit 143' TERM; echo started; while true; do sleep 0.05; done"
WALK = ["PENDING", "RUNNABLE", "STARTING", "RUNNING"]


@pytest.fixture
def batch(batch_client: Any) -> Any:
    return batch_client


@pytest.fixture
def sqs(local_batch: LocalBatch) -> Any:
    return local_batch.client("sqs")


@pytest.fixture
def queue_url(local_batch: LocalBatch) -> str:
    """The bootstrap option: one queue, `batch-job-events`, behind the rule `batch-job-state-change`."""
    (url,) = local_batch.bootstrap(job_event_queues=1).job_event_queue_urls
    return url


def received(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message the queue holds now, oldest first, each parsed (and hidden for 5 minutes)."""
    found: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300).get(
        "Messages", []
    ):
        found += [json.loads(message["Body"]) for message in messages]
    return found


def events_until(
    sqs: Any, url: str, job_id: str, statuses: set[str] = DONE, timeout: float = 15
) -> list[dict[str, Any]]:
    """The queue's events until one says `job_id` reached one of `statuses` (the event follows DescribeJobs by a
    moment: it goes out once the engine's lock is released)."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not any(event["detail"]["jobId"] == job_id and event["detail"]["status"] in statuses for event in seen):
        assert time.monotonic() < deadline, f"no {sorted(statuses)} event for {job_id}: {statuses_of(seen, job_id)}"
        time.sleep(0.01)
        seen += received(sqs, url)
    return seen


def statuses_of(events: list[dict[str, Any]], job_id: str) -> list[str]:
    return [event["detail"]["status"] for event in events if event["detail"]["jobId"] == job_id]


def last_of(events: list[dict[str, Any]], job_id: str) -> dict[str, Any]:
    return [event for event in events if event["detail"]["jobId"] == job_id][-1]


def test_a_job_sends_an_event_per_state_change_in_order_with_the_aws_envelope(
    local_batch: LocalBatch, batch: Any, sqs: Any, queue_url: str
) -> None:
    job_id = submit(local_batch, "echo hi", tags={"team": "data"})
    events = events_until(sqs, queue_url, job_id)
    job = describe(batch, job_id)
    assert statuses_of(events, job_id) == [*WALK, "SUCCEEDED"]  # none for the submission, as on AWS
    for event in events:
        assert {key: event[key] for key in ("version", "detail-type", "source", "account", "region")} == {
            "version": "0",
            "detail-type": "Batch Job State Change",
            "source": "aws.batch",
            "account": "123456789012",
            "region": "us-east-1",
        }
        assert set(event) == {
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        }
        assert event["resources"] == [job["jobArn"]]
        assert ISO_UTC.match(event["time"]), event["time"]
        uuid.UUID(event["id"])
        assert_shape(event["detail"], JOB_DETAIL)
        detail = event["detail"]
        assert (detail["jobArn"], detail["jobName"], detail["jobQueue"], detail["jobDefinition"]) == (
            job["jobArn"],
            job["jobName"],
            job["jobQueue"],
            job["jobDefinition"],
        )
        assert detail["tags"] == {"team": "data"}
    assert len({event["id"] for event in events}) == len(events)
    assert [event["time"] for event in events] == sorted(event["time"] for event in events)
    by_status = {event["detail"]["status"]: event["detail"] for event in events}
    assert "logStreamName" not in by_status["STARTING"]["container"]
    assert by_status["RUNNING"]["container"]["logStreamName"] == job["container"]["logStreamName"]
    assert by_status["RUNNING"]["attempts"] == [] and "startedAt" in by_status["RUNNING"]
    assert by_status["SUCCEEDED"] == job  # the last event is DescribeJobs' item, exactly
    assert job["statusReason"] == "Essential container in task exited" and len(job["attempts"]) == 1


def test_a_failed_job_ends_with_a_failed_event_and_its_reason(
    local_batch: LocalBatch, sqs: Any, queue_url: str
) -> None:
    job_id = submit(local_batch, "exit 3")
    events = events_until(sqs, queue_url, job_id)
    assert statuses_of(events, job_id) == [*WALK, "FAILED"]
    detail = last_of(events, job_id)["detail"]
    assert (detail["statusReason"], detail["container"]["exitCode"]) == ("Essential container in task exited", 3)


def test_each_attempt_of_a_retried_job_walks_the_states_again(
    local_batch: LocalBatch, sqs: Any, queue_url: str
) -> None:
    job_id = submit(local_batch, "exit 1", retryStrategy={"attempts": 2})
    events = events_until(sqs, queue_url, job_id)
    assert statuses_of(events, job_id) == [*WALK, "RUNNABLE", "STARTING", "RUNNING", "FAILED"]
    attempts = [len(event["detail"]["attempts"]) for event in events if event["detail"]["jobId"] == job_id]
    assert attempts == [0, 0, 0, 0, 1, 1, 1, 2]


@pytest.mark.parametrize("local_batch_config", [SLOW_SUBMITTED])
def test_a_cancelled_job_sends_one_failed_event_with_the_reason(
    local_batch: LocalBatch, batch: Any, sqs: Any, queue_url: str
) -> None:
    job_id = submit(local_batch)
    batch.cancel_job(jobId=job_id, reason="not needed")
    (event,) = events_until(sqs, queue_url, job_id)  # SUBMITTED to FAILED: its only change
    detail = event["detail"]
    assert (detail["status"], detail["statusReason"], detail["isCancelled"]) == ("FAILED", "not needed", True)


def test_a_terminated_job_ends_with_a_failed_event_with_the_reason(
    local_batch: LocalBatch, batch: Any, sqs: Any, queue_url: str
) -> None:
    job_id = submit(local_batch, TRAP_TERM)
    wait_for(batch, job_id, "RUNNING")
    batch.terminate_job(jobId=job_id, reason="operator said stop")
    events = events_until(sqs, queue_url, job_id)
    assert statuses_of(events, job_id) == [*WALK, "FAILED"]
    detail = last_of(events, job_id)["detail"]
    assert (detail["statusReason"], detail["isTerminated"]) == ("operator said stop", True)
    assert detail["container"]["exitCode"] == 143


def test_array_children_send_their_own_events(local_batch: LocalBatch, batch: Any, sqs: Any, queue_url: str) -> None:
    parent = submit(local_batch, "exit $AWS_BATCH_JOB_ARRAY_INDEX", arrayProperties={"size": 2})
    events = events_until(sqs, queue_url, parent)
    # A child comes into being PENDING when its parent leaves SUBMITTED: no event for that, as for a submission.
    assert statuses_of(events, f"{parent}:0") == ["RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    assert statuses_of(events, f"{parent}:1") == ["RUNNABLE", "STARTING", "RUNNING", "FAILED"]
    assert last_of(events, f"{parent}:1")["detail"]["arrayProperties"] == {"index": 1}
    assert statuses_of(events, parent) == ["PENDING", "FAILED"]
    assert last_of(events, parent)["detail"] == describe(batch, parent)


def test_multi_node_nodes_send_their_own_events(local_batch: LocalBatch, batch: Any, sqs: Any, queue_url: str) -> None:
    container = {
        "image": "local",
        "command": ["sh", "-c", "sleep 0.1"],
        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
    }
    batch.register_job_definition(
        jobDefinitionName="mnp",
        type="multinode",
        nodeProperties={
            "numNodes": 2,
            "mainNode": 0,
            "nodeRangeProperties": [{"targetNodes": "0:", "container": container}],
        },
    )
    parent = batch.submit_job(jobName="mnp", jobQueue="local-queue", jobDefinition="mnp")["jobId"]
    events = events_until(sqs, queue_url, parent)
    assert statuses_of(events, f"{parent}#0") == ["RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    assert statuses_of(events, f"{parent}#1")[-1] in DONE
    assert last_of(events, f"{parent}#0")["detail"]["nodeDetails"] == {"nodeIndex": 0, "isMainNode": True}
    assert statuses_of(events, parent) == [*WALK, "SUCCEEDED"]


def test_two_queues_each_get_every_event(local_batch: LocalBatch, sqs: Any) -> None:
    env = local_batch.bootstrap(job_event_queues=2)
    assert [url.rsplit("/", 1)[-1] for url in env.job_event_queue_urls] == ["batch-job-events-1", "batch-job-events-2"]
    first, second = env.job_event_queue_urls
    job_id = submit(local_batch)
    one = events_until(sqs, first, job_id)
    assert statuses_of(one, job_id) == [*WALK, "SUCCEEDED"]
    assert events_until(sqs, second, job_id) == one  # the same events, ids included
    rule = local_batch.client("events").describe_rule(Name="batch-job-state-change")
    assert (rule["Arn"], json.loads(rule["EventPattern"])) == (env.job_event_rule_arn, JOB_EVENT_PATTERN)


def test_more_queues_than_a_rule_has_targets_is_refused_before_anything_is_made(local_batch: LocalBatch) -> None:
    with pytest.raises(ValueError, match="job_event_queues must be 1 to 5"):
        local_batch.bootstrap(queue_name="other-queue", job_event_queues=6)
    assert local_batch.client("batch").describe_job_queues(jobQueues=["other-queue"])["jobQueues"] == []


def test_without_a_rule_nothing_is_built_or_sent(
    local_batch: LocalBatch, batch: Any, sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    original = job_events.job_event
    monkeypatch.setattr(job_events, "job_event", lambda job, *args: built.append(job.job_id) or original(job, *args))
    url = sqs.create_queue(QueueName="no-rule-targets-me")["QueueUrl"]
    job_id = submit(local_batch)
    assert wait_for(batch, job_id)["status"] == "SUCCEEDED"
    time.sleep(0.1)
    assert (built, received(sqs, url)) == ([], [])


def test_rules_deliver_only_what_their_pattern_matches(local_batch: LocalBatch, sqs: Any) -> None:
    events = local_batch.client("events")
    urls = {}
    patterns = {
        "other-source": {"source": ["aws.ecs"]},
        "failures-only": {"source": ["aws.batch"], "detail": {"status": ["FAILED"]}},
        "disabled": JOB_EVENT_PATTERN,
    }
    for name, pattern in patterns.items():
        urls[name] = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=urls[name], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        state = "DISABLED" if name == "disabled" else "ENABLED"
        events.put_rule(Name=name, EventPattern=json.dumps(pattern), State=state)
        events.put_targets(Rule=name, Targets=[{"Id": name, "Arn": arn}])
    succeeded, failed = submit(local_batch, "true"), submit(local_batch, "exit 1")
    failures = events_until(sqs, urls["failures-only"], failed)
    assert [event["detail"]["status"] for event in failures] == ["FAILED"]
    wait_for(local_batch.client("batch"), succeeded)
    time.sleep(0.1)
    assert received(sqs, urls["failures-only"]) == []
    assert (received(sqs, urls["other-source"]), received(sqs, urls["disabled"])) == ([], [])


def test_a_target_that_fails_is_logged_once_and_neither_the_job_nor_other_rules_suffer(
    local_batch: LocalBatch, batch: Any, sqs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    events = local_batch.client("events")
    events.put_rule(Name="broken", EventPattern=json.dumps(JOB_EVENT_PATTERN))
    events.put_targets(Rule="broken", Targets=[{"Id": "gone", "Arn": "arn:aws:sqs:us-east-1:123456789012:gone"}])
    (url,) = local_batch.bootstrap(job_event_queues=1).job_event_queue_urls
    with caplog.at_level(logging.WARNING, logger=job_events.__name__):
        job_id = submit(local_batch)
        delivered = events_until(sqs, url, job_id)
    assert describe(batch, job_id)["status"] == "SUCCEEDED"
    assert statuses_of(delivered, job_id) == [*WALK, "SUCCEEDED"]
    warnings = [record for record in caplog.records if record.name == job_events.__name__]
    assert len(warnings) == 1 and "delivering a job state change event failed" in warnings[0].getMessage()


def test_events_reach_a_queue_read_over_http(batch_server: LocalBatchServer) -> None:
    assert batch_server.local_batch is not None
    (url,) = batch_server.local_batch.bootstrap(job_event_queues=1).job_event_queue_urls
    assert url.startswith(batch_server.endpoint_url)
    session = boto3.session.Session()  # from the environment the fixture set: the server's endpoint and key pair
    batch, sqs = session.client("batch"), session.client("sqs")
    job_id = batch.submit_job(
        jobName="over-http",
        jobQueue="local-queue",
        jobDefinition="local-job",
        containerOverrides={"command": ["echo", "over http"]},
    )["jobId"]
    events = events_until(sqs, url, job_id)
    assert statuses_of(events, job_id) == [*WALK, "SUCCEEDED"]
    assert last_of(events, job_id)["detail"] == describe(batch, job_id)
    assert batch_server.refused == 0
