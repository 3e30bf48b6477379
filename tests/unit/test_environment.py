"""The one walk of environment variables: every place a SubmitJob request's overrides set them (with the
path a validation message names), what masking reads from it, and the shapes it skips without raising.

Masking, validation and snapshots all read `environment_holders`, so these tests pin every place it
finds, including those botocore's model allows that are easy to forget (EKS init containers, node
overrides of each kind).
"""

from __future__ import annotations

from typing import Any

import botocore.session

from airflow_batch_plus.environment import (
    environment_holders,
    override_environment_names,
    override_environment_values,
)


def _variables(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


def test_one_walk_finds_every_override_environment_with_its_path() -> None:
    """Masking, validation and snapshots read the same walk: every place a request sets variables."""
    request: dict[str, Any] = {
        "containerOverrides": {"environment": _variables(("C", "c-value"), ("EMPTY", ""))},
        "ecsPropertiesOverride": {
            "taskProperties": [{"containers": ["junk", {"environment": _variables(("E", "e"))}]}]
        },
        "eksPropertiesOverride": {"podProperties": {"containers": [{"env": _variables(("K", "k"))}]}},
        "nodeOverrides": {
            "nodePropertyOverrides": [
                "junk",
                {
                    "containerOverrides": {"environment": _variables(("N", "n"))},
                    "ecsPropertiesOverride": {"taskProperties": [{"containers": [{"environment": None}]}]},
                },
            ]
        },
    }

    assert [(holder.kind, holder.variables_path) for holder in environment_holders(request)] == [
        ("container", "containerOverrides.environment"),
        ("ecs", "ecsPropertiesOverride.taskProperties[0].containers[1].environment"),
        ("eks", "eksPropertiesOverride.podProperties.containers[0].env"),
        ("container", "nodeOverrides.nodePropertyOverrides[1].containerOverrides.environment"),
        (
            "ecs",
            "nodeOverrides.nodePropertyOverrides[1].ecsPropertiesOverride.taskProperties[0].containers[0].environment",
        ),
    ]
    assert sorted(override_environment_values(request)) == ["c-value", "e", "k", "n"]  # empty values mask nothing
    assert override_environment_names(request) == ["C", "E", "K", "N"]


def test_the_walk_finds_eks_init_containers_and_eks_node_overrides_which_botocores_model_allows() -> None:
    """SubmitJob's model lets an EKS pod override set `initContainers` and a node override set
    `eksPropertiesOverride`: values there are masked and checked like any other override's."""
    model = botocore.session.get_session().get_service_model("batch")
    assert "initContainers" in model.shape_for("EksPodPropertiesOverride").members
    assert "eksPropertiesOverride" in model.shape_for("NodePropertyOverride").members
    pod = {"initContainers": [{"env": _variables(("INIT", "init-secret"))}], "containers": []}
    request: dict[str, Any] = {
        "eksPropertiesOverride": {"podProperties": pod},
        "nodeOverrides": {
            "nodePropertyOverrides": [
                {
                    "eksPropertiesOverride": {
                        "podProperties": {"containers": [{"env": _variables(("NODE", "node-secret"))}]}
                    }
                }
            ]
        },
    }

    assert [holder.variables_path for holder in environment_holders(request)] == [
        "eksPropertiesOverride.podProperties.initContainers[0].env",
        "nodeOverrides.nodePropertyOverrides[0].eksPropertiesOverride.podProperties.containers[0].env",
    ]
    assert sorted(override_environment_values(request)) == ["init-secret", "node-secret"]


def test_the_environment_walk_skips_what_is_not_shaped_as_batch_documents_it() -> None:
    """Malformed overrides carry no variables (validation reports them by shape); the walk never raises."""
    request: dict[str, Any] = {
        "containerOverrides": "not a mapping",
        "ecsPropertiesOverride": {"taskProperties": "not a list"},
        "eksPropertiesOverride": {"podProperties": None},
        "nodeOverrides": {"nodePropertyOverrides": [{"containerOverrides": {"environment": {"A": "b"}}}]},
    }

    assert [holder.variables for holder in environment_holders(request)] == [[]]
    assert override_environment_values(request) == []
