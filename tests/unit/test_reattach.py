"""The reattach decision: a retry follows its earlier try's live job; a clear or a re-made run starts fresh."""

from __future__ import annotations

import pytest

from airflow_batch_plus.jobs import JobStatus
from airflow_batch_plus.reattach import MAX_TRIES_TAG, TRY_NUMBER_TAG, Decision, Submission, decide

# Try 1 of a task with retries=2 submitted job "j" (max_tries starts at retries).
FIRST_TRY = Submission("j", try_number=1, max_tries=2)


@pytest.mark.parametrize(
    ("previous", "status", "try_number", "max_tries", "expected"),
    [
        pytest.param(None, None, 1, 2, Decision.SUBMIT, id="first-try"),
        pytest.param(FIRST_TRY, JobStatus.RUNNING, 2, 2, Decision.REATTACH, id="retry-job-running"),
        pytest.param(FIRST_TRY, JobStatus.RUNNABLE, 2, 2, Decision.REATTACH, id="retry-job-not-started"),
        pytest.param(FIRST_TRY, JobStatus.STARTING, 3, 2, Decision.REATTACH, id="second-retry-job-starting"),
        pytest.param(FIRST_TRY, JobStatus.SUCCEEDED, 2, 2, Decision.ALREADY_SUCCEEDED, id="retry-job-succeeded"),
        pytest.param(FIRST_TRY, JobStatus.FAILED, 2, 2, Decision.SUBMIT, id="retry-job-failed"),
        pytest.param(FIRST_TRY, None, 2, 2, Decision.SUBMIT, id="retry-job-gone-from-batch"),
        # A clear raises max_tries to try_number + retries (here 1 + 2).
        pytest.param(FIRST_TRY, JobStatus.RUNNING, 2, 3, Decision.SUBMIT, id="cleared-job-running"),
        pytest.param(FIRST_TRY, JobStatus.SUCCEEDED, 2, 3, Decision.SUBMIT, id="cleared-job-succeeded"),
        # The run was deleted and made again: try 1 once more, same max_tries.
        pytest.param(FIRST_TRY, JobStatus.SUCCEEDED, 1, 2, Decision.SUBMIT, id="run-made-anew"),
    ],
)
def test_decide(
    previous: Submission | None, status: JobStatus | None, try_number: int, max_tries: int, expected: Decision
) -> None:
    assert decide(previous, status, try_number, max_tries) is expected


def test_a_record_round_trips_and_anything_else_is_no_record() -> None:
    assert Submission.from_dict(FIRST_TRY.to_dict()) == FIRST_TRY
    for foreign in (None, "j", {"job_id": "j"}, {"job_id": "j", "try_number": "x", "max_tries": 1}):
        assert Submission.from_dict(foreign) is None


def test_a_record_is_read_back_from_job_tags() -> None:
    assert Submission.from_tags("j", {TRY_NUMBER_TAG: "1", MAX_TRIES_TAG: "2"}) == FIRST_TRY
    assert Submission.from_tags("j", {TRY_NUMBER_TAG: "1"}) is None
