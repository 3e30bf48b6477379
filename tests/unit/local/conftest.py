"""Helpers for driving the local Batch through boto3, as user code does."""

from __future__ import annotations

import time
from typing import Any

import botocore.session
from botocore.model import Shape

from airflow_batch_plus.local import LocalBatch

DONE = {"SUCCEEDED", "FAILED"}
_BATCH_MODEL = botocore.session.get_session().get_service_model("batch")
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "double": (int, float),
    "float": (int, float),
    "timestamp": (int, float),
}


def submit(local_batch: LocalBatch, command: str | list[str] = "true", **request: Any) -> str:
    """SubmitJob on the bootstrapped queue and job definition; a string command runs under `sh -c`."""
    assert local_batch.env is not None
    argv = ["sh", "-c", command] if isinstance(command, str) else command
    request.setdefault("jobName", "conformance")
    request.setdefault("jobQueue", local_batch.env.queue_name)
    request.setdefault("jobDefinition", local_batch.env.job_definition_name)
    request.setdefault("containerOverrides", {}).setdefault("command", argv)
    return str(local_batch.client("batch").submit_job(**request)["jobId"])


def describe(batch: Any, job_id: str) -> dict[str, Any]:
    (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
    return dict(job)


def wait_for(batch: Any, job_id: str, statuses: set[str] | str = DONE, timeout: float = 15) -> dict[str, Any]:
    """Poll DescribeJobs every 10 ms until the job is in one of `statuses`."""
    wanted = {statuses} if isinstance(statuses, str) else statuses
    deadline = time.monotonic() + timeout
    while True:
        job = describe(batch, job_id)
        if job["status"] in wanted:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is {job['status']}, not {sorted(wanted)}, after {timeout} s")
        time.sleep(0.01)


def trace(batch: Any, job_id: str, timeout: float = 15) -> list[str]:
    """Every status the job was seen in, in order, until it finished."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = describe(batch, job_id)["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in DONE:
            return seen
        time.sleep(0.005)
    raise AssertionError(f"job {job_id} did not finish: {seen}")


def log_messages(logs: Any, stream: str, group: str = "/aws/batch/job") -> list[str]:
    events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    return [event["message"] for event in events]


def assert_shape(value: Any, shape: Shape, path: str = "$") -> None:
    """`value` uses only members and types that botocore's model of the AWS API declares."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), f"{path}: expected an object"
        for key, item in value.items():
            assert key in shape.members, f"{path}.{key} is not in the {shape.name} shape"
            assert_shape(item, shape.members[key], f"{path}.{key}")
    elif kind == "list":
        assert isinstance(value, list), f"{path}: expected a list"
        for index, item in enumerate(value):
            assert_shape(item, shape.member, f"{path}[{index}]")  # type: ignore[attr-defined]
    elif kind == "map":
        assert isinstance(value, dict), f"{path}: expected a map"
        for key, item in value.items():
            assert_shape(item, shape.value, f"{path}[{key!r}]")  # type: ignore[attr-defined]
    else:
        assert isinstance(value, _PYTHON_TYPES[kind]), f"{path}: {value!r} is not a {kind}"
        if kind == "string" and shape.enum:
            assert value in shape.enum, f"{path}: {value!r} is not one of {shape.enum}"


def assert_conforms(operation: str, response: dict[str, Any]) -> None:
    """A parsed boto3 response (timestamps as received) conforms to the operation's output shape."""
    body = {key: value for key, value in response.items() if key != "ResponseMetadata"}
    assert_shape(body, _BATCH_MODEL.operation_model(operation).output_shape)
