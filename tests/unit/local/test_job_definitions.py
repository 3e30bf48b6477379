"""DescribeJobDefinitions takes ARNs, bare names and `name:revision`, as AWS documents (moto alone does not)."""

from __future__ import annotations

from typing import Any

from conftest import submit, wait_for

from airflow_batch_plus.local import LocalBatch


def register(batch_client: Any, name: str, command: str) -> dict[str, Any]:
    return batch_client.register_job_definition(  # type: ignore[no-any-return]
        jobDefinitionName=name,
        type="container",
        containerProperties={
            "image": "busybox",
            "command": ["echo", command],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
        },
    )


def test_describe_job_definitions_by_name_revision_arn_and_name(local_batch: LocalBatch, batch_client: Any) -> None:
    first = register(batch_client, "etl", "one")
    second = register(batch_client, "etl", "two")

    def revisions(*entries: str, **extra: Any) -> list[int]:
        found = batch_client.describe_job_definitions(jobDefinitions=list(entries), **extra)["jobDefinitions"]
        return sorted(definition["revision"] for definition in found)

    assert revisions("etl:1") == [1]
    assert revisions("etl:2", first["jobDefinitionArn"]) == [1, 2]
    assert revisions("etl") == [1, 2]
    assert revisions("etl:3", "missing:1") == []
    batch_client.deregister_job_definition(jobDefinition=second["jobDefinitionArn"])
    assert revisions("etl:1", "etl:2", status="ACTIVE") == [1]


def test_submit_takes_a_job_definition_by_arn_or_name_revision(local_batch: LocalBatch, batch_client: Any) -> None:
    assert local_batch.env is not None
    arn = local_batch.env.job_definition_arn
    named = f"{local_batch.env.job_definition_name}:{arn.rsplit(':', 1)[1]}"
    for reference in (arn, named):
        job_id = submit(local_batch, "true", jobDefinition=reference)
        job = wait_for(batch_client, job_id)
        assert (job["status"], job["jobDefinition"]) == ("SUCCEEDED", arn)
