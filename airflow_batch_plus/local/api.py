"""Routes moto's Batch job actions to the local engine.

moto keeps serving queues, compute environments and job definitions; SubmitJob, DescribeJobs,
ListJobs, CancelJob and TerminateJob go to `LocalBatchEngine`. The routing is a patch of moto's
`BatchResponse` handlers, active while at least one `LocalBatch` is open; moto's internals used here
are pinned by tests/unit/local/test_moto_canary.py.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from typing import Any

from moto.batch import urls as batch_urls
from moto.batch.exceptions import ClientException
from moto.batch.models import batch_backends
from moto.batch.responses import BatchResponse

from airflow_batch_plus.local import alarm_actions, rules
from airflow_batch_plus.local.config import LocalBatchConfig
from airflow_batch_plus.local.engine import LocalBatchEngine

JOB_ACTIONS = (
    "submitjob",
    "describejobs",
    "listjobs",
    "canceljob",
    "terminatejob",
    "canceljobs",
    "terminatejobs",
    "updatecomputeenvironment",
    "describejobdefinitions",
    "registerjobdefinition",
)
SCALING_FIELDS = ("minvCpus", "maxvCpus", "desiredvCpus")
# Bulk stops that AWS has and moto does not route yet.
ADDED_ROUTES = ("{0}/v1/canceljobs$", "{0}/v1/terminatejobs$")


class EngineRegistry:
    """The engines of every (account, region) seen while the local Batch is installed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._config = LocalBatchConfig()
        self._engines: dict[tuple[str, str], LocalBatchEngine] = {}
        self._originals: dict[str, Callable[..., str] | None] = {}

    def engine(self, account_id: str, region_name: str) -> LocalBatchEngine:
        with self._lock:
            key = (account_id, region_name)
            if key not in self._engines:
                self._engines[key] = LocalBatchEngine(account_id, region_name, self._config)
            return self._engines[key]

    def original(self, action: str) -> Callable[..., str]:
        """moto's own handler of an action this registry took over."""
        handler = self._originals[action]
        assert handler is not None, action
        return handler

    def install(self, config: LocalBatchConfig) -> None:
        with self._lock:
            if self._users and config != self._config:
                raise RuntimeError("A local Batch with another configuration is already running in this process")
            self._users += 1
            if self._users > 1:
                return
            self._config = config
            for route in ADDED_ROUTES:
                batch_urls.url_paths.setdefault(route, BatchResponse.dispatch)
            for action in JOB_ACTIONS:
                self._originals[action] = getattr(BatchResponse, action, None)
                setattr(BatchResponse, action, _HANDLERS[action])
            alarm_actions.install()

    def uninstall(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            for action, original in self._originals.items():
                if original is None:
                    delattr(BatchResponse, action)
                else:
                    setattr(BatchResponse, action, original)
            alarm_actions.uninstall()
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.shutdown()


registry = EngineRegistry()


def _engine_of(response: BatchResponse) -> LocalBatchEngine:
    return registry.engine(response.current_account, response.region)


def _body(response: BatchResponse) -> dict[str, Any]:
    body = response.body
    if isinstance(body, bytes):
        body = body.decode()
    return json.loads(body) if body else {}


def _submitjob(self: BatchResponse) -> str:
    job = _engine_of(self).submit_job(_body(self))
    return json.dumps({"jobArn": job.job_arn, "jobName": job.name, "jobId": job.job_id})


def _describejobs(self: BatchResponse) -> str:
    return json.dumps({"jobs": _engine_of(self).describe_jobs(_body(self).get("jobs") or [])})


def _listjobs(self: BatchResponse) -> str:
    summaries, token = _engine_of(self).list_jobs(_body(self))
    result: dict[str, Any] = {"jobSummaryList": summaries}
    if token:
        result["nextToken"] = token
    return json.dumps(result)


def _canceljob(self: BatchResponse) -> str:
    body = _body(self)
    _engine_of(self).cancel(str(body.get("jobId", "")), str(body.get("reason", "")))
    return "{}"


def _terminatejob(self: BatchResponse) -> str:
    body = _body(self)
    _engine_of(self).terminate(str(body.get("jobId", "")), str(body.get("reason", "")))
    return "{}"


def _canceljobs(self: BatchResponse) -> str:
    body = _body(self)
    done = _engine_of(self).cancel_jobs(list(body.get("jobs") or []), str(body.get("reason", "")))
    return json.dumps({"successful": done, "errors": []})


def _terminatejobs(self: BatchResponse) -> str:
    body = _body(self)
    done = _engine_of(self).terminate_jobs(list(body.get("jobs") or []), str(body.get("reason", "")))
    return json.dumps({"successful": done, "errors": []})


def _updatecomputeenvironment(self: BatchResponse) -> str:
    """moto's update ignores computeResources; the scheduler reads maxvCpus, so resizing must stick."""
    answer = registry.original("updatecomputeenvironment")(self)
    resources = _body(self).get("computeResources") or {}
    environment = batch_backends[self.current_account][self.region].get_compute_environment(
        _body(self)["computeEnvironment"]
    )
    assert environment is not None  # moto's handler above raised otherwise
    environment.compute_resources.update({key: resources[key] for key in SCALING_FIELDS if key in resources})
    return answer


# moto's JobDefinition takes containerProperties or eksProperties only: an ecsProperties definition is
# registered with this stand-in, which is then removed and the ecsProperties kept on the definition.
_ECS_STAND_IN = {
    "image": "ecs-properties",
    "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
}


def _registerjobdefinition(self: BatchResponse) -> str:
    """moto refuses ecsProperties job definitions, and a new revision inherits properties its request left out:
    register through moto, then keep exactly the properties the request gave."""
    body = _body(self)
    ecs, eks = body.get("ecsProperties"), body.get("eksProperties")
    try:
        if ecs is not None:
            rules.check_ecs_properties(ecs)
        if eks is not None:
            rules.check_eks_properties(eks)
    except ValueError as error:
        raise ClientException(str(error)) from None
    backend: Any = batch_backends[self.current_account][self.region]
    definition: Any
    if ecs is None:
        answer = registry.original("registerjobdefinition")(self)
        definition = backend.get_job_definition_by_arn(json.loads(answer)["jobDefinitionArn"])
    else:
        definition = backend.register_job_definition(
            def_name=body.get("jobDefinitionName"),
            parameters=body.get("parameters"),
            _type=body.get("type"),
            tags=body.get("tags"),
            retry_strategy=body.get("retryStrategy"),
            container_properties=copy.deepcopy(_ECS_STAND_IN),
            node_properties=None,
            eks_properties=None,
            timeout=body.get("timeout"),
            platform_capabilities=body.get("platformCapabilities"),
            propagate_tags=body.get("propagateTags"),
        )
        answer = json.dumps(
            {
                "jobDefinitionArn": definition.arn,
                "jobDefinitionName": definition.name,
                "revision": definition.revision,
            }
        )
    if body.get("containerProperties") is None:
        definition.container_properties = None
    if eks is None:
        definition.eks_properties = None
    definition.ecs_properties = copy.deepcopy(ecs)
    return answer


def _with_ecs_properties(answer: str, backend: Any) -> str:
    """Add each ECS-properties definition's ecsProperties, which moto's describe() does not know."""
    result = json.loads(answer)
    for item in result.get("jobDefinitions") or []:
        definition = backend.get_job_definition_by_arn(item["jobDefinitionArn"])
        ecs = getattr(definition, "ecs_properties", None)
        if ecs is not None:
            item["ecsProperties"] = ecs
    return json.dumps(result)


def _describejobdefinitions(self: BatchResponse) -> str:
    """moto matches `jobDefinitions` entries by ARN or bare name only; AWS also takes `name:revision`."""
    body = _body(self)
    entries = body.get("jobDefinitions")
    backend = batch_backends[self.current_account][self.region]
    if not entries:
        return _with_ecs_properties(registry.original("describejobdefinitions")(self), backend)
    found = []
    for entry in entries:
        if ":" in entry and not entry.startswith("arn:"):
            found += [definition] if (definition := backend.get_job_definition(entry)) is not None else []
        else:
            found += backend.get_job_definitions(entry)
    status = body.get("status")
    answer = json.dumps(
        {"jobDefinitions": [definition.describe() for definition in found if status in (None, definition.status)]}
    )
    return _with_ecs_properties(answer, backend)


_HANDLERS: dict[str, Callable[[BatchResponse], str]] = {
    "submitjob": _submitjob,
    "describejobs": _describejobs,
    "listjobs": _listjobs,
    "canceljob": _canceljob,
    "terminatejob": _terminatejob,
    "canceljobs": _canceljobs,
    "terminatejobs": _terminatejobs,
    "updatecomputeenvironment": _updatecomputeenvironment,
    "describejobdefinitions": _describejobdefinitions,
    "registerjobdefinition": _registerjobdefinition,
}
