"""`botocore_config` on a submit task in Airflow: refused before anything is submitted, or carried through
the trigger's serialized form to a job that runs."""

from __future__ import annotations

from typing import Any

import pytest
from dag_runs import jobs_named_like, run_dag

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_a_config_botocore_refuses_fails_the_task_before_submitting_and_without_retries(
    batch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag("batch_bad_botocore_config", script="echo never")
    output = capfd.readouterr().out
    assert run.state == "failed"
    assert "botocore_config={'read_timeot': 5} is not a botocore config" in output
    assert jobs_named_like(batch, "batch_bad_botocore_config") == []
    (instance,) = run.get_task_instances()
    assert (instance.state, instance.try_number) == ("failed", 1)


def test_a_deferred_task_with_a_config_runs_its_job_through_the_trigger(batch: Any) -> None:
    run = run_dag("batch_deferred_botocore_config", script="echo configured")
    assert run.state == "success"
    (job,) = jobs_named_like(batch, "batch_deferred_botocore_config")
    assert job["status"] == "SUCCEEDED"
