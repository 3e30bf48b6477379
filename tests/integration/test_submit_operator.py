"""BatchSubmitJobOperator in a real Airflow 3 (`dag.test()`: the task runner, the trigger run in line)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from dag_runs import jobs_named_like, run_dag, xcoms

pytestmark = pytest.mark.usefixtures("airflow_db")

COUNT_TO_20 = "for i in $(seq 1 20); do echo line-$i; sleep 0.02; done"


def logged_lines(output: str, prefix: str = "line-") -> list[str]:
    """The job's lines as the task log printed them, in order."""
    return [word for line in output.splitlines() for word in line.split() if word.startswith(prefix)]


@pytest.mark.parametrize("dag_id", ["batch_deferred", "batch_in_worker"])
def test_a_job_runs_to_success_with_every_line_logged_once_in_order(
    dag_id: str, batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag(dag_id, script=COUNT_TO_20)
    output = capfd.readouterr().out
    assert run.state == "success"
    assert logged_lines(output) == [f"line-{i}" for i in range(1, 21)]
    (job,) = jobs_named_like(batch, dag_id)
    assert job["status"] == "SUCCEEDED"


@pytest.mark.parametrize("dag_id", ["batch_deferred", "batch_in_worker"])
def test_a_failed_job_fails_the_task_with_its_exit_code_and_last_lines(
    dag_id: str, batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag(dag_id, script="echo about-to-fail; exit 3")
    output = capfd.readouterr().out
    assert run.state == "failed"
    assert "exit code 3" in output
    assert "last log lines" in output
    (job,) = jobs_named_like(batch, dag_id)
    assert job["status"] == "FAILED"


def test_override_environment_values_never_reach_the_task_log(batch: Any, capfd: pytest.CaptureFixture[str]) -> None:
    token = "tok-7f3a9c1e-never-print-me"
    run = run_dag("batch_deferred", script="echo the job itself runs", token=token)
    output = capfd.readouterr()
    assert run.state == "success"
    assert token not in output.out + output.err


def test_an_array_job_logs_every_child_and_tolerates_one_failed_child(
    batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    script = 'echo child-$AWS_BATCH_JOB_ARRAY_INDEX; [ "$AWS_BATCH_JOB_ARRAY_INDEX" != 1 ]'
    run = run_dag("batch_deferred_array", script=script)
    output = capfd.readouterr().out
    assert run.state == "success"
    for index in range(3):
        assert f"[{index}] child-{index}" in output
    (parent,) = [job for job in jobs_named_like(batch, "batch_deferred_array") if ":" not in job["jobId"]]
    assert parent["status"] == "FAILED"
    assert parent["arrayProperties"]["statusSummary"]["FAILED"] == 1


def test_the_result_job_id_and_console_links_are_in_xcom(batch: Any) -> None:
    run = run_dag("batch_deferred", script="echo linked")
    assert run.state == "success"
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


def test_a_multi_node_job_logs_every_nodes_lines(batch: Any, capfd: pytest.CaptureFixture[str]) -> None:
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
