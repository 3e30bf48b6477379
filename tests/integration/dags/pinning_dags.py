"""A task whose first try fails while someone registers a new revision of its job definition.

`on_retry_callback` registers the revision between the two tries, where a deployment would: the retry
must still run the revision the first try ran (tests/integration/test_operator_reattach.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_batch_plus.operators.batch import BatchSubmitJobOperator


def register_a_new_revision(context: Any) -> None:
    """What a deploy does while the task waits for its retry: register local-job again (a new revision)."""
    import boto3

    # The local Batch, through AWS_ENDPOINT_URL and its key pair in the environment. A new session: boto3's
    # default one keeps the first credentials it read, an earlier test's server's pair.
    batch = boto3.session.Session().client("batch", region_name="us-east-1")
    latest = max(
        batch.describe_job_definitions(jobDefinitionName="local-job", status="ACTIVE")["jobDefinitions"],
        key=lambda definition: definition["revision"],
    )
    spec = {key: latest[key] for key in ("type", "containerProperties", "platformCapabilities")}
    batch.register_job_definition(jobDefinitionName="local-job", **spec)


with DAG("batch_pinned_retry", schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["test"]):
    BatchSubmitJobOperator(
        task_id="job",
        job_queue="local-queue",
        job_definition="local-job",  # a bare name: its latest ACTIVE revision at the first try
        container_overrides={"command": ["sh", "-c", "{{ dag_run.conf['script'] }}"]},
        aws_conn_id=None,
        region_name="us-east-1",
        poll_interval=0.2,
        deferrable=True,
        retries=1,
        retry_delay=timedelta(0),
        on_retry_callback=register_a_new_revision,
    )
