"""BatchSubmitJobOperator in a real Airflow 3 (`dag.test()`: the task runner, the trigger run in line)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from dag_runs import jobs_named_like, run_dag, xcoms

pytestmark = pytest.mark.usefixtures("airflow_db")

# A deferred task resumes in its worker, or its trigger ends it (conftest.ended_in_triggerer); in a worker it resumes.
MODES = pytest.mark.parametrize(
    ("dag_id", "ended_in_triggerer"),
    [("batch_deferred", "resume"), ("batch_deferred", "end"), ("batch_in_worker", "resume")],
    indirect=["ended_in_triggerer"],
)
BOTH = pytest.mark.parametrize("ended_in_triggerer", ["resume", "end"], indirect=True)


def check_mode(ended: list[str] | None, *states: str) -> None:
    """In the "end" mode, the trigger ended the task (in `states`, in that order), no worker resumed it."""
    if ended is not None:
        assert [entry.rsplit(": ", 1)[1] for entry in ended] == list(states), ended


COUNT_TO_20 = "for i in $(seq 1 20); do echo line-$i; sleep 0.02; done"


def logged_lines(output: str, prefix: str = "line-") -> list[str]:
    """The job's lines as the task log printed them, in order."""
    return [word for line in output.splitlines() for word in line.split() if word.startswith(prefix)]


@MODES
def test_a_job_runs_to_success_with_every_line_logged_once_in_order(
    dag_id: str, ended_in_triggerer: list[str] | None, batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag(dag_id, script=COUNT_TO_20)
    output = capfd.readouterr().out
    assert run.state == "success"
    check_mode(ended_in_triggerer, "success")
    assert output.count(" SUCCEEDED") >= 1 and len(re.findall(r"Batch job \S+ SUCCEEDED", output)) == 1
    assert logged_lines(output) == [f"line-{i}" for i in range(1, 21)]
    (job,) = jobs_named_like(batch, dag_id)
    assert job["status"] == "SUCCEEDED"


@MODES
def test_a_failed_job_fails_the_task_with_its_exit_code_and_last_lines(
    dag_id: str, ended_in_triggerer: list[str] | None, batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag(dag_id, script="echo about-to-fail; exit 3")
    output = capfd.readouterr().out
    assert run.state == "failed"
    check_mode(ended_in_triggerer, "failed")
    assert "exit code 3" in output
    assert "last log lines" in output
    (job,) = jobs_named_like(batch, dag_id)
    assert job["status"] == "FAILED"


@BOTH
def test_override_environment_values_never_reach_the_task_log(
    ended_in_triggerer: list[str] | None, batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    token = "tok-7f3a9c1e-never-print-me"
    run = run_dag("batch_deferred", script="echo the job itself runs", token=token)
    output = capfd.readouterr()
    assert run.state == "success"
    assert token not in output.out + output.err


@BOTH
def test_an_array_job_logs_every_child_and_tolerates_one_failed_child(
    ended_in_triggerer: list[str] | None, batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    script = 'echo child-$AWS_BATCH_JOB_ARRAY_INDEX; [ "$AWS_BATCH_JOB_ARRAY_INDEX" != 1 ]'
    run = run_dag("batch_deferred_array", script=script)
    output = capfd.readouterr().out
    assert run.state == "success"
    check_mode(ended_in_triggerer, "success")
    assert output.count("children failed, within tolerated_failures=1") == 1
    assert xcoms(run)["return_value"]["status"] == "FAILED"
    for index in range(3):
        assert f"[{index}] child-{index}" in output
    (parent,) = [job for job in jobs_named_like(batch, "batch_deferred_array") if ":" not in job["jobId"]]
    assert parent["status"] == "FAILED"
    assert parent["arrayProperties"]["statusSummary"]["FAILED"] == 1


@BOTH
def test_the_result_job_id_and_console_links_are_in_xcom(ended_in_triggerer: list[str] | None, batch: Any) -> None:
    run = run_dag("batch_deferred", script="echo linked")
    assert run.state == "success"
    check_mode(ended_in_triggerer, "success")
    (job,) = jobs_named_like(batch, "batch_deferred")
    stored = xcoms(run)
    result = stored["return_value"]
    assert (result["job_id"], result["status"], result["exit_code"]) == (job["jobId"], "SUCCEEDED", 0)
    assert stored["batch_job_id"] == job["jobId"]
    region_console = "https://us-east-1.console.aws.amazon.com"
    assert stored["_link_BatchJobLink"] == f"{region_console}/batch/home?region=us-east-1#jobs/detail/{job['jobId']}"
    assert stored["_link_BatchJobQueueLink"].endswith("#queues/detail/local-queue")
    # The revision the job runs (pinned at submission), not the bare name the DAG gives.
    assert re.search(r":job-definition/local-job:\d+$", job["jobDefinition"])
    assert stored["_link_BatchJobDefinitionLink"].endswith(
        f"#job-definition/detail/{quote(job['jobDefinition'], safe='')}"
    )
    stream = job["container"]["logStreamName"].replace("/", "$252F")
    assert stored["_link_BatchJobLogsLink"].endswith(f"/log-group/$252Faws$252Fbatch$252Fjob/log-events/{stream}")
    assert [link["stream"] for link in stored["batch_log_links"]] == [job["container"]["logStreamName"]]
    assert "batch_log_cursor" not in stored  # the trigger's saved cursor, deleted once the task ends


@BOTH
def test_a_multi_node_job_logs_every_nodes_lines(
    ended_in_triggerer: list[str] | None, batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    script = "for i in 1 2; do echo node-$AWS_BATCH_JOB_NODE_INDEX-line-$i; sleep 0.1; done"
    container = {
        "image": "local",
        "command": ["sh", "-c", script],
        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
    }
    batch.register_job_definition(
        jobDefinitionName="multinode-test",
        type="multinode",
        nodeProperties={
            "numNodes": 2,
            "mainNode": 0,
            "nodeRangeProperties": [{"targetNodes": "0:", "container": container}],
        },
    )
    run = run_dag("batch_deferred_multinode")
    output = capfd.readouterr().out
    assert run.state == "success"
    for node in range(3):
        logged = [
            line.split("[airflow_batch_plus")[0].split("] ", 1)[1].strip()
            for line in output.splitlines()
            if f"node-{node}-line" in line
        ]
        assert logged == [f"[node {node}] node-{node}-line-1", f"[node {node}] node-{node}-line-2"]


def test_a_bad_request_fails_before_submitting_and_is_not_retried(
    batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag("batch_bad_request", script="echo never")
    output = capfd.readouterr().out
    assert run.state == "failed"
    assert "job_name='not a valid name' is not a valid Batch job name" in output
    assert batch.list_jobs(jobQueue="local-queue", jobStatus="SUBMITTED")["jobSummaryList"] == []
    assert jobs_named_like(batch, "not") == []
    (instance,) = run.get_task_instances()
    assert (instance.state, instance.try_number) == ("failed", 1)


@BOTH
def test_a_failed_job_is_retried_once_and_each_try_submits_its_own_job(
    ended_in_triggerer: list[str] | None, batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag("batch_deferred_retry", script="echo failing-try; exit 4")
    output = capfd.readouterr().out
    assert run.state == "failed"
    check_mode(ended_in_triggerer, "failed", "failed")  # up_for_retry, then failed: Airflow decides which
    (instance,) = run.get_task_instances()
    assert (instance.state, instance.try_number) == ("failed", 2)
    assert [job["status"] for job in jobs_named_like(batch, "batch_deferred_retry")] == ["FAILED", "FAILED"]
    assert output.count("exit code 4") >= 2 and output.count("failing-try") >= 2


@BOTH
def test_on_success_callback_runs_in_a_worker_either_way(
    ended_in_triggerer: list[str] | None, batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag("batch_deferred_success_callback", script="echo called-back")
    output = capfd.readouterr().out
    assert run.state == "success"
    check_mode(ended_in_triggerer)  # resumed in the worker: Airflow runs on_success_callback nowhere else
    assert "on_success_callback ran for job" in output
    if ended_in_triggerer is not None:
        assert "this task resumes in a worker on success: on_success_callback is set" in output
