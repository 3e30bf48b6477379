"""Array and multi-node parents: their children, made when the parent leaves SUBMITTED, and the parent's
state, which follows them.

An array parent ends once every child has: SUCCEEDED if all did. A multi-node parent follows its main node,
and when the main node ends the other nodes are terminated, as on AWS.
"""

from __future__ import annotations

import copy
from typing import Any

from airflow_batch_plus.local import rules, stopping
from airflow_batch_plus.local.job_table import JobTable
from airflow_batch_plus.local.model import LocalJob
from airflow_batch_plus.local.submission import job_vcpus

ARRAY_CHILD_FAILED = "Array Child Job failed"


def advance_parent(job: LocalJob, table: JobTable, submitted_seconds: float) -> None:
    """One step of a parent; the scheduler calls it after its children's, so it sees their new states."""
    if job.status == "SUBMITTED":
        if job.dwell() >= submitted_seconds:
            _spawn_children(job, table)
            job.enter("PENDING")
        return
    if job.is_multi_node_parent:
        _advance_multi_node(job)
        return
    if all(child.done for child in job.children):
        if job.cancel_reason is not None:
            job.enter("FAILED", job.cancel_reason)
        elif all(child.status == "SUCCEEDED" for child in job.children):
            job.enter("SUCCEEDED", "All child jobs succeeded")
        else:
            job.enter("FAILED", ARRAY_CHILD_FAILED)


def _advance_multi_node(job: LocalJob) -> None:
    assert job.node_properties is not None
    main = job.children[int(job.node_properties.get("mainNode", 0))]
    if main.done:
        for node in job.children:
            stopping.terminate(node, "Main node exited")
        if all(node.done for node in job.children):
            job.attempts = list(main.attempts)
            job.enter(main.status, job.cancel_reason or main.status_reason)
    elif main.status != job.status:
        job.started_at = main.started_at
        job.enter(main.status)


def _spawn_children(job: LocalJob, table: JobTable) -> None:
    """An array's children `<id>:<index>`, or a multi-node job's nodes `<id>#<index>` with their node range's
    container and the node overrides that target them."""
    if job.is_array_parent:
        assert job.array_size is not None
        for index in range(job.array_size):
            _add_child(table, job, f"{job.job_id}:{index}", job.container, array_index=index)
        return
    assert job.node_properties is not None
    num_nodes = int(job.node_properties.get("numNodes", 1))
    for index in range(num_nodes):
        container: dict[str, Any] = {}
        for node_range in job.node_properties.get("nodeRangeProperties") or []:
            if index in rules.parse_node_range(str(node_range["targetNodes"]), num_nodes):
                container = copy.deepcopy(node_range.get("container") or {})
        for override in job.node_overrides:
            if index in rules.parse_node_range(str(override["targetNodes"]), num_nodes):
                container = rules.apply_container_overrides(container, override.get("containerOverrides"))
        _add_child(table, job, f"{job.job_id}#{index}", container, node_index=index)


def _add_child(
    table: JobTable,
    parent: LocalJob,
    job_id: str,
    container: dict[str, Any] | None,
    *,
    array_index: int | None = None,
    node_index: int | None = None,
) -> None:
    depends_on = parent.depends_on if node_index is None else []
    child = LocalJob(
        job_id=job_id,
        job_arn=table.job_arn(job_id),
        name=parent.name,
        queue_arn=parent.queue_arn,
        queue_name=parent.queue_name,
        job_definition_arn=parent.job_definition_arn,
        job_definition_name=parent.job_definition_name,
        seq=table.next_seq(),
        container=copy.deepcopy(container),
        parameters=parent.parameters,
        ecs_properties=copy.deepcopy(parent.ecs_properties),
        eks_properties=copy.deepcopy(parent.eks_properties),
        depends_on=depends_on,
        retry_strategy=parent.retry_strategy,
        timeout=parent.timeout,
        tags=parent.tags,
        propagate_tags=parent.propagate_tags,
        platform_capabilities=parent.platform_capabilities,
        share_identifier=parent.share_identifier,
        scheduling_priority=parent.scheduling_priority,
        array_index=array_index,
        node_properties=parent.node_properties if node_index is not None else None,
        node_index=node_index,
        parent=parent,
        status="PENDING",
        retries_removed=parent.retries_removed,
    )
    child.vcpus = job_vcpus(child)
    parent.children.append(child)
    table.add(child)
