"""Ownership: whose a job is, and the one guard every exit path goes through to stop it once.

The guard's rules are driven here path by path; that the operator and the trigger reach it on each way a
task ends is shown by the tests docs/operators.md's exit-path table names (and this file checks that the
table names every `ExitPath` and `Hold`, and only those).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_batch_plus.jobs import StopOutcome, StopPolicy
from airflow_batch_plus.ownership import (
    DAG_ID_TAG,
    MAP_INDEX_TAG,
    RUN_ID_TAG,
    TASK_ID_TAG,
    ExitPath,
    Hold,
    StopGuard,
    TaskLeft,
    derived_job_name,
    is_mine,
    job_tags,
    task_stop_reason,
)

DOCS = Path(__file__).parents[2] / "docs" / "operators.md"


@dataclass
class TaskTry:
    dag_id: str = "dag"
    task_id: str = "task"
    run_id: str = "manual__2026-12-02T00:00:00+00:00"
    map_index: int | None = -1
    try_number: int = 1
    max_tries: int = 2


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def _add(self, level: str, message: str, *args: Any) -> None:
        self.lines.append(f"{level}: {message % args}")

    def info(self, message: str, *args: Any) -> None:
        self._add("info", message, *args)

    def warning(self, message: str, *args: Any) -> None:
        self._add("warning", message, *args)

    def error(self, message: str, *args: Any) -> None:
        self._add("error", message, *args)


@dataclass
class Result:
    outcome: StopOutcome


class Batch:
    """Stands in for `BatchHook.stop_job`: records each call; fails the first `failures` calls."""

    def __init__(self, failures: int = 0, outcome: StopOutcome = StopOutcome.TERMINATE_REQUESTED) -> None:
        self.calls: list[tuple[str, StopPolicy, str]] = []
        self.failures = failures
        self.outcome = outcome

    def stop_job(self, job_id: str, policy: StopPolicy, reason: str) -> Result:
        self.calls.append((job_id, policy, reason))
        if len(self.calls) <= self.failures:
            raise ConnectionError("Batch is not answering")
        return Result(self.outcome)


def guard(policy: str = "terminate") -> tuple[StopGuard, Log]:
    log = Log()
    return StopGuard("job-1", policy, "Stopped by Airflow: dag d, task t, run r, try 1", log), log


@pytest.mark.parametrize("path", list(ExitPath))
def test_every_exit_path_stops_a_live_job_once(path: ExitPath) -> None:
    stop_guard, log = guard()
    batch = Batch()
    assert stop_guard.apply(batch.stop_job, path, "why") is StopOutcome.TERMINATE_REQUESTED
    assert stop_guard.apply(batch.stop_job, ExitPath.KILLED_IN_WORKER, "again") is Hold.ALREADY_APPLIED
    assert batch.calls == [("job-1", StopPolicy.TERMINATE, "Stopped by Airflow: dag d, task t, run r, try 1: why")]
    assert log.lines == [
        "info: Batch job job-1: terminate_requested (stop_policy=terminate): "
        "Stopped by Airflow: dag d, task t, run r, try 1: why"
    ]


@pytest.mark.parametrize(
    ("path", "facts", "held"),
    [
        pytest.param(
            ExitPath.KILLED_WHILE_DEFERRED, {"task_left": TaskLeft.HANDED_OVER}, Hold.HANDED_OVER, id="hand-over"
        ),
        pytest.param(
            ExitPath.KILLED_WHILE_DEFERRED, {"task_left": TaskLeft.UNKNOWN}, Hold.TASK_STATE_UNKNOWN, id="unknown"
        ),
        pytest.param(ExitPath.KILLED_WHILE_DEFERRED, {"task_left": TaskLeft.ENDED}, None, id="task-left"),
        pytest.param(ExitPath.FAILED_IN_WORKER, {"supervisor_lost": True, "retry_to_come": True}, Hold.RETRY_FOLLOWS),
        pytest.param(ExitPath.KILLED_IN_WORKER, {"supervisor_lost": True, "retry_to_come": True}, Hold.RETRY_FOLLOWS),
        pytest.param(ExitPath.FAILED_IN_WORKER, {"supervisor_lost": True}, None, id="last-try"),
        pytest.param(ExitPath.DEADLINE_PASSED, {"supervisor_lost": True}, Hold.SUPERVISOR_LOST),
        pytest.param(ExitPath.KILLED_WHILE_DEFERRED, {"supervisor_lost": True}, Hold.SUPERVISOR_LOST),
        pytest.param(ExitPath.TRIGGER_FAILED, {"supervisor_lost": True}, Hold.SUPERVISOR_LOST),
    ],
)
def test_what_holds_a_job_on_each_path(path: ExitPath, facts: dict[str, Any], held: Hold | None) -> None:
    stop_guard, _ = guard()
    assert stop_guard.claim(path, "why", **facts) is held
    # A claimed stop settles the job; a held one leaves it to a later exit that nothing holds.
    assert stop_guard.hold(ExitPath.FAILED_IN_WORKER) is (Hold.ALREADY_APPLIED if held is None else None)


def test_a_signal_after_the_task_deferred_leaves_the_job_to_its_trigger() -> None:
    stop_guard, log = guard()
    batch = Batch()
    stop_guard.hand_to_trigger()
    assert stop_guard.apply(batch.stop_job, ExitPath.KILLED_IN_WORKER, "SIGTERM") is Hold.TRIGGER_OWNS_IT
    assert batch.calls == []
    assert log.lines == [
        "info: Not stopping Batch job job-1: the task has deferred, and its trigger follows it (SIGTERM)"
    ]
    # execute's own error path, as the deferral fails in the worker, still stops it: the trigger never ran.
    assert stop_guard.apply(batch.stop_job, ExitPath.FAILED_IN_WORKER, "error") is StopOutcome.TERMINATE_REQUESTED


def test_a_retry_to_come_is_said_as_a_warning_and_the_last_try_stops() -> None:
    stop_guard, log = guard()
    batch = Batch()
    assert stop_guard.apply(batch.stop_job, ExitPath.FAILED_IN_WORKER, "w", supervisor_lost=True, retry_to_come=True)
    assert log.lines[0].startswith("warning: Not stopping Batch job job-1: this task process outlived the worker")
    assert batch.calls == []
    assert stop_guard.apply(batch.stop_job, ExitPath.FAILED_IN_WORKER, "w", supervisor_lost=True) is (
        StopOutcome.TERMINATE_REQUESTED
    )


def test_the_triggers_event_settles_the_job_for_the_resumed_task() -> None:
    stopped, _ = guard()
    stopped.note_event(stopped=True, job_ended=False)
    assert stopped.hold(ExitPath.RESUMED_AFTER_TIMEOUT) is Hold.ALREADY_APPLIED
    ended, _ = guard()
    ended.note_event(stopped=False, job_ended=True)
    assert ended.hold(ExitPath.RESUMED_AFTER_FAILURE) is Hold.JOB_ENDED
    kept, _ = guard()  # the trigger's stop call failed, or it kept the job: the resumed task applies the policy
    kept.note_event(stopped=False, job_ended=False)
    assert kept.hold(ExitPath.RESUMED_AFTER_FAILURE) is None


def test_a_stop_call_that_failed_is_tried_again_by_a_later_exit() -> None:
    stop_guard, log = guard()
    batch = Batch(failures=1)
    assert stop_guard.apply(batch.stop_job, ExitPath.TRIGGER_FAILED, "waiting failed") is None
    assert log.lines == ["error: Could not stop Batch job job-1 per stop_policy=terminate: Batch is not answering"]
    assert stop_guard.apply(batch.stop_job, ExitPath.RESUMED_AFTER_FAILURE, "resumed") is (
        StopOutcome.TERMINATE_REQUESTED
    )
    assert len(batch.calls) == 2


def test_two_exits_at_once_stop_the_job_once() -> None:
    """A worker's on_kill (a signal handler) while execute's error path is inside its stop call."""
    stop_guard, _ = guard()
    inside = threading.Event()
    calls: list[str] = []

    def slow_stop(job_id: str, policy: StopPolicy, reason: str) -> Result:
        calls.append(reason)
        inside.set()
        time.sleep(0.2)
        return Result(StopOutcome.TERMINATE_REQUESTED)

    first = threading.Thread(target=stop_guard.apply, args=(slow_stop, ExitPath.FAILED_IN_WORKER, "error"))
    first.start()
    assert inside.wait(5)
    assert stop_guard.apply(slow_stop, ExitPath.KILLED_IN_WORKER, "killed") is Hold.ALREADY_APPLIED
    first.join()
    assert len(calls) == 1


def test_keep_is_applied_without_asking_airflow_and_says_so() -> None:
    stop_guard, log = guard("keep")
    assert not stop_guard.needs_task_verdict(ExitPath.KILLED_WHILE_DEFERRED)
    batch = Batch(outcome=StopOutcome.KEPT)
    assert stop_guard.apply(batch.stop_job, ExitPath.KILLED_WHILE_DEFERRED, "killed") is StopOutcome.KEPT
    assert log.lines == ["info: Leaving Batch job job-1 as it is (stop_policy=keep): killed"]
    terminate, _ = guard()
    assert terminate.needs_task_verdict(ExitPath.KILLED_WHILE_DEFERRED)
    assert not terminate.needs_task_verdict(ExitPath.DEADLINE_PASSED)


def test_a_tasks_job_carries_its_tags_and_only_its_own_jobs_are_mine() -> None:
    ti = TaskTry(map_index=3)
    tags = job_tags(ti, {"team": "data;eng"})
    assert tags["team"] == "data_eng"  # tag values keep to what Batch accepts
    assert (tags[DAG_ID_TAG], tags[TASK_ID_TAG], tags[MAP_INDEX_TAG]) == ("dag", "task", "3")
    assert is_mine(tags, "dag", ti.run_id, task=ti)
    assert is_mine(tags, "dag", ti.run_id)  # the run callback asks for the run only
    assert not is_mine(tags, "dag", ti.run_id, task=TaskTry(map_index=4))
    assert not is_mine(tags, "dag", "another run")
    assert not is_mine({**tags, RUN_ID_TAG: "x"}, "dag", ti.run_id)
    assert not is_mine({}, "dag", ti.run_id)
    assert derived_job_name(ti) == derived_job_name(TaskTry(map_index=3, try_number=2))  # every try: one name


def test_the_stop_reason_says_who_asks() -> None:
    assert task_stop_reason(TaskTry(map_index=2, try_number=3), "dag", "task") == (
        "Stopped by Airflow: dag dag, task task[2], run manual__2026-12-02T00:00:00+00:00, try 3"
    )
    assert task_stop_reason(None, "dag", "task") == "Stopped by Airflow task dag.task"


def exit_table_decisions() -> list[str]:
    """The third column of each row of docs/operators.md's exit-path table."""
    lines = DOCS.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| how the task ends |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        assert len(cells) == 4, line
        rows.append(cells[2])
    return rows


def test_the_docs_exit_path_table_names_every_exit_path_and_hold_and_nothing_else() -> None:
    named = {token for cell in exit_table_decisions() for token in re.findall(r"`([A-Z][A-Z_]+)`", cell)}
    members = {member.name for member in ExitPath} | {member.name for member in Hold}
    assert named == members
