"""The hand-over guard: `on_kill` stops the job only when the task instance has left its deferral.

Airflow's answers are injected at our own seam (`handover.read_task_state` / `read_waited_job_id`): the
requests themselves go through a real triggerer in tests/e2e/test_ha.py, which also shows the stall
that made this guard necessary.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import structlog.testing
from test_trigger import LONG, status_of, submit, trigger  # tests/unit/triggers/test_trigger.py

from airflow_batch_plus.local import LocalBatch
from airflow_batch_plus.triggers import handover
from airflow_batch_plus.triggers.checkpoint import TaskKey
from airflow_batch_plus.triggers.handover import Verdict, judge, state_key, verdict

TASK = TaskKey("dag", "job", "manual__1", map_index=2)


@pytest.mark.parametrize(
    ("state", "waited", "expected"),
    [
        ("deferred", "job-1", Verdict.HANDED_OVER),  # another triggerer follows the same job
        ("deferred", "job-2", Verdict.ENDED),  # cleared, and the next try already waits on a new job
        ("deferred", None, Verdict.ENDED),  # no job recorded by the try that is deferred now
        ("failed", "job-1", Verdict.ENDED),  # marked failed
        ("success", "job-1", Verdict.ENDED),  # marked success
        ("up_for_retry", "job-1", Verdict.ENDED),
        ("queued", None, Verdict.ENDED),  # cleared, its next try about to run
        ("running", None, Verdict.ENDED),
        ("removed", "job-1", Verdict.ENDED),
        (None, None, Verdict.ENDED),  # cleared: no state yet
    ],
)
def test_only_a_task_still_deferred_on_the_same_job_was_handed_over(
    state: str | None, waited: str | None, expected: Verdict
) -> None:
    assert verdict(state, waited, "job-1") is expected


def test_mapped_and_unmapped_task_instances_are_named_as_airflows_answer_names_them() -> None:
    assert state_key(TaskKey("dag", "job", "run")) == "job"
    assert state_key(TaskKey("dag", "job", "run", map_index=2)) == "job_2"


@dataclass
class Airflow:
    """What the injected reads answer: a state and an XCom, after `failures` failed reads."""

    state: str | None = "deferred"
    waited: str | None = None
    failures: int = 0
    hang: bool = False
    slowness: float = 0.0
    reads: int = 0


BUDGET = 2.0  # JUDGE_BUDGET_SECONDS in these tests, to keep them short


@pytest.fixture
def airflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Airflow]:
    answers = Airflow()

    async def read_task_state(task: TaskKey) -> str | None:
        assert task == TASK
        answers.reads += 1
        if answers.hang:
            await asyncio.sleep(3600)
        await asyncio.sleep(answers.slowness)
        if answers.reads <= answers.failures:
            raise ConnectionError("the API server is not answering")
        return answers.state

    async def read_waited_job_id(task: TaskKey) -> object:
        return answers.waited

    monkeypatch.setattr(handover, "read_task_state", read_task_state)
    monkeypatch.setattr(handover, "read_waited_job_id", read_waited_job_id)
    monkeypatch.setattr(handover, "JUDGE_BUDGET_SECONDS", BUDGET)
    yield answers


def test_a_failed_read_is_retried(airflow: Airflow) -> None:
    airflow.waited, airflow.failures = "job-1", 2
    found, seen = asyncio.run(judge(TASK, "job-1"))
    assert (found, airflow.reads) == (Verdict.HANDED_OVER, 3)
    assert seen == "the task instance is deferred, waiting on Batch job job-1"


def test_a_slow_answer_is_waited_for_not_asked_again_behind_itself(airflow: Airflow) -> None:
    # The triggerer serves a trigger's request between its own database work: a busy database delays it.
    airflow.waited, airflow.slowness = "job-1", BUDGET * 0.6
    found, _ = asyncio.run(judge(TASK, "job-1"))
    assert (found, airflow.reads) == (Verdict.HANDED_OVER, 1)


@pytest.mark.parametrize("hang", [False, True], ids=["failing", "hanging"])
def test_an_unreadable_state_is_unknown_once_the_budget_is_spent(airflow: Airflow, hang: bool) -> None:
    airflow.failures, airflow.hang = 99, hang
    started = time.monotonic()
    found, seen = asyncio.run(judge(TASK, "job-1"))
    assert BUDGET - 0.1 < time.monotonic() - started < BUDGET + 1
    # Failing reads are asked again after 0.5 s and 1 s; a hanging one has the whole budget.
    assert (found, airflow.reads) == (Verdict.UNKNOWN, 1 if hang else 3)
    assert seen.startswith("its state could not be read (")
    assert ("TimeoutError" if hang else "ConnectionError: the API server is not answering") in seen


def test_asking_and_stopping_fit_inside_the_triggerers_bound_on_on_kill() -> None:
    from airflow.configuration import conf

    from airflow_batch_plus.triggers.batch import STOP_TIMEOUT_SECONDS

    on_kill_timeout = conf.getint("triggerer", "on_kill_timeout", fallback=30)
    assert on_kill_timeout > handover.JUDGE_BUDGET_SECONDS + STOP_TIMEOUT_SECONDS


class TaskInstance:
    dag_id, task_id, run_id, map_index = TASK.dag_id, TASK.task_id, TASK.run_id, TASK.map_index


def kill(job_id: str, policy: str = "terminate") -> list[str]:
    """on_kill of a trigger that runs for TASK in a triggerer; what it logged, as `level: message`."""
    batch_trigger = trigger(job_id, stop_policy=policy)
    batch_trigger.task_instance = TaskInstance()  # type: ignore[assignment]
    with structlog.testing.capture_logs() as entries:
        asyncio.run(batch_trigger.on_kill())
    return [f"{entry['log_level']}: {entry['event']}" for entry in entries]


def test_on_kill_after_a_hand_over_leaves_the_job_running(local_batch: LocalBatch, airflow: Airflow) -> None:
    job_id = submit(local_batch, LONG)
    status_of(local_batch, job_id, {"RUNNING"})
    airflow.waited = job_id
    logged = kill(job_id)
    assert status_of(local_batch, job_id, {"FAILED"}, timeout=1)["status"] == "RUNNING"
    assert logged == [
        f"info: Not stopping Batch job {job_id}: this trigger was handed to another triggerer (the task instance "
        f"is deferred, waiting on Batch job {job_id}), which follows the job"
    ]


@pytest.mark.parametrize(("state", "waited"), [("failed", "same"), ("deferred", "another-job"), (None, None)])
def test_on_kill_after_the_task_left_its_deferral_stops_the_job(
    local_batch: LocalBatch, airflow: Airflow, state: str | None, waited: str | None
) -> None:
    job_id = submit(local_batch, LONG)
    status_of(local_batch, job_id, {"RUNNING"})
    airflow.state, airflow.waited = state, job_id if waited == "same" else waited
    logged = kill(job_id)
    job = status_of(local_batch, job_id, {"FAILED"})
    assert job["status"] == "FAILED"
    assert job["statusReason"].startswith("Stopped by Airflow: the task was killed in Airflow while deferred")
    assert logged[0].startswith("info: The task has left its deferral (the task instance is ")


def test_on_kill_when_airflow_cannot_say_leaves_the_job_and_says_how_to_stop_it(
    local_batch: LocalBatch, airflow: Airflow
) -> None:
    job_id = submit(local_batch, LONG)
    status_of(local_batch, job_id, {"RUNNING"})
    airflow.failures = 99
    logged = kill(job_id)
    assert status_of(local_batch, job_id, {"FAILED"}, timeout=1)["status"] == "RUNNING"
    assert len(logged) == 1 and logged[0].startswith(f"error: Not stopping Batch job {job_id}: ")
    assert f"aws batch terminate-job --job-id {job_id}" in logged[0]


def test_on_kill_with_the_keep_policy_asks_nothing(local_batch: LocalBatch, airflow: Airflow) -> None:
    job_id = submit(local_batch, LONG)
    kill(job_id, policy="keep")
    assert airflow.reads == 0
