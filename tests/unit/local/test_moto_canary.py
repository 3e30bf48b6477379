"""Canary: the moto internals the local Batch relies on. A moto upgrade that breaks one fails here first."""

from __future__ import annotations

import inspect
import json
import time

import moto
from moto.batch.models import batch_backends
from moto.batch.responses import BatchResponse
from moto.batch.urls import url_paths
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.responses import BaseResponse
from moto.events.models import Rule, events_backends
from moto.logs.models import logs_backends
from moto.moto_server import werkzeug_app
from packaging.version import Version

from airflow_batch_plus.local import LocalBatch, LocalBatchConfig


def test_moto_version_is_in_the_tested_range() -> None:
    assert Version("5.2.5") <= Version(moto.__version__) < Version("5.3")  # pyproject.toml's `local` extra


def test_batch_job_actions_are_response_methods_routed_by_url() -> None:
    for action in ("submitjob", "describejobs", "listjobs", "canceljob", "terminatejob"):
        assert callable(getattr(BatchResponse, action)), action
        assert any(path.endswith(f"/v1/{action}$") or path.endswith(f"/v1/{action}") for path in url_paths), action


def test_responses_expose_account_region_and_body() -> None:
    source = inspect.getsource(BaseResponse)
    for attribute in ("self.current_account", "self.region", "self.body"):
        assert attribute in source, attribute


def test_server_pieces_exist() -> None:
    for name in ("DomainDispatcherApplication", "create_backend_app", "MotoRequestHandler"):
        assert hasattr(werkzeug_app, name), name


def test_backend_models_have_the_attributes_the_engine_reads() -> None:
    with LocalBatch(LocalBatchConfig.fast()) as local:
        env = local.bootstrap(max_vcpus=3)
        backend = batch_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        definition = backend.get_job_definition_by_arn(env.job_definition_arn)
        assert definition is backend.get_job_definition_by_name_revision(env.job_definition_name, "1")
        assert definition in backend._job_definitions.values()
        for attribute in (
            "name",
            "arn",
            "revision",
            "status",
            "container_properties",
            "node_properties",
            "parameters",
            "retry_strategy",
            "timeout",
            "propagate_tags",
            "platform_capabilities",
        ):
            assert hasattr(definition, attribute), attribute
        queue = backend.get_job_queue(env.queue_name)
        assert queue is backend.get_job_queue(env.queue_arn)
        assert (queue.name, queue.arn, queue.state) == (env.queue_name, env.queue_arn, "ENABLED")
        assert queue.env_order_json[0]["computeEnvironment"] == env.compute_environment_arn
        environment = backend.get_compute_environment(env.compute_environment_arn)
        assert (environment.name, environment.state) == (env.compute_environment_name, "ENABLED")
        assert environment.compute_resources["maxvCpus"] == 3
        backend.tag_resource("arn:aws:batch:us-east-1:123456789012:job/x", {"k": "v"})
        assert backend.list_tags_for_resource("arn:aws:batch:us-east-1:123456789012:job/x") == {"k": "v"}


def test_logs_backend_calls_the_sink_uses() -> None:
    with LocalBatch(LocalBatchConfig.fast()) as local:
        backend = logs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        backend.create_log_group("/canary", tags={})
        backend.create_log_stream("/canary", "s")
        assert "s" in backend.groups["/canary"].streams
        backend.put_log_events("/canary", "s", [{"timestamp": int(time.time() * 1000), "message": "x"}])
        events = local.client("logs").get_log_events(logGroupName="/canary", logStreamName="s")["events"]
        assert [event["message"] for event in events] == ["x"]


def test_added_bulk_routes_are_served_and_removed_afterwards() -> None:
    with LocalBatch(LocalBatchConfig.fast()):
        assert "{0}/v1/canceljobs$" in url_paths
        assert hasattr(BatchResponse, "terminatejobs")
    assert not hasattr(BatchResponse, "terminatejobs")


def test_job_definition_registration_the_local_batch_wraps() -> None:
    """ECS-properties definitions: moto registers them with a stand-in container (api.py), then the local Batch
    keeps their ecsProperties on the definition; EKS ones are moto's own `eks_properties`."""
    assert callable(BatchResponse.registerjobdefinition)
    parameters = inspect.signature(batch_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].register_job_definition).parameters
    for name in (
        "def_name",
        "parameters",
        "_type",
        "tags",
        "retry_strategy",
        "container_properties",
        "node_properties",
        "eks_properties",
        "timeout",
        "platform_capabilities",
        "propagate_tags",
    ):
        assert name in parameters, name
    with LocalBatch(LocalBatchConfig.fast()) as local:
        batch = local.client("batch")
        arn = batch.register_job_definition(
            jobDefinitionName="canary-eks",
            type="container",
            eksProperties={"podProperties": {"containers": [{"name": "c", "image": "x"}]}},
        )["jobDefinitionArn"]
        definition = batch_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_job_definition_by_arn(arn)
        assert definition.eks_properties["podProperties"]["containers"][0]["name"] == "c"
        assert definition.container_properties is None


def test_eventbridge_rule_internals_the_job_events_use() -> None:
    """events.py reads the default bus's rules and hands each matching event to `Rule.send_to_targets`, whose
    SQS delivery writes a float `time` as ISO-8601 UTC."""
    assert "transform_input" in inspect.signature(Rule.send_to_targets).parameters
    with LocalBatch(LocalBatchConfig.fast()) as local:
        sqs, events = local.client("sqs"), local.client("events")
        url = sqs.create_queue(QueueName="canary")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="canary", EventPattern=json.dumps({"source": ["aws.batch"]}), State="DISABLED")
        events.put_targets(Rule="canary", Targets=[{"Id": "q", "Arn": arn}])
        rule = events_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].event_buses["default"].rules["canary"]
        assert (rule.state, rule.event_pattern.get_pattern(), rule.targets) == (
            "DISABLED",
            {"source": ["aws.batch"]},
            [{"Id": "q", "Arn": arn}],
        )
        event = {"source": "aws.batch", "detail-type": "x", "account": "1", "time": 0.0, "detail": {"a": 1}}
        rule.send_to_targets(event, transform_input=False)
        (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
        assert json.loads(message["Body"]) == {**event, "time": "1970-01-01T00:00:00Z"}
