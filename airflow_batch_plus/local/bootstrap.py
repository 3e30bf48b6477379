"""Creates what a job needs on a fresh local Batch: network, roles, a compute environment, a queue, a job definition."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DEFAULT_COMMAND = ("sh", "-c", "echo hello from the local AWS Batch")
_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@dataclass(frozen=True)
class BootstrapResult:
    """Names and ARNs of what `bootstrap` created, for DAGs and tests to submit against."""

    queue_name: str
    queue_arn: str
    compute_environment_name: str
    compute_environment_arn: str
    job_definition_name: str
    job_definition_arn: str


def bootstrap(
    clients: Any,
    *,
    queue_name: str = "local-queue",
    compute_environment_name: str = "local-ce",
    job_definition_name: str = "local-job",
    max_vcpus: int = 256,
    command: tuple[str, ...] | list[str] = DEFAULT_COMMAND,
) -> BootstrapResult:
    """Create a FARGATE compute environment (capacity `max_vcpus`), a queue on it and a job definition.

    `clients(service)` returns a boto3 client bound to the local Batch. Calling it again with the
    same names reuses what exists, so a restarted demo does not fail.
    """
    batch, ec2, iam = clients("batch"), clients("ec2"), clients("iam")
    existing = batch.describe_job_queues(jobQueues=[queue_name])["jobQueues"]
    if existing:
        environment = batch.describe_compute_environments(computeEnvironments=[compute_environment_name])[
            "computeEnvironments"
        ][0]
        definition = batch.describe_job_definitions(jobDefinitionName=job_definition_name, status="ACTIVE")[
            "jobDefinitions"
        ]
        latest = max(definition, key=lambda item: item["revision"])
        return BootstrapResult(
            queue_name,
            existing[0]["jobQueueArn"],
            compute_environment_name,
            environment["computeEnvironmentArn"],
            job_definition_name,
            latest["jobDefinitionArn"],
        )
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="local-batch", Description="local Batch", VpcId=vpc)["GroupId"]
    role = iam.create_role(  # IAM is global: one service role per environment, so several can coexist
        RoleName=f"{compute_environment_name}-service", AssumeRolePolicyDocument=json.dumps(_TRUST)
    )["Role"]["Arn"]
    environment = batch.create_compute_environment(
        computeEnvironmentName=compute_environment_name,
        type="MANAGED",
        state="ENABLED",
        computeResources={"type": "FARGATE", "maxvCpus": max_vcpus, "subnets": [subnet], "securityGroupIds": [group]},
        serviceRole=role,
    )
    queue = batch.create_job_queue(
        jobQueueName=queue_name,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}],
    )
    definition = batch.register_job_definition(
        jobDefinitionName=job_definition_name,
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={
            "image": "local",
            "command": list(command),
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
        },
    )
    return BootstrapResult(
        queue_name,
        queue["jobQueueArn"],
        compute_environment_name,
        environment["computeEnvironmentArn"],
        job_definition_name,
        definition["jobDefinitionArn"],
    )
