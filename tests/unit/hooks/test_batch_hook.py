"""BatchHook against the local AWS Batch: batched, validated, state-aware; AWS calls counted by botocore."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_batch_plus import botocore_data, links, validation
from airflow_batch_plus.hooks.batch import SUBMISSION_TAG, BatchHook, JobNotFoundError
from airflow_batch_plus.jobs import JobSnapshot, JobStatus, StopOutcome
from airflow_batch_plus.local import LocalBatch, LocalBatchConfig
from airflow_batch_plus.testing.calls import CallCounter
from airflow_batch_plus.validation import BatchRequestError

# Jobs that stay SUBMITTED for an hour: enough of them to count calls, none of them running a process.
HELD = LocalBatchConfig(submitted_seconds=3600, tick_seconds=0.05)


def hold_jobs(local_batch: LocalBatch, count: int, prefix: str = "held") -> list[str]:
    """Submit `count` jobs straight to the engine (no API calls to count), in submission order."""
    assert local_batch.env is not None
    request = {"jobQueue": local_batch.env.queue_name, "jobDefinition": local_batch.env.job_definition_name}
    return [local_batch.engine.submit_job({**request, "jobName": f"{prefix}-{i}"}).job_id for i in range(count)]


def wait_until(hook: BatchHook, job_id: str, done: Callable[[JobSnapshot], bool], timeout: float = 15) -> JobSnapshot:
    deadline = time.monotonic() + timeout
    while True:
        snapshot = hook.describe_job(job_id)
        if done(snapshot) or time.monotonic() > deadline:
            return snapshot
        time.sleep(0.02)


def submit_request(local_batch: LocalBatch, **fields: Any) -> dict[str, Any]:
    assert local_batch.env is not None
    return {
        "jobName": "job",
        "jobQueue": local_batch.env.queue_name,
        "jobDefinition": local_batch.env.job_definition_name,
        **fields,
    }


# Submit


def test_submit_job_returns_the_job_and_sends_every_field(
    batch_hook: BatchHook, local_batch: LocalBatch, calls: CallCounter
) -> None:
    request = submit_request(
        local_batch,
        jobName="with-everything",
        containerOverrides={
            "command": ["sh", "-c", "echo $GREETING"],
            "environment": [{"name": "GREETING", "value": "hi"}],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}],
        },
        retryStrategy={"attempts": 2, "evaluateOnExit": [{"onExitCode": "1", "action": "RETRY"}]},
        timeout={"attemptDurationSeconds": 600},
        tags={"team": "data"},
        propagateTags=True,
        parameters={"day": "monday"},
    )
    submitted = batch_hook.submit_job(request)

    assert calls["SubmitJob"] == 1
    snapshot = batch_hook.describe_job(submitted.job_id)
    assert (snapshot.job_name, submitted.job_name) == ("with-everything", "with-everything")
    assert snapshot.job_arn == submitted.job_arn
    assert snapshot.tags == {"team": "data", SUBMISSION_TAG: snapshot.tags[SUBMISSION_TAG]}
    sent = dict(calls.requests)["SubmitJob"]
    assert sent["retryStrategy"]["attempts"] == 2 and sent["timeout"] == {"attemptDurationSeconds": 600}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"jobName": "has spaces"}, "jobName"),
        ({"containerOverrides": {"vcpus": 2}}, "containerOverrides.vcpus"),
        (
            {"containerOverrides": {"environment": [{"name": "N", "value": 7}]}},
            "containerOverrides.environment[0].value",
        ),
        ({"arrayProperties": {"size": 1}}, "arrayProperties.size"),
        ({"retryStrategy": {"attempts": 11}}, "retryStrategy.attempts"),
        ({"priority": 3}, "priority"),
    ],
    ids=["bad-name", "deprecated-vcpus", "env-value-not-string", "array-of-one", "eleven-attempts", "unknown-field"],
)
def test_a_bad_request_is_refused_before_any_call(
    batch_hook: BatchHook, local_batch: LocalBatch, calls: CallCounter, fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(BatchRequestError, match=named.replace("[", r"\[").replace(".", r"\.")):
        batch_hook.submit_job(submit_request(local_batch, **fields))

    assert calls.calls == {}, "nothing may be sent for a bad request"
    assert local_batch.engine.describe_jobs([]) == []


def test_override_environment_values_are_masked_before_submission(
    batch_hook: BatchHook, local_batch: LocalBatch
) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    secret = "s3cr3t-value-0f-the-api-token"
    batch_hook.submit_job(
        submit_request(local_batch, containerOverrides={"environment": [{"name": "API_TOKEN", "value": secret}]})
    )

    assert redact(f"token is {secret}") == "token is ***"


# Describe


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_describe_jobs_of_250_ids_makes_3_calls_and_reports_the_missing(
    batch_hook: BatchHook, local_batch: LocalBatch, calls: CallCounter
) -> None:
    job_ids = hold_jobs(local_batch, 240)
    unknown = [f"00000000-0000-0000-0000-{i:012d}" for i in range(10)]
    asked = job_ids[:120] + unknown + job_ids[120:]

    result = batch_hook.describe_jobs(asked + job_ids[:5])  # repeated ids are asked once

    assert calls["DescribeJobs"] == 3
    assert [len(params["jobs"]) for _, params in calls.requests] == [100, 100, 50]
    assert list(result.jobs) == job_ids, "found jobs keep the order they were asked in"
    assert result.missing == tuple(unknown)
    assert all(snapshot.status is JobStatus.SUBMITTED for snapshot in result.jobs.values())


def test_describe_job_of_an_unknown_id_says_so(batch_hook: BatchHook) -> None:
    with pytest.raises(JobNotFoundError, match="no job 'gone'"):
        batch_hook.describe_job("gone")


def test_an_arrays_children_are_described_by_their_ids_in_one_call(
    batch_hook: BatchHook, local_batch: LocalBatch, calls: CallCounter
) -> None:
    array = batch_hook.submit_job(submit_request(local_batch, jobName="fan-out", arrayProperties={"size": 4}))
    parent = wait_until(batch_hook, array.job_id, lambda s: s.is_done)
    calls.clear()

    children = batch_hook.describe_jobs(parent.child_job_ids())

    assert calls["DescribeJobs"] == 1
    assert list(children.jobs) == [f"{array.job_id}:{i}" for i in range(4)]
    assert [child.array_index for child in children.jobs.values()] == [0, 1, 2, 3]
    assert all(child.log_streams for child in children.jobs.values())
    assert parent.status_summary["SUCCEEDED"] == 4


# List


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_listing_2500_jobs_pages_lazily(batch_hook: BatchHook, local_batch: LocalBatch, calls: CallCounter) -> None:
    assert local_batch.env is not None
    job_ids = hold_jobs(local_batch, 2500)

    listed = batch_hook.list_jobs(job_queue=local_batch.env.queue_name, status="SUBMITTED", page_size=100)
    assert calls["ListJobs"] == 0, "nothing is fetched before the first job is asked for"
    first = next(listed)
    assert calls["ListJobs"] == 1
    rest = list(listed)

    assert calls["ListJobs"] == 25
    assert [first.job_id, *(job.job_id for job in rest)] == job_ids[::-1], "every job once, newest first"


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_list_jobs_with_one_filter_returns_every_status(
    batch_hook: BatchHook, local_batch: LocalBatch, calls: CallCounter
) -> None:
    assert local_batch.env is not None
    wanted = hold_jobs(local_batch, 3, prefix="nightly")
    hold_jobs(local_batch, 2, prefix="hourly")
    batch_hook.stop_job(wanted[0], "cancel", "test")

    listed = list(batch_hook.list_jobs(job_queue=local_batch.env.queue_name, job_name="NIGHTLY*"))

    assert sorted(job.job_id for job in listed) == sorted(wanted)
    assert {job.status for job in listed} == {JobStatus.SUBMITTED, JobStatus.FAILED}
    (_, params) = calls.requests[-1]
    assert params["filters"] == [{"name": "JOB_NAME", "values": ["NIGHTLY*"]}] and "jobStatus" not in params


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "exactly one of job_queue, array_job_id, multi_node_job_id"),
        ({"job_queue": "q", "array_job_id": "a"}, "exactly one of"),
        ({"job_queue": "q", "job_name": "a*", "created_after": 0}, "one filter at a time"),
        ({"job_queue": "q", "job_name": "a*", "status": "RUNNING"}, "status and job_name cannot be combined"),
        ({"job_queue": "q", "status": "DONE"}, "status='DONE' is not a Batch job status"),
    ],
    ids=["no-scope", "two-scopes", "two-filters", "status-and-filter", "bad-status"],
)
def test_list_jobs_refuses_what_batch_would_refuse_or_ignore(
    batch_hook: BatchHook, calls: CallCounter, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        next(batch_hook.list_jobs(**arguments))
    assert calls.calls == {}


# Stop


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_stopping_120_jobs_makes_3_bulk_calls(
    batch_hook: BatchHook, local_batch: LocalBatch, calls: CallCounter
) -> None:
    job_ids = hold_jobs(local_batch, 120)

    results = batch_hook.stop_jobs(job_ids, "terminate", "budget exceeded")

    assert calls["TerminateJobs"] == 3 and calls["CancelJobs"] == 0
    assert [len(params["jobs"]) for name, params in calls.requests if name == "TerminateJobs"] == [50, 50, 20]
    assert calls["DescribeJobs"] == 2, "the 120 statuses are read in two calls, to report what was done"
    assert {result.outcome for result in results.values()} == {StopOutcome.TERMINATE_REQUESTED}
    stopped = batch_hook.describe_jobs(job_ids).jobs.values()
    assert {(job.status, job.status_reason) for job in stopped} == {(JobStatus.FAILED, "budget exceeded")}


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_stop_jobs_given_snapshots_skips_describing_them(
    batch_hook: BatchHook, local_batch: LocalBatch, calls: CallCounter
) -> None:
    snapshots = list(batch_hook.describe_jobs(hold_jobs(local_batch, 3)).jobs.values())
    calls.clear()

    results = batch_hook.stop_jobs(snapshots, "cancel", "not needed")

    assert dict(calls.calls) == {"CancelJobs": 1}
    assert {result.outcome for result in results.values()} == {StopOutcome.CANCEL_REQUESTED}


def test_cancel_policy_lets_a_running_job_finish_and_terminate_stops_it(
    batch_hook: BatchHook, local_batch: LocalBatch, calls: CallCounter
) -> None:
    job = batch_hook.submit_job(submit_request(local_batch, containerOverrides={"command": ["sleep", "30"]}))
    assert wait_until(batch_hook, job.job_id, lambda s: s.status is JobStatus.RUNNING).status is JobStatus.RUNNING

    kept = batch_hook.stop_job(job.job_id, "cancel", "budget")
    assert (kept.outcome, kept.status) == (StopOutcome.LEFT_RUNNING, JobStatus.RUNNING)
    assert calls["CancelJobs"] == calls["TerminateJobs"] == 0
    assert batch_hook.stop_job(job.job_id, "keep", "budget").outcome is StopOutcome.KEPT

    stopped = batch_hook.stop_job(job.job_id, "terminate", "marked failed in the UI")
    assert (stopped.outcome, stopped.status) == (StopOutcome.TERMINATE_REQUESTED, JobStatus.RUNNING)
    ended = wait_until(batch_hook, job.job_id, lambda s: s.is_done)
    assert (ended.status, ended.status_reason) == (JobStatus.FAILED, "marked failed in the UI")

    again = batch_hook.stop_job(job.job_id, "terminate", "twice")
    assert again.outcome is StopOutcome.ALREADY_DONE and calls["TerminateJobs"] == 1


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_a_reason_longer_than_1024_characters_is_trimmed_not_refused(
    batch_hook: BatchHook, local_batch: LocalBatch
) -> None:
    (job_id,) = hold_jobs(local_batch, 1)

    result = batch_hook.stop_job(job_id, "terminate", "why " * 500)

    assert result.outcome is StopOutcome.TERMINATE_REQUESTED
    reason = batch_hook.describe_job(job_id).status_reason
    assert reason is not None and len(reason) == 1024 and reason.startswith("why why")


def test_stop_reports_unknown_jobs_and_refuses_an_unknown_policy(batch_hook: BatchHook, calls: CallCounter) -> None:
    assert batch_hook.stop_job("no-such-job", "terminate", "x").outcome is StopOutcome.NOT_FOUND
    assert calls["TerminateJobs"] == 0
    with pytest.raises(ValueError, match="stop_policy='kill' is not a stop policy"):
        batch_hook.stop_job("no-such-job", "kill", "x")


# Job definitions

SPEC: dict[str, Any] = {
    "type": "container",
    "containerProperties": {
        "image": "public.ecr.aws/docker/library/busybox",
        "command": ["echo", "hello"],
        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
    },
}


def test_ensure_job_definition_registers_only_when_the_content_changes(
    batch_hook: BatchHook, calls: CallCounter
) -> None:
    first = batch_hook.ensure_job_definition("etl", SPEC)
    reordered = {"containerProperties": SPEC["containerProperties"], "type": "container"}
    same = batch_hook.ensure_job_definition("etl", reordered)
    changed_spec = {**SPEC, "containerProperties": {**SPEC["containerProperties"], "command": ["echo", "bye"]}}
    changed = batch_hook.ensure_job_definition("etl", changed_spec)

    assert calls["RegisterJobDefinition"] == 2
    assert first == same and first.endswith("etl:1")
    assert changed.endswith("etl:2")
    assert batch_hook.ensure_job_definition("etl", changed_spec) == changed


def test_ensure_job_definition_checks_the_spec_first(batch_hook: BatchHook, calls: CallCounter) -> None:
    with pytest.raises(BatchRequestError, match=r"containerProperties\.image: expected a string"):
        batch_hook.ensure_job_definition("etl", {"type": "container", "containerProperties": {"image": 5}})
    assert calls["RegisterJobDefinition"] == 0


def test_resolve_job_definition_pins_the_exact_revision(batch_hook: BatchHook) -> None:
    batch_hook.ensure_job_definition("etl", SPEC)
    latest = batch_hook.ensure_job_definition("etl", {**SPEC, "parameters": {"day": "friday"}})

    assert batch_hook.resolve_job_definition("etl") == latest
    assert batch_hook.resolve_job_definition("etl:1").endswith("etl:1")
    assert batch_hook.resolve_job_definition(latest) == latest
    with pytest.raises(LookupError, match="jobDefinition='nope': no such job definition"):
        batch_hook.resolve_job_definition("nope")


# Retries: faults moto cannot produce, injected at botocore's `before-send` so its retry handler sees them.


class _Body:
    def __init__(self, payload: bytes):
        self._payload = payload

    def stream(self, **_: Any) -> Any:
        yield self._payload


def inject_faults(hook: BatchHook, statuses: list[int], monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Answer the next requests with these HTTP statuses (429: throttled, 5xx: server error); no real sleeping."""
    import botocore.endpoint
    from botocore.awsrequest import AWSResponse

    pending = list(statuses)
    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", type("Clock", (), {"sleep": staticmethod(slept.append)}))

    def answer(**_: Any) -> AWSResponse | None:
        if not pending:
            return None
        status = pending.pop(0)
        code = "TooManyRequestsException" if status == 429 else "ServerException"
        body = f'{{"__type": "{code}", "message": "injected"}}'.encode()
        return AWSResponse("https://batch.local", status, {"x-amzn-errortype": code}, _Body(body))

    hook.client.meta.events.register_first("before-send", answer)
    return slept


def test_throttling_and_server_errors_are_retried_by_botocore(
    batch_hook: BatchHook, calls: CallCounter, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    batch_hook.client.meta.events.register("before-send", lambda **_: sent.append("attempt"))
    slept = inject_faults(batch_hook, [429, 500, 503], monkeypatch)

    result = batch_hook.describe_jobs(["whatever"])

    assert result.missing == ("whatever",)
    assert calls["DescribeJobs"] == 1 and len(sent) == 4, "one call, four HTTP attempts"
    assert len(slept) == 3, "botocore backed off before each retry"


def test_retries_end_in_a_clear_error_and_the_callers_retry_settings_win(
    local_batch: LocalBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = BatchHook(
        aws_conn_id=None, region_name="us-east-1", config={"retries": {"mode": "standard", "max_attempts": 2}}
    )
    sent: list[str] = []
    hook.client.meta.events.register("before-send", lambda **_: sent.append("attempt"))
    inject_faults(hook, [500] * 5, monkeypatch)

    with pytest.raises(ClientError, match=r"\(ServerException\) when calling the DescribeJobs operation \(reached max"):
        hook.describe_jobs(["whatever"])
    assert len(sent) == 3, "the caller's two retries, not our default of ten"


# One code path: triggers call these same methods through asyncio.to_thread.


@pytest.mark.parametrize("local_batch_config", [HELD])
def test_the_hook_serves_concurrent_callers_from_asyncio_to_thread(
    batch_hook: BatchHook, local_batch: LocalBatch, calls: CallCounter
) -> None:
    import asyncio

    job_ids = hold_jobs(local_batch, 30)

    async def describe_all() -> list[JobSnapshot]:
        results = await asyncio.gather(*(asyncio.to_thread(batch_hook.describe_job, job_id) for job_id in job_ids))
        return list(results)

    snapshots = asyncio.run(describe_all())

    assert [snapshot.job_id for snapshot in snapshots] == job_ids
    assert calls["DescribeJobs"] == 30


def test_the_connections_config_kwargs_are_kept_and_adaptive_retries_added(monkeypatch: pytest.MonkeyPatch) -> None:
    """Handing AwsBaseHook a config of its own made it ignore the connection's `config_kwargs`."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_BATCH_TUNED",
        '{"conn_type": "aws", "extra": {"region_name": "us-east-1", "config_kwargs": {"read_timeout": 7}}}',
    )
    tuned = BatchHook(aws_conn_id="batch_tuned").client.meta.config
    assert (tuned.read_timeout, tuned.retries["mode"]) == (7, "adaptive")
    explicit = BatchHook(aws_conn_id="batch_tuned", config={"read_timeout": 3, "retries": {"mode": "standard"}})
    assert (explicit.client.meta.config.read_timeout, explicit.client.meta.config.retries["mode"]) == (3, "standard")
    assert explicit.submit_client.meta.config.retries["total_max_attempts"] == 1


@pytest.fixture
def json_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The botocore data files parsed from here on, in order, on a fresh shared loader (earlier tests
    warmed the process's one)."""
    from botocore.loaders import JSONFileLoader

    loaded: list[str] = []
    original = JSONFileLoader.load_file

    def counting(self: Any, file_path: str) -> Any:
        loaded.append(file_path)
        return original(self, file_path)

    monkeypatch.setattr(JSONFileLoader, "load_file", counting)
    botocore_data.shared_loader.cache_clear()
    return loaded


def test_the_hooks_clients_share_one_session_so_botocores_json_is_parsed_once(json_loads: list[str]) -> None:
    """AwsBaseHook makes a boto3 session per client, and a new session parses botocore's endpoint and
    service JSON again: the hook's client and its SubmitJob client paid that twice in every task."""
    loaded = json_loads
    hook = BatchHook(aws_conn_id=None, region_name="eu-west-1")
    assert hook.client.meta.region_name == "eu-west-1"
    after_first = len(loaded)
    assert after_first > 0
    assert hook.submit_client.meta.config.retries["total_max_attempts"] == 1
    assert hook.submit_client.meta.region_name == "eu-west-1"
    assert len(loaded) == after_first, loaded[after_first:]


def test_validation_and_console_links_read_botocores_json_through_the_hooks_loader(json_loads: list[str]) -> None:
    """A submission also validates its request against the Batch model and finds the region's partition
    for the console links; each made a botocore session of its own and parsed the Batch model and the
    endpoints file (botocore's largest) again in every task process."""
    loaded = json_loads
    validation._service_model.cache_clear()
    links.partition_of.cache_clear()
    BatchHook(aws_conn_id=None, region_name="eu-west-1").client  # noqa: B018 - made for its loads
    validation.validate_request("DescribeJobs", {"jobs": ["a-job"]})
    assert links.partition_of("eu-west-1") == "aws"
    largest = Counter(path for path in loaded if path.rsplit("/", 1)[-1] in ("endpoints", "service-2"))
    assert len(largest) == 2, loaded  # the endpoints and the Batch model: the counter saw botocore's loads
    assert set(largest.values()) == {1}, largest


def test_the_user_agent_names_the_calling_operator_without_inspect_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """`inspect.stack()` reads the source of every frame: in a fresh task process, over half of the CPU of
    making a client. The caller is found by walking the frames instead."""
    import inspect

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("inspect.stack() was called")

    monkeypatch.setattr(inspect, "stack", refuse)

    class SomeOperator:
        def execute(self) -> str:
            return str(BatchHook(aws_conn_id=None, region_name="us-east-1").submit_client.meta.config.user_agent_extra)

    assert "Caller/SomeOperator" in SomeOperator().execute()
    outside = BatchHook(aws_conn_id=None, region_name="us-east-1").submit_client.meta.config.user_agent_extra
    assert "Caller/Unknown" in outside


def test_the_region_is_known_without_making_a_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_REGIONAL", '{"conn_type": "aws", "extra": {"region_name": "eu-north-1"}}')
    from_environment = BatchHook(aws_conn_id=None)
    assert from_environment.region == "ap-southeast-2"
    assert BatchHook(aws_conn_id="batch_regional").region == "eu-north-1"
    assert BatchHook(aws_conn_id="batch_regional", region_name="us-west-2").region == "us-west-2"
    assert "conn" not in from_environment.__dict__  # no client was made to learn it
    assert from_environment.client.meta.region_name == "ap-southeast-2"
