"""Creates what a job needs on a fresh local Batch: network, roles, a compute environment, a queue, a job definition;
and, if asked, the SQS queues its job state change events reach through an EventBridge rule."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

DEFAULT_COMMAND = ("sh", "-c", "echo hello from the local AWS Batch")
JOB_EVENT_QUEUE = "batch-job-events"
JOB_EVENT_RULE = "batch-job-state-change"
JOB_EVENT_PATTERN = {"source": ["aws.batch"], "detail-type": ["Batch Job State Change"]}
# EventBridge's limit of targets per rule: one rule feeds every queue.
MAX_JOB_EVENT_QUEUES = 5
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
    # The SQS queues the job state change events go to (one per triggerer), and the rule that sends them.
    job_event_queue_urls: tuple[str, ...] = ()
    job_event_rule_arn: str | None = None


def bootstrap(
    clients: Any,
    *,
    queue_name: str = "local-queue",
    compute_environment_name: str = "local-ce",
    job_definition_name: str = "local-job",
    max_vcpus: int = 256,
    command: tuple[str, ...] | list[str] = DEFAULT_COMMAND,
    job_event_queues: int = 0,
) -> BootstrapResult:
    """Create a FARGATE compute environment (capacity `max_vcpus`), a queue on it and a job definition; with
    `job_event_queues`, also that many SQS queues for the jobs' state change events (`job_event_queues_for`).

    `clients(service)` returns a boto3 client bound to the local Batch. Calling it again with the
    same names reuses what exists, so a restarted demo does not fail.
    """
    if job_event_queues:
        _check_queue_count(job_event_queues)  # before anything is created
    result = _batch_resources(
        clients,
        queue_name=queue_name,
        compute_environment_name=compute_environment_name,
        job_definition_name=job_definition_name,
        max_vcpus=max_vcpus,
        command=command,
    )
    if not job_event_queues:
        return result
    urls, rule_arn = job_event_queues_for(clients, job_event_queues)
    return dataclasses.replace(result, job_event_queue_urls=urls, job_event_rule_arn=rule_arn)


def job_event_queues_for(
    clients: Any, count: int, *, queue_name: str = JOB_EVENT_QUEUE, rule_name: str = JOB_EVENT_RULE
) -> tuple[tuple[str, ...], str]:
    """SQS queues that each get every "Batch Job State Change" event, through one EventBridge rule on the
    default bus: one queue per triggerer, as the provider reads them. (queue URLs, rule ARN).

    One queue is `batch-job-events`; several are `batch-job-events-1` to `-<count>`. At most 5: EventBridge's
    targets per rule. Each queue's policy lets EventBridge send to it, as AWS requires (moto does not check).
    Calling it again reuses the queues and the rule.
    """
    _check_queue_count(count)
    sqs, events = clients("sqs"), clients("events")
    rule_arn = events.put_rule(Name=rule_name, EventPattern=json.dumps(JOB_EVENT_PATTERN), State="ENABLED")["RuleArn"]
    names = [queue_name] if count == 1 else [f"{queue_name}-{index}" for index in range(1, count + 1)]
    urls, targets = [], []
    for name in names:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(_may_send(arn, "events", rule_arn))})
        urls.append(url)
        targets.append({"Id": name, "Arn": arn})
    events.put_targets(Rule=rule_name, Targets=targets)
    return tuple(urls), rule_arn


def _check_queue_count(count: int) -> None:
    if not 1 <= count <= MAX_JOB_EVENT_QUEUES:
        raise ValueError(f"job_event_queues must be 1 to {MAX_JOB_EVENT_QUEUES} (targets of one rule), got {count}")


def _batch_resources(
    clients: Any,
    *,
    queue_name: str,
    compute_environment_name: str,
    job_definition_name: str,
    max_vcpus: int,
    command: tuple[str, ...] | list[str],
) -> BootstrapResult:
    """The compute environment, queue and job definition: those that exist with these names, else new ones."""
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


COST_ALARM_QUEUE = "batch-cost-alarms"
COST_ALARM_TOPIC = "batch-cost-alarms"
COST_ALARM_NAME = "batch-estimated-charges"
# The demo tells its Airflow the queue's URL through this variable, which example_batch_cost_alarm reads.
COST_ALARM_QUEUE_VARIABLE = "BATCH_PLUS_COST_ALARM_QUEUE_URL"


@dataclass(frozen=True)
class CostAlarmResources:
    """What the cost alarm example needs: the SQS queue its trigger reads, the SNS topic that delivers to it,
    and a CloudWatch alarm on EstimatedCharges whose ALARM and OK actions publish to the topic."""

    queue_url: str
    topic_arn: str
    alarm_name: str


def cost_alarm_resources(
    clients: Any,
    *,
    queue_name: str = COST_ALARM_QUEUE,
    topic_name: str = COST_ALARM_TOPIC,
    alarm_name: str = COST_ALARM_NAME,
    threshold: float = 100.0,
) -> CostAlarmResources:
    """Create (or reuse: every call here is idempotent) the queue, the topic subscribed to it, and the alarm,
    as a user sets them up on AWS (docs/cost-alarms.md): an alarm on AWS/Billing EstimatedCharges above
    `threshold` USD. The local Batch runs the alarm's actions when its state is set (`alarm_actions`)."""
    sqs, sns, cloudwatch = clients("sqs"), clients("sns"), clients("cloudwatch")
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic_arn = sns.create_topic(Name=topic_name)["TopicArn"]
    sqs.set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": json.dumps(_may_send(queue_arn, "sns", topic_arn))}
    )
    subscribed = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    if not any(item.get("Endpoint") == queue_arn for item in subscribed):
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    cloudwatch.put_metric_alarm(
        AlarmName=alarm_name,
        AlarmDescription="AWS Batch spending: the cost alarm DAG stops the queue's jobs",
        Namespace="AWS/Billing",
        MetricName="EstimatedCharges",
        Dimensions=[{"Name": "Currency", "Value": "USD"}],
        Statistic="Maximum",
        Period=21600,
        EvaluationPeriods=1,
        Threshold=threshold,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic_arn],
        OKActions=[topic_arn],
    )
    return CostAlarmResources(queue_url=queue_url, topic_arn=topic_arn, alarm_name=alarm_name)


def _may_send(queue_arn: str, service: str, source_arn: str) -> dict[str, Any]:
    """The queue policy AWS needs for `service` (events or sns) to deliver to a queue: SendMessage from
    `source_arn` (an EventBridge rule, an SNS topic) only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": f"{service}.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
            }
        ],
    }
