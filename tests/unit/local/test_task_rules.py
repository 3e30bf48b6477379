"""The pure rules behind ECS-properties and EKS-properties jobs in the local Batch."""

from __future__ import annotations

import pytest

from airflow_batch_plus.local import rules


def test_kubernetes_variables_expand_from_the_containers_environment_only() -> None:
    environment = {"NAME": "world", "DOTTED.NAME": "d"}
    assert rules.expand_kubernetes_variables("hello $(NAME)", environment) == "hello world"
    assert rules.expand_kubernetes_variables("$(MISSING) stays", environment) == "$(MISSING) stays"
    assert rules.expand_kubernetes_variables("$$(NAME) is escaped", environment) == "$(NAME) is escaped"
    assert rules.expand_kubernetes_variables("$(DOTTED.NAME) $HOME", environment) == "d $HOME"


def test_a_pod_containers_command_line_is_command_then_args_with_parameters_and_variables() -> None:
    container = {"command": ["sh", "-c"], "args": ["echo Ref::what $(WHO)"]}
    argv = rules.eks_argv(container, {"WHO": "me"}, {"what": "hi"})
    assert argv == ["sh", "-c", "echo hi me"]


@pytest.mark.parametrize(("quantity", "vcpus"), [("2", 2.0), ("0.5", 0.5), ("500m", 0.5), (1, 1.0)])
def test_kubernetes_cpu_quantities(quantity: object, vcpus: float) -> None:
    assert rules.cpu_quantity(quantity) == vcpus


def test_vcpus_of_a_pod_and_of_a_task_add_up_their_containers() -> None:
    pod = {
        "podProperties": {
            "containers": [
                {"name": "a", "resources": {"limits": {"cpu": "1500m"}}},
                {"name": "b", "resources": {"requests": {"cpu": "0.5"}}},
            ]
        }
    }
    assert rules.eks_vcpus(pod) == 2.0
    assert rules.eks_vcpus({"podProperties": {"containers": [{"name": "a"}]}}) == 1.0
    task = {
        "taskProperties": [
            {
                "containers": [
                    {"name": "a", "resourceRequirements": [{"type": "VCPU", "value": "2"}]},
                    {"name": "b"},
                ]
            }
        ]
    }
    assert rules.ecs_vcpus(task) == 3.0


def test_eks_overrides_merge_env_replace_the_rest_and_leave_other_containers_alone() -> None:
    definition = {
        "podProperties": {
            "containers": [
                {"name": "a", "image": "i", "command": ["x"], "env": [{"name": "K", "value": "1"}]},
                {"name": "b", "image": "i", "command": ["y"]},
            ],
            "metadata": {"labels": {"team": "a"}},
        }
    }
    override = {
        "podProperties": {
            "containers": [{"name": "a", "args": ["--flag"], "env": [{"name": "L", "value": "2"}], "image": "j"}],
            "metadata": {"labels": {"run": "r"}, "namespace": "ns"},
        }
    }
    pod = rules.apply_eks_overrides(definition, override)["podProperties"]
    assert pod["containers"][0] == {
        "name": "a",
        "image": "j",
        "command": ["x"],
        "args": ["--flag"],
        "env": [{"name": "K", "value": "1"}, {"name": "L", "value": "2"}],
    }
    assert pod["containers"][1] == {"name": "b", "image": "i", "command": ["y"]}
    assert pod["metadata"] == {"labels": {"team": "a", "run": "r"}, "namespace": "ns"}
    assert definition["podProperties"]["containers"][0]["image"] == "i"  # the definition is left as it was
    with pytest.raises(ValueError, match="no container named 'c'"):
        rules.apply_eks_overrides(definition, {"podProperties": {"containers": [{"name": "c"}]}})


def test_an_unnamed_override_targets_the_only_container_and_streams_name_the_container() -> None:
    definition = {"taskProperties": [{"containers": [{"image": "i", "command": ["x"]}]}]}
    task = rules.apply_ecs_overrides(definition, {"taskProperties": [{"containers": [{"command": ["y"]}]}]})
    assert task["taskProperties"][0]["containers"][0]["command"] == ["y"]
    assert rules.ecs_container_name(task["taskProperties"][0]["containers"][0]) == "default"
    assert rules.log_target({}, "def", "t1", "main") == ("/aws/batch/job", "def/main/t1")
    assert rules.log_target({}, "def", "t1") == ("/aws/batch/job", "def/default/t1")
