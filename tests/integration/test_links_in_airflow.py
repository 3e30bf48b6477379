"""The console links in a real Airflow 3 (`dag.test()`): best effort, and one per stream of the job."""

from __future__ import annotations

from typing import Any

import pytest
from dag_runs import jobs_named_like, run_dag, xcoms

from airflow_batch_plus import links
from airflow_batch_plus.jobs import LogStream

pytestmark = pytest.mark.usefixtures("airflow_db")


def link_keys(key: str) -> bool:
    return key.startswith("_link_") or key == "batch_log_links"  # links.LOG_LINKS_XCOM_KEY


@pytest.mark.parametrize("dag_id", ["batch_deferred", "batch_in_worker"])
def test_a_link_xcom_that_cannot_be_written_stops_no_job_and_fails_no_task(
    dag_id: str,
    batch: Any,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    xcom_push = RuntimeTaskInstance.xcom_push

    def refuse_links(self: Any, key: str, value: Any) -> None:
        if link_keys(key):
            raise RuntimeError("the API server refused the XCom")
        xcom_push(self, key, value)

    monkeypatch.setattr(RuntimeTaskInstance, "xcom_push", refuse_links)
    run = run_dag(dag_id, script="sleep 1; echo still-here")
    output = capfd.readouterr().out
    assert run.state == "success"
    (job,) = jobs_named_like(batch, dag_id)
    assert job["status"] == "SUCCEEDED"
    assert "still-here" in output
    assert "Could not save the console link _link_BatchJobLink (the job is not affected)" in caplog.text
    stored = xcoms(run)
    assert stored["batch_job_id"] == job["jobId"] and stored["return_value"]["status"] == "SUCCEEDED"
    # No link was saved (Airflow's finalize re-saves each extra link's get_link(): empty here).
    assert {key: value for key, value in stored.items() if link_keys(key) and value} == {}


def test_each_attempt_s_stream_is_linked(batch: Any, capfd: pytest.CaptureFixture[str]) -> None:
    run = run_dag("batch_links_attempts")
    output = capfd.readouterr().out
    assert run.state == "success"
    (job,) = jobs_named_like(batch, "batch_links_attempts")
    streams = [attempt["container"]["logStreamName"] for attempt in job["attempts"]]
    assert len(streams) == 2
    listed = xcoms(run)[links.LOG_LINKS_XCOM_KEY]
    assert [(link["label"], link["stream"]) for link in listed] == [
        ("attempt 1", streams[0]),
        ("attempt 2", streams[1]),
    ]
    for link in listed:
        assert link["url"] == links.log_stream_url("us-east-1", LogStream(link["group"], link["stream"]))
        assert f"attempt {listed.index(link) + 1}: {link['url']}" in output  # and in the task log
    assert xcoms(run)["_link_BatchJobLogsLink"] == listed[-1]["url"]  # the button: the newest stream


def test_each_array_child_s_stream_is_linked_up_to_the_cap(batch: Any, capfd: pytest.CaptureFixture[str]) -> None:
    run = run_dag("batch_links_array")
    output = capfd.readouterr().out
    assert run.state == "success"
    (parent,) = jobs_named_like(batch, "batch_links_array")
    ids = [f"{parent['jobId']}:{index}" for index in range(22)]
    children = {job["arrayProperties"]["index"]: job for job in batch.describe_jobs(jobs=ids)["jobs"]}
    listed = xcoms(run)[links.LOG_LINKS_XCOM_KEY]
    assert len(children) == 22 and len(listed) == links.MAX_LOG_LINKS == 20
    assert [(link["label"], link["stream"]) for link in listed] == [
        (f"[{index}]", children[index]["container"]["logStreamName"]) for index in range(20)
    ]
    assert "only the first 20 are linked; every stream is in log group /aws/batch/job" in output
    # An array has no stream of its own: the button opens the log group that holds every child's.
    assert xcoms(run)["_link_BatchJobLogsLink"] == links.log_group_url("us-east-1", "/aws/batch/job")
