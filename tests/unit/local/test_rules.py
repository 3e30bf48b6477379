"""The pure Batch rules of the local engine."""

from __future__ import annotations

import pytest

from airflow_batch_plus.local import rules


def test_ref_parameters_are_substituted_and_unknown_ones_stay_literal() -> None:
    command = ["run", "Ref::input", "--out=Ref::output", "Ref::missing"]
    assert rules.substitute_refs(command, {"input": "a.csv", "output": "b"}) == [
        "run",
        "a.csv",
        "--out=b",
        "Ref::missing",
    ]


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [("1", "1", True), ("1", "10", False), ("1*", "10", True), ("Host*", "Host EC2 terminated", True), ("*", "", True)],
)
def test_evaluate_on_exit_patterns(pattern: str, value: str, expected: bool) -> None:
    assert rules.pattern_matches(pattern, value) is expected


def test_retry_first_matching_rule_decides() -> None:
    strategy = {
        "attempts": 3,
        "evaluateOnExit": [{"onExitCode": "2", "action": "EXIT"}, {"onExitCode": "*", "action": "retry"}],
    }
    assert rules.should_retry(strategy, 1, 2, None, "x") is False
    assert rules.should_retry(strategy, 1, 3, None, "x") is True
    assert rules.should_retry(strategy, 3, 3, None, "x") is False


def test_retry_without_matching_rule_retries_while_attempts_remain() -> None:
    strategy = {"attempts": 2, "evaluateOnExit": [{"onStatusReason": "Host*", "action": "EXIT"}]}
    assert rules.should_retry(strategy, 1, 1, None, "Essential container in task exited") is True
    assert rules.should_retry(None, 1, 1, None, "x") is False


def test_rule_needs_every_condition_it_names() -> None:
    strategy = {"attempts": 5, "evaluateOnExit": [{"onExitCode": "1", "onReason": "OOM*", "action": "EXIT"}]}
    assert rules.should_retry(strategy, 1, 1, "OutOfMemoryError", "x") is True
    assert rules.should_retry(strategy, 1, 1, "OOMKilled", "x") is False


def test_vcpus() -> None:
    assert rules.vcpus_of({"resourceRequirements": [{"type": "VCPU", "value": "0.25"}]}) == 0.25
    assert rules.vcpus_of({"vcpus": 4}) == 4
    assert rules.vcpus_of({}) == 1


def test_container_overrides_merge_environment_and_resources() -> None:
    container = {
        "command": ["a"],
        "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
    }
    overrides = {
        "command": ["b"],
        "environment": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
        "resourceRequirements": [{"type": "VCPU", "value": "2"}],
    }
    result = rules.apply_container_overrides(container, overrides)
    assert result["command"] == ["b"]
    assert result["environment"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]
    assert result["resourceRequirements"] == [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "512"}]
    assert container["command"] == ["a"]


def test_log_target_follows_awslogs_options() -> None:
    assert rules.log_target({}, "jd", "t1") == ("/aws/batch/job", "jd/default/t1")
    options = {
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/g", "awslogs-stream-prefix": "p"}}
    }
    assert rules.log_target(options, "jd", "t1") == ("/g", "p/default/t1")


@pytest.mark.parametrize(("target", "expected"), [("0", [0]), ("1:", [1, 2, 3]), (":1", [0, 1]), ("1:2", [1, 2])])
def test_node_ranges(target: str, expected: list[int]) -> None:
    assert list(rules.parse_node_range(target, 4)) == expected


def test_list_filters() -> None:
    job = {
        "jobName": "Test10",
        "jobDefinition": "arn:aws:batch:us-east-1:1:job-definition/jd1A:3",
        "createdAt": 1000,
    }
    assert rules.filter_matches("JOB_NAME", "test1*", job)
    assert not rules.filter_matches("JOB_NAME", "test1", job)
    assert rules.filter_matches("JOB_NAME", "TEST10", job)
    assert rules.filter_matches("JOB_DEFINITION", "jd1*", job)
    assert not rules.filter_matches("JOB_DEFINITION", "jd1", job)
    assert rules.filter_matches("JOB_DEFINITION", "jd1A", job)
    assert rules.filter_matches("JOB_DEFINITION", "arn:aws:batch:us-east-1:1:job-definition/jd1A:3", job)
    assert not rules.filter_matches("JOB_DEFINITION", "arn:aws:batch:us-east-1:1:job-definition/jd1A:2", job)
    assert rules.filter_matches("BEFORE_CREATED_AT", "1001", job)
    assert not rules.filter_matches("BEFORE_CREATED_AT", "1000", job)
    assert rules.filter_matches("AFTER_CREATED_AT", "999", job)
    assert not rules.filter_matches("AFTER_CREATED_AT", "1000", job)
