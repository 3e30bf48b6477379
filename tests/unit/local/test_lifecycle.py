"""Conformance: a job's lifecycle, its process, its environment and what DescribeJobs reports."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import assert_conforms, describe, log_messages, submit, trace, wait_for

from airflow_batch_plus.local import LocalBatch, LocalBatchConfig

SLOW_STATES = LocalBatchConfig(
    submitted_seconds=0.15,
    pending_seconds=0.15,
    runnable_seconds=0.15,
    starting_seconds=0.15,
    terminate_grace_seconds=1.0,
    tick_seconds=0.01,
)


@pytest.fixture
def batch(batch_client: Any) -> Any:
    return batch_client


@pytest.mark.parametrize("local_batch_config", [SLOW_STATES])
def test_a_job_walks_every_state_in_order(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch, "sleep 0.3")
    assert trace(batch, job_id) == ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]


def test_success_records_exit_code_reason_times_and_one_attempt(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch, "exit 0")
    job = wait_for(batch, job_id)
    assert job["status"] == "SUCCEEDED"
    assert job["statusReason"] == "Essential container in task exited"
    assert job["container"]["exitCode"] == 0
    assert job["createdAt"] <= job["startedAt"] <= job["stoppedAt"]
    (attempt,) = job["attempts"]
    assert attempt["container"]["exitCode"] == 0
    assert attempt["container"]["logStreamName"] == job["container"]["logStreamName"]
    assert attempt["startedAt"] <= attempt["stoppedAt"]


def test_non_zero_exit_fails_the_job_with_that_exit_code(local_batch: LocalBatch, batch: Any) -> None:
    job = wait_for(batch, submit(local_batch, "exit 3"))
    assert (job["status"], job["container"]["exitCode"]) == ("FAILED", 3)
    assert job["statusReason"] == "Essential container in task exited"


def test_a_command_that_cannot_start_fails_with_a_container_reason(local_batch: LocalBatch, batch: Any) -> None:
    job = wait_for(batch, submit(local_batch, ["/no/such/program"]))
    assert job["status"] == "FAILED"
    assert job["statusReason"] == "Task failed to start"
    assert job["container"]["reason"].startswith("CannotStartContainerError")


def test_the_process_leads_its_own_process_group(local_batch: LocalBatch, batch: Any) -> None:
    job = wait_for(batch, submit(local_batch, ["python3", "-c", "import os; print(os.getpid() == os.getpgid(0))"]))
    assert log_messages(local_batch.client("logs"), job["container"]["logStreamName"]) == ["True"]


def test_environment_has_batch_variables_definition_and_overrides_but_not_the_host(
    local_batch: LocalBatch, batch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOST_SECRET", "do-not-leak")
    batch.register_job_definition(
        jobDefinitionName="with-env",
        type="container",
        containerProperties={
            "image": "local",
            "command": ["sh", "-c", "true"],
            "environment": [{"name": "FROM_DEF", "value": "d"}, {"name": "OVERRIDDEN", "value": "old"}],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
        },
    )
    names = ["AWS_BATCH_JOB_ID", "AWS_BATCH_JOB_ATTEMPT", "AWS_BATCH_JQ_NAME", "AWS_BATCH_CE_NAME"]
    script = 'echo "' + "|".join(f"${name}" for name in [*names, "FROM_DEF", "OVERRIDDEN", "HOST_SECRET"]) + '"'
    job_id = submit(
        local_batch,
        script,
        jobDefinition="with-env",
        containerOverrides={"environment": [{"name": "OVERRIDDEN", "value": "new"}]},
    )
    job = wait_for(batch, job_id)
    (line,) = log_messages(local_batch.client("logs"), job["container"]["logStreamName"])
    assert line == f"{job_id}|1|local-queue|local-ce|d|new|"


def test_ref_parameters_come_from_the_definition_and_submit_overrides_them(local_batch: LocalBatch, batch: Any) -> None:
    batch.register_job_definition(
        jobDefinitionName="with-params",
        type="container",
        parameters={"who": "definition", "greeting": "hello"},
        containerProperties={
            "image": "local",
            "command": ["echo", "Ref::greeting", "Ref::who"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
        },
    )
    job_id = batch.submit_job(
        jobName="params", jobQueue="local-queue", jobDefinition="with-params", parameters={"who": "submit"}
    )["jobId"]
    job = wait_for(batch, job_id)
    assert job["parameters"] == {"who": "submit", "greeting": "hello"}
    assert log_messages(local_batch.client("logs"), job["container"]["logStreamName"]) == ["hello submit"]


def test_container_overrides_replace_command_and_resources(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(
        local_batch,
        "echo overridden",
        containerOverrides={"resourceRequirements": [{"type": "VCPU", "value": "2"}]},
    )
    job = wait_for(batch, job_id)
    assert job["container"]["command"] == ["sh", "-c", "echo overridden"]
    assert {"type": "VCPU", "value": "2"} in job["container"]["resourceRequirements"]
    assert {"type": "MEMORY", "value": "512"} in job["container"]["resourceRequirements"]


def test_tags_and_propagate_tags_are_recorded_and_listed(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch, tags={"team": "data", "run": "r1"}, propagateTags=True)
    job = describe(batch, job_id)
    assert job["tags"] == {"team": "data", "run": "r1"}
    assert job["propagateTags"] is True
    assert batch.list_tags_for_resource(resourceArn=job["jobArn"])["tags"] == {"team": "data", "run": "r1"}


def test_describe_and_submit_answers_conform_to_botocore_shapes(local_batch: LocalBatch, batch: Any) -> None:
    assert_conforms("SubmitJob", batch.submit_job(jobName="s", jobQueue="local-queue", jobDefinition="local-job"))
    job_id = submit(local_batch, "echo shape", tags={"a": "b"}, retryStrategy={"attempts": 2})
    wait_for(batch, job_id)
    assert_conforms("DescribeJobs", batch.describe_jobs(jobs=[job_id]))


def test_describe_leaves_out_unknown_ids_and_takes_at_most_100(local_batch: LocalBatch, batch: Any) -> None:
    job_id = submit(local_batch)
    jobs = batch.describe_jobs(jobs=[job_id, "00000000-0000-0000-0000-000000000000"])["jobs"]
    assert [job["jobId"] for job in jobs] == [job_id]
    with pytest.raises(ClientError, match="Up to 100 job IDs"):
        batch.describe_jobs(jobs=[job_id] * 101)


@pytest.mark.parametrize(
    ("field", "request_part", "message"),
    [
        ("jobName", {"jobName": "-starts-with-a-dash"}, "jobName '-starts-with-a-dash' is invalid"),
        ("jobName", {"jobName": "x" * 129}, "is invalid"),
        ("jobQueue", {"jobQueue": "nope"}, "Job queue nope does not exist"),
        ("jobDefinition", {"jobDefinition": "nope"}, "Job definition nope does not exist"),
        ("arrayProperties", {"arrayProperties": {"size": 1}}, "between 2 and 10000"),
        ("timeout", {"timeout": {"attemptDurationSeconds": 59}}, "at least 60 seconds"),
        ("retryStrategy", {"retryStrategy": {"attempts": 11}}, "between 1 and 10"),
        ("dependsOn", {"dependsOn": [{"jobId": "nope"}]}, "Dependency job nope does not exist"),
    ],
)
def test_bad_submit_is_a_client_exception_and_creates_nothing(
    local_batch: LocalBatch, batch: Any, field: str, request_part: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError, match=message) as raised:
        submit(local_batch, **request_part)
    assert raised.value.response["Error"]["Code"] == "ClientException"
    listed = batch.list_jobs(jobQueue="local-queue", filters=[{"name": "JOB_NAME", "values": ["*"]}])
    assert listed["jobSummaryList"] == []


def test_job_processes_die_with_the_local_batch(local_batch_config: LocalBatchConfig, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with LocalBatch(local_batch_config) as local:
        local.bootstrap()
        job_id = submit(local, f"echo $$ > {pid_file}; trap '' TERM; sleep 300")
        wait_for(local.client("batch"), job_id, "RUNNING")
        while not pid_file.exists() or not pid_file.read_text().strip():
            time.sleep(0.01)
        pid = int(pid_file.read_text())
        assert local.engine.processes()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
