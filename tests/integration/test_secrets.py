"""Secrets in a real Airflow 3 run (`dag.test()`): an override environment value and the AWS connection's
secret key appear nowhere a user or another system can read them: the task log (even when the job
prints the value itself), the failure message, XCom (the result, the job id, the console links), the
rendered-template view, or the trigger's stored arguments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from dag_runs import run_dag, xcoms

from airflow_batch_plus.local import LocalBatchServer

pytestmark = pytest.mark.usefixtures("airflow_db")

TOKEN = "tok-5be1c0de-never-print-me"


@pytest.fixture
def secretive_connection(batch_server: LocalBatchServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`aws_through_faults`, the connection the *_faults test DAGs use, here with the key pair in the
    connection itself (not the environment); yields its secret key, which the local Batch checks."""
    connection = {
        "conn_type": "aws",
        "login": batch_server.key.access_key_id,
        "password": batch_server.key.secret_access_key,
        "extra": {"region_name": "us-east-1", "endpoint_url": batch_server.endpoint_url},
    }
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # the connection's pair or nothing
        monkeypatch.delenv(variable)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_THROUGH_FAULTS", json.dumps(connection))
    yield batch_server.key.secret_access_key


def rendered_fields(run: Any) -> list[dict[str, Any]]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(RenderedTaskInstanceFields).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        return [dict(row.rendered_fields) for row in rows]


def trigger_kwargs() -> list[str]:
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    with create_session() as session:
        return [json.dumps(trigger.kwargs, default=str) for trigger in session.query(Trigger).all()]


@pytest.mark.parametrize("outcome", ["success", "failed"])
def test_an_override_environment_value_is_nowhere_even_when_the_job_prints_it(
    batch: Any, capfd: pytest.CaptureFixture[str], outcome: str
) -> None:
    script = 'echo "my token is $SECRET_TOKEN"' + ("" if outcome == "success" else "; exit 4")
    run = run_dag("batch_deferred", script=script, token=TOKEN)
    output = capfd.readouterr()

    assert run.state == outcome
    assert "my token is ***" in output.out, "the job's own line is logged, its secret masked"
    assert TOKEN not in output.out + output.err
    assert TOKEN not in json.dumps(xcoms(run), default=str)
    rendered = json.dumps(rendered_fields(run))
    assert '"value": "***"' in rendered and TOKEN not in rendered
    assert all(TOKEN not in kwargs for kwargs in trigger_kwargs())


def test_the_aws_connections_secret_key_is_nowhere(
    batch: Any, secretive_connection: str, capfd: pytest.CaptureFixture[str]
) -> None:
    secret_key = secretive_connection
    import logging

    logging.getLogger("botocore").setLevel(logging.DEBUG)  # botocore at its most talkative
    try:
        run = run_dag("batch_deferred_faults", script="echo with a secret connection")
    finally:
        logging.getLogger("botocore").setLevel(logging.WARNING)
    output = capfd.readouterr()

    assert run.state == "success"
    assert secret_key not in output.out + output.err
    assert secret_key not in json.dumps(xcoms(run), default=str) + json.dumps(rendered_fields(run))
