"""Our operators inside a real Airflow 3: the task runner and triggers through `dag.test()`, against
the local AWS Batch served over HTTP (so a task in another process reaches the same Batch).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_batch_plus.local import LocalBatchServer

DONE = {"SUCCEEDED", "FAILED"}


@pytest.fixture(autouse=True)
def no_gc_callbacks() -> Iterator[None]:
    """`dag.test()` runs a task in this process, where `execution_timeout` is a SIGALRM handler raising
    AirflowTaskTimeout. Raised while a Python gc callback runs (hypothesis, a plugin of this pytest, installs
    one), the exception is swallowed as "unraisable" and the task runs on to success. A task runner's own
    process has no such callback, so none runs here during a test."""
    saved = list(gc.callbacks)
    gc.callbacks.clear()
    yield
    gc.callbacks[:] = saved


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated metadata database in the session's Airflow home (see tests/conftest.py)."""
    from airflow.utils.db import initdb

    initdb()


@pytest.fixture
def batch(batch_server: LocalBatchServer) -> Any:
    """A plain boto3 Batch client on the local Batch (`batch_server`, from the plugin: it also sets the
    environment every client and hook of the test uses), for looking at jobs the way a user would."""
    import boto3

    return boto3.client(
        "batch",
        endpoint_url=batch_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=batch_server.key.access_key_id,
        aws_secret_access_key=batch_server.key.secret_access_key,
    )


@pytest.fixture
def ended_in_triggerer(request: pytest.FixtureRequest) -> Iterator[list[str] | None]:
    """The trigger mode of a deferred task, by indirect parameter: "resume" (`dag.test()` as it is: the task
    resumes in its worker, as with end_from_trigger=False or outside a triggerer) or "end" (the trigger ends
    the task, taken as a triggerer takes it: dag_runs.triggerer_ends_tasks). Yields the tasks so ended, or
    None when resuming."""
    from dag_runs import triggerer_ends_tasks

    mode = getattr(request, "param", "resume")
    if mode == "resume":
        yield None
        return
    assert mode == "end", mode
    with triggerer_ends_tasks() as ended:
        yield ended
