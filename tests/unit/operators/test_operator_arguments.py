"""What the operators refuse or decide at DAG parse, before any task runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_batch_plus.deferral import default_deferrable
from airflow_batch_plus.operators.batch import BatchSubmitJobOperator
from airflow_batch_plus.operators.stop import BatchStopJobsOperator
from airflow_batch_plus.ownership import tag_value
from airflow_batch_plus.sensors.batch import BatchJobSensor
from airflow_batch_plus.waiting import tolerated_count

REQUIRED = {"task_id": "t", "job_queue": "q", "job_definition": "d"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"stop_policy": "nuke"}, "stop_policy='nuke' is not a stop policy: use one of 'terminate', 'cancel', 'keep'"),
        ({"poll_interval": 0}, "poll_interval=0: must be a positive number of seconds"),
        ({"max_runnable_time": -5}, "max_runnable_time=-5: must be a positive duration"),
        ({"tolerated_failures": "ten"}, "tolerated_failures='ten': give a number of children (like 3) or a percentage"),
        ({"tolerated_failures": "120%"}, "tolerated_failures='120%'"),
        ({"tolerated_failures": -1}, "tolerated_failures=-1"),
    ],
)
def test_the_submit_operator_refuses_bad_arguments_at_parse(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as error:
        BatchSubmitJobOperator(**REQUIRED, **arguments)  # type: ignore[arg-type]
    assert message in str(error.value)


def test_the_submit_operator_keeps_its_choices() -> None:
    operator = BatchSubmitJobOperator(
        **REQUIRED, stop_policy="CANCEL", max_runnable_time=timedelta(minutes=2), deferrable=False
    )
    assert (operator.stop_policy, operator.max_runnable_seconds, operator.deferrable) == ("cancel", 120, False)


@pytest.mark.parametrize(
    ("tolerated", "size", "allowed"), [(None, 10, 0), (3, 10, 3), ("3", 10, 3), ("10%", 50, 5), ("0%", 9, 0)]
)
def test_tolerated_failures_count_or_percentage(tolerated: int | str | None, size: int, allowed: int) -> None:
    assert tolerated_count(tolerated, size) == allowed


def test_deferrable_unless_our_own_default_deferrable_is_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__BATCH_PLUS__DEFAULT_DEFERRABLE", raising=False)
    assert default_deferrable() is True
    assert BatchSubmitJobOperator(**REQUIRED).deferrable is True
    monkeypatch.setenv("AIRFLOW__BATCH_PLUS__DEFAULT_DEFERRABLE", "False")
    assert default_deferrable() is False
    assert BatchSubmitJobOperator(**REQUIRED).deferrable is False


def test_airflows_generated_operators_default_deferrable_false_does_not_turn_deferral_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What every airflow.cfg Airflow generates says (found by the throughput benchmark: its tasks ran in workers).
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "false")
    monkeypatch.delenv("AIRFLOW__BATCH_PLUS__DEFAULT_DEFERRABLE", raising=False)
    assert BatchSubmitJobOperator(**REQUIRED).deferrable is True
    assert BatchJobSensor(task_id="sensor", job_id="j").deferrable is True


def test_tag_values_keep_to_what_batch_accepts() -> None:
    assert tag_value("manual__2026-01-01T00:00:00+00:00") == "manual__2026-01-01T00:00:00+00:00"
    assert tag_value("a;b'c" + "x" * 300) == "a_b_c" + "x" * 251


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "give either job_queue (with at most one filter) or job_ids"),
        ({"job_queue": "q", "job_ids": ["j"]}, "give either job_queue"),
        (
            {"job_queue": "q", "job_name": "a*", "created_after": 5},
            "ListJobs takes one filter at a time; got job_name, created_after",
        ),
        ({"job_ids": ["j"], "job_name": "a*"}, "job_name filters a queue's jobs"),
        ({"job_queue": "q", "stop_policy": "keep"}, "stop_policy='keep' stops nothing: use 'cancel' or 'terminate'"),
        ({"job_queue": "q", "stop_policy": "pause"}, "stop_policy='pause' is not a stop policy"),
    ],
)
def test_the_kill_switch_refuses_bad_arguments_at_parse(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as error:
        BatchStopJobsOperator(task_id="stop", **arguments)  # type: ignore[arg-type]
    assert message in str(error.value)
